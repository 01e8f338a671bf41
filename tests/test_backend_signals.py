"""Cancel and terminate on a real PostgreSQL, guarded by pid and backend start."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tui.engine.pg_actions import BackendGone, BackendSignaller, SignalRefused


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
