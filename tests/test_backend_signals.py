"""Cancel and terminate on a real PostgreSQL, guarded by pid and backend start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from test_sources_postgres import SETTINGS, until

from tui.engine.config import Config, Database
from tui.engine.engine import Engine
from tui.engine.pg_actions import BackendGone, BackendSignaller, SignalRefused
from tui.engine.sources.postgres import PostgresSource


async def victim(dsn: str, name: str) -> tuple[psycopg.AsyncConnection, asyncio.Task, int, float]:
    """A session running pg_sleep, and its pid and backend start as pg_stat_activity says."""
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, application_name=name)
    task = asyncio.create_task(conn.execute("SELECT pg_sleep(30)"))
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as probe:
        for _ in range(200):
            row = await (
                await probe.execute(
                    "SELECT pid, extract(epoch FROM backend_start)::float8 FROM pg_stat_activity"
                    " WHERE application_name = %s AND wait_event = 'PgSleep'",
                    (name,),
                )
            ).fetchone()
            if row:
                return conn, task, row[0], row[1]
            await asyncio.sleep(0.02)
    raise AssertionError("the victim never started sleeping")


async def test_cancel_stops_the_query_and_keeps_the_session(pg_dsn: str):
    conn, task, pid, start = await victim(pg_dsn, "victim-cancel")
    signaller = BackendSignaller(pg_dsn, 3.0)
    try:
        assert await signaller.send("cancel", pid, start) == f"cancel request sent to pid {pid}"
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 5)
        assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
    finally:
        await conn.close()
        await signaller.aclose()


async def test_terminate_ends_the_session(pg_dsn: str):
    conn, task, pid, start = await victim(pg_dsn, "victim-terminate")
    signaller = BackendSignaller(pg_dsn, 3.0)
    try:
        assert await signaller.send("terminate", pid, start) == f"terminated pid {pid}"
        with pytest.raises(psycopg.OperationalError):
            await asyncio.wait_for(task, 5)
    finally:
        await conn.close()
        await signaller.aclose()


async def test_a_reused_pid_is_never_signalled(pg_dsn: str):
    conn, task, pid, start = await victim(pg_dsn, "victim-stale")
    signaller = BackendSignaller(pg_dsn, 3.0)
    try:
        with pytest.raises(BackendGone, match=f"pid {pid} now belongs to another session"):
            await signaller.send("terminate", pid, start - 60.0)  # the session the operator saw
        assert not task.done()  # the backend now holding the pid was left alone
    finally:
        task.cancel()
        await conn.close()
        await signaller.aclose()


async def test_an_unprivileged_role_gets_a_plain_refusal(pg_dsn: str):
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
        await admin.execute("DROP ROLE IF EXISTS wd_operator")
        await admin.execute("CREATE ROLE wd_operator LOGIN")
    operator_dsn = make_conninfo(**{**conninfo_to_dict(pg_dsn), "user": "wd_operator"})
    conn, task, pid, start = await victim(pg_dsn, "victim-superuser")
    signaller = BackendSignaller(operator_dsn, 3.0)
    try:
        with pytest.raises(SignalRefused, match="without pg_read_all_stats"):
            await signaller.send("terminate", pid, start)
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
            await admin.execute("GRANT pg_read_all_stats, pg_signal_backend TO wd_operator")
        # PostgreSQL 16 says "permission denied to terminate process", 15 "must be a superuser".
        refused = "permission denied to terminate|must be a superuser to terminate"
        with pytest.raises(SignalRefused, match=refused):
            await signaller.send("terminate", pid, start)  # a superuser's backend
        assert not task.done()
    finally:
        task.cancel()
        await conn.close()
        await signaller.aclose()


async def test_a_cancel_never_stops_the_next_query_on_the_same_backend(pg_dsn: str, tmp_path: Path):
    """A pooled connection keeps its backend: once the query the operator saw has ended,
    the backend runs another request's query, which the cancel must leave alone."""
    source = PostgresSource(Database(name="main", dsn=pg_dsn, long_query=0.2), SETTINGS)
    conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True, application_name="pool")
    pid = conn.info.backend_pid
    signaller = BackendSignaller(pg_dsn, 3.0)
    report = asyncio.create_task(conn.execute("SELECT pg_sleep(30) /* the runaway report */"))
    checkout: asyncio.Task | None = None
    try:
        sample = await until(lambda s: pid in {q.pid for q in s.long_queries}, source.poll)
        (seen,) = [q for q in sample.long_queries if q.pid == pid]
        assert seen.query_start is not None and "runaway report" in seen.query
        # Someone else stops the report (here the same signaller, with the same guard).
        assert await signaller.send("cancel", pid, seen.backend_start, seen.query_start)
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(report, 5)
        checkout = asyncio.create_task(conn.execute("SELECT pg_sleep(30) /* the checkout */"))
        await until(
            lambda s: any("checkout" in q.query for q in s.long_queries if q.pid == pid),
            source.poll,
        )
        with pytest.raises(BackendGone) as refused:
            await signaller.send("cancel", pid, seen.backend_start, seen.query_start)
        changed = f"pid {pid}: its query has changed since the screen showed it: not cancelled"
        assert str(refused.value) == changed
        # The console's path (c in the Database pane) sends what the screen showed.
        config = Config(databases=[Database(name="main", dsn=pg_dsn)])
        engine = Engine(config, state_dir=tmp_path)
        try:
            outcome = await engine.signal_backend("main", "cancel", seen)
        finally:
            await engine.stop()
        assert (outcome.ok, outcome.message) == (False, changed)
        await asyncio.sleep(0.2)
        assert not checkout.done(), "the checkout's query runs on"
    finally:
        for task in (report, checkout):
            if task is not None:
                task.cancel()
        await conn.close()
        await signaller.aclose()
        await source.aclose()


