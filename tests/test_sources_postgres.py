"""The PostgreSQL source against a real server, with real extra sessions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tui.engine.config import Database, Settings
from tui.engine.errors import describe
from tui.engine.sources.postgres import PostgresSource

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


def test_identity_and_timing(pg_dsn):
    source = PostgresSource(Database(name="main", dsn=pg_dsn, interval=2.0), SETTINGS)
    assert (source.id, source.section, source.name) == ("database:main", "database", "main")
    assert (source.interval, source.timeout) == (2.0, 3.0)


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
    assert 0 < sample.pct_of_usable < 1


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


async def test_sessions_counted_long_and_blocked(source, admin, pg_dsn):
    await admin.execute("CREATE TABLE IF NOT EXISTS wd_locked (id int)")
    before = await source.poll()
    idle = await session(pg_dsn, "wd-idle")
    holder = await session(pg_dsn, "wd-holder", autocommit=False)
    sleeper = await session(pg_dsn, "wd-sleeper")
    waiter = await session(pg_dsn, "wd-waiter")
    pids = {
        name: conn.pgconn.backend_pid
        for name, conn in [
            ("idle", idle),
            ("holder", holder),
            ("sleeper", sleeper),
            ("waiter", waiter),
        ]
    }
    tasks: list[asyncio.Task] = []
    try:
        await holder.execute("LOCK TABLE wd_locked IN ACCESS EXCLUSIVE MODE")
        tasks.append(asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)")))
        tasks.append(asyncio.create_task(waiter.execute("SELECT count(*) FROM wd_locked")))

        def ready(sample) -> bool:
            long_pids = {s.pid for s in sample.long_queries}
            return pids["sleeper"] in long_pids and any(
                s.pid == pids["waiter"] for s in sample.blocked
            )

        sample = await until(ready, source.poll)
    finally:
        await terminate(admin, *pids.values())
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in (idle, holder, sleeper, waiter):
            await conn.close()

    counts, base = sample.connections, before.connections
    assert counts.total - base.total == 4
    assert counts.idle - base.idle == 1
    assert counts.active - base.active == 2
    assert counts.idle_in_transaction - base.idle_in_transaction == 1
    assert counts.waiting_on_lock - base.waiting_on_lock == 1
    assert counts.not_visible == 0, "a superuser sees every session"

    durations = [s.duration_s for s in sample.long_queries]
    assert durations == sorted(durations, reverse=True)
    (sleep,) = [s for s in sample.long_queries if s.pid == pids["sleeper"]]
    assert sleep.state == "active"
    assert sleep.application == "wd-sleeper"
    assert sleep.user
    if (conninfo_to_dict(pg_dsn).get("host") or "/").startswith("/"):
        assert sleep.client == "local", "a unix-socket client has no address"
    assert sleep.duration_s >= 1.0
    assert sleep.xact_age_s >= sleep.duration_s
    assert sleep.wait_event == "Timeout:PgSleep"
    assert "pg_sleep(60)" in sleep.query
    assert sleep.backend_start <= time.time()
    assert sleep.blocked_by == ()
    assert pids["idle"] not in {s.pid for s in sample.long_queries}

    (blocked,) = sample.blocked
    assert blocked.pid == pids["waiter"]
    assert blocked.blocked_by == (pids["holder"],)
    assert blocked.wait_event == "Lock:relation"
    assert "wd_locked" in blocked.query


async def test_sessions_hidden_without_pg_read_all_stats(admin, pg_dsn):
    await admin.execute(
        "DO $$ BEGIN CREATE ROLE wd_lowly LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    params = conninfo_to_dict(pg_dsn)
    params["user"] = "wd_lowly"
    params.pop("password", None)
    lowly = PostgresSource(Database(name="lowly", dsn=make_conninfo(**params)), SETTINGS)
    try:
        sample = await lowly.poll()
    finally:
        await lowly.aclose()
    counts = sample.connections
    assert counts.not_visible >= 1, "the admin session is another role's"
    assert counts.total >= counts.not_visible + counts.active + counts.idle


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
