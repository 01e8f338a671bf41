"""One-line, secret-free descriptions of failures."""

from __future__ import annotations

import re

from tui.engine.printable import printable

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^/\s]+)@", re.I
)
_KV_PASSWORD = re.compile(r"\b(password|passwd|pwd)\s*=\s*('[^']*'|\S+)", re.I)
_SQL_PASSWORD = re.compile(
    r"\b(password)(\s+)(?:E?'(?:[^']|'')*'?|\$(?P<tag>\w*)\$.*?(?:\$(?P=tag)\$|$))", re.I | re.S
)
"""``CREATE/ALTER ROLE ... PASSWORD 'secret'`` as pg_stat_activity shows it."""


def redact(text: str) -> str:
    """Mask passwords embedded in URLs, ``key=value`` DSNs and SQL ``PASSWORD '...'``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m.group(1)}=***", text)
    return _SQL_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}'***'", text)


def os_reason(exc: OSError) -> str:
    """What the system said, e.g. ``no space left on device`` (the path left to the caller)."""
    return (exc.strerror or str(exc)).lower()


def describe(exc: BaseException, timeout: float | None = None) -> str:
    """A clear one-line message for a failed poll."""
    from tui.engine.units import format_duration

    if isinstance(exc, TimeoutError):
        return f"timed out after {format_duration(timeout)}" if timeout else "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return redact(exc.strerror.lower())
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return printable(redact(first))  # a server's error may quote what it was sent
