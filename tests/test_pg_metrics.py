"""Custom metrics: configured queries returning one number, each on its own interval and
timeout, seen by rules (``db.NAME.METRIC``) and by ``check --json`` (``metrics``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import psycopg
import pytest
from test_sources_postgres import SETTINGS, terminate

from tui.engine.config import Database, Metric
from tui.engine.sources.postgres import PostgresSource
from tui.engine.state import State

EVERY_PASS = 1e-6
"""An interval every pass outlasts, so the metric runs on each one."""


@pytest.fixture
async def admin(pg_dsn: str) -> AsyncIterator[psycopg.AsyncConnection]:
    conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
    yield conn
    await conn.close()


async def metrics_of(dsn: str, *metrics: Metric, **db: object) -> dict[str, object]:
    source = PostgresSource(Database(name="main", dsn=dsn, metrics=list(metrics), **db), SETTINGS)
    try:
        sample = await source.poll()
    finally:
        await source.aclose()
    return {m.name: m.value if m.error is None else m.error for m in sample.custom_metrics}


async def test_values_and_no_data(pg_dsn):
    got = await metrics_of(
        pg_dsn,
        Metric(name="count", sql="SELECT count(*) FROM pg_database WHERE datname LIKE 'templ%'"),
        Metric(name="numeric", sql="SELECT 2.5::numeric"),
        Metric(name="flag", sql="SELECT true"),
        Metric(name="age_s", sql="SELECT interval '1 minute 30 seconds'"),
        Metric(name="null", sql="SELECT NULL::int"),
        Metric(name="no_row", sql="SELECT 1 WHERE false"),
    )
    assert got == {
        "count": 2.0,
        "numeric": 2.5,
        "flag": 1.0,
        "age_s": 90.0,
        "null": None,
        "no_row": None,
    }


async def test_anything_but_one_number_is_an_error_with_a_reason(pg_dsn):
    got = await metrics_of(
        pg_dsn,
        Metric(name="text", sql="SELECT 'high'"),
        Metric(name="two_columns", sql="SELECT 1, 2"),
        Metric(name="two_rows", sql="SELECT * FROM (VALUES (1), (2)) AS v"),
        Metric(name="nan", sql="SELECT 'NaN'::float8"),
        Metric(name="typo", sql="SELEC 1"),
        Metric(name="missing", sql="SELECT count(*) FROM wd_no_such_table"),
        Metric(name="writes", sql="CREATE TABLE wd_metric_wrote (id int)"),
        Metric(name="smuggled", sql="COMMIT; CREATE TABLE wd_metric_wrote (id int)"),
    )
    assert got["text"] == (
        "returned a text value ('high'), not a number: cast it in SQL (::numeric)"
    )
    assert got["two_columns"] == "returned 2 columns: a metric is one value"
    assert got["two_rows"] == "returned more than one row: a metric is one value"
    assert got["nan"] == "returned nan, not a finite number"
    assert 'syntax error at or near "SELEC"' in got["typo"]
    assert got["missing"] == 'relation "wd_no_such_table" does not exist'
    assert "read-only transaction" in got["writes"]
    assert "multiple commands" in got["smuggled"]


async def test_no_write_got_through(admin):
    cursor = await admin.execute("SELECT to_regclass('wd_metric_wrote')")
    assert (await cursor.fetchone())[0] is None


async def test_own_timeout_and_connection(pg_dsn, admin):
    """A slow metric times out alone, on its own connection: the database's sample is fine and
    the metrics connection survives the statement timeout."""
    source = PostgresSource(
        Database(
            name="main",
            dsn=pg_dsn,
            metrics=[
                Metric(
                    name="slow", sql="SELECT 1 FROM pg_sleep(5)", timeout=0.2, interval=EVERY_PASS
                ),
                Metric(name="quick", sql="SELECT pg_backend_pid()", interval=EVERY_PASS),
            ],
        ),
        SETTINGS,
    )
    try:
        first = await source.poll()
        second = await source.poll()
        poll_pid = source._conn.pgconn.backend_pid
    finally:
        await source.aclose()
    slow, quick = first.custom_metrics
    assert (slow.value, slow.error) == (None, "timed out after 200ms")
    assert 200 <= slow.duration_ms < 5000
    assert quick.error is None and quick.value != poll_pid
    assert second.custom_metrics[1].value == quick.value, "the same connection, kept"
    assert first.connections is not None and first.server_version


async def test_each_metric_on_its_own_interval(pg_dsn):
    clock = "SELECT extract(epoch FROM clock_timestamp())"
    source = PostgresSource(
        Database(
            name="main",
            dsn=pg_dsn,
            metrics=[
                Metric(name="hourly", sql=clock, interval=3600),
                Metric(name="often", sql=clock, interval=EVERY_PASS),
            ],
        ),
        SETTINGS,
    )
    try:
        first = await source.poll()
        second = await source.poll()
    finally:
        await source.aclose()
    assert first.custom_metrics[0] == second.custom_metrics[0], "not run again before its hour"
    assert second.custom_metrics[1].value > first.custom_metrics[1].value
    assert second.custom_metrics[1].at > first.custom_metrics[1].at


async def test_a_metric_that_does_not_fit_the_pass_goes_first_next_time(pg_dsn):
    """A pass spends at most its own timeout plus the longest metric timeout."""
    source = PostgresSource(
        Database(
            name="main",
            dsn=pg_dsn,
            timeout=0.3,
            metrics=[
                Metric(name="long", sql="SELECT 1 FROM pg_sleep(1.4)", timeout=1.5, interval=3600),
                Metric(name="next", sql="SELECT 2", timeout=1.5, interval=3600),
            ],
        ),
        SETTINGS,
    )
    # A metric starts only while the database's own share (0.3 s + 1 s grace) is not spent.
    assert source.timeout == (0.3 + 1.0) + (1.5 + 1.0)
    try:
        first = await source.poll()
        second = await source.poll()
    finally:
        await source.aclose()
    assert [m.value for m in first.custom_metrics] == [1.0, None]
    assert first.custom_metrics[1].at is None, "not run yet"
    assert [m.value for m in second.custom_metrics] == [1.0, 2.0]
    assert second.custom_metrics[0] == first.custom_metrics[0]


async def test_a_lost_metrics_connection_is_reopened(pg_dsn, admin):
    source = PostgresSource(
        Database(
            name="main",
            dsn=pg_dsn,
            metrics=[Metric(name="pid", sql="SELECT pg_backend_pid()", interval=EVERY_PASS)],
        ),
        SETTINGS,
    )
    try:
        first = await source.poll()
        await terminate(admin, int(first.custom_metrics[0].value))
        broken = await source.poll()
        again = await source.poll()
    finally:
        await source.aclose()
    assert broken.custom_metrics[0].value is None
    assert "terminat" in broken.custom_metrics[0].error
    assert again.custom_metrics[0].error is None
    assert again.custom_metrics[0].value not in (None, first.custom_metrics[0].value)


async def test_rules_read_custom_metrics_from_the_state(pg_dsn):
    source = PostgresSource(
        Database(
            name="main",
            dsn=pg_dsn,
            metrics=[
                Metric(name="answer", sql="SELECT 42"),
                Metric(name="broken", sql="SELECT 'x'"),
            ],
        ),
        SETTINGS,
    )
    state = State()
    state.register(source.id, source.section, source.name, source.kind)
    try:
        state.record_sample(source.id, await source.poll(), 0.0)
    finally:
        await source.aclose()
    assert state.metric("db.main.answer") == 42.0
    assert state.metric("db.main.broken") is None, "an error is no data, never 0"
    assert state.history_of("db.main.answer") == [42.0]
    state.record_error(source.id, "connection refused", 1.0)
    assert state.metric("db.main.answer") is None, "stale"


def test_check_json_carries_the_metrics_and_a_rule_fires_on_one(tmp_path, pg_dsn):
    config = tmp_path / "watchdeck.yaml"
    config.write_text(
        """
databases:
  - name: main
    dsn: ${TEST_DSN}
    metrics:
      - {name: sessions_1h, sql: "SELECT 0", interval: 1m}
      - {name: lag_s, sql: "SELECT NULL::numeric"}
      - {name: broken, sql: "SELECT 'x'"}
alerts:
  rules:
    - {name: NoSessions, when: db.main.sessions_1h == 0, severity: warning}
"""
    )
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TEST_DSN": pg_dsn},
    )
    report = json.loads(result.stdout)
    (db,) = report["databases"]
    assert db["metrics"] == {"sessions_1h": 0.0, "lag_s": None, "broken": None}
    assert db["metric_errors"] == {
        "broken": "returned a text value ('x'), not a number: cast it in SQL (::numeric)"
    }
    assert db["connections"]["total"] >= 0 and "by_application" in db["connections"]
    ((alert),) = report["alerts"]
    assert (alert["name"], alert["state"], alert["value"]) == ("NoSessions", "firing", 0.0)
    assert result.returncode == 1, "a firing warning"
