"""External alert sources against a real local HTTP server serving captured Alertmanager v2 and
Prometheus /api/v1/alerts answers (tests/fixtures/alerts/), plus the alert actions."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from servers import HttpServer
from test_alertmanager import INJECTION, TERMINAL_CONTROLS, texts

from tui.engine.actions import ActionRefused
from tui.engine.alert_book import newly_firing
from tui.engine.alert_sources import (
    AlertmanagerSource,
    ApiError,
    PrometheusAlertsSource,
    parse_time,
)
from tui.engine.config import AlertSource, Settings
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated
from tui.engine.journal import Journal
from tui.engine.loader import load_config_text
from tui.engine.printable import printable

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"
SETTINGS = Settings(timeout=2.0)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class FixtureServer(HttpServer):
    """Answers ``routes[(method, path)] = (status, body)`` and records every request."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.requests: list[Request] = []

    def serve(self, method: str, path: str, body: bytes | str, status: int = 200) -> None:
        self.routes[(method, path)] = (status, body.encode() if isinstance(body, str) else body)

    def serve_fixture(self, path: str, fixture: str) -> None:
        self.serve("GET", path, (FIXTURES / fixture).read_bytes())

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            url = urlsplit(target)
            self.requests.append(Request(method, url.path, parse_qs(url.query), headers, body))
            status, payload = self.routes.get((method, url.path), (404, b'"not found"'))
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()


@pytest.fixture
def server():
    fixture_server = FixtureServer()
    fixture_server.start()
    yield fixture_server
    fixture_server.stop()


def source(kind: str, url: str, **options) -> AlertmanagerSource | PrometheusAlertsSource:
    config = AlertSource(name=kind[:4], kind=kind, url=url, **options)
    if kind == "prometheus":
        return PrometheusAlertsSource(config, SETTINGS, None)
    return AlertmanagerSource(config, SETTINGS, None)


# --- parsing ------------------------------------------------------------------------------------
async def test_alertmanager_alerts_carry_silences_inhibitions_and_links(server):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    am = source("alertmanager", server.url)
    sample = await am.poll()
    await am.aclose()
    disk, lag, down = sample.alerts
    assert (disk.name, disk.source, disk.source_kind, disk.state) == (
        "DiskFull",
        "aler",
        "alertmanager",
        "firing",
    )
    assert disk.severity == "critical" and disk.suppressed is False
    assert disk.fingerprint == "4f1ba8b5cc6e4c07"
    assert disk.since == disk.active_since == parse_time("2024-05-01T10:00:00Z")
    assert disk.summary == "Disk on db1 is 92% full"
    assert disk.description.startswith("Free space on /var/lib/postgresql")
    assert disk.runbook == disk.runbook_url == "https://wiki.example.internal/runbooks/disk-full"
    assert disk.generator_url.startswith("http://prometheus.example.internal:9090/graph")
    assert disk.labels["mountpoint"] == "/var/lib/postgresql"

    assert (lag.suppressed, lag.silenced_by) == (True, ("0f1c3a4e-6b2d-4f0a-9c1e-7d8e9fa0b1c2",))
    assert (lag.runbook, lag.runbook_url) == ("replication-lag", None)  # a local runbook
    assert lag.active_since == pytest.approx(parse_time("2024-05-01T09:55:12Z") + 0.345678)
    assert (down.suppressed, down.inhibited_by, down.severity) == (
        True,
        ("5e6f7a8b9c0d1e2f",),
        "critical",  # severity "page" is a critical one
    )
    (request,) = server.requests
    assert request.query == {"active": ["true"], "silenced": ["true"], "inhibited": ["true"]}


async def test_alertmanager_answers_with_missing_and_extra_fields_still_parse(server):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_sparse.json")
    am = source("alertmanager", server.url)
    sample = await am.poll()
    await am.aclose()
    watchdog, stuck, unnamed = sample.alerts  # no labels and not-an-object are skipped
    assert (watchdog.severity, watchdog.summary, watchdog.suppressed) == ("info", "Watchdog", False)
    assert watchdog.fingerprint and watchdog.silenced_by == ()
    assert (stuck.summary, stuck.severity) == ("emails has not moved for 15m", "warning")
    assert (stuck.suppressed, stuck.muted_by) == (True, ("weekends",))
    assert stuck.active_since is None and stuck.since == sample.at  # Go's zero time: unknown
    assert stuck.generator_url is None and len(stuck.fingerprint) == 16
    assert (unnamed.name, unnamed.severity) == ("(no alertname)", "critical")


