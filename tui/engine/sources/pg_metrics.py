"""Custom metrics: configured queries returning one number, each on its own interval.

They run inside the database's pass, after its own query, on a connection of their own: a
slow or failing metric never delays or breaks the connection the pane depends on, and a
metric's failure is that metric's (no data and an error), not the database's. Each runs in
a read-only transaction with its own statement timeout, over the extended protocol (one
statement, no ``COMMIT; ...`` smuggled in).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors

from tui.engine.config import Metric
from tui.engine.errors import describe
from tui.engine.printable import printable
from tui.engine.samples import CustomMetric
from tui.engine.sources.pg_connection import usable
from tui.engine.units import format_duration

Connect = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]

GRACE = 1.0
"""Seconds a query may overrun its statement timeout before the client abandons it: the
server's cancel comes first and leaves the connection usable; an abandoned query does not."""


class MetricError(Exception):
    """The query ran but did not return one number."""


class MetricRunner:
    def __init__(
        self,
        metrics: Sequence[Metric],
        connect: Connect,
        *,
        interval: float,
        timeout: float,
    ) -> None:
        self.configured = list(metrics)
        self._connect = connect
        self._interval = {m.name: float(m.interval or interval) for m in self.configured}
        self._timeout = {m.name: float(m.timeout or timeout) for m in self.configured}
        self._due = dict.fromkeys(self._interval, 0.0)
        self._results = {m.name: CustomMetric(m.name, None) for m in self.configured}
        self._conn: psycopg.AsyncConnection[Any] | None = None

    @property
    def budget(self) -> float:
        """The longest a pass may spend on metrics: every due metric that fits runs."""
        return max(self._timeout.values(), default=0.0) + (GRACE if self.configured else 0.0)

    def results(self) -> tuple[CustomMetric, ...]:
        return tuple(self._results[m.name] for m in self.configured)

    async def run_due(self, deadline: float) -> None:
        """Run the due metrics, longest overdue first, each only if it fits before ``deadline``.

        One that does not fit stays due and goes first on the next pass.
        """
        now = time.monotonic()
        due = sorted((m for m in self.configured if self._due[m.name] <= now), key=self._due_at)
        for metric in due:
            started = time.monotonic()
            if started + self._timeout[metric.name] + GRACE > deadline:
                continue
            self._results[metric.name] = await self._run(metric)
            self._due[metric.name] = started + self._interval[metric.name]

    def _due_at(self, metric: Metric) -> float:
        return self._due[metric.name]

    async def _run(self, metric: Metric) -> CustomMetric:
        at = time.time()
        started = time.monotonic()
        timeout = self._timeout[metric.name]
        try:
            async with asyncio.timeout(timeout + GRACE):
                value = await self._query(metric.sql, timeout)
        except TimeoutError:
            error = f"timed out after {format_duration(timeout)}"
        except MetricError as exc:
            error = str(exc)
        except psycopg.Error as exc:
            timed_out = isinstance(exc, errors.QueryCanceled) and "statement timeout" in str(exc)
            # A server's message may quote the data (invalid input syntax for type ...: "...").
            error = (
                f"timed out after {format_duration(timeout)}"
                if timed_out
                else printable(describe(exc))
            )
        else:
            elapsed = (time.monotonic() - started) * 1000
            return CustomMetric(metric.name, value, at, None, elapsed)
        finally:
            self._conn = usable(self._conn)
        elapsed = (time.monotonic() - started) * 1000
        return CustomMetric(metric.name, None, at, error, elapsed)

    async def _query(self, query: str, timeout: float) -> float | None:
        if self._conn is None:
            self._conn = await self._connect()
        conn = self._conn
        async with conn.transaction():
            await conn.execute("SET TRANSACTION READ ONLY")
            await conn.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [f"{max(1, round(timeout * 1000))}ms"],
            )
            cursor = conn.cursor(binary=True)
            await cursor.execute(query)
            rows = await cursor.fetchmany(2) if cursor.description else []
            return metric_value(cursor.description, rows)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()


def metric_value(description: Sequence[Any] | None, rows: Sequence[Sequence[Any]]) -> float | None:
    """The one number a metric query returned; ``None`` for no row or NULL."""
    if description is None:
        raise MetricError("returned no rows at all: a metric is a SELECT of one value")
    if len(description) != 1:
        raise MetricError(f"returned {len(description)} columns: a metric is one value")
    if not rows:
        return None
    if len(rows) > 1:
        raise MetricError("returned more than one row: a metric is one value")
    value = rows[0][0]
    if value is None:
        return None
    if isinstance(value, bool | int | float | Decimal):
        number = float(value)
    elif isinstance(value, timedelta):
        number = value.total_seconds()
    else:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise MetricError(
            f"returned a {description[0].type_display} value ({shown}), not a number:"
            " cast it in SQL (::numeric)"
        )
    if not math.isfinite(number):
        raise MetricError(f"returned {value}, not a finite number")
    return number
