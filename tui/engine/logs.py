"""watchdeck's own log: JSON lines in the state directory, never on the terminal.

Under the console a stray write to stderr would tear the screen, so every logger, the
libraries' included, goes to the file (rotated by size) or nowhere. Each line is scrubbed
on the way out: passwords in DSNs and URLs, bearer tokens, ``token=``-style parameters and
e-mail addresses never reach the file.

    {"ts": "2026-11-22T08:30:01.123+00:00", "level": "warning", "event": "poll.failed",
     "source": "database:main", "trace": "database:main#42", "latency_ms": 3001.2,
     "error": "timed out after 3s"}
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tui.engine.errors import redact

Level = Literal["debug", "info", "warning", "error"]
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
LOG_FILE = "watchdeck.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3
LOGGER = "watchdeck"

_BEARER = re.compile(r"\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)
_SECRET_PARAM = re.compile(
    r"\b(token|access_token|api_key|apikey|key|secret|auth|signature|sig)=([^&\s\"']+)", re.I
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")

logger = logging.getLogger(LOGGER)


def scrub(text: str) -> str:
    """``redact`` plus tokens and e-mail addresses."""
    text = redact(text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
    return _EMAIL.sub("<email>", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        if record.name != LOGGER:
            entry["logger"] = record.name
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(_clean(entry), ensure_ascii=False)


class QuietFileHandler(logging.handlers.RotatingFileHandler):
    """A log that cannot be written (full disk, read-only directory) is counted, not shouted
    about on stderr: the console and the journal must go on. ``problem`` says why in one line
    until a record is written again (the file is reopened on the next record)."""

    failures = 0
    problem: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        failures = self.failures
        super().emit(record)
        if self.failures == failures:
            self.problem = None

    def handleError(self, record: logging.LogRecord) -> None:
        self.failures += 1
        error = sys.exc_info()[1]
        reason = (getattr(error, "strerror", None) or str(error)).lower()
        self.problem = f"cannot write the log {self.baseFilename}: {reason}"


def setup(state_dir: Path | None, level: Level = "info") -> Path | None:
    """Send every log record of this process to ``state_dir/watchdeck.log`` (or nowhere).

    Returns the log file's path, or ``None`` when there is no state directory.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        with contextlib.suppress(OSError):  # a full disk refuses the last flush
            handler.close()
    logger.propagate = True
    logger.setLevel(LEVELS[level])
    if state_dir is None:
        root.addHandler(logging.NullHandler())
        return None
    path = state_dir / LOG_FILE
    with contextlib.suppress(OSError):  # then the handler counts the failed writes
        state_dir.mkdir(parents=True, exist_ok=True)
    handler = QuietFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
    )
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    # Libraries log at their own levels (httpx: every request at INFO, with its URL):
    # only their warnings are kept unless watchdeck itself is at debug.
    root.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    logging.captureWarnings(True)
    return path


def problem() -> str | None:
    """Why the log file cannot be written now, in one line; ``None`` when it can."""
    handlers = logging.getLogger().handlers
    return next((h.problem for h in handlers if isinstance(h, QuietFileHandler)), None)


def log(event: str, level: Level = "info", **fields: Any) -> None:
    """One structured line: ``log("poll.failed", "warning", source=..., latency_ms=...)``."""
    logger.log(LEVELS[level], event, extra={"fields": fields})
