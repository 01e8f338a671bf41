"""Queues kept in PostgreSQL tables, read with a query the user writes.

pgmq, procrastinate, pg-boss, graphile-worker, Solid Queue, good_job... each keeps jobs in
its own tables; one SELECT returning one row with a ``depth`` column (and optionally
``active``, ``failed``, ``delayed``, ``oldest_age_s``, ``workers``) covers them all. The
queries of the queues on one database share a connection of their own (never the Database
pane's) and run one after another in each pass, each in a read-only transaction with its own
statement timeout, so a query cannot write and one failing query fails only its queue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg

from tui.engine.config import Queue
from tui.engine.errors import describe
from tui.engine.printable import printable
from tui.engine.queues_derived import QueueReading
from tui.engine.sources.pg_connection import connect, usable
from tui.engine.sources.queue_shared import Outcomes, SharedPass, reuse_window

FIELDS = ("depth", "active", "failed", "delayed", "oldest_age_s", "workers")
GRACE = 1.0
"""Seconds a pass may overrun its queries' statement timeouts: the server cancels a slow
query first and the connection stays usable; an abandoned query would break it."""


class QueueQueryError(Exception):
    """The query failed or did not return what a queue query returns (what the server said
    in it, which may quote the data, made ``printable``)."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


class SqlBatch:
    """The SQL queues of one database with one cadence, on one connection."""

    def __init__(self, database: str, dsn: str, *, interval: float, timeout: float) -> None:
        self.database = database
        self.dsn = dsn
        self.timeout = timeout
        """Shared by the queries of a pass: each gets its part as statement timeout."""
        self.pass_timeout = timeout + GRACE
        self.members: dict[str, Queue] = {}
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.shared: SharedPass[Outcomes] = SharedPass(
            self._read, timeout=self.pass_timeout, reuse_for=reuse_window(interval)
        )

    def add(self, source_id: str, queue: Queue) -> None:
        self.members[source_id] = queue

    async def read(self, member: str) -> Outcomes:
        return await self.shared.get(member)

    async def _read(self) -> Outcomes:
        at = time.time()
        per_query = self.timeout / max(1, len(self.members))
        if self._conn is None:
            try:
                self._conn = await connect(self.dsn, self.timeout)
            except psycopg.Error as exc:
                raise QueueQueryError(f"database {self.database}: {describe(exc)}") from None
        outcomes: dict[str, QueueReading | Exception] = {}
        try:
            for source_id, queue in self.members.items():
                outcomes[source_id] = await self._query(queue.sql or "", per_query)
        finally:
            self._conn = usable(self._conn)
        return at, outcomes

    async def _query(self, sql: str, timeout: float) -> QueueReading | Exception:
        conn = self._conn
        assert conn is not None
        try:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION READ ONLY")
                await conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    [f"{max(1, round(timeout * 1000))}ms"],
                )
                cursor = conn.cursor()
                await cursor.execute(sql)
                rows = await cursor.fetchmany(2) if cursor.description else []
                return sql_reading(cursor.description, rows)
        except (psycopg.Error, QueueQueryError) as exc:
            if conn.broken or conn.closed:
                raise
            return QueueQueryError(describe(exc))

    async def aclose(self) -> None:
        await self.shared.aclose()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()


def sql_reading(description: Sequence[Any] | None, rows: Sequence[Sequence[Any]]) -> QueueReading:
    """A queue query's one row, by column name; NULL is unknown."""
    if description is None:
        raise QueueQueryError("the query returned no rows at all: a queue query is a SELECT")
    names = [column.name for column in description]
    if "depth" not in names:
        raise QueueQueryError(f"no depth column (got {', '.join(names)}): name it AS depth")
    unknown = [name for name in names if name not in FIELDS]
    if unknown:
        raise QueueQueryError(
            f"unknown column {unknown[0]!r}: a queue query returns {', '.join(FIELDS)}"
        )
    if len(rows) != 1:
        raise QueueQueryError(f"the query returned {'no' if not rows else 'several'} rows, not one")
    values = {name: _number(name, value) for name, value in zip(names, rows[0], strict=True)}

    def whole(name: str) -> int | None:
        value = values.get(name)
        return None if value is None else round(value)

    return QueueReading(
        depth=whole("depth"),
        active=whole("active"),
        failed=whole("failed"),
        delayed=whole("delayed"),
        oldest_age_s=values.get("oldest_age_s"),
        workers=whole("workers"),
    )


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise QueueQueryError(f"{name} is {type(value).__name__}, not a number: cast it in SQL")
    return float(value)
