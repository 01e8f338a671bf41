"""watchdeck's own log: JSON lines in the state directory, never on the terminal.

Under the console a stray write to stderr would tear the screen, so every logger, the
libraries' included, goes to the file (rotated by size) or nowhere. Each line is scrubbed
on the way out: passwords in DSNs and URLs, tokens, API keys, cookies, credential headers and
e-mail addresses never reach the file, nor any query-string value of a library's record (an
httpx request line). The file is private to the user (0600, in a 0700 state directory).

    {"ts": "2026-11-22T08:30:01.123+00:00", "level": "warning", "event": "poll.failed",
     "source": "database:main", "trace": "database:main#42", "latency_ms": 3001.2,
     "error": "timed out after 3s"}
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import logging.handlers
import os
import re
import stat
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from tui.engine.errors import mask_secrets
from tui.engine.paths import ensure_state_dir

Level = Literal["debug", "info", "warning", "error"]
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
LOG_FILE = "watchdeck.log"
LOCK = ".watchdeck.log.lock"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 3
LOGGER = "watchdeck"

_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"']+=)[^&#\s\"']+")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")

logger = logging.getLogger(LOGGER)


def scrub(text: str) -> str:
    """``mask_secrets`` plus e-mail addresses."""
    return _EMAIL.sub("<email>", mask_secrets(text))


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
            entry["event"] = _QUERY_VALUE.sub(r"\1***", entry["event"])
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(_clean(entry), ensure_ascii=False)


class QuietFileHandler(logging.handlers.RotatingFileHandler):
    """A log that cannot be written (full disk, read-only directory) is counted, not shouted
    about on stderr: the console and the journal must go on. ``problem`` says why in one line
    until a record is written again (the file is reopened on the next record).

    Several processes write the same file (the console, ``watchdeck check`` from cron, a
    console per ``serve`` tab). One rotates under a lock file; the others notice that the file
    at the path is no longer theirs and reopen it, instead of writing on into a backup or
    rotating again (which pushed near-empty files into the backups and lost the history).
    """

    failures = 0
    problem: str | None = None

    def _open(self) -> TextIO:
        def private(path: str, flags: int) -> int:
            fd = os.open(path, flags, 0o600)
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode) and mode & 0o077:  # written by an older watchdeck
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o600)
            return fd

        return open(
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=private
        )

    def _reopen_if_moved(self) -> bool:
        """Close the stream when the file at the path is not the one it writes (another
        process rotated it away); the next write opens the new one."""
        if self.stream is None:
            return False
        try:
            at_path = os.stat(self.baseFilename)
        except FileNotFoundError:
            at_path = None
        ours = os.fstat(self.stream.fileno())
        if at_path and (at_path.st_dev, at_path.st_ino) == (ours.st_dev, ours.st_ino):
            return False
        with contextlib.suppress(OSError):
            self.stream.close()
        self.stream = None
        return True

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        self._reopen_if_moved()
        return super().shouldRollover(record)

    def doRollover(self) -> None:
        with self._rotation_lock():
            if not self._reopen_if_moved():  # else another process has just rotated it
                super().doRollover()

    @contextlib.contextmanager
    def _rotation_lock(self) -> Iterator[None]:
        fd = os.open(Path(self.baseFilename).with_name(LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

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
        ensure_state_dir(state_dir)
    handler = QuietFileHandler(
        path,
        maxBytes=MAX_BYTES,
        backupCount=BACKUPS,
        encoding="utf-8",
        errors="backslashreplace",
        delay=True,
    )
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    # Libraries keep only their warnings, even at debug: httpcore's debug records carry raw
    # response headers (Set-Cookie, tokens), hpack's the decoded ones. At debug httpx adds its
    # request lines (query values masked by JsonLines).
    root.setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.INFO if level == "debug" else logging.NOTSET)
    logging.captureWarnings(True)
    return path


def problem() -> str | None:
    """Why the log file cannot be written now, in one line; ``None`` when it can."""
    handlers = logging.getLogger().handlers
    return next((h.problem for h in handlers if isinstance(h, QuietFileHandler)), None)


def log(event: str, level: Level = "info", **fields: Any) -> None:
    """One structured line: ``log("poll.failed", "warning", source=..., latency_ms=...)``."""
    logger.log(LEVELS[level], event, extra={"fields": fields})
