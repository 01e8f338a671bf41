"""Recording (``--record FILE``): every sample type decodes back equal, secrets never reach
the file, a recorder killed with SIGKILL leaves a file readable up to a few seconds before,
and a file that is not a recording is one clear line."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from ui_fixtures import (
    ALERTS,
    NOW,
    RUNBOOKS,
    alert_events,
    make_alerts_config,
    make_health_config,
    make_queues_config,
    queue_events,
    source_events,
)

from tui import cli
from tui.engine.config import Config
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, Event, SourceUpdated
from tui.engine.loader import load_config
from tui.engine.recording import FLUSH_EVERY, RecordingError, open_recorder, read_recording
from tui.engine.replay import ReplayEngine
from tui.engine.samples import AlertsSample, CheckSample, DatabaseSample, QueueSample

ROOT = Path(__file__).parent.parent
SUFFIXES = ("jsonl", "jsonl.gz")
LOSS = 2.5
"""Seconds of events a SIGKILL may lose: the recorder flushes every ``FLUSH_EVERY``."""


def contents(path: Path) -> bytes:
    """The recording's text, decompressed when gzip."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def every_kind_config() -> Config:
    """Checks in every state, queues of several kinds (one discovered), a database, an
    Alertmanager and a Prometheus."""
    health, queues, alerts = make_health_config(), make_queues_config(), make_alerts_config()
    return msgspec.structs.replace(
        health, queues=queues.queues, alerts=alerts.alerts, maintenance=alerts.maintenance
    )


def fixture_events(engine: Engine) -> list[Event]:
    """The UI fixtures' events, then each source's next-poll update (a ``schedule`` line)."""
    events = [
        *source_events(engine.state),
        *queue_events(engine),
        *alert_events(engine),
        AlertsUpdated(ALERTS, NOW),
        AlertsUpdated(ALERTS, NOW + 5),  # the same alerts again
        AlertsUpdated(ALERTS[:1], NOW + 10),
    ]
    for source in ("check:checkout", "database:main", "queue:emails", "alertsource:am"):
        events.append(SourceUpdated(engine.state.schedule(source, NOW + 30)))
    return events


def record(path: Path, engine: Engine, events: list[Event]) -> list[Event]:
    """Emit ``events`` with a recorder listening; every event the listeners got (the engine
    adds its own: alerts merged from the alert sources' polls)."""
    seen: list[Event] = []
    engine.subscribe(seen.append)
    recorder = open_recorder(str(path), engine)
    for event in events:
        engine.scheduler.emit(event)
    recorder.close()
    return seen


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_sample_type_decodes_back_equal(tmp_path: Path, suffix: str) -> None:
    engine = Engine(every_kind_config(), base_dir=RUNBOOKS, clock=lambda: NOW)
    emitted = fixture_events(engine)
    registered = [(s.id, s.section, s.name, s.kind) for s in engine.state.sources.values()]
    path = tmp_path / f"shift.{suffix}"
    events = record(path, engine, emitted)

    recording = read_recording(path)
    assert recording.warning is None
    assert [moment.event for moment in recording.moments] == events
    assert sum(isinstance(event, AlertsUpdated) for event in events) > 3
    samples = {
        type(event.state.sample)
        for event in events
        if isinstance(event, SourceUpdated) and event.state.sample is not None
    }
    assert samples == {CheckSample, DatabaseSample, QueueSample, AlertsSample}
    database = next(
        e.state.sample
        for e in events
        if isinstance(e, SourceUpdated) and isinstance(e.state.sample, DatabaseSample)
    )
    assert database.blocked and database.blockers and database.replicas
    assert database.custom_metrics and database.idle_transactions
    checks = [
        e.state.sample
        for e in events
        if isinstance(e, SourceUpdated) and isinstance(e.state.sample, CheckSample)
    ]
    assert any(check.conditions and check.cert_chain and check.headers for check in checks)
    lines = [json.loads(line) for line in contents(path).splitlines()]
    assert any(line["kind"] == "schedule" for line in lines)  # a next-poll update alone
    assert any(line["kind"] == "alerts" and "alerts" not in line for line in lines)  # a repeat
    assert [(s.id, s.section, s.name, s.kind) for s in recording.sources] == registered
    assert recording.started == NOW and recording.ended == NOW
    unmasked = msgspec.structs.replace(recording.config, databases=engine.config.databases)
    assert unmasked == engine.config
    assert recording.config.databases[0].dsn == "postgresql://app:***@127.0.0.1:9/app"


