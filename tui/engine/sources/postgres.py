"""PostgreSQL: connections, long queries and blocked sessions, in one round trip per pass.

One persistent autocommit connection per database, opened on the first poll and reopened on
the poll after it breaks. A statement timeout cancels a runaway query server-side (the
connection stays usable); a terminated backend or lost server drops the connection.
"""

from __future__ import annotations

import math
import time
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from tui.engine.config import Database, Settings
from tui.engine.errors import redact
from tui.engine.samples import Connections, DatabaseSample, Session

MAX_SESSIONS = 50
"""Long queries and blocked sessions listed at most, each."""
QUERY_TEXT_CAP = 2000

# Rows hidden for lack of pg_read_all_stats have a NULL backend_type and state; the ones
# with a database are client backends (auxiliary processes have none).
POLL_SQL = """
WITH activity AS (
    SELECT pid, backend_start, state, usename, application_name, client_addr,
           query_start, xact_start, wait_event_type, wait_event, query,
           backend_type IS NULL AS hidden,
           clock_timestamp() - query_start AS running_for,
           clock_timestamp() - xact_start AS xact_age,
           CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blockers
    FROM pg_stat_activity
    WHERE pid <> pg_backend_pid()
      AND (backend_type = 'client backend' OR (backend_type IS NULL AND datid IS NOT NULL))
),
sessions AS (
    SELECT *, json_build_object(
        'pid', pid,
        'backend_start', extract(epoch FROM backend_start),
        'state', state,
        'user', usename,
        'application', application_name,
        'client', coalesce(host(client_addr), 'local'),
        'duration_s', extract(epoch FROM running_for),
        'xact_age_s', extract(epoch FROM xact_age),
        'wait_event', wait_event_type || ':' || wait_event,
        'query', left(query, %(query_cap)s),
        'blocked_by', coalesce(blockers, '{}')
    ) AS session
    FROM activity
)
SELECT
    split_part(current_setting('server_version'), ' ', 1),
    current_setting('max_connections')::int,
    current_setting('superuser_reserved_connections')::int
        + coalesce(current_setting('reserved_connections', true)::int, 0),
    (SELECT count(*) FROM activity),
    (SELECT count(*) FROM activity WHERE state = 'active'),
    (SELECT count(*) FROM activity WHERE state = 'idle'),
    (SELECT count(*) FROM activity WHERE state LIKE 'idle in transaction%%'),
    (SELECT count(*) FROM activity WHERE wait_event_type = 'Lock'),
    (SELECT count(*) FROM activity WHERE hidden),
    (SELECT coalesce(json_agg(session ORDER BY running_for DESC), '[]') FROM (
        SELECT session, running_for FROM sessions
        WHERE state <> 'idle' AND running_for >= make_interval(secs => %(long_query)s)
        ORDER BY running_for DESC LIMIT %(limit)s) AS long),
    (SELECT coalesce(json_agg(session ORDER BY running_for DESC), '[]') FROM (
        SELECT session, running_for FROM sessions
        WHERE cardinality(blockers) > 0
        ORDER BY running_for DESC NULLS LAST LIMIT %(limit)s) AS blocked)
"""


class PostgresSource:
    section = "database"
    kind = "postgresql"
    admission = None

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.id = f"database:{db.name}"
        self.name = db.name
        self.interval = float(db.interval or settings.interval)
        self.timeout = float(db.timeout or settings.timeout)
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def poll(self) -> DatabaseSample:
        at = time.time()
        conn = await self._connection()
        params = {
            "query_cap": QUERY_TEXT_CAP,
            "long_query": float(self.db.long_query),
            "limit": MAX_SESSIONS,
        }
        try:
            cursor = await conn.execute(POLL_SQL, params)
            row = await cursor.fetchone()
        except errors.QueryCanceled:
            raise
        except psycopg.OperationalError:
            await self._drop()
            raise
        finally:
            if conn.broken or conn.closed:
                await self._drop()
        assert row is not None
        (
            version,
            max_conn,
            reserved,
            total,
            active,
            idle,
            idle_tx,
            waiting,
            hidden,
            long,
            blocked,
        ) = row
        return DatabaseSample(
            name=self.name,
            at=at,
            server_version=version,
            max_connections=max_conn,
            usable_connections=max_conn - reserved,
            connections=Connections(
                total=total,
                active=active,
                idle=idle,
                idle_in_transaction=idle_tx,
                waiting_on_lock=waiting,
                not_visible=hidden,
            ),
            long_queries=tuple(_session(item) for item in long),
            blocked=tuple(_session(item) for item in blocked),
        )

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = await connect(self.db.dsn, self.timeout)
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    async def aclose(self) -> None:
        await self._drop()


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


def _session(item: dict[str, Any]) -> Session:
    return Session(
        pid=item["pid"],
        backend_start=float(item["backend_start"]),
        state=item["state"],
        user=item["user"],
        application=item["application"],
        client=item["client"],
        duration_s=_seconds(item["duration_s"]),
        xact_age_s=_seconds(item["xact_age_s"]),
        wait_event=item["wait_event"],
        query=item["query"] or "",
        blocked_by=tuple(item["blocked_by"]),
    )


def _seconds(value: float | None) -> float | None:
    return float(value) if value is not None else None
