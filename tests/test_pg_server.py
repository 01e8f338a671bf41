"""A PostgreSQL server of this module's own (pgserver): restarted, given a streaming standby
and a prepared transaction, things the shared server must not go through.

It requires a password from one role (scram over the unix socket), so a reconnect that
forgot the password would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from test_sources_postgres import SETTINGS, session, until

from tui.engine.config import Database
from tui.engine.scheduler import Scheduler
from tui.engine.sources.postgres import PostgresSource
from tui.engine.state import SourceState, State

PASSWORD = "s3cret-pw"


def pg_ctl(server: Any, *args: str, data: Path | None = None) -> None:
    from pgserver._commands import pg_ctl as run

    run(list(args), pgdata=data or server.pgdata, user=server.system_user, timeout=60)


def socket_dir(server: Any) -> str:
    return conninfo_to_dict(server.get_uri())["host"]


def start(server: Any, data: Path | None = None, sockets: str | None = None) -> None:
    data = data or server.pgdata
    options = f'-h "" -k {sockets or socket_dir(server)}'
    pg_ctl(server, "-w", "-l", str(data / "log"), "-o", options, "start", data=data)


def stop(server: Any, data: Path | None = None, mode: str = "fast") -> None:
    pg_ctl(server, "-w", "-m", mode, "stop", data=data)


@pytest.fixture(scope="module")
def own_server() -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    root = Path(tempfile.mkdtemp(prefix="wd-test-pg-own-"))  # not under pytest's temp dir:
    root.chmod(0o755)  # see the pg_server fixture in conftest.py
    try:
        server = pgserver.get_server(root / "data", cleanup_mode="delete")
        try:
            server.psql(
                "ALTER SYSTEM SET max_prepared_transactions = 4;\n"
                f"CREATE ROLE wd_pw LOGIN SUPERUSER PASSWORD '{PASSWORD}';\n"
            )
            hba = server.pgdata / "pg_hba.conf"
            hba.write_text("local all wd_pw scram-sha-256\n" + hba.read_text())
            stop(server)
            start(server)
            yield server
        finally:
            with contextlib.suppress(Exception):  # already stopped when setting up failed
                stop(server, mode="immediate")
            server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def password_dsn(own_server: Any) -> str:
    return make_conninfo(own_server.get_uri(), user="wd_pw", password=PASSWORD)


async def settled(read: Callable[[], SourceState], predicate, limit: float = 20.0) -> SourceState:
    deadline = time.monotonic() + limit
    while not predicate(read()):
        assert time.monotonic() < deadline, f"not reached in {limit}s: {read()}"
        await asyncio.sleep(0.05)
    return read()


async def test_password_is_required(own_server):
    with pytest.raises(psycopg.OperationalError, match="password"):
        await psycopg.AsyncConnection.connect(own_server.get_uri(), user="wd_pw")


async def test_server_restart_recovers_by_itself_with_the_password(own_server, password_dsn):
    source = PostgresSource(Database(name="own", dsn=password_dsn, interval=0.1), SETTINGS)
    state = State()
    scheduler = Scheduler([source], state, max_backoff=0.4)
    read = lambda: state.sources[source.id]  # noqa: E731
    scheduler.start()
    try:
        up = await settled(read, lambda s: s.sample is not None and s.error is None)
        first_pid = source._conn.pgconn.backend_pid
        await asyncio.to_thread(stop, own_server)
        down = await settled(read, lambda s: s.failures >= 3)
        assert down.stale and down.sample is not None
        assert down.sample.at <= up.last_success + 1
        assert down.next_poll_at is not None
        assert down.next_poll_at - down.last_attempt <= 0.4 + 0.1, "backoff is capped"
        assert PASSWORD not in (down.error or "")
        stopped_at = time.time()
        await asyncio.to_thread(start, own_server)
        back = await settled(read, lambda s: s.error is None and s.last_success > stopped_at)
        assert source._conn.pgconn.backend_pid != first_pid, "a new connection"
    finally:
        await scheduler.stop()
    assert back.failures == 0 and not back.stale
    assert back.sample.at > stopped_at
    assert back.sample.capabilities.user == "wd_pw", "probed again, as the same role"
    assert source._conn is None, "closed by the scheduler's stop"


async def test_prepared_transaction_blocks_as_pid_zero(own_server):
    dsn = own_server.get_uri()
    admin = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await admin.execute("CREATE TABLE IF NOT EXISTS wd_prepared (id int)")
    prepared = await psycopg.AsyncConnection.connect(dsn)
    await prepared.execute("LOCK TABLE wd_prepared IN ACCESS EXCLUSIVE MODE")
    await prepared.execute("PREPARE TRANSACTION 'wd-prepared'")
    await prepared.close()
    source = PostgresSource(Database(name="own", dsn=dsn), SETTINGS)
    reader = await session(dsn, "wd-reader")
    pid = reader.pgconn.backend_pid
    task = asyncio.create_task(reader.execute("SELECT count(*) FROM wd_prepared"))
    try:
        sample = await until(lambda s: pid in {w.pid for w in s.blocked}, source.poll)
    finally:
        await admin.execute("ROLLBACK PREPARED 'wd-prepared'")
        await task
        await reader.close()
        await admin.close()
        await source.aclose()
    (waiter,) = sample.blocked
    assert waiter.blocked_by == (0,)
    assert sample.root_blockers == (0,) and sample.blockers == ()
    (root,) = sample.blocking_tree()
    assert (root.pid, root.session) == (0, None)
    assert [node.pid for node in root.waiters] == [pid]


@pytest.fixture
async def standby(own_server: Any) -> AsyncIterator[str]:
    """A streaming standby of ``own_server`` (pg_basebackup -R); yields its DSN."""
    from pgserver._commands import pg_basebackup

    data = own_server.pgdata.parent / "standby"
    data.mkdir(mode=0o700)
    if own_server.system_user:
        import pwd

        account = pwd.getpwnam(own_server.system_user)
        os.chown(data, account.pw_uid, account.pw_gid)
    await asyncio.to_thread(
        pg_basebackup,
        ["-D", str(data), "-R", "-X", "stream", "-c", "fast", "-d", own_server.get_uri()],
        user=own_server.system_user,
        timeout=60,
    )
    for copied in [*data.glob(".s.PGSQL.*"), data / "log"]:  # the primary's socket lock, log
        copied.unlink(missing_ok=True)
    await asyncio.to_thread(start, own_server, data, str(data))
    yield make_conninfo(own_server.get_uri(), host=str(data))
    await asyncio.to_thread(stop, own_server, data, "immediate")
    shutil.rmtree(data)


async def test_replication_lag_on_the_primary_and_on_the_standby(own_server, standby):
    primary = PostgresSource(Database(name="primary", dsn=own_server.get_uri()), SETTINGS)
    replica = PostgresSource(Database(name="standby", dsn=standby), SETTINGS)
    writer = await psycopg.AsyncConnection.connect(own_server.get_uri(), autocommit=True)
    paused = await psycopg.AsyncConnection.connect(standby, autocommit=True)

    def caught_up(sample) -> bool:
        return sample.standby_lag_s == 0 and sample.standby_lag_bytes == 0

    def streaming(sample) -> bool:
        return [(r.state, r.lag_bytes, r.replay_lag_s) for r in sample.replicas] == [
            ("streaming", 0, 0)
        ]

    try:
        await writer.execute("CREATE TABLE wd_replicated AS SELECT 1 AS id")
        idle = await until(caught_up, replica.poll)
        assert idle.in_recovery and idle.replicas == ()
        assert idle.capabilities.read_all_stats
        on_primary = await until(streaming, primary.poll)
        assert not on_primary.in_recovery and on_primary.standby_lag_s is None
        (standby_row,) = on_primary.replicas
        assert standby_row.name and standby_row.client == "local"
        assert standby_row.sync_state == "async"

        await paused.execute("SELECT pg_wal_replay_pause()")
        await writer.execute("INSERT INTO wd_replicated VALUES (2)")
        behind = await until(lambda s: (s.standby_lag_bytes or 0) > 0, replica.poll)
        assert behind.standby_lag_s > 0
        lagging = await until(lambda s: (s.replicas[0].lag_bytes or 0) > 0, primary.poll)
        assert lagging.replicas[0].replay_lag_s != 0

        await paused.execute("SELECT pg_wal_replay_resume()")
        await until(caught_up, replica.poll)
        await until(streaming, primary.poll)
    finally:
        await writer.execute("DROP TABLE IF EXISTS wd_replicated")
        await writer.close()
        await paused.close()
        await primary.aclose()
        await replica.aclose()


async def test_a_disconnected_standby_reads_its_lag_from_the_clock(own_server, standby):
    """pg_last_wal_receive_lsn() keeps its last value once the WAL receiver stops (the
    primary is down, the network cut): "all received is replayed" no longer means caught up,
    and the lag is the time since the last replayed transaction."""
    replica = PostgresSource(Database(name="standby", dsn=standby), SETTINGS)
    writer = await psycopg.AsyncConnection.connect(own_server.get_uri(), autocommit=True)
    on_standby = await psycopg.AsyncConnection.connect(standby, autocommit=True)

    async def receivers() -> int:
        row = await (
            await on_standby.execute("SELECT count(*) FROM pg_stat_wal_receiver")
        ).fetchone()
        return row[0]

    try:
        await writer.execute("CREATE TABLE wd_cut_off AS SELECT 1 AS id")
        await until(lambda s: s.standby_lag_s == 0 and s.standby_lag_bytes == 0, replica.poll)
        assert await receivers() == 1
        await on_standby.execute("ALTER SYSTEM SET primary_conninfo = ''")  # cut it off
        await on_standby.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while await receivers():
            assert time.monotonic() < deadline, "the WAL receiver never stopped"
            await asyncio.sleep(0.05)
        first = await replica.poll()
        await asyncio.sleep(0.2)
        second = await replica.poll()
    finally:
        await writer.execute("DROP TABLE IF EXISTS wd_cut_off")
        await writer.close()
        await on_standby.close()
        await replica.aclose()
    assert first.in_recovery and first.standby_lag_bytes == 0, "received = replayed"
    assert 0 < first.standby_lag_s < second.standby_lag_s, "the lag grows with the clock"
