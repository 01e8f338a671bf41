"""The queue part of the config: every kind's keys, what each needs, and what does not apply."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui.engine.config import Queue
from tui.engine.loader import ConfigError, load_config_text
from tui.engine.samples import METRICS

ALL_KINDS = """
databases:
  - {name: main, dsn: "postgresql://localhost/app"}
queues:
  - {name: plain, url: "redis://127.0.0.1:6379/0", queue: jobs}
  - {name: tasks, kind: celery, prefix: "pfx:", sep: ":", priority_steps: [0, 5]}
  - {name: emails, kind: rq, warn_depth: 1000, crit_depth: 5000, warn_age: 5m, crit_age: 30m}
  - {name: video, kind: bullmq, prefix: acme, min_workers: 1, warn_failed: 1, crit_failed: 50}
  - {name: default, kind: sidekiq, url: "unix:///run/redis.sock?db=2"}
  - {name: events, kind: redis_stream, queue: "orders:events", group: billing}
  - {name: orders, kind: rabbitmq, url: "http://watch:pw@mq:15672", vhost: prod}
  - {name: jobs, kind: sql, database: main, sql: "SELECT count(*) AS depth FROM jobs"}
  - name: celery-length
    kind: prometheus
    url: http://prom:9090
    query: sum(celery_queue_length{queue="celery"})
    queries: {oldest_age_s: "time() - min(celery_task_sent_timestamp)", workers: "count(up)"}
  - {name: every-rq, kind: rq, discover: true, exclude: ["tmp-*"], window: 10m, interval: 10s}
alerts:
  rules:
    - {name: Growing, when: queue.emails.rate_net > 100, for: 5m}
    - {name: SlowDrain, when: queue.emails.eta_s > 1h}
    - {name: NoOneHome, when: queue.video.workers < 1}
    - {name: Stale, when: queue.emails.oldest_age_s > 10m}
    - {name: Total, when: queue.every-rq.depth > 10000}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "q.yaml", {})
    return [f"{issue.path}: {issue.message}" for issue in caught.value.issues]


def test_every_kind_with_its_own_keys_loads():
    config = load_config_text(ALL_KINDS, "q.yaml", {})
    queues = {queue.name: queue for queue in config.queues}
    assert queues["plain"].kind == "redis_list" and queues["plain"].key == "jobs"
    assert queues["tasks"].key_prefix == "pfx:" and queues["tasks"].priority_steps == [0, 5]
    assert queues["emails"].key_prefix == "rq" and queues["emails"].crit_age == 1800.0
    assert queues["video"].key_prefix == "acme"
    assert queues["default"].key_prefix == ""
    assert queues["orders"].endpoint == "http://watch:pw@mq:15672"
    assert queues["celery-length"].queries["workers"] == "count(up)"
    assert queues["every-rq"].discover and queues["every-rq"].window == 600.0


def test_defaults_per_kind():
    assert Queue(name="q").endpoint == "redis://127.0.0.1:6379/0"
    assert Queue(name="q", kind="rabbitmq").endpoint == "http://127.0.0.1:15672"
    assert Queue(name="q", kind="prometheus").endpoint == "http://127.0.0.1:9090"
    assert Queue(name="q", kind="celery").sep == "\x06\x16"
    assert Queue(name="q", kind="celery").priority_steps == [0, 3, 6, 9]
    assert Queue(name="q", kind="bullmq").key_prefix == "bull"


def test_rule_metrics_include_rates_and_eta():
    assert set(METRICS["queue"]) >= {"rate_in", "rate_out", "rate_net", "eta_s", "delayed"}
    found = problems("queues: [{name: q}]\nalerts: {rules: [{name: r, when: queue.q.eta > 5}]}")
    assert found == [
        "alerts.rules[0].when: queue.q.eta: unknown metric 'eta'; did you mean `eta_s`?;"
        " known: depth, active, failed, delayed, oldest_age_s, workers, rate_in, rate_out,"
        " rate_net, eta_s"
    ]


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        (
            "{name: q, kind: rq, group: g}",
            "queues[0].group: group applies to redis_stream queues, not rq",
        ),
        (
            "{name: q, kind: sql, url: 'redis://x'}",
            "queues[0].url: url applies to bullmq, celery, prometheus, rabbitmq, redis_list,"
            " redis_stream, rq, sidekiq queues, not sql",
        ),
        ("{name: q, kind: redis_list, discover: true}", "queues[0].discover: discover applies to"),
        ("{name: q, kind: sql}", 'queues[0]: a sql queue needs "database"'),
        ("{name: q, kind: prometheus}", 'queues[0]: a prometheus queue needs "query"'),
        (
            "{name: q, kind: rq, discover: true, queue: x}",
            "queues[0].queue: discover: true watches",
        ),
        ("{name: q, kind: rq, exclude: [x]}", "queues[0].exclude: exclude applies with discover"),
        ("{name: q, kind: rq, url: 'http://x'}", "queues[0].url: expected a redis://"),
        (
            "{name: q, kind: rabbitmq, url: 'amqp://u:hunter2@mq'}",
            "queues[0].url: expected a http:// or https:// URL, got 'amqp://u:***@mq'",
        ),
        ("{name: q, kind: sql, database: mian, sql: 'SELECT 1 AS depth'}", "no databases entry"),
        ("{name: q, kind: celery, priority_steps: []}", "expected distinct priority steps"),
        ("{name: q, kind: celery, priority_steps: [3, 3]}", "expected distinct priority steps"),
        (
            "{name: q, kind: prometheus, query: x, queries: {depth: y}}",
            "queues[0].queries.depth: unknown field 'depth'",
        ),
        ("{name: q, warn_depth: 100, crit_depth: 10}", "warn_depth (100) is above crit_depth (10)"),
        ("{name: q, warn_age: 1h, crit_age: 5m}", "warn_age (1h) is above crit_age (5m)"),
        ("{name: q, warn_age: soon}", "queues[0].warn_age: expected a duration"),
        ("{name: q, kind: kafka}", "queues[0].kind: expected one of redis_list, celery"),
        ("{name: q, discovr: true}", "did you mean `discover`?"),
    ],
)
def test_queue_mistakes(queue: str, expected: str):
    text = f"databases: [{{name: main, dsn: 'postgresql://x/y'}}]\nqueues:\n  - {queue}\n"
    found = problems(text)
    assert any(line.startswith(expected) or expected in line for line in found), found


def test_queue_modules_never_import_textual():
    modules = [
        "tui.engine.queues_derived",
        "tui.engine.sources.queue_sources",
        "tui.engine.sources.redis_queues",
        "tui.engine.sources.queue_http",
        "tui.engine.sources.queue_sql",
    ]
    code = (
        f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
