"""The PostgreSQL source against a real server, with real extra sessions.

The helpers here (``session``, ``until``, ``terminate``, ``role_dsn``) serve the other
``test_pg_*`` files too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tui.engine.config import Database, Settings
from tui.engine.errors import describe
from tui.engine.report import _database, build_report, render_text
from tui.engine.sources.pg_activity import MAX_SESSIONS
from tui.engine.sources.postgres import PollTimeout, PostgresSource
from tui.engine.state import SourceState
from widgets.db_summary import _lists
from widgets.status import Palette

SETTINGS = Settings(interval=5.0, timeout=3.0)


@pytest.fixture
async def admin(pg_dsn: str) -> AsyncIterator[psycopg.AsyncConnection]:
    conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
    yield conn
    await conn.close()


@pytest.fixture
async def source(pg_dsn: str) -> AsyncIterator[PostgresSource]:
    source = PostgresSource(Database(name="main", dsn=pg_dsn, long_query=1.0), SETTINGS)
    yield source
    await source.aclose()


async def session(dsn: str, name: str, *, autocommit: bool = True) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=autocommit, application_name=name)


async def until(predicate, poll, limit: float = 10.0):
    """Poll until ``predicate(sample)`` holds (bounded), and return that sample."""
    deadline = time.monotonic() + limit
    while True:
        sample = await poll()
        if predicate(sample):
            return sample
        assert time.monotonic() < deadline, f"not reached in {limit}s: {sample}"
        await asyncio.sleep(0.05)


async def terminate(admin: psycopg.AsyncConnection, *pids: int) -> None:
    for pid in pids:
        await admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


async def ensure_role(admin: psycopg.AsyncConnection, role: str) -> None:
    await admin.execute(
        f"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )


def role_dsn(dsn: str, role: str) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = role
    params.pop("password", None)
    return make_conninfo(**params)


def apps(sample) -> dict[str, int]:
    return dict(sample.connections.by_application)


def test_identity_and_timing(pg_dsn):
    source = PostgresSource(Database(name="main", dsn=pg_dsn, interval=2.0), SETTINGS)
    assert (source.id, source.section, source.name) == ("database:main", "database", "main")
    assert (source.interval, source.query_timeout) == (2.0, 3.0)
    assert source.timeout == 3.0 + 1.0, "the statement timeout fires before the pass's"


async def test_server_facts(source, admin):
    sample = await source.poll()
    max_connections = int((await (await admin.execute("SHOW max_connections")).fetchone())[0])
    reserved = await (
        await admin.execute(
            "SELECT current_setting('superuser_reserved_connections')::int"
            " + coalesce(current_setting('reserved_connections', true)::int, 0)"
        )
    ).fetchone()
    version = (await (await admin.execute("SHOW server_version")).fetchone())[0]
    assert sample.name == "main"
    assert sample.server_version == version.split()[0]
    assert sample.max_connections == max_connections
    assert sample.usable_connections == max_connections - reserved[0]
    assert sample.reserved_connections == reserved[0]
    assert 0 < sample.pct_of_usable < 1
    assert not sample.in_recovery
    assert (sample.standby_lag_s, sample.standby_lag_bytes) == (None, None)

    caps = sample.capabilities
    assert caps.superuser and caps.read_all_stats and caps.signal_backend
    assert caps.version_num >= 120000
    assert caps.reasons == () if caps.statements else len(caps.reasons) == 1
    if not caps.statements:
        assert caps.reasons[0].endswith(": top statements unavailable")
        assert "pg_stat_statements" in caps.reasons[0]


async def test_connection_is_named_and_reused(source, admin):
    await source.poll()
    first = source._conn
    await source.poll()
    assert source._conn is first
    pid = first.pgconn.backend_pid
    row = await (
        await admin.execute(
            "SELECT application_name, current_setting('statement_timeout')"
            " FROM pg_stat_activity WHERE pid = %s",
            [pid],
        )
    ).fetchone()
    assert row[0] == "watchdeck"
    setting = await (await first.execute("SHOW statement_timeout")).fetchone()
    assert setting[0] == "3s"


async def test_sessions_counted_long_idle_in_transaction_and_blocked(admin, pg_dsn):
    await admin.execute("CREATE TABLE IF NOT EXISTS wd_locked (id int)")
    db = Database(name="main", dsn=pg_dsn, long_query=1.0, idle_in_transaction=0.5)
    source = PostgresSource(db, SETTINGS)
    before = await source.poll()
    idle = await session(pg_dsn, "wd-idle")
    holder = await session(pg_dsn, "wd-holder", autocommit=False)
    failed = await session(pg_dsn, "wd-failed", autocommit=False)
    sleeper = await session(pg_dsn, "wd-sleeper")
    waiter = await session(pg_dsn, "wd-waiter")
    conns = {
        "idle": idle,
        "holder": holder,
        "failed": failed,
        "sleeper": sleeper,
        "waiter": waiter,
    }
    pids = {name: conn.pgconn.backend_pid for name, conn in conns.items()}
    tasks: list[asyncio.Task] = []
    try:
        await holder.execute("LOCK TABLE wd_locked IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(psycopg.errors.DivisionByZero):
            await failed.execute("SELECT 1 / 0")
        tasks.append(asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)")))
        tasks.append(asyncio.create_task(waiter.execute("SELECT count(*) FROM wd_locked")))

        def ready(sample) -> bool:
            long_pids = {s.pid for s in sample.long_queries}
            idle_tx = {s.pid for s in sample.idle_transactions}
            return (
                pids["sleeper"] in long_pids
                and {pids["holder"], pids["failed"]} <= idle_tx
                and any(s.pid == pids["waiter"] for s in sample.blocked)
            )

        sample = await until(ready, source.poll)
    finally:
        await terminate(admin, *pids.values())
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in conns.values():
            await conn.close()
        await source.aclose()

    counts = sample.connections
    assert {name: apps(sample).get(f"wd-{name}") for name in conns} == dict.fromkeys(conns, 1)
    assert counts.total - before.connections.total == 5
    assert counts.idle_in_transaction >= 2, "aborted ones included"
    assert counts.aborted >= 1
    assert counts.active >= 2 and counts.idle >= 1
    assert counts.waiting_on_lock >= 1
    assert counts.not_visible == 0, "a superuser sees every session"
    assert sum(n for _, n in counts.by_database) == counts.total
    assert sum(n for _, n in counts.by_user) == counts.total
    assert [n for _, n in counts.by_user] == sorted((n for _, n in counts.by_user), reverse=True)
    assert "not visible" not in dict(counts.by_client)

    durations = [s.duration_s for s in sample.long_queries]
    assert durations == sorted(durations, reverse=True)
    (sleep,) = [s for s in sample.long_queries if s.pid == pids["sleeper"]]
    assert sleep.state == "active"
    assert sleep.application == "wd-sleeper"
    assert sleep.user
    assert sleep.database == conninfo_to_dict(pg_dsn).get("dbname", sleep.database)
    if (conninfo_to_dict(pg_dsn).get("host") or "/").startswith("/"):
        assert sleep.client == "local", "a unix-socket client has no address"
    assert sleep.duration_s >= 1.0
    assert sleep.xact_age_s >= sleep.duration_s
    assert sleep.wait_event == "Timeout:PgSleep"
    assert "pg_sleep(60)" in sleep.query
    assert sleep.backend_start <= time.time()
    assert sleep.blocked_by == ()
    long_pids = {s.pid for s in sample.long_queries}
    assert not long_pids & {pids["idle"], pids["holder"], pids["failed"]}

    idle_tx = {s.pid: s for s in sample.idle_transactions}
    assert idle_tx[pids["holder"]].state == "idle in transaction"
    assert idle_tx[pids["failed"]].state == "idle in transaction (aborted)"
    assert idle_tx[pids["holder"]].xact_age_s >= idle_tx[pids["holder"]].state_age_s >= 0.5
    assert idle_tx[pids["failed"]].xact_age_s is None, "PostgreSQL forgets an aborted one's start"
    assert idle_tx[pids["failed"]].state_age_s >= 0.5

    (blocked,) = sample.blocked
    assert blocked.pid == pids["waiter"]
    assert blocked.blocked_by == (pids["holder"],)
    assert blocked.wait_event == "Lock:relation"
    assert "wd_locked" in blocked.query
    assert sample.root_blockers == (pids["holder"],)
    (root,) = sample.blockers
    assert (root.pid, root.application) == (pids["holder"], "wd-holder")
    assert "LOCK TABLE wd_locked" in root.query


async def test_short_idle_transactions_are_not_listed(source, pg_dsn):
    """``idle_in_transaction`` defaults to a minute: a transaction just opened is no news."""
    holder = await session(pg_dsn, "wd-brief", autocommit=False)
    pid = holder.pgconn.backend_pid
    try:
        await holder.execute("SELECT 1")
        sample = await until(lambda s: apps(s).get("wd-brief") == 1, source.poll)
    finally:
        await holder.close()
    assert sample.connections.idle_in_transaction >= 1
    assert pid not in {s.pid for s in sample.idle_transactions}


async def test_sessions_hidden_without_pg_read_all_stats(admin, pg_dsn):
    await ensure_role(admin, "wd_lowly")
    lowly = PostgresSource(Database(name="lowly", dsn=role_dsn(pg_dsn, "wd_lowly")), SETTINGS)
    other = await session(pg_dsn, "wd-someone-else")
    try:
        sample = await until(lambda s: apps(s).get("wd-someone-else") == 1, lowly.poll)
    finally:
        await other.close()
        await lowly.aclose()
    counts = sample.connections
    assert counts.not_visible >= 1, "the other role's session"
    assert counts.total >= counts.not_visible + counts.active + counts.idle
    assert dict(counts.by_client)["not visible"] == counts.not_visible
    assert dict(counts.by_user).get(conninfo_to_dict(pg_dsn).get("user") or "postgres", 0) >= 1

    caps = sample.capabilities
    assert (caps.user, caps.superuser, caps.read_all_stats, caps.signal_backend) == (
        "wd_lowly",
        False,
        False,
        False,
    )
    reasons = " | ".join(caps.reasons)
    assert "wd_lowly lacks pg_read_all_stats (grant pg_monitor)" in reasons
    assert "not visible" in reasons
    assert "wd_lowly lacks pg_signal_backend" in reasons


async def test_pg_monitor_makes_every_session_visible(admin, pg_dsn):
    await ensure_role(admin, "wd_watcher")
    await admin.execute("GRANT pg_monitor TO wd_watcher")
    watcher = PostgresSource(Database(name="w", dsn=role_dsn(pg_dsn, "wd_watcher")), SETTINGS)
    other = await session(pg_dsn, "wd-visible")
    try:
        sample = await until(lambda s: apps(s).get("wd-visible") == 1, watcher.poll)
    finally:
        await other.close()
        await watcher.aclose()
    assert sample.connections.not_visible == 0
    assert sample.capabilities.read_all_stats and not sample.capabilities.signal_backend
    assert not any("pg_read_all_stats" in reason for reason in sample.capabilities.reasons)


async def test_reconnects_after_the_backend_is_terminated(source, admin):
    await source.poll()
    old_pid = source._conn.pgconn.backend_pid
    await terminate(admin, old_pid)
    try:
        await source.poll()
    except psycopg.OperationalError as exc:
        assert "terminat" in str(exc) or "closed" in str(exc)
    sample = await source.poll()
    assert sample.server_version
    assert source._conn.pgconn.backend_pid != old_pid


async def test_a_statement_timeout_keeps_the_connection(admin, pg_dsn):
    """pg_stat_activity reads pg_database: with it locked, the poll query waits until the
    server cancels it; the connection stays and serves the next pass."""
    source = PostgresSource(Database(name="main", dsn=pg_dsn, timeout=0.3), SETTINGS)
    locker = await psycopg.AsyncConnection.connect(pg_dsn)
    try:
        await source.poll()
        conn = source._conn
        await locker.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(PollTimeout) as caught:
            await source.poll()
        await locker.rollback()
        assert source._conn is conn
        assert (await source.poll()).server_version
    finally:
        await locker.close()
        await source.aclose()
    assert describe(caught.value) == "timed out after 300ms (statement timeout)"


async def test_unreachable_server_error_has_no_password(refused_url):
    port = urlsplit(refused_url).port
    dsn = f"postgresql://watchdeck:s3cretpw@127.0.0.1:{port}/postgres"
    source = PostgresSource(Database(name="gone", dsn=dsn), SETTINGS)
    with pytest.raises(psycopg.OperationalError) as caught:
        await source.poll()
    assert "s3cretpw" not in str(caught.value)
    assert "s3cretpw" not in describe(caught.value)
    assert "refused" in describe(caught.value).lower()
    await source.aclose()


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://watchdeck:s3cretpw@[::1/postgres",
        "host=127.0.0.1 password=s3cretpw dbname",
        "host=127.0.0.1 password='s3cretpw' port=notaport",
    ],
)
async def test_bad_dsn_error_has_no_password(dsn):
    source = PostgresSource(Database(name="bad", dsn=dsn), SETTINGS)
    with pytest.raises(psycopg.Error) as caught:
        await source.poll()
    assert "s3cretpw" not in str(caught.value)
    assert "s3cretpw" not in describe(caught.value)


CROWD = MAX_SESSIONS + 5


async def test_rule_metrics_count_past_the_listed_sessions(admin, pg_dsn):
    """The lists stop at MAX_SESSIONS each; db.NAME.blocked and long_queries count them all."""
    await admin.execute("CREATE TABLE IF NOT EXISTS wd_crowded (id int)")
    db = Database(name="main", dsn=pg_dsn, long_query=0.5, idle_in_transaction=0.5)
    source = PostgresSource(db, SETTINGS)
    holder = await session(pg_dsn, "wd-crowd-holder", autocommit=False)
    crowd = await asyncio.gather(*(session(pg_dsn, "wd-crowd") for _ in range(CROWD)))
    tasks: list[asyncio.Task] = []
    try:
        await holder.execute("LOCK TABLE wd_crowded IN ACCESS EXCLUSIVE MODE")
        tasks += [asyncio.create_task(c.execute("SELECT count(*) FROM wd_crowded")) for c in crowd]
        sample = await until(
            lambda s: s.blocked_count >= CROWD and s.long_query_count >= CROWD, source.poll
        )
    finally:
        await terminate(admin, holder.pgconn.backend_pid)  # the crowd's queries then end
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in (holder, *crowd):
            await conn.close()
        await source.aclose()
    assert len(sample.blocked) == len(sample.long_queries) == MAX_SESSIONS
    metrics = sample.metrics()
    assert metrics["blocked"] == sample.blocked_count >= CROWD
    assert metrics["long_queries"] == sample.long_query_count >= CROWD
    assert sample.idle_transaction_count == len(sample.idle_transactions) >= 1, "the holder"
    # What the pane's summary and `watchdeck check` say count them all too.
    state = SourceState("database:main", "database", "main", "postgres", sample, last_success=1)
    counted = _database(state)["counts"]
    assert counted["blocked"] == sample.blocked_count and counted["long_queries"] >= CROWD
    text = render_text(build_report([state], (), time.time()))
    assert f"{sample.long_query_count} long, {sample.blocked_count} blocked" in text
    summary = _lists(sample, Palette.of({})).plain
    assert f"long ≥ 500ms {sample.long_query_count} ·" in summary
    assert f"blocked {sample.blocked_count} behind" in summary


@pytest.mark.parametrize(
    ("dsn", "secret"),
    [
        ("postgresql://app:50%off!@/postgres?host=/nowhere", "off!"),
        ("postgresql://app:s3cr%zzet@localhost/postgres", "zzet"),
        ("postgresql://app:pw@localhost/postgres?s3cr%zzet=1", "zzet"),
        ("host=/nowhere user=app password=s3 cret dbname=postgres", "cret"),
        ("host=/nowhere user=app password=p4ss w0rd=1 dbname=postgres", "w0rd"),
        ('host=/nowhere password=a"b c"d', 'c"d'),
    ],
)
async def test_a_dsn_that_does_not_parse_never_shows_its_password(dsn, secret):
    """libpq quotes the part of a DSN it cannot parse, which may be the password."""
    source = PostgresSource(Database(name="bad", dsn=dsn), SETTINGS)
    with pytest.raises(psycopg.Error) as caught:
        await source.poll()
    assert secret not in str(caught.value)
    assert secret not in describe(caught.value)
    assert str(caught.value).startswith("invalid dsn: ")
    assert str(caught.value).endswith("(the text is not shown: it may hold the password)")


async def test_terminal_controls_from_the_server_never_reach_the_sample(admin, pg_dsn, source):
    """Query text and role names are anyone's to choose; they must not drive a terminal."""
    clipboard = "\x1b]52;c;ZWNobyBvd25lZA==\x07"
    role = "wd_esc\x1b[2J"
    await admin.execute(
        sql.SQL("DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN").format(sql.Identifier(role))
    )
    conn = await psycopg.AsyncConnection.connect(
        role_dsn(pg_dsn, role), autocommit=True, application_name=f"wd-esc{clipboard}"
    )
    pid = conn.info.backend_pid
    task = asyncio.create_task(conn.execute(f"SELECT pg_sleep(30) /* {clipboard} */"))
    try:
        sample = await until(lambda s: pid in {q.pid for q in s.long_queries}, source.poll)
    finally:
        task.cancel()
        await conn.close()
    (seen,) = [q for q in sample.long_queries if q.pid == pid]
    assert "/* ␛]52;c;ZWNobyBvd25lZA==␇ */" in seen.query
    assert seen.user == "wd_esc␛[2J"
    texts = [seen.query, seen.user, seen.application, seen.database, seen.client]
    texts += [key for key, _ in sample.connections.by_user + sample.connections.by_application]
    assert not [text for text in texts if text and ("\x1b" in text or "\x07" in text)]
