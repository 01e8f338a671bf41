"""Replace a small state file so that a crash leaves the old file or the new, never half."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tui.engine.errors import os_reason


def replace_file(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a private temporary file beside ``path``, fsync it, rename it over
    ``path`` and fsync the directory (mode 0600, directory 0700). Raises OSError; the
    temporary file is gone either way."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def cannot(action: str, path: Path, exc: OSError) -> str:
    """One line: ``cannot save /x/alerts.json: no space left on device``."""
    return f"cannot {action} {path}: {os_reason(exc)}"
