"""Cancel or terminate a PostgreSQL backend, on a connection of its own (never the poller's).

A backend is named by its pid AND its start time: pids are reused, and an operator who
confirmed "terminate 4242, the stuck report" must never kill whatever got pid 4242 since.
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg

from tui.engine.actions import Action
from tui.engine.samples import Session
from tui.engine.sources.pg_connection import connect

Signal = Literal["cancel", "terminate"]

_SIGNAL_SQL = """
    SELECT extract(epoch FROM backend_start)::float8,
           CASE WHEN abs(extract(epoch FROM backend_start) - %(start)s) < 0.00001
                THEN pg_{signal}_backend(pid) END
    FROM pg_stat_activity WHERE pid = %(pid)s
"""


class BackendGone(Exception):
    """The pid no longer names the backend the operator chose."""


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

    async def send(self, signal: Signal, pid: int, backend_start: float) -> str:
        """Signal the backend; returns what happened, raises when nothing was signalled."""
        conn = await self._connection()
        if signal not in ("cancel", "terminate"):
            raise ValueError(f"unknown signal {signal!r}")
        sql = _SIGNAL_SQL.format(signal=signal)
        try:
            cursor = await conn.execute(sql, {"pid": pid, "start": backend_start})
            row = await cursor.fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise SignalRefused(str(exc).strip().splitlines()[0]) from None
        if row is None:
            raise BackendGone(f"pid {pid} has ended: not signalled")
        started, signalled = row
        if started is None:
            raise SignalRefused(
                f"cannot tell which session pid {pid} is without pg_read_all_stats"
                " (pg_monitor): not signalled"
            )
        if signalled is None:
            raise BackendGone(f"pid {pid} now belongs to another session: not signalled")
        if not signalled:
            raise SignalRefused(f"PostgreSQL did not {signal} pid {pid} (it may have just ended)")
        return f"{'cancel request sent to' if signal == 'cancel' else 'terminated'} pid {pid}"

    async def aclose(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()


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
            "user": session.user,
            "application": session.application,
            "client": session.client,
            "state": session.state,
            "query": session.query,
        },
        danger=signal == "terminate",
    )
