"""Figures fetched on a key press: database sizes and top statements (pg_stat_statements)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from test_sources_postgres import SETTINGS, ensure_role, role_dsn

from tui.engine.config import Database
from tui.engine.sources.pg_ondemand import Unavailable
from tui.engine.sources.postgres import PostgresSource


@pytest.fixture
async def admin(pg_dsn: str) -> AsyncIterator[psycopg.AsyncConnection]:
    conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
    yield conn
    await conn.close()


async def one(conn: psycopg.AsyncConnection, query: str) -> object:
    row = await (await conn.execute(query)).fetchone()
    return row[0] if row else None


async def test_database_sizes_on_demand(admin, pg_dsn):
    if not await one(admin, "SELECT 1 FROM pg_database WHERE datname = 'wd_private'"):
        await admin.execute("CREATE DATABASE wd_private")
    await admin.execute("REVOKE CONNECT ON DATABASE wd_private FROM PUBLIC")
    await ensure_role(admin, "wd_lowly")
    here = await one(admin, "SELECT current_database()")
    source = PostgresSource(Database(name="main", dsn=pg_dsn), SETTINGS)
    lowly = PostgresSource(Database(name="lowly", dsn=role_dsn(pg_dsn, "wd_lowly")), SETTINGS)
    try:
        sizes = await source.database_sizes()
        assert source._conn is None, "no poll connection needed, none opened"
        conn = source._on_demand_conn
        again = await source.database_sizes()
        assert source._on_demand_conn is conn, "kept for the next key press"
        hidden = await lowly.database_sizes()
    finally:
        await source.aclose()
        await lowly.aclose()
    by_name = {size.name: size.bytes for size in sizes}
    assert by_name[here] > 1_000_000 and by_name["wd_private"] > 1_000_000
    assert "template0" not in by_name, "it accepts no connections"
    assert [s.bytes for s in sizes] == sorted((s.bytes for s in sizes), reverse=True)
    assert {s.name for s in again} == set(by_name)
    hidden_sizes = {size.name: size.bytes for size in hidden}
    assert hidden_sizes["wd_private"] is None, "no CONNECT privilege there"
    assert hidden_sizes[here] == pytest.approx(by_name[here], rel=0.5)
    assert [s.name for s in hidden][-1] == "wd_private", "unknown sizes last"


async def test_top_statements_unavailable_says_why(admin, pg_dsn):
    if await one(admin, "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"):
        pytest.skip("pg_stat_statements is installed on this server")
    source = PostgresSource(Database(name="main", dsn=pg_dsn), SETTINGS)
    try:
        with pytest.raises(Unavailable) as caught:
            await source.top_statements()
        sample = await source.poll()
    finally:
        await source.aclose()
    database = conninfo_to_dict(pg_dsn).get("dbname") or "postgres"
    assert str(caught.value) == f"pg_stat_statements is not installed in database {database}"
    assert not sample.capabilities.statements
    assert f"{caught.value}: top statements unavailable" in sample.capabilities.reasons


async def test_top_statements_where_the_server_has_them(admin, pg_dsn):
    """Runs against a server with pg_stat_statements in shared_preload_libraries (the system
    PostgreSQL through ``WATCHDECK_TEST_PG_DSN``); the pgserver build does not ship it."""
    preload = await one(admin, "SELECT current_setting('shared_preload_libraries')")
    if "pg_stat_statements" not in str(preload):
        pytest.skip("pg_stat_statements is not loaded on this server")
    await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for _ in range(3):
        await admin.execute("SELECT count(*) FROM pg_class WHERE relname = 'wd_top_statement'")
    source = PostgresSource(Database(name="main", dsn=pg_dsn), SETTINGS)
    try:
        sample = await source.poll()
        top = await source.top_statements(limit=500)
    finally:
        await source.aclose()
    assert sample.capabilities.statements
    assert not any("pg_stat_statements" in reason for reason in sample.capabilities.reasons)
    (ours,) = [s for s in top if s.query == "SELECT count(*) FROM pg_class WHERE relname = $1"]
    assert ours.calls >= 3 and ours.total_ms >= ours.mean_ms > 0 and ours.rows >= 3
    assert ours.user
    totals = [s.total_ms for s in top]
    assert totals == sorted(totals, reverse=True)


async def test_a_key_press_after_the_kept_connection_died(admin, pg_dsn):
    """Minutes pass between two presses of ``i``: a restart, idle_session_timeout or a DBA
    may end the kept connection meanwhile. The next press gets its figures all the same."""
    source = PostgresSource(Database(name="main", dsn=pg_dsn), SETTINGS)
    try:
        await source.database_sizes()
        kept = source._on_demand_conn
        await admin.execute("SELECT pg_terminate_backend(%s, 5000)", [kept.info.backend_pid])
        sizes = await source.database_sizes()
        assert source._on_demand_conn is not kept
    finally:
        await source.aclose()
    here = await one(admin, "SELECT current_database()")
    assert here in {size.name for size in sizes}