async def test_prometheus_alerts_pending_and_firing_with_values(server):
    server.serve_fixture("/api/v1/alerts", "prometheus_v1_alerts.json")
    prom = source("prometheus", server.url + "/")  # a trailing slash is fine
    sample = await prom.poll()
    await prom.aclose()
    errors, slow, novalue = sample.alerts  # the inactive one is not shown
    assert (errors.state, errors.value, errors.source_kind) == ("firing", 0.073, "prometheus")
    assert errors.active_since == pytest.approx(parse_time("2024-05-01T09:58:30.123456Z"))
    assert errors.runbook_url == "https://wiki.example.internal/runbooks/api-errors"
    assert (slow.state, slow.value, slow.severity) == ("pending", 3.4, "warning")
    assert (novalue.value, novalue.since) == (None, sample.at)  # NaN is no data
    assert errors.fingerprint != slow.fingerprint


async def test_escape_sequences_in_any_answer_never_reach_the_alerts_or_the_errors(server):
    """What a real Alertmanager refuses (an escape in generatorURL) may still come from a
    proxy, another implementation or Prometheus: every text is made printable."""
    am_alert = {
        "labels": {"alertname": "Inject", INJECTION: INJECTION},
        "annotations": {"summary": INJECTION, INJECTION: INJECTION},
        "status": {"state": "suppressed", "silencedBy": [INJECTION], "inhibitedBy": [INJECTION]},
        "fingerprint": INJECTION,
        "generatorURL": "http://prometheus:9090/graph" + INJECTION,
    }
    prom_alert = {
        "labels": {"alertname": INJECTION, "severity": "critical"},
        "annotations": {"summary": "", "message": INJECTION},
        "state": "firing",
        "activeAt": "2024-05-01T09:58:30Z",
    }
    server.serve("GET", "/api/v2/alerts", json.dumps([am_alert]))
    prom_answer = {"status": "success", "data": {"alerts": [prom_alert]}}
    server.serve("GET", "/api/v1/alerts", json.dumps(prom_answer))
    am, prom = source("alertmanager", server.url), source("prometheus", server.url)
    alerts = (*(await am.poll()).alerts, *(await prom.poll()).alerts)
    assert [alert.summary for alert in alerts] == [printable(INJECTION)] * 2
    assert alerts[0].silenced_by == (printable(INJECTION),)
    assert alerts[0].generator_url == "http://prometheus:9090/graph" + printable(INJECTION)
    assert [t for t in texts(alerts) if TERMINAL_CONTROLS.search(t)] == []

    server.serve("GET", "/api/v2/alerts", json.dumps({"message": INJECTION}), status=500)
    server.serve("GET", "/api/v1/alerts", json.dumps({"status": "error", "error": INJECTION}))
    for polled in (am, prom):
        with pytest.raises(ApiError) as caught:
            await polled.poll()
        assert "␛]52;c;" in str(caught.value) and not TERMINAL_CONTROLS.search(str(caught.value))
        await polled.aclose()


# --- failures -----------------------------------------------------------------------------------
async def test_failures_are_one_line_statuses_without_secrets(server, refused_url):
    server.serve("GET", "/api/v1/alerts", (FIXTURES / "prometheus_v1_error.json").read_bytes())
    prom = source("prometheus", server.url)
    with pytest.raises(ApiError, match=r"^rule manager is not ready$"):
        await prom.poll()
    await prom.aclose()

    server.serve("GET", "/api/v2/alerts", '"internal error: s3cret-token leaked"', status=500)
    am = source("alertmanager", server.url, bearer_token="s3cret-token")
    with pytest.raises(ApiError) as caught:
        await am.poll()
    assert str(caught.value) == "HTTP 500: internal error: *** leaked"
    server.serve("GET", "/api/v2/alerts", "<html>proxy error</html>")
    with pytest.raises(ApiError, match="is not JSON"):
        await am.poll()
    server.serve("GET", "/api/v2/alerts", '{"alerts": []}')
    with pytest.raises(ApiError, match="not a list of alerts"):
        await am.poll()
    await am.aclose()

    user, password = "watch", "hunter2-pw"
    down = source(
        "alertmanager",
        refused_url.replace("http://", f"http://{user}:{password}@"),
        username=user,
        password=password,
    )
    with pytest.raises(ApiError, match=r"^connection refused$"):
        await down.poll()
    await down.aclose()


