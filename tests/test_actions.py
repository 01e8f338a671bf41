"""The write-action path: read-only, journal first, outcome journaled; the journal itself."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
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


FAILING_WRITER = """
import os, resource, signal, sys, time
from pathlib import Path
import tui.engine.journal as journal

path, ready = Path(sys.argv[1]), Path(sys.argv[2])
write_all = journal.write_all


def waiting_then_full(fd, data):
    # Between reading the size and writing, another process appends (or waits for the lock:
    # /proc/locks shows it blocked on this file); then the disk is full.
    ready.touch()
    inode, size = f":{os.fstat(fd).st_ino} ", os.fstat(fd).st_size
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.fstat(fd).st_size == size:
        with open("/proc/locks") as locks:
            if any("->" in line and inode in line for line in locks):
                break
        time.sleep(0.01)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.fstat(fd).st_size + 10, resource.RLIM_INFINITY))
    write_all(fd, data)


signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
journal.write_all = waiting_then_full
try:
    journal.Journal(path).append("action.requested", action="pg.cancel", pad="x" * 200)
except journal.JournalError as exc:
    print(exc)
"""
OTHER_WRITER = """
import sys
from pathlib import Path
from tui.engine.journal import Journal
Journal(Path(sys.argv[1])).append("action.done", action="pg.terminate", ok=True)
"""


def test_a_refused_entry_never_takes_another_process_entry_with_it(tmp_path: Path):
    """One process's write fails on a full disk and is cut off again while another console
    appends to the same journal: the other's entry, fsynced and reported done, stays."""
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("seed")
    ready = tmp_path / "ready"
    failing = subprocess.Popen(
        [sys.executable, "-c", FAILING_WRITER, str(journal.path), str(ready)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and failing.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        other = [sys.executable, "-c", OTHER_WRITER, str(journal.path)]
        subprocess.run(other, check=True, timeout=30)
        out, _ = failing.communicate(timeout=30)
    finally:
        failing.kill()
    assert "cannot write the audit journal" in out and "file too large" in out
    assert [entry["event"] for entry in journal.entries()] == ["seed", "action.done"]


def test_an_undecodable_file_name_is_journaled(tmp_path: Path):
    name = str(tmp_path / os.fsdecode(b"caf\xe9.md"))  # Latin-1 on disk: '\udce9' here
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("runbook.step.ticked", run="r1", path=name)
    (entry,) = journal.entries()
    assert entry["path"] == name


def test_secrets_in_step_output_are_masked_but_people_are_named(tmp_path: Path):
    journal = Journal(tmp_path / "journal.jsonl")
    excerpt = (
        "PGPASSWORD=hunter1\nDB_PASSWORD=hunter2\n"
        '{"password": "hunter3", "client_secret": "hunter4"}\npassword: hunter5\n'
        "Authorization: Bearer hunter6.abc\nX-Api-Key: hunter7\n"
    )
    journal.append(
        "runbook.step.result", output_excerpt=excerpt, comment="paged oncall@example.com"
    )
    text = journal.path.read_text()
    assert [n for n in range(1, 8) if f"hunter{n}" in text] == []
    (entry,) = journal.entries()
    assert entry["comment"] == "paged oncall@example.com" and entry["user"]
