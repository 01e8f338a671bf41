"""PostgreSQL: connections, sessions, lock waits, replication and custom metrics.

One persistent autocommit connection per database for polling, opened on the first poll
and reopened (from the configured DSN, password included) on the poll after it breaks, so a
server restart recovers by itself while the scheduler keeps the last sample, marked stale,
and backs off. A statement timeout cancels a runaway poll server-side (the connection stays
usable); a terminated backend or a lost server breaks it. Capabilities are probed once per
connection. Custom metrics and on-demand figures (sizes, top statements) each use a
connection of their own, so neither can stall or break the poll's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import psycopg
from psycopg import errors

from tui.engine.config import Database, Settings
from tui.engine.samples import Capabilities, DatabaseSample
from tui.engine.sources.pg_activity import POLL_SQL, build_sample, poll_params
from tui.engine.sources.pg_capabilities import probe
from tui.engine.sources.pg_connection import connect, usable
from tui.engine.sources.pg_metrics import GRACE, MetricRunner
from tui.engine.sources.pg_ondemand import (
    DatabaseSize,
    TopStatement,
    database_sizes,
    top_statements,
)
from tui.engine.units import format_duration

ON_DEMAND_TIMEOUT = 30.0
"""Statement timeout of the figures fetched on a key press (sizes walk every file)."""
_MARGIN = 0.1
"""Seconds kept free at the end of a pass, so custom metrics never hit the pass timeout."""

T = TypeVar("T")


class PollTimeout(Exception):
    """The database's own query did not answer within its timeout."""


class PostgresSource:
    section = "database"
    kind = "postgresql"
    admission = None

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.id = f"database:{db.name}"
        self.name = db.name
        self.interval = float(db.interval or settings.interval)
        self.query_timeout = float(db.timeout or settings.timeout)
        """The poll query's statement timeout (and the connection's)."""
        self.custom_metrics = MetricRunner(
            db.metrics, self._metrics_connection, interval=self.interval, timeout=self.query_timeout
        )
        self.timeout = self.query_timeout + GRACE + self.custom_metrics.budget
        """The pass: the server cancels a slow poll query before the client gives up on it
        (the connection survives a statement timeout, not an interrupted query), then the
        metrics get their own budget."""
        self.capabilities = Capabilities()
        """As probed on the current (or last) poll connection."""
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._on_demand_conn: psycopg.AsyncConnection[Any] | None = None
        self._on_demand_lock = asyncio.Lock()

    async def poll(self) -> DatabaseSample:
        at = time.time()
        started = time.monotonic()
        row = await self._fetch()
        sample = build_sample(
            self.name,
            at,
            row,
            self.capabilities,
            long_query=float(self.db.long_query),
            idle_in_transaction=float(self.db.idle_in_transaction),
        )
        if not self.custom_metrics.configured:
            return sample
        await self.custom_metrics.run_due(started + self.timeout - _MARGIN)
        return replace(sample, custom_metrics=self.custom_metrics.results())

    async def _fetch(self) -> tuple[Any, ...]:
        params = poll_params(float(self.db.long_query), float(self.db.idle_in_transaction))
        try:
            async with asyncio.timeout(self.query_timeout + GRACE):
                conn = await self._connection()
                cursor = await conn.execute(POLL_SQL, params, prepare=True)
                row = await cursor.fetchone()
        except TimeoutError:
            raise PollTimeout(f"timed out after {format_duration(self.query_timeout)}") from None
        except errors.QueryCanceled as exc:
            if "statement timeout" not in str(exc):
                raise
            raise PollTimeout(
                f"timed out after {format_duration(self.query_timeout)} (statement timeout)"
            ) from None
        finally:
            self._conn = usable(self._conn)
        assert row is not None
        return row

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None:
            return self._conn
        conn = await connect(self.db.dsn, self.query_timeout)
        try:
            self.capabilities = await probe(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def _metrics_connection(self) -> psycopg.AsyncConnection[Any]:
        return await connect(self.db.dsn, self.query_timeout)

    # --- on demand ---------------------------------------------------------------------
    async def database_sizes(self) -> tuple[DatabaseSize, ...]:
        """Size of every database of the server, largest first (not part of any pass)."""
        return await self._on_demand(database_sizes)

    async def top_statements(self, limit: int = 20) -> tuple[TopStatement, ...]:
        """This database's statements by total time; raises ``Unavailable`` with the reason."""
        return await self._on_demand(lambda conn: top_statements(conn, limit))

    async def _on_demand(self, fetch: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        async with self._on_demand_lock:
            try:
                async with asyncio.timeout(ON_DEMAND_TIMEOUT + GRACE):
                    return await self._fetch_on_demand(fetch)
            except TimeoutError:
                raise PollTimeout(f"timed out after {format_duration(ON_DEMAND_TIMEOUT)}") from None
            finally:
                self._on_demand_conn = usable(self._on_demand_conn)

    async def _fetch_on_demand(
        self, fetch: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
    ) -> T:
        """Fetch on the kept connection; on a new one if it had died while idle.

        Minutes pass between two key presses: a server restart or ``idle_session_timeout``
        may have ended it, which psycopg learns only on use. The figures are reads, safe to
        ask for again.
        """
        kept = self._on_demand_conn
        if kept is not None:
            try:
                return await fetch(kept)
            except psycopg.OperationalError:
                if not kept.broken:
                    raise
        self._on_demand_conn = await connect(self.db.dsn, ON_DEMAND_TIMEOUT)
        return await fetch(self._on_demand_conn)

    async def aclose(self) -> None:
        await self.custom_metrics.aclose()
        for conn in (self._conn, self._on_demand_conn):
            if conn is not None and not conn.closed:
                await conn.close()
        self._conn = self._on_demand_conn = None