async def test_credentials_are_sent_and_match_filters_on_both_sides(server):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    am = source(
        "alertmanager",
        server.url,
        username="watch",
        password="pw-1234",
        match={"team": 'd"b'},
    )
    sample = await am.poll()
    await am.aclose()
    assert sample.alerts == ()  # nothing has team d"b: filtered here too
    (request,) = server.requests
    assert request.headers["authorization"] == "Basic d2F0Y2g6cHctMTIzNA=="
    assert request.query["filter"] == ['team="d\\"b"']

    prom_config = {"bearer_token": "tok-5678", "match": {"severity": "warning"}}
    server.serve_fixture("/api/v1/alerts", "prometheus_v1_alerts.json")
    prom = source("prometheus", server.url, **prom_config)
    sample = await prom.poll()
    await prom.aclose()
    assert [alert.name for alert in sample.alerts] == ["SlowRequests"]
    assert server.requests[-1].headers["authorization"] == "Bearer tok-5678"


# --- the engine -----------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1_714_557_600.0  # 2024-05-01T10:00:00Z

    def __call__(self) -> float:
        return self.now


def _engine(server, http_server, tmp_path, **options) -> Engine:
    config = load_config_text(
        f"""
checks:
  - {{name: api, url: "{http_server}/ok"}}
alerts:
  rules:
    - {{name: ApiUp, when: check.api.up > 0, severity: info}}
  sources:
    - {{name: am, kind: alertmanager, url: "{server.url}"}}
    - {{name: prom, kind: prometheus, url: "{server.url}", timeout: 1s}}
""",
        "t.yaml",
        {},
    )
    return Engine(config, state_dir=tmp_path, clock=Clock(), **options)


async def test_external_alerts_merge_resolve_and_survive_an_unreachable_source(
    server, http_server, tmp_path
):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    server.serve_fixture("/api/v1/alerts", "prometheus_v1_alerts.json")
    engine = _engine(server, http_server, tmp_path)
    alerts = await engine.check_once()
    assert [(a.source, a.name, a.state) for a in alerts] == [  # severity, then newest first
        ("am", "TargetDown", "firing"),
        ("am", "DiskFull", "firing"),
        ("prom", "HighErrorRate", "firing"),
        ("prom", "NoValue", "firing"),
        ("am", "ReplicationLag", "firing"),
        ("watchdeck", "ApiUp", "firing"),
        ("prom", "SlowRequests", "pending"),
    ]

    only_disk = json.loads((FIXTURES / "alertmanager_v2_alerts.json").read_text())[:1]
    server.serve("GET", "/api/v2/alerts", json.dumps(only_disk))
    server.serve("GET", "/api/v1/alerts", '{"status": "success", "data": {"alerts": []}}')
    engine.clock.now += 60
    alerts = await engine.check_once()
    states = {(a.source, a.name): (a.state, a.since) for a in alerts}
    assert states[("am", "ReplicationLag")][0] == "resolved"  # gone from Alertmanager
    assert states[("am", "DiskFull")][0] == "firing"
    assert ("prom", "SlowRequests") not in states  # a pending one that vanished just cleared
    events = [(e.source, e.name, e.state) for e in engine.alert_history()]
    assert ("prom", "SlowRequests", "inactive") in events
    assert ("am", "ReplicationLag", "resolved") in events

    server.serve("GET", "/api/v2/alerts", '"down for maintenance"', status=503)
    engine.clock.now += 60
    alerts = await engine.check_once()
    am_state = engine.state.sources["alertsource:am"]
    assert am_state.error == "HTTP 503: down for maintenance"
    assert ("am", "DiskFull", "firing") in [(a.source, a.name, a.state) for a in alerts]
    assert ("watchdeck", "ApiUp", "firing") in [(a.source, a.name, a.state) for a in alerts]

    engine.clock.now += 16 * 60  # past the resolved retention
    alerts = engine.evaluate_rules()
    assert ("am", "ReplicationLag") not in {(a.source, a.name) for a in alerts}
    await engine.stop()

    again = _engine(server, http_server, tmp_path)  # external alerts come back from the file
    assert ("am", "DiskFull", "firing") in [(a.source, a.name, a.state) for a in again.alerts]
    await again.stop()


