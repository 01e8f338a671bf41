"""What the polling role may see and do, probed once per connection.

Each missing privilege or extension degrades one feature, and says so in a sentence the
Database pane shows, instead of quietly showing less.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from tui.engine.printable import printable
from tui.engine.samples import Capabilities

OLDEST_SUPPORTED = 120000

# pg_has_role(..., 'USAGE') follows inherited membership (pg_monitor includes
# pg_read_all_stats) and is true for a superuser, as PostgreSQL's own checks are.
_PROBE_SQL = """
SELECT current_setting('server_version_num')::int,
       split_part(current_setting('server_version'), ' ', 1),
       current_user::text,
       current_database()::text,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       pg_has_role('pg_read_all_stats', 'USAGE'),
       pg_has_role('pg_signal_backend', 'USAGE'),
       (SELECT n.nspname::text FROM pg_extension AS e
        JOIN pg_namespace AS n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements')
"""


async def probe(conn: psycopg.AsyncConnection[Any]) -> Capabilities:
    cursor = await conn.execute(_PROBE_SQL)
    row = await cursor.fetchone()
    assert row is not None
    version_num, version, user, database, superuser, read_all_stats, signal, schema = row
    user = printable(user)  # a role's name may hold terminal controls
    reasons: list[str] = []
    if version_num < OLDEST_SUPPORTED:
        reasons.append(f"PostgreSQL {version} is older than 12: some figures may be missing")
    if not read_all_stats:
        reasons.append(
            f"role {user} lacks pg_read_all_stats (grant pg_monitor): other roles' sessions are"
            " counted as not visible, without state, query or client; standby details hidden"
        )
    if not signal:
        reasons.append(
            f"role {user} lacks pg_signal_backend: it can cancel or terminate only sessions"
            f" of role {user}"
        )
    problem = await statements_problem(conn, schema, database)
    if problem:
        reasons.append(f"{problem}: top statements unavailable")
    return Capabilities(
        version_num=version_num,
        user=user,
        superuser=bool(superuser),
        read_all_stats=bool(read_all_stats),
        signal_backend=bool(signal),
        statements=problem is None,
        reasons=tuple(reasons),
    )


async def statements_problem(
    conn: psycopg.AsyncConnection[Any], schema: str | None, database: str
) -> str | None:
    """Why pg_stat_statements cannot be read here, or ``None`` when it can."""
    if schema is None:
        return f"pg_stat_statements is not installed in database {printable(database)}"
    query = sql.SQL("SELECT 1 FROM {}.pg_stat_statements LIMIT 1").format(sql.Identifier(schema))
    try:
        await conn.execute(query)
    except psycopg.errors.ObjectNotInPrerequisiteState:
        return "pg_stat_statements is installed but not loaded (shared_preload_libraries)"
    except psycopg.ProgrammingError as exc:  # e.g. permission denied
        first = str(exc).strip().splitlines()
        reason = printable(first[0]) if first else type(exc).__name__
        return f"pg_stat_statements cannot be read ({reason})"
    return None
