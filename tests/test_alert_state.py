"""Alert state survives restarts: the state file, a new Engine, and `watchdeck check` from cron."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_alertmanager import INJECTION, TERMINAL_CONTROLS, texts

from tui.engine.alert_state import FILENAME, AlertStore
from tui.engine.engine import Engine
from tui.engine.loader import load_config_text

T0 = 1_750_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_store_replaces_the_file_whole_and_privately(tmp_path):
    store = AlertStore(tmp_path / "state" / FILENAME)
    assert store.load() == {}
    assert store.save({"rules": {"A": {"state": "firing"}}})
    assert store.load() == {"version": 1, "rules": {"A": {"state": "firing"}}}
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    assert store.save({"rules": {}})
    assert [p.name for p in store.path.parent.iterdir()] == [FILENAME]  # no temporary left


def test_a_damaged_or_foreign_file_starts_afresh_and_says_so(tmp_path):
    path = tmp_path / FILENAME
    path.write_text('{"version": 1, "rules": {')
    store = AlertStore(path)
    assert store.load() == {}
    assert "is damaged" in store.problem
    path.write_text('{"version": 99}')
    assert store.load() == {}
    assert "not a watchdeck alert state file" in store.problem
    assert store.save({"rules": {}}) and store.problem is None


def test_an_unwritable_state_dir_is_a_problem_not_a_crash(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = AlertStore(blocker / FILENAME)  # a file where a directory should be
    assert store.save({"rules": {}}) is False
    assert store.problem.startswith(f"cannot save {blocker / FILENAME}")


def _config(http_server: str, for_: str = "5m") -> str:
    return f"""
checks:
  - {{name: payments, url: "{http_server}/status/500", expect: [status == 200]}}
alerts:
  rules:
    - name: PaymentsDown
      when: check.payments.up < 1
      for: {for_}
      severity: critical
      summary: "payments failing"
"""


async def test_rule_state_history_and_acks_survive_a_new_engine(tmp_path, http_server):
    config = load_config_text(_config(http_server), "t.yaml", {})
    clock = Clock()
    first = Engine(config, state_dir=tmp_path, clock=clock)
    (alert,) = await first.check_once()
    assert (alert.state, alert.active_since) == ("pending", T0)
    await first.acknowledge_alert(alert, "looking")
    await first.stop()

    clock.now = T0 + 301
    second = Engine(config, state_dir=tmp_path, clock=clock)
    (restored,) = second.alerts  # shown before any poll: the state file was read
    assert (restored.state, restored.active_since) == ("pending", T0)
    assert restored.acknowledged_by and restored.ack_comment == "looking"
    (alert,) = await second.check_once()
    assert (alert.state, alert.since, alert.active_since) == ("firing", T0 + 301, T0)
    assert alert.acknowledged  # the same occurrence: still acknowledged
    await second.stop()

    third = Engine(config, state_dir=tmp_path, clock=clock)
    history = [(e.name, e.state, e.at) for e in third.alert_history()]
    assert history == [("PaymentsDown", "pending", T0), ("PaymentsDown", "firing", T0 + 301)]
    assert third.alert_history(alert) == third.alert_history()
    await third.stop()


async def test_without_a_state_dir_nothing_is_saved_and_nothing_breaks(http_server):
    config = load_config_text(_config(http_server), "t.yaml", {})
    engine = Engine(config, clock=Clock())
    (alert,) = await engine.check_once()
    assert alert.state == "pending"
    assert engine.save_alert_state() is False
    await engine.stop()


# --- watchdeck check from cron ------------------------------------------------------------------
WATCHDECK = [sys.executable, "-m", "tui.cli"]


def _check(config: Path, state: Path) -> tuple[int, dict]:
    result = subprocess.run(
        [*WATCHDECK, "check", "--json", "--config", str(config), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert result.returncode in (0, 1, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


def _age_state(state: Path, seconds: float) -> None:
    """Pretend the previous run happened ``seconds`` earlier (no test waits on the clock)."""
    path = state / FILENAME
    data = json.loads(path.read_text())
    for saved in data["rules"].values():
        for key in ("active_since", "since", "evaluated_at", "keep_firing_since"):
            if saved.get(key) is not None:
                saved[key] -= seconds
    path.write_text(json.dumps(data))


@pytest.fixture
def cron_config(tmp_path, http_server) -> Path:
    path = tmp_path / "watchdeck.yaml"
    body = _config(http_server).replace("checks:", "checks:\n  - {name: api, url: '%s/ok'}")
    path.write_text(body % http_server)
    return path


def _alerts(report: dict) -> list[tuple[str, str]]:
    return [(alert["name"], alert["state"]) for alert in report["alerts"]]


def test_for_spans_cron_runs_through_the_state_file(tmp_path, cron_config):
    state = tmp_path / "state"
    code, report = _check(cron_config, state)
    assert _alerts(report) == [("PaymentsDown", "pending")]
    assert code == 2  # the failing check itself is critical; the pending alert adds nothing
    first_since = report["alerts"][0]["active_since"]

    code, report = _check(cron_config, state)  # a minute later for cron, an instant here
    assert _alerts(report) == [("PaymentsDown", "pending")]
    assert report["alerts"][0]["active_since"] == first_since  # the timer did not restart

    _age_state(state, 6 * 60)  # the first run was 6 minutes ago: `for: 5m` has elapsed
    code, report = _check(cron_config, state)
    (alert,) = report["alerts"]
    assert (alert["state"], alert["severity"], alert["summary"]) == (
        "firing",
        "critical",
        "payments failing",
    )
    assert code == 2


def test_a_gap_longer_than_max_gap_restarts_pending(tmp_path, cron_config):
    state = tmp_path / "state"
    _, report = _check(cron_config, state)
    first_since = report["alerts"][0]["active_since"]
    _age_state(state, 2 * 3600)  # cron stopped for two hours (max_gap defaults to 1h)
    _, report = _check(cron_config, state)
    (alert,) = report["alerts"]
    assert alert["state"] == "pending"
    assert alert["active_since"] >= first_since  # restarted now, not two hours ago


def test_exit_code_follows_firing_severity_but_not_suppressed_alerts(tmp_path, http_server):
    body = f"""