async def test_a_prometheus_alert_fires_since_it_was_seen_firing_not_since_pending(
    server, tmp_path
):
    """Prometheus says when an alert went pending (activeAt), never when it fired: one that
    went pending before the console started and fires after is new, and announced."""
    clock = Clock()
    started_at = clock.now
    text = f'alerts:\n  sources:\n    - {{name: prom, kind: prometheus, url: "{server.url}"}}\n'
    config = load_config_text(text, "t.yaml", {})

    def serve(state: str) -> None:
        item = {"labels": {"alertname": "DBDown", "severity": "critical"}, "state": state}
        item["activeAt"] = "2024-05-01T09:50:00Z"  # 10 minutes before the start
        answer = {"status": "success", "data": {"alerts": [item]}}
        server.serve("GET", "/api/v1/alerts", json.dumps(answer))

    engine = Engine(config, state_dir=tmp_path, clock=clock)
    serve("pending")
    pending = await engine.check_once()
    assert (pending[0].state, pending[0].since) == ("pending", started_at - 600)
    serve("firing")
    clock.now += 60
    firing = await engine.check_once()
    (alert,) = firing
    assert (alert.state, alert.since, alert.active_since) == (
        "firing",
        started_at + 60,
        started_at - 600,
    )
    assert newly_firing(pending, firing, started_at) == [alert]
    clock.now += 60
    assert [a.since for a in await engine.check_once()] == [started_at + 60]  # still firing
    await engine.stop()

    again = Engine(config, state_dir=tmp_path, clock=clock)  # the file keeps when it fired
    clock.now += 60
    assert [a.since for a in await again.check_once()] == [started_at + 60]
    await again.stop()


async def test_silence_and_expire_through_the_action_path(server, http_server, tmp_path):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    server.serve_fixture("/api/v1/alerts", "prometheus_v1_alerts.json")
    server.serve("POST", "/api/v2/silences", '{"silenceID": "7d2f-silence"}')
    server.serve("DELETE", "/api/v2/silence/7d2f-silence", "")
    engine = _engine(server, http_server, tmp_path)
    alerts = await engine.check_once()
    disk = next(a for a in alerts if a.name == "DiskFull")
    internal = next(a for a in alerts if a.source == "watchdeck")
    prom = next(a for a in alerts if a.source == "prom")
    assert engine.can_silence(disk)
    assert not engine.can_silence(internal) and not engine.can_silence(prom)
    with pytest.raises(ValueError, match="does not come from an Alertmanager"):
        await engine.silence_alert(internal, 3600, "nope")
    with pytest.raises(ValueError, match=r"^a silence can last at most 365d$"):
        await engine.silence_alert(disk, 99999999 * 86400.0, "far too long")

    outcome = await engine.silence_alert(disk, 2 * 3600, "  disk grows, ticket OPS-12  ")
    assert (outcome.ok, outcome.silence_id) == (True, "7d2f-silence")
    assert outcome.message == "silence 7d2f-silence until 2024-05-01T12:00:00Z"
    posted = json.loads(server.requests[-1].body)
    assert posted["matchers"] == [
        {"name": name, "value": value, "isRegex": False, "isEqual": True}
        for name, value in sorted(disk.labels.items())
    ]
    assert (posted["startsAt"], posted["endsAt"]) == (
        "2024-05-01T10:00:00.000Z",
        "2024-05-01T12:00:00.000Z",
    )
    assert posted["comment"] == "disk grows, ticket OPS-12"
    assert "@" in posted["createdBy"]

    expired = await engine.expire_silence("am", "7d2f-silence")
    assert (expired.ok, expired.message) == (True, "silence 7d2f-silence expired")
    assert server.requests[-1].method == "DELETE"
    failed = await engine.expire_silence("am", "unknown-id")
    assert (failed.ok, failed.message) == (False, "HTTP 404: not found")

    kinds = [(e["event"], e["action"]) for e in Journal(tmp_path / "journal.jsonl").entries()]
    assert kinds == [
        ("action.requested", "alert.silence"),
        ("action.done", "alert.silence"),
        ("action.requested", "alert.expire_silence"),
        ("action.done", "alert.expire_silence"),
        ("action.requested", "alert.expire_silence"),
        ("action.failed", "alert.expire_silence"),
    ]
    await engine.stop()

    read_only = _engine(server, http_server, tmp_path, read_only=True)
    assert not read_only.can_silence(disk)
    with pytest.raises(ActionRefused, match="read-only"):
        await read_only.silence_alert(disk, 60, "x")
    with pytest.raises(ActionRefused, match="read-only"):
        await read_only.acknowledge_alert(disk)
    await read_only.stop()


