"""Figures fetched on a key press, not every pass: database sizes and top statements.

``pg_database_size`` walks every file of a database, and pg_stat_statements can hold
thousands of entries: too costly to repeat every few seconds for a number that moves slowly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from tui.engine.printable import printable
from tui.engine.sources.pg_activity import QUERY_TEXT_CAP
from tui.engine.sources.pg_capabilities import statements_problem


@dataclass(frozen=True, slots=True)
class DatabaseSize:
    name: str
    bytes: int | None
    """``None`` when the role may not connect to it (nor has pg_read_all_stats)."""


@dataclass(frozen=True, slots=True)
class TopStatement:
    query: str
    """Normalized text; ``<insufficient privilege>`` for other roles' without pg_read_all_stats."""
    user: str | None
    calls: int
    total_ms: float
    mean_ms: float
    rows: int


class Unavailable(Exception):
    """The figure cannot be had here; the message says why."""


_SIZES_SQL = """
SELECT datname::text,
       CASE WHEN has_database_privilege(oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE')
            THEN pg_database_size(oid) END AS size
FROM pg_database
WHERE datallowconn
ORDER BY size DESC NULLS LAST, datname
"""

_STATEMENTS_SQL = """
SELECT left(s.query, {cap}), r.rolname::text, s.calls, s.{total}, s.{mean}, s.rows
FROM {schema}.pg_stat_statements AS s
LEFT JOIN pg_roles AS r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY s.{total} DESC
LIMIT %s
"""


async def database_sizes(conn: psycopg.AsyncConnection[Any]) -> tuple[DatabaseSize, ...]:
    """Every database that accepts connections, largest first."""
    cursor = await conn.execute(_SIZES_SQL)
    return tuple(DatabaseSize(printable(name), size) for name, size in await cursor.fetchall())


async def top_statements(
    conn: psycopg.AsyncConnection[Any], limit: int
) -> tuple[TopStatement, ...]:
    """This database's statements by total execution time; raises Unavailable without them."""
    cursor = await conn.execute(
        "SELECT (SELECT n.nspname::text FROM pg_extension AS e"
        " JOIN pg_namespace AS n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_stat_statements'), current_database()::text"
    )
    row = await cursor.fetchone()
    assert row is not None
    schema, database = row
    problem = await statements_problem(conn, schema, database)
    if problem:
        raise Unavailable(problem)
    old = conn.info.server_version < 130000  # the columns were renamed in 13
    query = sql.SQL(_STATEMENTS_SQL).format(
        cap=sql.Literal(QUERY_TEXT_CAP),
        schema=sql.Identifier(schema),
        total=sql.Identifier("total_time" if old else "total_exec_time"),
        mean=sql.Identifier("mean_time" if old else "mean_exec_time"),
    )
    cursor = await conn.execute(query, [limit])
    return tuple(
        TopStatement(
            printable(text or ""),
            printable(user) if user is not None else None,
            calls,
            float(total),
            float(mean),
            rows,
        )
        for text, user, calls, total, mean, rows in await cursor.fetchall()
    )
