"""Against the real Alertmanager binary (Debian: prometheus-alertmanager), when installed:
post an alert, read it through the source, silence it, see it suppressed, expire the silence."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tui.engine.alert_actions import actor
from tui.engine.alert_sources import AlertmanagerSource, format_time
from tui.engine.config import AlertSource, Settings
from tui.engine.engine import Engine
from tui.engine.journal import Journal
from tui.engine.loader import load_config_text

CANDIDATES = ("alertmanager", "prometheus-alertmanager")
START_TIMEOUT = 20.0


def _binary() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
        if (Path("/usr/bin") / name).is_file():  # PATH may be trimmed (cron, CI)
            return str(Path("/usr/bin") / name)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _binary()
    if binary is None:
        pytest.skip(
            "Alertmanager is not installed (apt-get install prometheus-alertmanager, or put"
            " `alertmanager` on PATH): the real-server silence tests did not run"
        )
    directory = tmp_path_factory.mktemp("alertmanager")
    config = directory / "alertmanager.yml"
    config.write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    url = f"http://127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={directory / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--cluster.listen-address=",  # no gossip port on every interface
        ],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "alertmanager.log").open("w"),
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (directory / "alertmanager.log").read_text()[-2000:]
            pytest.fail(f"Alertmanager did not start:\n{log}")
        time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _post_alert(url: str, run: str) -> dict[str, str]:
    labels = {"alertname": "DiskFull", "severity": "critical", "instance": "db1", "run": run}
    now = time.time()
    body = [
        {
            "labels": labels,
            "annotations": {"summary": "disk 92% full", "runbook_url": "https://wiki/disk"},
            "startsAt": format_time(now),
            "endsAt": format_time(now + 3600),
            "generatorURL": "http://prometheus:9090/graph",
        }
    ]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()
    return labels


def _config_text(url: str, run: str) -> str:
    return f"""
alerts:
  sources:
    - {{name: am, kind: alertmanager, url: "{url}", match: {{run: "{run}"}}}}
