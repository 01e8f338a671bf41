"""Cancel or terminate a PostgreSQL backend, on a connection of its own (never the poller's).

A backend is named by its pid AND its start time: pids are reused, and an operator who
confirmed "terminate 4242, the stuck report" must never kill whatever got pid 4242 since.
A cancel also names the query by its start: a pooled connection keeps its backend and runs
the next request's query on it, which the operator never chose to stop.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg

from tui.engine.actions import Action
from tui.engine.printable import printable
from tui.engine.samples import Session
from tui.engine.sources.pg_connection import connect

Signal = Literal["cancel", "terminate"]

# Checked and signalled in one statement. A backend hidden for lack of pg_read_all_stats
# has a NULL backend_start, so NULL for same_session.
_SIGNAL_SQL = """
    SELECT same_session, state,
           CASE WHEN same_session AND {allowed} THEN pg_{signal}_backend(pid) END
    FROM (SELECT pid, state,
                 abs(extract(epoch FROM backend_start) - %(start)s) < 0.00001 AS same_session,
                 coalesce(abs(extract(epoch FROM query_start) - %(query_start)s) < 0.00001,
                          %(query_start)s IS NULL) AS same_query
          FROM pg_stat_activity WHERE pid = %(pid)s) AS backend
"""
_ALLOWED = {
    "cancel": "same_query AND state IN ('active', 'fastpath function call')",
    "terminate": "true",
}


class BackendGone(Exception):
    """The pid no longer names the backend (or, to cancel, the query) the operator chose."""


class SignalRefused(Exception):
    """PostgreSQL would not signal the backend (permissions, or a superuser's backend)."""


class BackendSignaller:
    def __init__(self, dsn: str, timeout: float) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await connect(self.dsn, self.timeout)
        return self._conn

    async def send(
        self, signal: Signal, pid: int, backend_start: float, query_start: float | None = None
    ) -> str:
        """Signal the backend; returns what happened, raises when nothing was signalled.

        ``query_start`` is when the query the operator saw started: a cancel stops that query
        only, and only while it runs (``None``: no query was seen, the backend is checked).
        """
        if signal not in _ALLOWED:
            raise ValueError(f"unknown signal {signal!r}")
        sql = _SIGNAL_SQL.format(signal=signal, allowed=_ALLOWED[signal])
        params = {"pid": pid, "start": backend_start, "query_start": query_start}
        try:
            row = await self._fetch(sql, params)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise SignalRefused(_refusal(exc)) from None
        if row is None:
            raise BackendGone(f"pid {pid} has ended: not signalled")
        same_session, state, signalled = row
        if same_session is None:
            raise SignalRefused(
                f"cannot tell which session pid {pid} is without pg_read_all_stats"
                " (pg_monitor): not signalled"
            )
        if not same_session:
            raise BackendGone(f"pid {pid} now belongs to another session: not signalled")
        if signalled is None:  # a cancel, of a backend not running the query the operator saw
            idle = Session.nothing_to_cancel(pid, state)
            if idle is not None:
                raise SignalRefused(idle)
            raise BackendGone(
                f"pid {pid}: its query has changed since the screen showed it: not cancelled"
            )
        if not signalled:
            raise SignalRefused(f"PostgreSQL did not {signal} pid {pid} (it may have just ended)")
        return f"{'cancel request sent to' if signal == 'cancel' else 'terminated'} pid {pid}"

    async def _fetch(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run the signal statement; once more on a new connection if the kept one had died.

        The connection waits idle between actions, which are rare: a server restart,
        ``idle_session_timeout`` or a DBA's cleanup may have ended it meanwhile, and psycopg
        learns of it only on use. Keeping it (rather than connecting per action) keeps a way
        in when the pool is full; repeating the statement is safe, since it signals only the
        backend (and query) the operator chose.
        """
        kept = self._conn is not None and not self._conn.closed and not self._conn.broken
        conn = await self._connection()
        try:
            return await (await conn.execute(sql, params)).fetchone()
        except psycopg.OperationalError:
            if not (kept and conn.broken):
                raise
        conn = await self._connection()
        return await (await conn.execute(sql, params)).fetchone()

    async def aclose(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()


def _refusal(exc: psycopg.Error) -> str:
    """PostgreSQL's refusal in one line: from 16 on, the why is in its DETAIL."""
    lines = str(exc).strip().splitlines()
    primary = exc.diag.message_primary or (lines[0] if lines else type(exc).__name__)
    detail = exc.diag.message_detail
    text = f"{primary}: {detail}" if detail else primary
    return printable(" ".join(text.split()))


def signal_action(database: str, signal: Signal, session: Session) -> Action:
    """The journaled, confirmed action of signalling one session."""
    who = " · ".join(filter(None, (session.user, session.application, session.client)))
    return Action(
        kind=f"pg.{signal}",
        target=f"database {database} pid {session.pid}",
        summary=f"{signal} pid {session.pid} ({who or 'unknown'}): {session.query[:200]}",
        details={
            "database": database,
            "pid": session.pid,
            "backend_start": session.backend_start,
            "query_start": session.query_start,
            "user": session.user,
            "application": session.application,
            "client": session.client,
            "state": session.state,
            "query": session.query,
        },
        danger=signal == "terminate",
    )