checks:
  - {{name: api, url: "{http_server}/ok"}}
alerts:
  rules:
    - {{name: Warn, when: check.api.up > 0, severity: warning}}
    - {{name: Info, when: check.api.up > 0, severity: info}}
"""
    config = tmp_path / "w.yaml"
    config.write_text(body)
    code, report = _check(config, tmp_path / "s1")
    assert (code, report["status"]) == (1, "warning")

    config.write_text(
        body.replace("severity: warning", "severity: critical")
        + "maintenance:\n  - {name: all-day, start: '00:00', duration: 24h}\n"
    )
    code, report = _check(config, tmp_path / "s2")
    assert (code, report["status"]) == (0, "ok")  # inside a window: shown, but notifies nobody
    assert {a["name"]: (a["suppressed"], a["maintenance"]) for a in report["alerts"]} == {
        "Warn": (True, ["all-day"]),
        "Info": (True, ["all-day"]),
    }


def test_check_warns_about_unknown_runbooks_without_failing(tmp_path, http_server):
    config = tmp_path / "w.yaml"
    config.write_text(
        f"""
checks: [{{name: api, url: "{http_server}/ok"}}]
alerts:
  rules: [{{name: R, when: check.api.up < 1, runbook: no-such-runbook}}]
"""
    )
    code, report = _check(config, tmp_path / "s")
    assert code == 0
    assert report["warnings"] == ["rule R: no runbook named 'no-such-runbook' under runbooks.paths"]


async def test_damaged_entries_in_the_state_file_are_skipped(tmp_path, http_server):
    (tmp_path / FILENAME).write_text(
        json.dumps(
            {
                "version": 1,
                "rules": {"PaymentsDown": {"when": "check.payments.up < 1", "state": "firing"}},
                "external": {"gone": [{"name": "x"}], "am": "nope"},
                "acks": {"a": {"by": 3, "at": "x"}, "b": "nope"},
                "history": [
                    {"at": "soon", "source": "x"},
                    {
                        "at": T0,
                        "source": "watchdeck",
                        "name": "PaymentsDown",
                        "fingerprint": "f",
                        "state": "firing",
                        "severity": "critical",
                        "summary": "s",
                    },
                ],
            }
        )
    )
    config = load_config_text(_config(http_server), "t.yaml", {})
    engine = Engine(config, state_dir=tmp_path, clock=Clock())
    assert [(e.name, e.state) for e in engine.alert_history()] == [("PaymentsDown", "firing")]
    assert engine.alert_book.acks == {} and engine.alert_book.external == {}
    assert engine.alerts == ()  # a firing state without `since` is not one
    await engine.stop()


async def test_escape_sequences_saved_by_an_earlier_version_are_made_printable(tmp_path):
    """A state file written before the sources made texts printable may hold them raw."""
    saved = {
        "name": "Inject",
        "source": "am",
        "state": "firing",
        "severity": "critical",
        "since": T0,
        "summary": INJECTION,
        "labels": {"alertname": "Inject", INJECTION: INJECTION},
        "annotations": {"summary": INJECTION},
        "generator_url": INJECTION,
        "silenced_by": [INJECTION],
        "source_kind": "alertmanager",
        "fingerprint": "f1",
    }
    event = {key: saved[key] for key in ("source", "name", "state", "severity", "summary")}
    (tmp_path / FILENAME).write_text(
        json.dumps(
            {
                "version": 1,
                "external": {"am": [saved]},
                "history": [{**event, "at": T0, "fingerprint": "f1"}],
            }
        )
    )
    text = "alerts:\n  sources:\n    - {name: am, kind: alertmanager, url: 'http://127.0.0.1:9'}\n"
    engine = Engine(load_config_text(text, "t.yaml", {}), state_dir=tmp_path, clock=Clock())
    (alert,) = engine.alerts
    assert alert.summary.startswith("E␛]2;PWNED")
    assert [t for t in texts([alert, engine.alert_history()]) if TERMINAL_CONTROLS.search(t)] == []
    await engine.stop()