"""


async def test_alert_silence_and_expiry_against_alertmanager(alertmanager, tmp_path):
    run = uuid.uuid4().hex[:8]
    labels = _post_alert(alertmanager, run)
    config = load_config_text(_config_text(alertmanager, run), "t.yaml", {})
    engine = Engine(config, state_dir=tmp_path)

    (alert,) = await engine.check_once()
    assert (alert.name, alert.source, alert.state, alert.severity) == (
        "DiskFull",
        "am",
        "firing",
        "critical",
    )
    assert alert.labels == labels and not alert.suppressed
    assert alert.runbook_url == "https://wiki/disk" and len(alert.fingerprint) == 16
    assert engine.can_silence(alert)

    outcome = await engine.silence_alert(alert, 600, "integration test")
    assert outcome.ok, outcome.message
    assert outcome.silence_id and outcome.message.startswith(f"silence {outcome.silence_id}")

    (silenced,) = await engine.check_once()
    assert (silenced.suppressed, silenced.silenced_by) == (True, (outcome.silence_id,))
    stored = httpx.get(f"{alertmanager}/api/v2/silence/{outcome.silence_id}", timeout=5).json()
    assert stored["status"]["state"] == "active"
    assert (stored["createdBy"], stored["comment"]) == (actor(), "integration test")
    assert sorted(stored["matchers"], key=lambda m: m["name"]) == [
        {"name": name, "value": value, "isRegex": False, "isEqual": True}
        for name, value in sorted(labels.items())
    ]

    expired = await engine.expire_silence("am", outcome.silence_id)
    assert expired.ok, expired.message
    (again,) = await engine.check_once()
    assert not again.suppressed and again.silenced_by == ()
    stored = httpx.get(f"{alertmanager}/api/v2/silence/{outcome.silence_id}", timeout=5).json()
    assert stored["status"]["state"] == "expired"

    refused = await engine.expire_silence("am", "not-a-uuid")
    assert not refused.ok and refused.message.startswith("HTTP 422: ")
    await engine.stop()

    journal = [(e["event"], e["action"]) for e in Journal(tmp_path / "journal.jsonl").entries()]
    assert journal.count(("action.done", "alert.silence")) == 1
    assert journal.count(("action.done", "alert.expire_silence")) == 1
    assert journal.count(("action.failed", "alert.expire_silence")) == 1


def test_check_exit_code_follows_silences_in_alertmanager(alertmanager, tmp_path):
    run = uuid.uuid4().hex[:8]
    labels = _post_alert(alertmanager, run)
    config = tmp_path / "watchdeck.yaml"
    config.write_text(_config_text(alertmanager, run))
    command = [sys.executable, "-m", "tui.cli", "check", "--json", "--config", str(config)]
    command += ["--state-dir", str(tmp_path / "state")]

    def check() -> tuple[int, dict]:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env=dict(os.environ)
        )
        return result.returncode, json.loads(result.stdout)

    code, report = check()
    assert (code, report["status"]) == (2, "critical")
    assert report["alert_sources"] == [
        {"name": "am", "kind": "alertmanager", "status": "ok", "alerts": 1, "error": None}
    ]
    now = time.time()
    silence = {
        "matchers": [
            {"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in labels.items()
        ],
        "startsAt": format_time(now),
        "endsAt": format_time(now + 600),
        "createdBy": "test",
        "comment": "planned",
    }
    httpx.post(f"{alertmanager}/api/v2/silences", json=silence, timeout=5).raise_for_status()
    code, report = check()
    assert (code, report["status"]) == (0, "ok")  # silenced: shown, but notifies nobody
    (alert,) = report["alerts"]
    assert alert["suppressed"] is True and len(alert["silenced_by"]) == 1


TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""What a terminal acts on (tab and newline aside: the panes fold them)."""
INJECTION = "E\x1b]2;PWNED\x1b\\\x1b]52;c;ZWNobw==\x1b\\\x1b[2J\x9b31m\r"
"""A window title, the clipboard (OSC 52), a cleared screen, a C1 CSI, a carriage return."""


def texts(value: object) -> list[str]:
    """Every string inside an alert (its fields, labels, annotations, ids), keys included."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value):
        return [t for spec in dataclasses.fields(value) for t in texts(getattr(value, spec.name))]
    if isinstance(value, dict):
        return [t for pair in value.items() for item in pair for t in texts(item)]
    if isinstance(value, tuple | list):
        return [t for item in value for t in texts(item)]
    return []


async def test_escape_sequences_from_alertmanager_never_reach_the_alert(alertmanager):
    run = uuid.uuid4().hex[:8]
    now = time.time()
    body = [
        {
            "labels": {"alertname": "Inject" + INJECTION, "run": run, "team": INJECTION},
            "annotations": {
                "summary": INJECTION,
                "description": "line one\n" + INJECTION,
                "runbook_url": "https://wiki/" + INJECTION,
            },
            "startsAt": format_time(now),
            "endsAt": format_time(now + 600),
            "generatorURL": "http://prometheus:9090/graph",  # refused unless a URI
        }
    ]
    answer = httpx.post(f"{alertmanager}/api/v2/alerts", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    config = AlertSource(name="am", kind="alertmanager", url=alertmanager, match={"run": run})
    source = AlertmanagerSource(config, Settings(timeout=5.0), None)
    try:
        (alert,) = (await source.poll()).alerts
    finally:
        await source.aclose()
    assert alert.labels["team"] == "E␛]2;PWNED␛\\␛]52;c;ZWNobw==␛\\␛[2J\ufffd31m"
    assert alert.summary == alert.labels["team"] and alert.name.startswith("InjectE␛]2;")
    assert alert.description.startswith("line one\n")  # a newline stays: the panes fold it
    assert alert.runbook_url == "https://wiki/" + alert.summary
    assert [t for t in texts(alert) if TERMINAL_CONTROLS.search(t)] == []
