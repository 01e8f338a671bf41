"""Connections to PostgreSQL: opened without leaking the password, dropped once unusable."""

from __future__ import annotations

import math
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tui.engine.errors import redact
from tui.engine.printable import printable

_LIBPQ_QUOTES = ('"="', '"]"', '":"', '"/"')
"""What libpq itself quotes in a DSN parse error (``missing "=" after ...``); it quotes
everything else from the DSN, password included."""
_NOT_SHOWN = " (the text is not shown: it may hold the password)"


async def connect(dsn: str, timeout: float) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection named ``watchdeck`` whose statements time out.

    Errors are re-raised without the password (or the DSN) in their message.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise psycopg.ProgrammingError(f"invalid dsn: {_dsn_problem(exc)}") from None
    statement_timeout = f"-c statement_timeout={max(1, round(timeout * 1000))}"
    params["options"] = f"{params.get('options') or ''} {statement_timeout}".strip()
    params.setdefault("application_name", "watchdeck")
    params.setdefault("connect_timeout", max(2, math.ceil(timeout)))
    try:
        return await psycopg.AsyncConnection.connect(autocommit=True, **params)
    except psycopg.Error as exc:
        raise type(exc)(_scrub(exc, params.get("password"))) from None


def _scrub(exc: BaseException, password: object) -> str:
    text = str(exc).strip()
    if password:
        text = text.replace(str(password), "***")
    return printable(redact(text))


def _dsn_problem(exc: BaseException) -> str:
    """libpq's reason a DSN does not parse, without the part of the DSN it quotes.

    ``invalid percent-encoded token: "50%off!"`` and ``missing "=" after "cret"`` quote the
    password itself when it is the part in error, and a password that did not parse cannot
    be masked by its value: all from the first quote libpq took from the DSN to the last
    quote goes (a password may hold quotes too).
    """
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    for index, quote in enumerate(_LIBPQ_QUOTES):
        text = text.replace(quote, f"\0{index}\0")
    first, last = text.find('"'), text.rfind('"')
    if first >= 0:
        rest = text[last + 1 :]
        text = text[:first].rstrip(": ") + (f" …{rest}" if rest else "") + _NOT_SHOWN
    for index, quote in enumerate(_LIBPQ_QUOTES):
        text = text.replace(f"\0{index}\0", quote)
    return printable(redact(text))


def usable(conn: psycopg.AsyncConnection[Any] | None) -> psycopg.AsyncConnection[Any] | None:
    """The connection if it can run the next query; otherwise it is closed and dropped.

    A statement timeout leaves it idle and usable; a terminated backend, a lost server or an
    interrupted query does not.
    """
    if conn is None:
        return None
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if not conn.closed and not conn.broken and idle:
        return conn
    if not conn.closed:
        conn.pgconn.finish()
    return None
