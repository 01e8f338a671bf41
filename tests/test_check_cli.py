"""`watchdeck check`, `validate`, `schema` and `init` as a user runs them, against real servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from test_alert_sources import FixtureServer

WATCHDECK = [sys.executable, "-m", "tui.cli"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [*WATCHDECK, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def seeded_queue(redis_url: str) -> str:
    client = redis.Redis.from_url(redis_url)
    client.delete("cli-emails")
    client.rpush("cli-emails", *[f"job-{n}" for n in range(7)])
    client.close()
    return "cli-emails"


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "watchdeck.yaml"
    path.write_text(body)
    return path


def full_config(tmp_path, http_server, pg_dsn, redis_url, seeded_queue, failing="/status/500"):
    return write_config(
        tmp_path,
        f"""
settings: {{interval: 2s, timeout: 2s}}
checks:
  - {{name: api, url: "{http_server}/ok", expect: [status == 200, latency < 5s]}}
  - {{name: payments, url: "{http_server}{failing}", expect: [status == 200]}}
databases:
  - {{name: main, dsn: "${{TEST_DSN}}", long_query: 5m}}
queues:
  - {{name: emails, url: "{redis_url}", queue: {seeded_queue}}}
alerts:
  rules:
    - name: EmailBacklog
      when: queue.emails.depth > 5
      severity: warning
      summary: "emails backlog {{{{ value }}}}"
      runbook: queue-backlog
    - {{name: PoolFull, when: db.main.pct_of_usable > 95%, severity: critical}}
""",
    )


def env_with(**extra: str) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def test_check_json_contract_against_real_servers(
    tmp_path, http_server, pg_dsn, redis_url, seeded_queue
):
    config = full_config(tmp_path, http_server, pg_dsn, redis_url, seeded_queue)
    result = run("check", "--json", "--config", str(config), env=env_with(TEST_DSN=pg_dsn))
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "critical"
    assert report["checked_at"].endswith("Z")

    api, payments = report["checks"]
    measured = ("latency_ms", "latency_p50_ms", "latency_p95_ms", "last_change")
    assert {key: value for key, value in api.items() if key not in measured} == {
        "name": "api",
        "kind": "http",
        "status": "ok",
        "http_status": 200,
        "cert_days_left": None,
        "failed_conditions": [],
        "error": None,
        "error_rate": 0.0,
        "uptime_pct": 100.0,
        "consecutive_failures": 0,
        "flapping": False,
    }
    assert api["latency_ms"] > 0
    assert api["latency_p50_ms"] == api["latency_p95_ms"] == round(api["latency_ms"], 1)
    assert api["last_change"] is None  # one poll: no change seen, not "now"
    assert payments["status"] == "critical"
    assert payments["failed_conditions"] == ["status (500) == 200"]

    (db,) = report["databases"]
    assert db["status"] == "ok" and db["error"] is None
    assert db["server_version"][:2].isdigit()
    assert db["max_connections"] >= db["usable_connections"] > 0
    assert set(db["connections"]) >= {
        "total",
        "active",
        "idle",
        "idle_in_transaction",
        "waiting_on_lock",
    }
    assert 0 <= db["pct_of_usable"] <= 100
    assert isinstance(db["long_queries"], list) and isinstance(db["blocking"], list)
    assert db["metrics"] == {}

    (queue,) = report["queues"]
    contract = ("name", "kind", "status", "depth", "active", "failed", "delayed")
    assert {key: queue[key] for key in (*contract, "oldest_age_s", "workers", "error")} == {
        "name": "emails",
        "kind": "redis_list",
        "status": "ok",
        "depth": 7,
        "active": None,
        "failed": None,
        "delayed": None,
        "oldest_age_s": None,
        "workers": None,
        "error": None,
    }
    assert (queue["rate_net"], queue["eta_s"], queue["trend"]) == (None, None, None)  # one read

    (alert,) = report["alerts"]
    assert alert["name"] == "EmailBacklog"
    assert (alert["state"], alert["severity"], alert["source"]) == (
        "firing",
        "warning",
        "watchdeck",
    )
    assert alert["summary"] == "emails backlog 7"
    assert alert["runbook"] == "queue-backlog"
    assert alert["labels"]["severity"] == "warning"
    assert alert["since"].endswith("Z")


def test_exit_code_is_warning_when_only_a_warning_fires(
    tmp_path, http_server, pg_dsn, redis_url, seeded_queue
):
    config = full_config(tmp_path, http_server, pg_dsn, redis_url, seeded_queue, failing="/ok")
    result = run("check", "--config", str(config), env=env_with(TEST_DSN=pg_dsn))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("▲ WARNING")
    assert "EmailBacklog" in result.stdout


def test_exit_code_ok_and_unreachable_backends_are_critical_not_crashes(
    tmp_path, http_server, refused_url
):
    ok = write_config(tmp_path, f'checks: [{{name: api, url: "{http_server}/ok"}}]\n')
    assert run("check", "--config", str(ok)).returncode == 0

    down = write_config(
        tmp_path,
        f"""
