"""The write-action path: read-only, journal first, outcome journaled; the journal itself."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tui.engine.actions import INTERRUPTED, Action, ActionRefused, ActionRunner
from tui.engine.journal import Journal, identity

CANCEL = Action(
    kind="pg.cancel",
    target="database main pid 4242",
    summary="cancel SELECT pg_sleep(600)",
    details={"pid": 4242, "dsn": "postgresql://ops:s3cret@db/app"},
)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_success_is_journaled_before_and_after(tmp_path: Path):
    journal = Journal(tmp_path / "state" / "journal.jsonl", clock=lambda: 0.0)
    calls = []

    async def perform() -> str:
        calls.append(lines(journal.path))  # the request is on disk before the action runs
        return "cancelled"

    outcome = await ActionRunner(journal, read_only=False).run(CANCEL, perform)
    assert (outcome.ok, outcome.message) == (True, "cancelled")
    assert [entry["event"] for entry in calls[0]] == ["action.requested"]
    requested, done = lines(journal.path)
    assert done["event"] == "action.done" and done["result"] == "cancelled"
    assert requested["ts"] == "1970-01-01T00:00:00.000+00:00"
    assert requested["action"] == "pg.cancel" and requested["target"] == CANCEL.target
    assert requested["user"] and requested["host"]
    assert "s3cret" not in journal.path.read_text()
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"


async def test_failure_is_journaled_with_a_clean_message(tmp_path: Path):
    journal = Journal(tmp_path / "journal.jsonl")

    async def perform() -> str:
        raise PermissionError("must be a member of the role whose process is being terminated")

    outcome = await ActionRunner(journal, read_only=False).run(CANCEL, perform)
    assert not outcome.ok
    assert "must be a member of the role" in outcome.message
    assert [entry["event"] for entry in journal.entries()] == ["action.requested", "action.failed"]


async def test_an_action_cancelled_mid_way_journals_its_end_then_stops(tmp_path: Path):
    """The console quitting (SIGHUP, q) cancels a running action: the request keeps its
    outcome in the journal, and the cancellation goes on."""
    journal = Journal(tmp_path / "journal.jsonl")
    started = asyncio.Event()

    async def perform() -> str:
        started.set()
        await asyncio.sleep(60)
        return "never"

    task = asyncio.create_task(ActionRunner(journal, read_only=False).run(CANCEL, perform))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    requested, ended = journal.entries()
    assert (requested["event"], ended["event"]) == ("action.requested", "action.failed")
    assert (ended["ok"], ended["result"]) == (False, INTERRUPTED)


async def test_read_only_refuses_and_runs_nothing(tmp_path: Path):
    journal = Journal(tmp_path / "journal.jsonl")

    async def perform() -> str:
        raise AssertionError("must not run")

    with pytest.raises(ActionRefused, match="read-only mode"):
        await ActionRunner(journal, read_only=True).run(CANCEL, perform)
    assert not journal.path.exists()


async def test_a_full_disk_refuses_the_action():
    await _refused(Journal(Path("/dev/full")))  # every write fails with ENOSPC, even as root


async def test_journal_that_cannot_be_created_refuses_the_action(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    await _refused(Journal(blocker / "journal.jsonl"))


async def test_no_state_dir_refuses_the_action():
    with pytest.raises(ActionRefused, match="audit journal"):
        await ActionRunner(None, read_only=False).run(CANCEL, _never)


async def _never() -> str:
    raise AssertionError("must not run")


async def _refused(journal: Journal) -> None:
    with pytest.raises(ActionRefused, match="cannot write the audit journal"):
        await ActionRunner(journal, read_only=False).run(CANCEL, _never)


def test_entries_skip_a_line_torn_by_a_crash(tmp_path: Path):
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("action.requested", action="x")
    with journal.path.open("a") as handle:
        handle.write('{"event": "action.do')  # the process died mid-write
    journal.append("action.requested", action="y")
    assert [entry.get("action") for entry in journal.entries()] == ["x", "y"]


def test_identity_carries_the_ssh_client():
    who = identity({"SSH_CONNECTION": "10.1.2.3 51234 10.0.0.5 22", "USER": "oncall"})
    assert who["ssh_connection"] == "10.1.2.3 51234 10.0.0.5 22"
    assert who["host"]
