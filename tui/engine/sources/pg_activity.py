"""One round trip per pass: connections, sessions of interest, lock waits and replication.

Every figure comes from one statement, so all of them describe the same instant (the
statistics snapshot lasts for the transaction, and an autocommit statement is one).
"""

from __future__ import annotations

from typing import Any

from tui.engine.errors import redact
from tui.engine.printable import printable
from tui.engine.samples import Capabilities, Connections, DatabaseSample, Replica, Session

MAX_SESSIONS = 50
"""Sessions listed at most per list (long queries, idle transactions, blocked, blockers)."""
TOP = 10
"""Entries kept per connection breakdown (by database, user, application, client)."""
QUERY_TEXT_CAP = 2000

# Rows hidden for lack of pg_read_all_stats have a NULL backend_type, state and client, but
# keep datid, usesysid and application_name: the ones with a database and a role are client
# backends (auxiliary processes have neither; autovacuum workers have no role).
_EVERYONE = """
    SELECT pid, datid, usesysid, backend_type, datname, backend_start, state, usename,
           application_name, query_start, xact_start, wait_event_type, wait_event, query,
           backend_type IS NULL AS hidden,
           CASE WHEN backend_type IS NULL THEN 'not visible'
                WHEN client_port IS NULL THEN NULL  -- no client: a background process
                ELSE coalesce(host(client_addr), 'local') END AS client,
           clock_timestamp() - query_start AS running_for,
           clock_timestamp() - xact_start AS xact_age,
           clock_timestamp() - state_change AS state_age,
           CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blockers
    FROM pg_stat_activity
    WHERE pid <> pg_backend_pid()
"""
_CLIENT_BACKEND = """(backend_type = 'client backend'
    OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL))"""

_SESSION = """json_build_object(
    'pid', pid,
    'backend_start', extract(epoch FROM backend_start),
    'state', state,
    'database', datname,
    'user', usename,
    'application', application_name,
    'client', client,
    'duration_s', extract(epoch FROM running_for),
    'xact_age_s', extract(epoch FROM xact_age),
    'state_age_s', extract(epoch FROM state_age),
    'query_start', extract(epoch FROM query_start),
    'wait_event', wait_event_type || ':' || wait_event,
    'query', left(query, %(query_cap)s),
    'blocked_by', coalesce(blockers, '{}')
)"""


def _listed(source: str, where: str, order: str) -> str:
    return f"""(SELECT coalesce(json_agg(session ORDER BY rank), '[]') FROM (
        SELECT {_SESSION} AS session, row_number() OVER (ORDER BY {order}) AS rank
        FROM {source} WHERE {where}
        ORDER BY {order} LIMIT %(limit)s) AS listed)"""


_LONG = "state NOT LIKE 'idle%%' AND running_for >= make_interval(secs => %(long_query)s)"
# An aborted transaction has no xact_start any more: it counts from when it went idle.
_IDLE_TX = (
    "state LIKE 'idle in transaction%%'"
    " AND coalesce(xact_age, state_age) >= make_interval(secs => %(idle_tx)s)"
)
_WAITING = "cardinality(blockers) > 0"
_LONG_QUERIES = _listed("activity", _LONG, "running_for DESC")
_IDLE_TRANSACTIONS = _listed("activity", _IDLE_TX, "coalesce(xact_age, state_age) DESC")
_BLOCKED = _listed("activity", _WAITING, "running_for DESC NULLS LAST, pid")
# The lists stop at MAX_SESSIONS; rules and the summary count them all.
_TOTALS = f"""(SELECT json_build_object(
        'long_queries_total', count(*) FILTER (WHERE {_LONG}),
        'idle_transactions_total', count(*) FILTER (WHERE {_IDLE_TX}),
        'blocked_total', count(*) FILTER (WHERE {_WAITING})) FROM activity)"""
# A root blocker may be no client backend (autovacuum holding a lock), so any backend.
_BLOCKERS = _listed("everyone JOIN roots USING (pid)", "true", "pid")

_BREAKDOWN = """(SELECT coalesce(json_agg(json_build_array(dimension, key, sessions)
                          ORDER BY dimension, sessions DESC, key), '[]')
    FROM (
        SELECT *, row_number() OVER (PARTITION BY dimension ORDER BY sessions DESC, key) AS rank
        FROM (
            SELECT dimension, coalesce(key, '') AS key, count(*) AS sessions
            FROM activity, LATERAL (VALUES ('database', datname), ('user', usename),
                                           ('application', application_name),
                                           ('client', client)) AS split(dimension, key)
            GROUP BY 1, 2) AS counted) AS ranked
    WHERE rank <= %(top)s)"""

_COUNTS = """(SELECT json_build_object(
        'total', count(*),
        'active', count(*) FILTER (WHERE state = 'active'),
        'idle', count(*) FILTER (WHERE state = 'idle'),
        'idle_in_transaction', count(*) FILTER (WHERE state LIKE 'idle in transaction%%'),
        'aborted', count(*) FILTER (WHERE state = 'idle in transaction (aborted)'),
        'waiting_on_lock', count(*) FILTER (WHERE wait_event_type = 'Lock'),
        'not_visible', count(*) FILTER (WHERE hidden)) FROM activity)"""

