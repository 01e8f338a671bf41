"""SQL steps: the block's statements in order on a fresh connection, results as text.

A connection of its own per step (autocommit, ``statement_timeout`` = the step's timeout), so
a ``SET`` or an open transaction in one step never leaks into another, and the console's
pollers are never involved. A cancel asks the server to cancel the running statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tui.engine.runbooks.model import Value
from tui.engine.runbooks.output import StepOutput
from tui.engine.runbooks.sqltext import Statement
from tui.engine.units import format_duration

ROW_CAP = 1000
"""Rows shown per result; the rest are counted, not fetched."""
CELL_CAP = 200
CANCEL_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class SqlResult:
    ok: bool
    message: str
    capture: str = ""
    """The last result's rows, tab-separated, without a header (like ``psql -At``)."""


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "" if value is None else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= CELL_CAP else text[: CELL_CAP - 1] + "…"


def _numeric(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def render(columns: Sequence[str], rows: Sequence[Sequence[object]], more: bool) -> str:
    """psql's aligned format: a header, a rule, the rows, ``(N rows)``."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(name) for name in columns]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        " " + " | ".join(name.center(width) for name, width in zip(columns, widths, strict=True)),
        "-" + "-+-".join("-" * width for width in widths) + "-",
    ]
    for raw, row in zip(rows, cells, strict=True):
        aligned = (
            cell.rjust(width) if _numeric(value) else cell.ljust(width)
            for value, cell, width in zip(raw, row, widths, strict=True)
        )
        lines.append(" " + " | ".join(aligned))
    count = len(rows)
    footer = f"({count} row{'s' if count != 1 else ''}"
    lines.append(footer + (", more not shown)" if more else ")"))
    return "\n".join(lines) + "\n"


async def run_sql(
    dsn: str,
    statements: list[Statement],
    values: Mapping[str, Value],
    output: StepOutput,
    *,
    timeout: float,
    cancel: asyncio.Event,
) -> SqlResult:
    from tui.engine.sources.pg_connection import connect

    started = time.perf_counter()
    try:
        conn = await connect(dsn, timeout)
    except Exception as exc:
        return SqlResult(False, f"cannot connect: {_describe(exc, timeout)}")
    work = asyncio.create_task(_execute(conn, statements, values, output))
    cancelled = asyncio.create_task(cancel.wait())
    try:
        done, _ = await asyncio.wait(
            {work, cancelled}, timeout=timeout + CANCEL_GRACE, return_when=asyncio.FIRST_COMPLETED
        )
        if work not in done:
            await _cancel(conn, work)
            if cancelled in done:
                return SqlResult(False, "cancelled")
            return SqlResult(False, f"timed out after {format_duration(timeout)}")
        capture, summary = work.result()
    except asyncio.CancelledError:
        await _cancel(conn, work)
        raise
    except Exception as exc:
        return SqlResult(False, _describe(exc, timeout))
    finally:
        cancelled.cancel()
        await conn.close()
    elapsed = format_duration(time.perf_counter() - started)
    return SqlResult(True, f"{summary} in {elapsed}", capture)


async def _cancel(conn: Any, work: asyncio.Task[Any]) -> None:
    with contextlib.suppress(Exception):
        await conn.cancel_safe(timeout=CANCEL_GRACE)
    work.cancel()
    with contextlib.suppress(BaseException):
        await work


async def _execute(
    conn: Any, statements: list[Statement], values: Mapping[str, Value], output: StepOutput
) -> tuple[str, str]:
    capture = ""
    summary = "no statement"
    async with conn.cursor() as cursor:
        for number, statement in enumerate(statements, 1):
            params = {name: values[name] for name in statement.names}
            await cursor.execute(statement.query, params, prepare=False)
            if cursor.description is not None:
                columns = [column.name for column in cursor.description]
                rows = await cursor.fetchmany(ROW_CAP + 1)
                more = len(rows) > ROW_CAP
                rows = rows[:ROW_CAP]
                output.write(render(columns, rows, more).encode())
                capture = "\n".join("\t".join(_cell(v) for v in row) for row in rows)
                summary = f"{len(rows)}{'+' if more else ''} row{'s' if len(rows) != 1 else ''}"
            else:
                summary = cursor.statusmessage or "done"
                output.write(f"{summary}\n".encode())
            if len(statements) > 1 and number < len(statements):
                output.write(b"\n")
    if len(statements) > 1:
        summary = f"{len(statements)} statements, last: {summary}"
    return capture, summary


def _describe(exc: BaseException, timeout: float) -> str:
    import psycopg

    from tui.engine.errors import describe

    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"canceled by the server: statement_timeout of {format_duration(timeout)}"
    if isinstance(exc, psycopg.Error) and getattr(exc, "sqlstate", None):
        return f"{describe(exc)} (SQLSTATE {exc.sqlstate})"
    return describe(exc)