async def test_acknowledge_is_local_journaled_and_ends_with_the_occurrence(
    server, http_server, tmp_path
):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    server.serve_fixture("/api/v1/alerts", "prometheus_v1_alerts.json")
    engine = _engine(server, http_server, tmp_path)
    updates = []
    engine.subscribe(updates.append)
    disk = next(a for a in await engine.check_once() if a.name == "DiskFull")
    outcome = await engine.acknowledge_alert(disk, "on it")
    assert outcome.ok and outcome.message.startswith("DiskFull acknowledged by ")
    acked = next(a for a in engine.alerts if a.name == "DiskFull")
    assert (acked.acknowledged, acked.ack_comment) == (True, "on it")
    assert acked.acknowledged_at == engine.clock()
    alert_updates = [u for u in updates if isinstance(u, AlertsUpdated)]
    assert alert_updates and alert_updates[-1].alerts == engine.alerts  # the pane sees it

    refired = json.loads((FIXTURES / "alertmanager_v2_alerts.json").read_text())
    refired[0]["startsAt"] = "2024-05-01T11:00:00Z"  # a new occurrence of the same alert
    server.serve("GET", "/api/v2/alerts", json.dumps(refired))
    again = next(a for a in await engine.check_once() if a.name == "DiskFull")
    assert not again.acknowledged

    undone = await engine.unacknowledge_alert(again)
    assert (undone.ok, undone.message) == (False, "DiskFull is not acknowledged")
    await engine.stop()


async def test_a_running_engine_shows_source_alerts_as_they_arrive(server, http_server, tmp_path):
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    server.serve_fixture("/api/v1/alerts", "prometheus_v1_alerts.json")
    server.serve("POST", "/api/v2/silences", '{"silenceID": "s-1"}')
    engine = _engine(server, http_server, tmp_path)
    arrived = asyncio.Event()

    def listen(event) -> None:
        alerts = getattr(event, "alerts", ())
        if any(alert.source == "am" for alert in alerts):
            arrived.set()

    engine.subscribe(listen)
    await engine.start()  # no rule evaluation yet: the source's own update publishes
    try:
        await asyncio.wait_for(arrived.wait(), timeout=10)
        disk = next(a for a in engine.alerts if a.name == "DiskFull")
        polls = sum(1 for r in server.requests if r.path == "/api/v2/alerts")
        assert (await engine.silence_alert(disk, 60, "x")).ok
        for _ in range(200):  # the silence asks for a poll at once, not at the next interval
            if sum(1 for r in server.requests if r.path == "/api/v2/alerts") > polls:
                break
            await asyncio.sleep(0.01)
        assert sum(1 for r in server.requests if r.path == "/api/v2/alerts") > polls
    finally:
        await engine.stop()
