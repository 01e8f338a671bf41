"""One-line, secret-free descriptions of failures."""

from __future__ import annotations

import re

from tui.engine.printable import printable

_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^/\s]+)@", re.I
)
_KV_PASSWORD = re.compile(r"\b(\w*(?:password|passwd|pwd))\s*=\s*('[^']*'|\"[^\"]*\"|\S+)", re.I)
"""``password=``, ``PGPASSWORD=``, ``DB_PASSWORD=``, ``sslpassword=``: ``\b`` alone misses the
last three (no word boundary after ``_`` or a letter)."""
_SQL_PASSWORD = re.compile(
    r"\b(password)(\s+)(?:E?'(?:[^']|'')*'?|\$(?P<tag>\w*)\$.*?(?:\$(?P=tag)\$|$))", re.I | re.S
)
"""``CREATE/ALTER ROLE ... PASSWORD 'secret'`` as pg_stat_activity shows it."""


def redact(text: str) -> str:
    """Mask passwords embedded in URLs, ``key=value`` DSNs and SQL ``PASSWORD '...'``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m.group(1)}=***", text)
    return _SQL_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}'***'", text)


_SECRET_NAME = (
    r"[\w.-]*?(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credentials?|authorization|cookie|signature)\d*"
)
_SECRET_FIELD = re.compile(
    rf"\b(?P<name>{_SECRET_NAME})(?P<sep>[\"']?[ \t]*[:=][ \t]*)"
    r"(?:(?P<scheme>bearer|basic|token|digest)[ \t]+)?(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)",
    re.I,
)
"""A secret by its name, in any of the forms it is written: ``client_secret=`` in a query,
``X-Api-Key:`` and ``Authorization: Bearer`` headers, ``"password": "..."`` in JSON,
``token: ...`` in YAML, ``AUTH_TOKEN=`` in the environment."""
_SHORT_PARAM = re.compile(r"\b(key|auth|sig)=[^&\s\"']+", re.I)
"""Names too common to match inside others (``monkey``) or after a colon."""
_SCHEME_TOKEN = re.compile(r"\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)


def _mask_field(match: re.Match[str]) -> str:
    quote = match["value"][0] if match["value"][0] in "\"'" else ""
    scheme = f"{match['scheme']} " if match["scheme"] else ""
    return f"{match['name']}{match['sep']}{scheme}{quote}***{quote}"


def mask_secrets(text: str) -> str:
    """``redact`` plus tokens, API keys, cookies and credential headers, by name or by an
    auth scheme (``Bearer ...``). E-mail addresses are left to the caller."""
    text = _SECRET_FIELD.sub(_mask_field, redact(text))
    text = _SHORT_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
    return _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} ***", text)


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
