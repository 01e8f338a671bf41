"""Connections to PostgreSQL: opened without leaking the password, dropped once unusable."""

from __future__ import annotations

import math
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tui.engine.errors import redact


async def connect(dsn: str, timeout: float) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection named ``watchdeck`` whose statements time out.

    Errors are re-raised without the password (or the DSN) in their message.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise psycopg.ProgrammingError(f"invalid dsn: {_scrub(exc, None)}") from None
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
    return redact(text)


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
