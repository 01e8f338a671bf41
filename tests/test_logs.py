"""watchdeck's own log: JSON lines in the state dir, scrubbed, rotated, never on stderr."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.engine import logs
from tui.engine.actions import Action, ActionRunner
from tui.engine.journal import Journal
from tui.engine.samples import QueueSample
from tui.engine.scheduler import Scheduler
from tui.engine.state import State

SECRETS = (
    "s3cret-pw",
    "tok-1234567890",
    "oncall@example.com",
    "abcdef123456",
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs.setup(None)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_secrets_tokens_and_addresses_never_reach_the_file(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "debug")
    assert path == tmp_path / logs.LOG_FILE
    logs.log(
        "poll.failed",
        "warning",
        source="database:main",
        error="could not connect to postgresql://app:s3cret-pw@db/app (password=s3cret-pw)",
        header="Authorization: Bearer tok-1234567890",
        url="https://api.internal/health?token=abcdef123456&x=1",
        owner="oncall@example.com",
        nested={"list": ["postgresql://u:s3cret-pw@h/db"]},
    )
    logging.getLogger("httpx").warning("GET https://x/?api_key=abcdef123456")
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text
    first, library = lines(path)
    assert first["level"] == "warning" and first["event"] == "poll.failed"
    assert first["source"] == "database:main"
    assert first["owner"] == "<email>"
    assert library["logger"] == "httpx"


def test_levels_and_library_noise(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "info")
    logs.log("poll.ok", "debug", source="a")
    logs.log("poll.recovered", "info", source="a")
    logging.getLogger("httpx").info("HTTP Request: GET https://a/")
    assert [entry["event"] for entry in lines(path)] == ["poll.recovered"]


def test_rotation_keeps_a_bounded_number_of_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    monkeypatch.setattr(logs, "BACKUPS", 2)
    logs.setup(tmp_path, "info")
    for number in range(200):
        logs.log("poll.recovered", "info", source=f"check:{number}")
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["watchdeck.log", "watchdeck.log.1", "watchdeck.log.2"]
    assert all(path.stat().st_size <= 2_200 for path in tmp_path.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_an_unwritable_state_dir_is_silent(tmp_path: Path, capsys) -> None:
    tmp_path.chmod(0o500)
    try:
        logs.setup(tmp_path / "state", "info")
        logs.log("poll.failed", "warning", source="a")
    finally:
        tmp_path.chmod(0o700)
    assert capsys.readouterr().err == ""


def test_a_full_disk_is_silent(tmp_path: Path, capsys) -> None:
    logs.setup(tmp_path, "info")
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logs.QuietFileHandler))
    handler.baseFilename = "/dev/full"
    handler.close()
    logs.log("poll.failed", "warning", source="a")
    assert capsys.readouterr().err == ""
    assert handler.failures >= 1


class Failing:
    id = "queue:jobs"
    section = "queue"
    name = "jobs"
    kind = "redis_list"
    interval = 1.0
    timeout = 1.0
    admission = None

    def __init__(self) -> None:
        self.fail = True

    async def poll(self) -> QueueSample:
        if self.fail:
            raise ConnectionRefusedError()
        return QueueSample("jobs", "redis_list", 0.0, depth=3)

    async def aclose(self) -> None:
        pass


async def test_passes_and_actions_are_traced(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "debug")
    source = Failing()
    scheduler = Scheduler([source], State())
    await scheduler.poll_once()
    source.fail = False
    await scheduler.poll_once()
    await scheduler.poll_once()
    runner = ActionRunner(Journal(tmp_path / "journal.jsonl"), read_only=False)

    async def perform() -> str:
        return "cancel request sent to pid 42"

    await runner.run(Action("pg.cancel", "database main pid 42", "cancel pid 42"), perform)
    entries = lines(path)
    polls = [(e["event"], e["trace"]) for e in entries if str(e["event"]).startswith("poll.")]
    assert polls == [
        ("poll.failed", "queue:jobs#1"),
        ("poll.recovered", "queue:jobs#2"),
        ("poll.ok", "queue:jobs#3"),
    ]
    failed = entries[0]
    assert failed["error"] == "connection refused" and isinstance(failed["latency_ms"], float)
    actions = [e for e in entries if str(e["event"]).startswith("action.")]
    assert [e["event"] for e in actions] == ["action.requested", "action.done"]
    assert actions[0]["trace"] == actions[1]["trace"]
    assert actions[1]["result"] == "cancel request sent to pid 42"