checks: [{{name: api, url: "{refused_url}/health"}}]
databases: [{{name: main, dsn: "postgresql://watch:s3cret-pw@127.0.0.1:1/app?connect_timeout=1"}}]
queues: [{{name: q, url: "redis://:hunter2-pw@127.0.0.1:1/0"}}]
""",
    )
    result = run("check", "--json", "--config", str(down))
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["checks"][0]["error"] == "connection refused"
    assert report["databases"][0]["status"] == "critical" and report["databases"][0]["error"]
    assert report["queues"][0]["status"] == "critical" and report["queues"][0]["depth"] is None
    for secret in ("s3cret-pw", "hunter2-pw"):
        assert secret not in result.stdout + result.stderr


def test_alerts_of_an_unreachable_source_are_marked_stale_not_counted(tmp_path, refused_url):
    """The state file keeps an Alertmanager's alerts; while it cannot be read they are what it
    said last, marked so (JSON and text), and the source's own failure is the status."""
    server = FixtureServer()
    server.start()
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    source = "alerts:\n  sources:\n    - {name: am, kind: alertmanager, url: '%s'}\n"
    config = write_config(tmp_path, source % server.url)
    state = ["--state-dir", str(tmp_path / "state")]
    try:
        result = run("check", "--json", "--config", str(config), *state)
    finally:
        server.stop()
    fresh = json.loads(result.stdout)
    assert result.returncode == 2 and fresh["status"] == "critical"  # DiskFull, critical
    assert {(a["stale"], a["stale_reason"]) for a in fresh["alerts"]} == {(False, None)}

    config.write_text(source % refused_url)
    result = run("check", "--json", "--config", str(config), *state)
    report = json.loads(result.stdout)
    assert (result.returncode, report["status"]) == (2, "critical")
    assert report["alert_sources"][0]["error"] == "connection refused"
    stale = {key: value for key, value in report["alerts"][0].items() if key != "stale"}
    assert stale == {
        **{key: value for key, value in fresh["alerts"][0].items() if key != "stale"},
        "stale_reason": "connection refused",
    }
    assert [alert["stale"] for alert in report["alerts"]] == [True] * len(fresh["alerts"])

    text = run("check", "--config", str(config), *state).stdout
    disk = next(line for line in text.splitlines() if "DiskFull" in line)
    assert disk.startswith("  ◌ stale") and "(stale: connection refused)" in disk


def test_a_stale_alert_leaves_the_status_to_its_source():
    from tui.engine.report import build_report
    from tui.engine.samples import Alert
    from tui.engine.state import State

    state = State()
    state.register("alertsource:am", "alertsource", "am", "alertmanager")  # not polled yet
    alert = Alert("DiskFull", "am", "firing", "critical", 0.0, "disk", source_kind="alertmanager")
    report = build_report(list(state.sources.values()), (alert,), 0.0)
    assert report["status"] == "unknown"  # not "critical": nobody read it yet
    assert (report["alerts"][0]["stale"], report["alerts"][0]["stale_reason"]) == (
        True,
        "not polled yet",
    )


