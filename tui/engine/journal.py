"""The audit journal: one JSON line per event, appended and fsynced, never rewritten.

Every write action (cancel or terminate a backend, silence an alert, run a runbook step)
lands here with who, where and when, so a shift can be reconstructed afterwards. Values
pass through ``mask_secrets`` on the way in: passwords, tokens and keys never reach the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.engine.errors import mask_secrets, os_reason


class JournalError(Exception):
    """The journal cannot be written; actions that need it are refused."""


def identity(environ: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, str | None]:
    """Who acts, from where: the user, this host and the SSH client (when over SSH)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = environ.get("USER") or str(os.getuid())
    return {
        "user": user,
        "host": socket.gethostname(),
        "ssh_connection": environ.get("SSH_CONNECTION"),
    }


def _clean(value: Any) -> Any:
    """Secrets masked as in the log, but e-mail addresses and user names kept (the log turns
    addresses into ``<email>``): the audit is there to say who did what, and a silence's
    author or an acknowledgement's comment names people by their address."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def json_objects(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects of an append-only file's lines: a line torn by a crash mid-write, or
    one that holds no object, is skipped."""
    for line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def write_all(fd: int, data: bytes) -> None:
    """Write every byte or raise: on a disk filling up, ``write`` takes what fits without an
    error (a short write), and only the next one fails with ENOSPC."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it, whole or not at all; raises OSError.

    A write that fails part way (a full disk) is cut off again, so a refused entry never
    turns up later; a line torn by a crash is ended first, so ours starts on its own line
    (readers skip the torn one). Other processes append to the same file: an exclusive lock
    from reading the size to the end keeps one's cut from taking another's entry with it.
    Text that is not UTF-8 (a file name's undecodable bytes) is written as ``\\udcXX``.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):  # not supported on some network file systems
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the close
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line
        try:
            write_all(fd, line.encode("utf-8", errors="backslashreplace"))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._who = identity()

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one entry durably (fsync) and return it; raises JournalError when it cannot."""
        entry = {
            "ts": datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds"),
            "event": event,
            **self._who,
            **_clean(fields),
        }
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            append_line(self.path, line)
        except OSError as exc:
            reason = os_reason(exc)
            raise JournalError(f"cannot write the audit journal {self.path}: {reason}") from None
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every readable entry, oldest first; a line torn by a crash is skipped, not fatal."""
        try:
            handle = self.path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with handle:
            yield from json_objects(handle)
