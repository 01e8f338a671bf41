"""What the loader says about alert rules, alert sources and check metrics, at file:line:col."""

from __future__ import annotations

import pytest

from tui.engine.loader import ConfigError, json_schema, load_config_text

BASE = """
checks:
  - name: api
    url: http://127.0.0.1:8080/health
    metrics: {disk_free_pct: $.disk.free_pct, ready: "$.status.ready"}
databases:
  - name: main
    dsn: postgresql://localhost/app
    metrics: [{name: rows_1h, sql: "SELECT 1"}]
queues: [{name: emails}]
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "t.yaml", {})
    return [str(issue) for issue in caught.value.issues]


def rules(*lines: str) -> str:
    return BASE + "alerts:\n  rules:\n" + "".join(f"    - {line}\n" for line in lines)


def test_the_thresholds_operations_teams_write_down_all_load():
    config = load_config_text(
        rules(
            "{name: Errors, when: check.api.error_rate > 5%, for: 5m}",
            "{name: Slow, when: check.api.latency_p95_ms > 3s, for: 10m}",
            "{name: Pool, when: db.main.pct_of_usable > 80%}",
            "{name: Backlog, when: queue.emails.depth > 1000, for: 5m}",
            "{name: Cert, when: check.api.cert_days_left < 30}",
            "{name: NoRows, when: db.main.rows_1h == 0, for: 1h}",
            "{name: Success, when: check.api.uptime < 90%}",
            "{name: LongQueries, when: db.main.long_queries > 0}",
            "{name: Disk, when: check.api.disk_free_pct < 20, for: 5m, keep_firing_for: 10m}",
            "{name: Stuck, when: queue.emails.depth > 0 and queue.emails.workers == 0}",
        ),
        "t.yaml",
        {},
    )
    assert len(config.alerts.rules) == 10
    assert config.alerts.rules[8].keep_firing_for == 600.0
    assert config.checks[0].metrics == {
        "disk_free_pct": "$.disk.free_pct",
        "ready": "$.status.ready",
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "{name: r, when: check.api.up < 1 and queue.emails.dept > 1}",
            "alerts.rules[0].when: queue.emails.dept: unknown metric 'dept'; did you mean `depth`?",
        ),
        (
            "{name: r, when: check.api.disk_free_pct < 20%}",
            "alerts.rules[0].when: check.api.disk_free_pct holds percent numbers (0-100)",
        ),
        (
            "{name: r, when: check.api.up < 1, summary: '{{ valeu }}'}",
            "alerts.rules[0].summary: unknown placeholder {{ valeu }}",
        ),
        (
            "{name: r, when: check.api.up < 1, description: '{{ labels.team }}'}",
            "alerts.rules[0].description: {{ labels.team }}: the rule has no label 'team'",
        ),
        (
            "{name: r, when: check.api.up < 1, annotations: {dash: '{{ nope }}'}}",
            "alerts.rules[0].annotations.dash: unknown placeholder {{ nope }}",
        ),
        (
            "{name: r, when: check.api.up < 1, annotations: {summary: x}}",
            "alerts.rules[0].annotations.summary: write `summary:` on the rule itself",
        ),
        (
            "{name: r, when: check.api.up < 1, labels: {severity: page}}",
            "alerts.rules[0].labels.severity: `severity` is set from the rule's severity",
        ),
        (
            "{name: r, when: check.api.up < 1, runbook_url: wiki/page}",
            "alerts.rules[0].runbook_url: expected an http:// or https:// URL",
        ),
        (
            "{name: r, when: check.api.up < 1, runbook: 'https://wiki/page'}",
            "alerts.rules[0].runbook: a URL goes in runbook_url",
        ),
        (
            "{name: r, when: check.api.up < 1, keep_firing_for: soon}",
            "alerts.rules[0].keep_firing_for: expected a duration",
        ),
    ],
)
def test_rule_mistakes_point_at_their_key(line, expected):
    found = errors(rules(line))
    assert any(expected in issue for issue in found), found


def test_templates_may_name_the_rule_labels():
    load_config_text(
        rules(
            "{name: r, when: check.api.up < 1, labels: {team: web},"
            " summary: '{{ $labels.team }} {{ labels.alertname }} {{ $value }}'}"
        ),
        "t.yaml",
        {},
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{name: watchdeck, kind: alertmanager, url: http://am}", '"watchdeck" is the name'),
        ("{name: am, kind: alertmanager, url: am:9093}", "url: expected an http:// or https://"),
        ("{name: am, kind: alertmanagr, url: http://am}", "expected one of alertmanager, prom"),
        ("{name: am, kind: prometheus, url: http://p, password: x}", 'needs "username"'),
        (
            "{name: am, kind: prometheus, url: http://p, username: u, bearer_token: t}",
            "either basic auth or a bearer token",
        ),
        ("{name: am, kind: prometheus, url: http://p, tiemout: 2s}", "did you mean `timeout`?"),
    ],
)
def test_alert_source_mistakes(source, expected):
    found = errors(BASE + f"alerts:\n  sources:\n    - {source}\n")
    assert any(expected in issue for issue in found), found


def test_alert_source_names_are_unique_and_flapping_thresholds_ordered():
    found = errors(
        BASE
        + """alerts:
  flapping: {high: 20%, low: 30%}
  sources:
    - {name: am, kind: alertmanager, url: "http://a"}
    - {name: am, kind: prometheus, url: "http://b"}
"""
    )
    assert any('alerts.sources[1].name: duplicate name "am"' in issue for issue in found)
    assert any("alerts.flapping: need 0% < low < high <= 100%" in issue for issue in found)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (
            "{name: t, kind: tcp, host: h, port: 1, metrics: {x: $.a}}",
            "checks[1].metrics: metrics are read from a JSON body: http checks only",
        ),
        (
            "{name: t, url: 'http://h', metrics: {latency_ms: $.a}}",
            "checks[1].metrics.latency_ms: 'latency_ms' is a built-in check metric",
        ),
        (
            "{name: t, url: 'http://h', metrics: {free: disk.free}}",
            "checks[1].metrics.free: expected a JSON path such as $.disk.free_pct",
        ),
        ("{name: t, url: 'http://h', metrics: {'a b': $.a}}", "invalid metric name 'a b'"),
    ],
)
def test_check_metric_mistakes(check, expected):
    found = errors(BASE.replace("databases:", f"  - {check}\ndatabases:"))
    assert any(expected in issue for issue in found), found


def test_the_schema_documents_sources_maintenance_and_metrics():
    schema = json_schema()
    defs = schema["$defs"]
    assert {"AlertSource", "Maintenance", "Flapping"} <= set(defs)
    assert defs["Rule"]["properties"]["keep_firing_for"]
    assert defs["Check"]["properties"]["metrics"]["type"] == "object"
    assert defs["Maintenance"]["properties"]["start"]["type"] == "string"
    assert "maintenance" in schema["properties"]
