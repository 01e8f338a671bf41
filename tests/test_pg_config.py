"""Database config: thresholds, custom metrics, and rules over them, errors at file:line:col."""

from __future__ import annotations

import pytest

from tui.engine.config import Database, Metric, Settings
from tui.engine.loader import ConfigError, load_config_text
from tui.engine.sources.postgres import PostgresSource

DATABASE = """databases:
  - name: main
    dsn: postgresql://db/app
    long_query: 2m
    idle_in_transaction: 30s
    metrics:
      - {name: sessions_1h, sql: "SELECT count(*) FROM sessions", interval: 1m, timeout: 10s}
      - name: oldest-job_s
        sql: SELECT now() - min(created_at) FROM jobs
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "t.yaml", {})
    return [str(issue) for issue in caught.value.issues]


def rule(when: str) -> str:
    return f"alerts:\n  rules:\n    - {{name: r, when: {when}}}\n"


def test_database_thresholds_and_metrics():
    (db,) = load_config_text(DATABASE, "t.yaml", {}).databases
    assert (db.long_query, db.idle_in_transaction) == (120.0, 30.0)
    assert db.metrics == [
        Metric(
            name="sessions_1h", sql="SELECT count(*) FROM sessions", interval=60.0, timeout=10.0
        ),
        Metric(name="oldest-job_s", sql="SELECT now() - min(created_at) FROM jobs"),
    ]


def test_defaults():
    db = Database(name="main", dsn="postgresql://db/app")
    assert (db.long_query, db.idle_in_transaction, db.metrics) == (300.0, 60.0, [])


def test_metrics_default_to_the_database_interval_and_timeout():
    config = load_config_text(
        DATABASE.replace("long_query", "interval: 7s\n    long_query"), "t", {}
    )
    source = PostgresSource(config.databases[0], Settings(timeout=2.0))
    assert source.custom_metrics._interval == {"sessions_1h": 60.0, "oldest-job_s": 7.0}
    assert source.custom_metrics._timeout == {"sessions_1h": 10.0, "oldest-job_s": 2.0}
    assert source.timeout == (2.0 + 1.0) + (10.0 + 1.0), "its own and the longest metric's"


def test_rules_may_use_custom_metrics():
    text = (
        DATABASE
        + rule("db.main.sessions_1h == 0")
        + "    - {name: s, when: db.main.oldest-job_s > 1h}\n"
    )
    config = load_config_text(text, "t.yaml", {})
    assert [r.when for r in config.alerts.rules] == [
        "db.main.sessions_1h == 0",
        "db.main.oldest-job_s > 1h",
    ]


def test_an_unknown_custom_metric_is_named_with_a_suggestion():
    (issue,) = errors(DATABASE + rule("db.main.sessions_1 == 0"))
    assert issue.startswith("t.yaml:12:23: alerts.rules[0].when: db.main.sessions_1: unknown")
    assert "did you mean `sessions_1h`?" in issue
    assert "known: pct_of_usable," in issue and issue.endswith("sessions_1h, oldest-job_s")


def test_custom_metrics_belong_to_their_database():
    text = (
        DATABASE
        + "  - {name: other, dsn: postgresql://db/other}\n"
        + rule("db.other.sessions_1h > 1")
    )
    (issue,) = errors(text)
    assert "db.other.sessions_1h: unknown metric 'sessions_1h'" in issue


def test_duplicate_invalid_and_builtin_names_are_pointed_at():
    text = """databases:
  - name: main
    dsn: postgresql://db/app
    metrics:
      - {name: jobs, sql: SELECT 1}
      - {name: jobs, sql: SELECT 2}
      - {name: "jobs.per.hour", sql: SELECT 3}
      - {name: connections, sql: SELECT 4}
      - {name: blank, sql: "  "}
      - {name: fine, sql: SELECT 5, interval: 0s}
      - {name: nosql}
"""
    assert errors(text) == [
        't.yaml:6:16: databases[0].metrics[1].name: duplicate name "jobs" (first used on line 5)',
        "t.yaml:7:16: databases[0].metrics[2].name: invalid metric name 'jobs.per.hour': use"
        " letters, digits, _ and -, starting with a letter or _ (rules write it as"
        " db.DATABASE.NAME)",
        "t.yaml:8:16: databases[0].metrics[3].name: 'connections' is a built-in database"
        " metric: give the custom one another name",
        "t.yaml:9:28: databases[0].metrics[4].sql: empty query: a metric is a SELECT of one value",
        "t.yaml:10:47: databases[0].metrics[5].interval: must be greater than 0, got '0s'",
        't.yaml:11:9: databases[0].metrics[6]: missing required key "sql"',
    ]
