"""``watchdeck check`` from cron records the timeline: a change between two runs is an entry
(the runs are separate processes: the last states live in the state dir). Real servers: the
demo's HTTP service on a clock the test moves, and PostgreSQL."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from servers import closed_port

from tui.demo.service import DemoService
from tui.engine.timeline import TimelineStore
from tui.engine.timeline.maker import Maker

TOKEN = "tok-7f3a9c2e1b55d0"
PASSWORD = "hunter2-pw-51"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def flaky() -> Iterator[tuple[DemoService, Clock]]:
    """The demo service: ``/flaky`` is up for 3 s of its clock, then down for 3 s."""
    clock = Clock()
    service = DemoService(clock=clock)
    service.start()
    yield service, clock
    service.stop()


def check(
    config: Path, state: Path, dsn: str, max_file_bytes: int | None = None
) -> subprocess.CompletedProcess[str]:
    """One `watchdeck check` run; ``max_file_bytes`` caps the size of any file it writes to
    (RLIMIT_FSIZE, as a full disk would: writes past it fail with EFBIG)."""

    def cap() -> None:
        if max_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    env = {**os.environ, "WATCHDECK_STATE_DIR": str(state), "TL_DSN": dsn, "TL_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        preexec_fn=cap,
    )


def test_check_runs_record_what_changed_between_them(tmp_path: Path, flaky, pg_dsn: str):
    service, clock = flaky
    config = tmp_path / "watchdeck.yaml"
    config.write_text(
        f"""
checks:
  - name: flaky
    url: {service.base_url}/flaky?access_token=${{TL_TOKEN}}
    headers: {{Authorization: "Bearer ${{TL_TOKEN}}"}}
    expect: [status == 200]
databases:
  - {{name: main, dsn: "${{TL_DSN}}", timeout: 2s}}
"""
    )
    state = tmp_path / "state"
    good = psycopg.conninfo.make_conninfo(pg_dsn, password=PASSWORD)
    sock, port = closed_port()
    down = f"postgresql://ops:{PASSWORD}@127.0.0.1:{port}/app"
    try:
        first = check(config, state, good)  # ok, and where the timeline starts
        assert first.returncode == 0, first.stdout + first.stderr
        assert not (state / "timeline.jsonl").exists(), "a first sight is no entry"
        clock.now = 3.5
        second = check(config, state, down)
        assert second.returncode == 2, second.stdout + second.stderr
        clock.now = 6.5
        third = check(config, state, good)
        assert third.returncode == 0, third.stdout + third.stderr
        fourth = check(config, state, good)  # nothing changed since the third
        assert fourth.returncode == 0
    finally:
        sock.close()
    lines = [json.loads(line) for line in (state / "timeline.jsonl").read_text().splitlines()]
    by_run = [  # a run's sources are polled together: their entries come in any order
        {e["event"]: e for e in lines[:2]},
        {e["event"]: e for e in lines[2:]},
    ]
    assert [sorted(run) for run in by_run] == [
        ["check.state", "database.lost"],
        ["check.state", "database.regained"],
    ]
    lost, regained = by_run[0]["database.lost"], by_run[1]["database.regained"]
    assert by_run[0]["check.state"]["text"] == "flaky critical (was ok): status (500) == 200"
    assert by_run[0]["check.state"]["severity"] == "critical"
    assert by_run[1]["check.state"]["text"] == "flaky ok (was critical)"
    assert lost["text"] == (
        "main: connection lost: connection failed: connection to server at "
        f'"127.0.0.1", port {port} failed: Connection refused'
    )
    assert lost["link"] == {"pane": "database", "key": "main"}
    assert regained["text"].startswith("main: connection regained after ")
    assert max(e["at"] for e in lines[:2]) < min(e["at"] for e in lines[2:])

    env = {**os.environ, "WATCHDECK_STATE_DIR": str(state)}
    exported = subprocess.run(
        [sys.executable, "-m", "tui.cli", "timeline", "export", "--since", "1h"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert exported.returncode == 0, exported.stderr
    assert (
        "| check | ✖ critical | flaky critical (was ok): status (500) == 200 |" in exported.stdout
    )
    written = "".join(path.read_text() for path in state.glob("timeline*"))
    for secret in (TOKEN, PASSWORD):
        assert secret not in written + exported.stdout


def test_a_change_a_failed_write_lost_is_recorded_by_the_next_run(tmp_path: Path, flaky):
    """The timeline file cannot grow during the run that sees the check go down: the next
    run still sees the change (the last states were not saved past the lost entry)."""
    service, clock = flaky
    config = tmp_path / "watchdeck.yaml"
    config.write_text(f"checks: [{{name: flaky, url: '{service.base_url}/flaky'}}]\n")
    state = tmp_path / "state"
    assert check(config, state, "").returncode == 0  # first sight: ok
    earlier = Maker()(1.0, "check", "old", "info", "check.state", "x" * 8000)
    assert TimelineStore(state).append([earlier])
    timeline = state / "timeline.jsonl"
    size = timeline.stat().st_size
    clock.now = 3.5  # down from here on
    failed = check(config, state, "", max_file_bytes=size + 100)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert timeline.stat().st_size == size, "the change did not fit"
    again = check(config, state, "")
    assert again.returncode == 2, again.stdout + again.stderr
    lines = [json.loads(line) for line in timeline.read_text().splitlines()]
    assert [e["text"] for e in lines[1:]] == ["flaky critical (was ok): status (500) == 2xx"]