def test_bad_config_is_unknown_with_location_and_no_traceback(tmp_path):
    bad = write_config(tmp_path, "settings:\n  intervall: 5s\n")
    result = run("check", "--json", "--config", str(bad))
    assert result.returncode == 3
    assert json.loads(result.stdout)["status"] == "unknown"
    assert f"{bad}:2:3: settings.intervall:" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_config_found_explains_the_next_step(tmp_path):
    env = env_with(XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("WATCHDECK_CONFIG", None)
    for args in (("check",), ("validate",), ()):
        result = run(*args, env=env, cwd=tmp_path)
        assert result.returncode in (1, 3)
        assert "watchdeck demo" in result.stderr
        assert "Traceback" not in result.stderr


def test_validate_exit_codes(tmp_path):
    good = write_config(tmp_path, "settings: {interval: 5s}\n")
    result = run("validate", "--config", str(good))
    assert result.returncode == 0 and "valid" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks:\n  - name: api\n    url: http://x\n    interval: soon\n")
    result = run("validate", "--config", str(bad))
    assert result.returncode == 1
    assert f"{bad}:4:15: checks[0].interval:" in result.stderr


def test_schema_is_json_and_init_writes_a_valid_config(tmp_path):
    schema = json.loads(run("schema").stdout)
    assert "settings" in json.dumps(schema)
    target = tmp_path / "starter.yaml"
    assert run("init", str(target)).returncode == 0
    assert run("validate", "--config", str(target)).returncode == 0
    assert run("init", str(target)).returncode == 1  # never overwrites silently


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("watchdeck ")


CONTRACT_LISTS = ("checks", "databases", "queues", "alerts", "alert_sources", "warnings")


def assert_unknown_report(stdout: str, error: str) -> None:
    """The contract's whole shape with nothing polled: scripts need no special case."""
    report = json.loads(stdout)
    assert report["status"] == "unknown" and error in report["error"]
    assert report["checked_at"].endswith("Z")
    assert all(report[key] == [] for key in CONTRACT_LISTS)


def test_a_bad_or_missing_config_still_prints_the_whole_json_shape(tmp_path):
    bad = write_config(tmp_path, "settings:\n  intervall: 5s\n")
    result = run("check", "--json", "--config", str(bad))
    assert result.returncode == 3
    assert_unknown_report(result.stdout, "settings.intervall")
    env = env_with(XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("WATCHDECK_CONFIG", None)
    (tmp_path / "empty").mkdir()
    result = run("check", "--json", env=env, cwd=tmp_path / "empty")
    assert result.returncode == 3
    assert_unknown_report(result.stdout, "no config file found")


def test_a_usage_error_exits_with_the_commands_own_code(tmp_path):
    """argparse's 2 reads as CRITICAL to monitoring: check says unknown (3), with its JSON
    when asked; an invalid validate invocation is invalid (1)."""
    result = run("check", "--bogus")
    assert (result.returncode, result.stdout) == (3, "")
    assert "unrecognized arguments: --bogus" in result.stderr
    result = run("check", "--json", "--log-level", "loud")
    assert result.returncode == 3
    assert_unknown_report(result.stdout, "--log-level")
    assert run("validate", "--bogus").returncode == 1
    assert run("schema", "--bogus").returncode == 2
    assert "Traceback" not in result.stderr


def test_an_empty_config_or_state_dir_is_an_error_not_another_file(tmp_path):
    write_config(tmp_path, "settings: {interval: 5s}\n")  # what an empty name fell through to
    result = run("check", "--json", "--config", "", cwd=tmp_path)
    assert result.returncode == 3
    assert_unknown_report(result.stdout, "--config")
    for option in ("--config", "--state-dir"):
        result = run("validate", option, "", cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert f"argument {option}" in result.stderr and "empty" in result.stderr
        assert "valid" not in result.stdout


def test_check_keeps_its_exit_code_when_the_reader_goes_away(tmp_path, refused_url):
    config = write_config(tmp_path, f'checks: [{{name: api, url: "{refused_url}/health"}}]\n')
    for extra in ((), ("--json",)):
        process = subprocess.Popen(
            [*WATCHDECK, "check", "--config", str(config), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        process.stdout.close()  # `watchdeck check | head -0`: gone before anything is written
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 2, stderr  # critical, not 0
        assert b"Traceback" not in stderr


def test_init_creates_parent_directories_and_fills_a_directory(tmp_path):
    fresh = tmp_path / "home" / ".config" / "watchdeck" / "config.yaml"  # a fresh machine
    result = run("init", str(fresh))
    assert result.returncode == 0, result.stderr
    assert run("validate", "--config", str(fresh)).returncode == 0
    directory = tmp_path / "oncall"
    directory.mkdir()
    for args in (("init", str(directory)), ("init", "--force", str(directory))):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        assert (directory / "watchdeck.yaml").read_text().startswith("#")
    result = run("init", str(directory))
    assert result.returncode == 1 and "already exists" in result.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    result = run("init", str(blocked / "watchdeck.yaml"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr


def test_a_config_error_never_prints_a_value_from_the_environment(tmp_path):
    config = write_config(tmp_path, 'checks:\n  - {name: api, url: "${HEALTH_URL}"}\n')
    env = env_with(HEALTH_URL="api.internal/healthz?token=SECRET1")
    for args in (("check", "--json"), ("check",), ("validate",)):
        result = run(*args, "--config", str(config), env=env)
        assert result.returncode in (1, 3)
        assert "SECRET1" not in result.stdout + result.stderr
        assert "got the value of ${HEALTH_URL}" in result.stderr


def test_a_queue_of_unknown_depth_says_so_and_why(tmp_path, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.delete("cli-events")
    client.xadd("cli-events", {"n": "1"})  # no consumer group reads it: no backlog to count
    client.close()
    config = write_config(
        tmp_path,
        f'queues: [{{name: events, kind: redis_stream, url: "{redis_url}", queue: cli-events}}]\n',
    )
    result = run("check", "--config", str(config))
    line = next(line for line in result.stdout.splitlines() if "events" in line)
    assert "depth unknown" in line and "None" not in line
    assert "no consumer group reads this stream" in line