async def test_cancelling_an_idle_transaction_is_refused(pg_dsn: str):
    """A root blocker idle in its transaction runs nothing: PostgreSQL ignores a cancel,
    and the lock stays. Saying "cancel request sent" would send the operator away."""
    source = PostgresSource(Database(name="main", dsn=pg_dsn, idle_in_transaction=0.1), SETTINGS)
    holder = await psycopg.AsyncConnection.connect(pg_dsn, application_name="forgotten-tx")
    pid = holder.info.backend_pid
    signaller = BackendSignaller(pg_dsn, 3.0)
    try:
        await holder.execute("SELECT 1")
        sample = await until(lambda s: pid in {t.pid for t in s.idle_transactions}, source.poll)
        (idle,) = [t for t in sample.idle_transactions if t.pid == pid]
        for query_start in (idle.query_start, None):
            with pytest.raises(SignalRefused) as refused:
                await signaller.send("cancel", pid, idle.backend_start, query_start)
            assert str(refused.value) == (
                f"pid {pid}: nothing running to cancel (idle in transaction): terminate it with K"
            )
        assert holder.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert await signaller.send("terminate", pid, idle.backend_start) == f"terminated pid {pid}"
    finally:
        await holder.close()
        await signaller.aclose()
        await source.aclose()


async def test_the_first_action_after_the_action_connection_died(pg_dsn: str):
    """The action connection idles between actions; the server may have ended it (restart,
    idle_session_timeout, a DBA's cleanup). The next action still reaches its target."""
    signaller = BackendSignaller(pg_dsn, 3.0)
    conn, task, pid, start = await victim(pg_dsn, "victim-first")
    second: psycopg.AsyncConnection | None = None
    try:
        assert await signaller.send("cancel", pid, start) == f"cancel request sent to pid {pid}"
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 5)
        kept = signaller._conn
        assert kept is not None
        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s, 5000)", [kept.info.backend_pid])
        second, task, pid, start = await victim(pg_dsn, "victim-second")
        assert await signaller.send("cancel", pid, start) == f"cancel request sent to pid {pid}"
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 5)
        assert signaller._conn is not kept
    finally:
        task.cancel()
        await conn.close()
        if second is not None:
            await second.close()
        await signaller.aclose()


async def test_a_refusal_says_why_on_postgresql_16(pg_dsn: str):
    """From PostgreSQL 16 the reason is in the error's DETAIL, not its message."""
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
        if admin.info.server_version < 160000:
            pytest.skip("PostgreSQL 15 and older say why in the message itself")
        await admin.execute("DROP ROLE IF EXISTS wd_signaller")
        await admin.execute("CREATE ROLE wd_signaller LOGIN")
        await admin.execute("GRANT pg_read_all_stats, pg_signal_backend TO wd_signaller")
    operator_dsn = make_conninfo(**{**conninfo_to_dict(pg_dsn), "user": "wd_signaller"})
    conn, task, pid, start = await victim(pg_dsn, "victim-of-a-superuser")
    signaller = BackendSignaller(operator_dsn, 3.0)
    try:
        with pytest.raises(SignalRefused) as refused:
            await signaller.send("terminate", pid, start)
        assert str(refused.value) == (
            "permission denied to terminate process: Only roles with the SUPERUSER attribute"
            " may terminate processes of roles with the SUPERUSER attribute."
        )
        assert not task.done()
    finally:
        task.cancel()
        await conn.close()
        await signaller.aclose()