_REPLICAS = """(SELECT coalesce(json_agg(json_build_object(
        'name', application_name,
        'client', CASE WHEN client_port IS NULL THEN NULL
                       ELSE coalesce(host(client_addr), 'local') END,
        'state', state,
        'sync_state', sync_state,
        'lag_bytes', pg_wal_lsn_diff(wal.lsn, replay_lsn),
        'replay_lag_s', CASE WHEN replay_lsn >= wal.lsn THEN 0
                             ELSE extract(epoch FROM replay_lag) END
    ) ORDER BY application_name, pid), '[]') FROM pg_stat_replication, wal)"""

# pg_current_wal_lsn() raises on a standby, so the reference point is chosen per role; a
# CASE evaluates only the branch taken, and the functions are volatile (never pre-computed).
# A standby's replay lag is 0 when it replayed all it received only while it is connected:
# the receive LSN keeps its last value after the WAL receiver stops (pg_stat_wal_receiver
# has a row, with details hidden but present for any role, only while it streams).
POLL_SQL = f"""
WITH everyone AS ({_EVERYONE}),
activity AS (SELECT * FROM everyone WHERE {_CLIENT_BACKEND}),
roots AS (
    SELECT DISTINCT blocker AS pid
    FROM activity, unnest(blockers) AS blocker
    WHERE NOT EXISTS (
        SELECT 1 FROM activity AS waiting
        WHERE waiting.pid = blocker AND cardinality(waiting.blockers) > 0)
),
wal AS (
    SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                ELSE pg_current_wal_lsn() END AS lsn
)
SELECT
    split_part(current_setting('server_version'), ' ', 1),
    current_setting('max_connections')::int,
    current_setting('superuser_reserved_connections')::int
        + coalesce(current_setting('reserved_connections', true)::int, 0),
    pg_is_in_recovery(),
    {_COUNTS},
    {_TOTALS},
    {_BREAKDOWN},
    {_LONG_QUERIES},
    {_IDLE_TRANSACTIONS},
    {_BLOCKED},
    (SELECT coalesce(json_agg(pid ORDER BY pid), '[]') FROM roots),
    {_BLOCKERS},
    {_REPLICAS},
    CASE WHEN NOT pg_is_in_recovery() THEN NULL
         WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver)
              AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
         ELSE greatest(0, extract(epoch FROM clock_timestamp()
                                             - pg_last_xact_replay_timestamp())) END,
    CASE WHEN pg_is_in_recovery()
         THEN greatest(0, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()))
    END
"""


def poll_params(long_query: float, idle_in_transaction: float) -> dict[str, Any]:
    return {
        "query_cap": QUERY_TEXT_CAP,
        "long_query": long_query,
        "idle_tx": idle_in_transaction,
        "limit": MAX_SESSIONS,
        "top": TOP,
    }


def build_sample(
    name: str,
    at: float,
    row: tuple[Any, ...],
    capabilities: Capabilities,
    *,
    long_query: float = 300.0,
    idle_in_transaction: float = 60.0,
) -> DatabaseSample:
    (
        version,
        max_connections,
        reserved,
        in_recovery,
        counts,
        totals,
        breakdown,
        long_queries,
        idle_transactions,
        blocked,
        roots,
        blockers,
        replicas,
        standby_lag_s,
        standby_lag_bytes,
    ) = row
    by: dict[str, list[tuple[str, int]]] = {}
    for dimension, key, sessions in breakdown:
        by.setdefault(dimension, []).append((printable(key), sessions))
    return DatabaseSample(
        name=name,
        at=at,
        server_version=version,
        max_connections=max_connections,
        usable_connections=max_connections - reserved,
        reserved_connections=reserved,
        connections=Connections(
            **counts,
            by_database=tuple(by.get("database", ())),
            by_user=tuple(by.get("user", ())),
            by_application=tuple(by.get("application", ())),
            by_client=tuple(by.get("client", ())),
        ),
        long_queries=tuple(session(item) for item in long_queries),
        idle_transactions=tuple(session(item) for item in idle_transactions),
        blocked=tuple(session(item) for item in blocked),
        root_blockers=tuple(roots),
        blockers=tuple(session(item) for item in blockers),
        in_recovery=in_recovery,
        replicas=tuple(_replica(item) for item in replicas),
        standby_lag_s=_number(standby_lag_s),
        standby_lag_bytes=_number(standby_lag_bytes),
        capabilities=capabilities,
        long_query_s=long_query,
        idle_in_transaction_s=idle_in_transaction,
        **totals,
    )


def session(item: dict[str, Any]) -> Session:
    start = item["backend_start"]
    return Session(
        pid=item["pid"],
        backend_start=float(start) if start is not None else 0.0,
        state=item["state"],
        user=_text(item["user"]),
        application=_text(item["application"]),
        client=_text(item["client"]),
        duration_s=_number(item["duration_s"]),
        xact_age_s=_number(item["xact_age_s"]),
        state_age_s=_number(item["state_age_s"]),
        wait_event=item["wait_event"],
        query=printable(redact(item["query"] or "")),
        blocked_by=tuple(item["blocked_by"]),
        database=_text(item["database"]),
        query_start=_number(item["query_start"]),
    )


def _replica(item: dict[str, Any]) -> Replica:
    return Replica(
        name=printable(item["name"] or ""),
        client=_text(item["client"]),
        state=item["state"],
        sync_state=item["sync_state"],
        lag_bytes=_number(item["lag_bytes"]),
        replay_lag_s=_number(item["replay_lag_s"]),
    )


def _text(value: str | None) -> str | None:
    """Names set by clients (roles, databases, applications) may hold terminal controls."""
    return printable(value) if value is not None else None


def _number(value: float | None) -> float | None:
    return float(value) if value is not None else None