def test_the_header_keeps_the_config_without_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: str
) -> None:
    """A real pass of every source: the file holds the config and samples, never a password,
    a token, a header value, a request body or a value from the environment."""
    secrets = {
        "WD_TEST_PATH_SECRET": "envpath-9f8e7d6c",
        "WD_TEST_AM_PASSWORD": "am-pa55word-from-env",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    config_path = tmp_path / "watchdeck.yaml"
    config_path.write_text(
        f"""
checks:
  - name: api
    url: {http_server}/ok
    headers: {{Authorization: "Bearer hdr-t0ken-4242", X-Api-Key: literal-key-1717}}
  - name: login
    url: {http_server}/${{WD_TEST_PATH_SECRET}}/login?access_token=url-t0ken-3131
    method: POST
    body: "user=admin&password=b0dy-s3cret"
databases:
  - name: main
    dsn: postgresql://app:pg-s3cret-pw@127.0.0.1:9/app?sslmode=disable
alerts:
  sources:
    - name: am
      kind: alertmanager
      url: http://am-user:url-pw-2323@127.0.0.1:9
      username: am-user
      password: ${{WD_TEST_AM_PASSWORD}}
    - name: prom
      kind: prometheus
      url: http://127.0.0.1:9
      bearer_token: prom-bearer-5656
""",
        encoding="utf-8",
    )
    engine = Engine(load_config(config_path), base_dir=tmp_path)
    path = tmp_path / "shift.jsonl.gz"
    recorder = open_recorder(str(path), engine, config_path)

    async def one_pass() -> None:
        await engine.check_once()
        await engine.stop()

    asyncio.run(one_pass())
    assert recorder.close().startswith(f"recorded {recorder.events} events")
    text = contents(path).decode()
    leaked = [
        secret
        for secret in (
            *secrets.values(),
            "hdr-t0ken-4242",
            "literal-key-1717",
            "url-t0ken-3131",
            "b0dy-s3cret",
            "pg-s3cret-pw",
            "url-pw-2323",
            "prom-bearer-5656",
        )
        if secret in text
    ]
    assert leaked == []
    recording = read_recording(path)
    checks = {check.name: check for check in recording.config.checks}
    assert checks["login"].url == f"{http_server}/${{WD_TEST_PATH_SECRET}}/login?access_token=***"
    assert checks["api"].headers == {"Authorization": "***", "X-Api-Key": "***"}
    assert checks["login"].body == "***"
    assert recording.config.databases[0].dsn.startswith("postgresql://app:***@127.0.0.1:9/app")
    am, prom = recording.config.alerts.sources
    assert (am.username, am.password, prom.bearer_token) == ("am-user", "***", "***")
    assert "${WD_TEST_AM_PASSWORD}" not in text  # masked whole, as a password
    states = {
        e.state.name: e.state
        for e in (m.event for m in recording.moments)
        if isinstance(e, SourceUpdated)
    }
    assert isinstance(states["api"].sample, CheckSample) and states["api"].sample.up
    assert states["main"].error  # port 9 refuses: the error is recorded, its DSN is not


def record_header(tmp_path: Path, config_text: str) -> Path:
    """A recording of ``config_text`` (the header only: no pass is needed)."""
    config_path = tmp_path / "watchdeck.yaml"
    config_path.write_text(config_text, encoding="utf-8")
    engine = Engine(load_config(config_path), base_dir=tmp_path)
    path = tmp_path / "header.jsonl"
    open_recorder(str(path), engine, config_path).close()
    return path


def test_urls_and_dsns_are_masked_in_every_field(tmp_path: Path) -> None:
    """Token parameters of any name, a ``key=value`` DSN's ``sslpassword`` and a runbook
    link's token: every URL's and DSN's parameter values are masked, whatever the field."""
    path = record_header(
        tmp_path,
        """
checks:
  - name: gitlab
    url: http://127.0.0.1:9/api/v4/projects?private_token=glpat-S3CRET1
  - name: oauth
    url: http://127.0.0.1:9/token?client_id=x&client_secret=S3CRET2&refresh_token=S3CRET3
  - name: twilio
    url: http://127.0.0.1:9/x?auth_token=S3CRET4&id_token=S3CRET5
databases:
  - name: main
    dsn: "host=127.0.0.1 port=9 user=app sslpassword=S3CRET6 dbname=app"
alerts:
  rules:
    - name: Down
      when: check.gitlab.up < 1
      runbook_url: https://wiki.example.com/rb?token=S3CRET7&x=1
""",
    )
    text = path.read_text()
    assert [n for n in range(1, 8) if f"S3CRET{n}" in text] == []
    config = read_recording(path).config
    assert [check.url for check in config.checks] == [
        "http://127.0.0.1:9/api/v4/projects?private_token=***",
        "http://127.0.0.1:9/token?client_id=***&client_secret=***&refresh_token=***",
        "http://127.0.0.1:9/x?auth_token=***&id_token=***",
    ]
    assert config.databases[0].dsn == "host=127.0.0.1 port=9 user=app sslpassword=*** dbname=app"
    (rule,) = config.alerts.rules
    assert (rule.when, rule.runbook_url) == (
        "check.gitlab.up < 1",
        "https://wiki.example.com/rb?token=***&x=***",
    )


def test_environment_values_are_put_back_only_in_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names, conditions and rules are recorded as they are, and short values (``prod``, a
    user name, a port) are nobody's secret: only a long value in a URL or DSN is ``${VAR}``."""
    values = {
        "WD_ENV": "prod",
        "PGUSER": "api",
        "WD_PORT": "5432",
        "WD_SERVICE": "payments-gateway",
        "WD_PATH_KEY": "k3y-in-the-path-77",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    path = record_header(
        tmp_path,
        """
checks:
  - name: api-${WD_ENV}
    url: http://127.0.0.1:9/products/${WD_PATH_KEY}
    expect: ["status == 200", "latency < ${WD_PORT}ms"]
  - name: ${WD_SERVICE}
    url: http://127.0.0.1:9/${WD_SERVICE}/health
databases:
  - {name: main, dsn: "postgresql://${PGUSER}@127.0.0.1:${WD_PORT}/app"}
alerts:
  rules:
    - {name: Slow, when: check.api-prod.latency_ms > 1500, for: 5m}
""",
    )
    recording = read_recording(path)
    config = recording.config
    assert [(c.name, c.url, c.expect) for c in config.checks] == [
        (
            "api-prod",
            "http://127.0.0.1:9/products/${WD_PATH_KEY}",
            ["status == 200", "latency < 5432ms"],
        ),
        ("payments-gateway", "http://127.0.0.1:9/${WD_SERVICE}/health", []),
    ]
    assert config.databases[0].dsn == "postgresql://api@127.0.0.1:5432/app"
    assert [rule.when for rule in config.alerts.rules] == ["check.api-prod.latency_ms > 1500"]
    assert "k3y-in-the-path-77" not in path.read_text()
    ReplayEngine(recording)  # its rules compile


def test_replay_of_a_recording_it_cannot_replay_is_one_line(tmp_path: Path) -> None:
    """A rule that does not compile (as recordings made before rules were left alone have):
    one line, exit 1, no traceback."""
    path = record_header(
        tmp_path,
        "checks: [{name: api, url: 'http://127.0.0.1:9/'}]\n"
        "alerts: {rules: [{name: Slow, when: check.api.latency_ms > 1500}]}\n",
    )
    path.write_text(path.read_text().replace("check.api.latency_ms", "check.${PGUSER}.latency_ms"))
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "replay", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}: the recorded config cannot be replayed: ")


# --- a recorder killed with SIGKILL --------------------------------------------------------
RECORDING_CHILD = """
import asyncio, sys, time
from tui.engine.config import Config
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.engine.recording import open_recorder
from tui.engine.samples import CheckSample

async def main():
    engine = Engine(Config())
    engine.state.register("check:api", "check", "api", "http")
    open_recorder(sys.argv[1], engine)
    number = 0
    while True:
        number += 1
        now = time.time()
        sample = CheckSample("api", "http", now, up=True, status="ok", latency_ms=float(number))
        engine.scheduler.emit(SourceUpdated(engine.state.record_sample("check:api", sample, now)))
        print(number, flush=True)
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_killed_recorder_leaves_a_readable_file(tmp_path: Path, suffix: str) -> None:
    assert FLUSH_EVERY < LOSS
    """Events emitted more than ``LOSS`` seconds before the SIGKILL are all in the file, in
    order; reading it says, in one line, that it ends early."""
    path = tmp_path / f"killed.{suffix}"
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDING_CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    emitted: list[tuple[float, int]] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            emitted.append((time.monotonic(), int(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not emitted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emitted, "the recording child never started"
    time.sleep(LOSS + 1.0)
    killed_at = time.monotonic()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reader.join(timeout=5)

    recording = read_recording(path)
    numbers = [int(m.event.state.sample.latency_ms) for m in recording.moments]  # type: ignore[union-attr]
    safe = max(number for at, number in emitted if at < killed_at - LOSS)
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= safe
    assert recording.warning is not None
    assert "\n" not in recording.warning
    assert "ends early" in recording.warning
    assert f"the {len(numbers)} events up to" in recording.warning


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_file_cut_anywhere_reads_up_to_the_cut(tmp_path: Path, suffix: str) -> None:
    engine = Engine(every_kind_config(), base_dir=RUNBOOKS, clock=lambda: NOW)
    whole = tmp_path / f"whole.{suffix}"
    events = record(whole, engine, fixture_events(engine))
    data = whole.read_bytes()
    for fraction in (0.35, 0.6, 0.9):
        cut = tmp_path / f"cut.{suffix}"
        cut.write_bytes(data[: int(len(data) * fraction)])
        recording = read_recording(cut)
        got = [moment.event for moment in recording.moments]
        assert got == events[: len(got)]
        assert recording.warning is not None
        assert "\n" not in recording.warning and "ends early" in recording.warning


# --- files that are not recordings ---------------------------------------------------------
def future_recording(path: Path) -> None:
    header = {
        "kind": "header",
        "format": 99,
        "started": NOW,
        "host": "h",
        "version": "9",
        "base_dir": "/",
        "config": {},
        "sources": [],
    }
    path.write_text(json.dumps(header) + "\n")


FOREIGN: dict[str, Any] = {
    "empty": b"",
    "binary": bytes(range(256)) * 40,
    "json": b'{"status": "ok"}\n',
    "yaml": b"checks:\n  - name: api\n    url: http://127.0.0.1:9\n",
    "gzip": gzip.compress(b"just some text\nover lines\n"),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_a_file_that_is_not_a_recording_is_one_clear_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.rec"
    path.write_bytes(FOREIGN[name])
    with pytest.raises(RecordingError) as raised:
        read_recording(path)
    message = str(raised.value)
    assert (
        message
        == f"{path} is not a watchdeck recording (those are made by `watchdeck --record FILE`)"
    )


def test_a_newer_format_a_missing_file_and_a_damaged_middle_are_one_line_each(
    tmp_path: Path,
) -> None:
    future = tmp_path / "future.jsonl"
    future_recording(future)
    with pytest.raises(RecordingError, match=r"newer watchdeck \(format 99\); upgrade"):
        read_recording(future)
    with pytest.raises(RecordingError, match=r"cannot read .*: No such file or directory"):
        read_recording(tmp_path / "nowhere.jsonl")
    engine = Engine(every_kind_config(), base_dir=RUNBOOKS, clock=lambda: NOW)
    whole = tmp_path / "whole.jsonl"
    record(whole, engine, fixture_events(engine))
    lines = whole.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3][: len(lines[3]) // 2] + b"\n"
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"".join(lines))
    with pytest.raises(RecordingError, match=r"damaged.jsonl:4: damaged record"):
        read_recording(damaged)


def test_replay_of_a_foreign_file_is_one_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a recording\n")
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "replay", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{path} is not a watchdeck recording (those are made by `watchdeck --record FILE`)"
    ]


# --- the command line ------------------------------------------------------------------------
def test_record_is_an_option_of_the_console_and_the_demo() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["--record", "a.gz"]).record == "a.gz"
    assert parser.parse_args(["demo", "--record", "b.jsonl"]).record == "b.jsonl"
    assert parser.parse_args(["--record", "c.gz", "demo"]).record == "c.gz"
    assert parser.parse_args(["replay", "x.gz", "--speed", "4"]).speed == 4.0


@pytest.mark.parametrize("speed", ["0", "-2", "fast", "nan"])
def test_a_bad_speed_is_one_line(speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["replay", "x.gz", "--speed", speed]) == 2
    assert "not a speed" in capsys.readouterr().err


def test_record_never_overwrites_nor_fails_with_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "watchdeck.yaml"
    config.write_text("checks: [{name: api, url: 'http://127.0.0.1:9/'}]\n")
    existing = tmp_path / "incident.jsonl.gz"
    existing.write_bytes(b"yesterday's incident")
    for target, expected in (
        (existing, f"--record: {existing} exists; recordings are never overwritten"),
        (tmp_path / "no" / "dir.gz", "--record: cannot create"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", "--config", str(config), "--record", str(target)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert existing.read_bytes() == b"yesterday's incident"


def test_the_console_records_through_the_command_line(
    tmp_path: Path,
    http_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``watchdeck --record FILE``: the console polls, the file fills, and on quitting one
    line says what was recorded. (The terminal is Pilot's: run_async runs headless.)"""
    from tui.app import WatchdeckApp

    async def headless(self: WatchdeckApp, **_: object) -> int | None:
        async with self.run_test() as pilot:
            for _ in range(100):
                if self.engine.scheduler.passes.get("check:api", 0) >= 3:
                    break
                await pilot.pause(0.05)
        return 0

    monkeypatch.setattr(WatchdeckApp, "run_async", headless)
    config = tmp_path / "watchdeck.yaml"
    config.write_text(
        f"settings: {{interval: 0.2s}}\nchecks: [{{name: api, url: '{http_server}/ok'}}]\n"
    )
    path = tmp_path / "console.jsonl.gz"
    assert cli.main(["--config", str(config), "--record", str(path)]) == 0
    recording = read_recording(path)
    assert recording.warning is None
    passes = [
        m.event.state
        for m in recording.moments
        if isinstance(m.event, SourceUpdated) and m.event.state.sample is not None
    ]
    assert len({state.last_attempt for state in passes}) >= 3
    size = f"{path.stat().st_size / 1024:.1f} KB"
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said == f"recorded {len(recording.moments)} events to {path} ({size})"
