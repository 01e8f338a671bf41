"""Runs: progress on disk rebuilt exactly, secrets asked again, interrupted steps, reports."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runbook_helpers import everything_written, executor, runbook

from tui.engine.journal import identity
from tui.engine.runbooks.report import render_report
from tui.engine.runbooks.run import RunError, RunLocked, load, summaries
from tui.engine.runbooks.variables import VariableProblem

BOOK = """---
window: 10m
variables:
  TARGET: {type: choice, choices: [blue, green], default: blue}
  KEY: {secret: true, required: true}
  N: {type: int, required: true}
---
# Switch traffic

- [ ] Announce it

```sh {capture=BEFORE}
echo "$TARGET:$N"
```

```sh
echo "key is $KEY"
```

- [ ] Tell the team it is done
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_progress_is_rebuilt_from_the_run_file(tmp_path: Path):
    state = tmp_path / "state"
    clock = Clock()
    runner = executor(state)
    runner.clock = clock
    run = runner.start(runbook(tmp_path, BOOK), {"TARGET": "green", "N": "7", "KEY": "k-123456"})
    runner.tick(run, 1)
    assert (await runner.run_step(run, 2)).status == "ok"
    runner.skip(run, 3, "done by hand")
    clock.now += 700  # past the 10-minute window
    loaded = load(state, run.id)
    assert [step.status for step in loaded.steps] == ["done-manual", "ok", "skipped", "pending"]
    assert loaded.state(3).message == "done by hand"
    assert loaded.values == {"TARGET": "green", "N": 7, "BEFORE": "green:7"}
    assert loaded.secrets_given == {"KEY"}
    assert [var.name for var in loaded.missing_secrets()] == ["KEY"]
    assert loaded.runbook.sha256 == run.runbook.sha256
    assert loaded.window_status(clock.now) == (600.0, 700.0, True)
    assert "k-123456" not in everything_written(state)


async def test_a_resumed_run_asks_for_its_secrets_again(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "first-key-value"})
    loaded = runner.open(run.id)
    plan = runner.plan(loaded, 3)
    assert plan.problem == "secret to give again: KEY"
    assert (await runner.run_step(loaded, 3)).status == "failed"
    assert runner.resume(loaded, {"KEY": "second-key-value"}) == []
    assert runner.plan(loaded, 3).problem is None
    result = await runner.run_step(loaded, 3)
    assert result.output == "key is ***\n"
    assert "second-key-value" not in everything_written(state)


async def test_a_step_left_running_comes_back_interrupted(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "abcdabcd"})
    run.started(2, "echo", None)  # what a kill -9 leaves: a start and no end
    with run.file.open("a") as handle:
        handle.write('{"event": "step.ended", "st')  # and a line torn mid-write
    loaded = load(state, run.id)
    assert loaded.state(2).status == "interrupted"
    assert runner.resume(loaded, {"KEY": "abcdabcd"}) == [2]
    assert load(state, run.id).resumed  # the resume is on record too


def test_a_step_message_is_masked_in_the_run_file(tmp_path: Path):
    state = tmp_path / "state"
    run = executor(state).start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "quoted-key-9876"})
    run.ended(3, "failed", duration=0.0, message="refused: quoted-key-9876")  # any caller
    assert run.state(3).message == "refused: ***"
    assert load(state, run.id).state(3).message == "refused: ***"
    assert "quoted-key-9876" not in everything_written(state)


def test_values_are_checked_before_a_run_starts(tmp_path: Path):
    runner = executor(tmp_path / "state")
    book = runbook(tmp_path, BOOK)
    with pytest.raises(VariableProblem) as caught:
        runner.start(book, {"TARGET": "red", "N": "many", "BEFORE": "x", "TARGTE": "y"})
    assert str(caught.value).splitlines() == [
        "BEFORE is set by step 2 (capture=BEFORE)",
        "unknown variable TARGTE (did you mean TARGET?); this runbook has: TARGET, KEY, N",
        "TARGET is one of blue, green; got 'red'",
        "KEY is required",
        "N is a whole number, got 'many'",
    ]
    assert not (tmp_path / "state" / "runbooks").exists()
    with pytest.raises(RunError, match="no run nope"):
        runner.open("nope")


async def test_report_for_the_change_record(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, BOOK), {"N": 2, "KEY": "report-secret"})
    runner.tick(run, 1)
    await runner.run_step(run, 2)
    await runner.run_step(run, 3)
    runner.close(run)
    report = render_report(load(state, run.id))
    assert report.startswith("# Runbook run: Switch traffic\n")
    assert f"- **Run:** `{run.id}`" in report
    assert "- **Window:** 10m00s planned" in report
    assert "| `KEY` | `***` |" in report and "| `TARGET` | `blue` |" in report
    assert "### 1. ☑ Announce it" in report
    assert "### 2. ✓ Announce it" in report  # a block takes the checklist item before it
    assert '```sh\necho "blue:2"\n```' in report  # the command as it ran
    assert "key is ***" in report
    assert "### 4. ☐ Tell the team it is done\n\nmanual · not done" in report
    assert "report-secret" not in report


async def test_a_captured_response_never_writes_a_secret(
    tmp_path: Path, http_server: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BASE", http_server)
    secret = "echoed-secret-4242"
    book = runbook(
        tmp_path,
        "---\nvariables:\n  TOKEN: {secret: true, required: true}\n---\n# Echo\n\n"
        "```http {capture=ANSWER}\nPOST $BASE/echo\nContent-Type: application/json\n\n"
        '{"token": "$TOKEN"}\n```\n',
    )
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(book, {"TOKEN": secret})
    result = await runner.run_step(run, 1)
    assert result.status == "ok", result.message
    echoed = json.loads(str(run.values["ANSWER"]))  # the server sent the token back
    assert echoed["body"] == '{"token": "***"}'  # as a shell step's capture would have it
    assert load(state, run.id).values["ANSWER"] == run.values["ANSWER"]
    assert secret not in everything_written(state)
    await runner.aclose()


# --- one process at a time drives a run ---------------------------------------------------
HOLDER = """\
import sys
from pathlib import Path

from tui.engine.runbooks.run import RunLocked, lock

try:
    lock(Path(sys.argv[1]))
except RunLocked as exc:
    print(exc, flush=True)
    sys.exit(1)
print("held", flush=True)
sys.stdin.read()  # until the test closes it
"""


def try_lock(run_file: Path) -> str:
    """What another process asking to drive the run gets: ``held``, or the refusal."""
    done = subprocess.run(
        [sys.executable, "-c", HOLDER, str(run_file)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() or done.stderr


@contextlib.contextmanager
def held_elsewhere(run_file: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the run until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def refusal(run_id: str, pid: int) -> str:
    me = identity()
    return (
        f"run {run_id} is open in another watchdeck "
        + re.escape(f"(pid {pid}, {me['user']}@{me['host']}, since ")
        + r"\d\d:\d\d\): finish or close it there first"
    )


async def test_one_process_at_a_time_drives_a_run(tmp_path: Path):
    state = tmp_path / "state"
    first = executor(state)
    run = first.start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "lock-key-1234"})
    assert re.fullmatch(refusal(run.id, os.getpid()), try_lock(run.file))
    await first.aclose()
    assert try_lock(run.file) == "held"  # let go, and by a process that ended
    second = executor(state)
    with held_elsewhere(run.file) as holder:
        loaded = second.open(run.id)  # reading needs no lock
        written = run.file.read_bytes(), (state / "journal.jsonl").read_bytes()
        with pytest.raises(RunLocked) as caught:
            second.hold(loaded)
        assert re.fullmatch(refusal(run.id, holder.pid), str(caught.value))
        for refused in (
            lambda: second.resume(loaded, {"KEY": "lock-key-1234"}),
            lambda: second.tick(loaded, 1),
            lambda: second.skip(loaded, 4, "not here"),
            lambda: second.close(loaded),
        ):
            with pytest.raises(RunLocked):
                refused()
        with pytest.raises(RunLocked):
            await second.run_step(loaded, 2)
        assert (run.file.read_bytes(), (state / "journal.jsonl").read_bytes()) == written
        assert "# Runbook run: Switch traffic" in render_report(load(state, run.id))
        assert [summary.id for summary in summaries(state)] == [run.id]
    second.tick(loaded, 1)  # the holder is gone
    assert load(state, run.id).state(1).status == "done-manual"
    await second.aclose()


async def test_within_one_process_a_run_opens_twice_as_before(tmp_path: Path):
    state = tmp_path / "state"
    first, second = executor(state), executor(state)
    run = first.start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "twice-key-1234"})
    second.tick(second.open(run.id), 1)
    await first.aclose()
    assert re.fullmatch(refusal(run.id, os.getpid()), try_lock(run.file))  # second holds it
    await second.aclose()
    assert try_lock(run.file) == "held"


ELSEWHERE = """\
import sys
from pathlib import Path

from tui.engine.runbooks.run import load, lock

run = load(Path(sys.argv[1]), sys.argv[2])
lock(run.file)
run.skip(1, "done elsewhere")
"""


async def test_a_run_that_went_on_elsewhere_since_it_was_loaded_is_opened_again(tmp_path: Path):
    state = tmp_path / "state"
    starter = executor(state)
    run = starter.start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "stale-key-1234"})
    await starter.aclose()
    viewer = executor(state)
    seen = viewer.open(run.id)  # shown, then another watchdeck drives it and lets go
    subprocess.run([sys.executable, "-c", ELSEWHERE, str(state), run.id], check=True, timeout=60)
    with pytest.raises(RunError, match=f"run {run.id} went on in another watchdeck since it"):
        viewer.skip(seen, 4, "late")
    assert load(state, run.id).state(4).status == "pending"
    assert try_lock(run.file) == "held"  # the refused hold let go
    viewer.skip(viewer.open(run.id), 4, "late")
    assert [step.status for step in load(state, run.id).steps][::3] == ["skipped", "skipped"]
    await viewer.aclose()


async def test_without_flock_support_a_run_goes_on_unlocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def unsupported(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", unsupported)
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, BOOK), {"N": 1, "KEY": "nolock-key-1234"})
    runner.tick(run, 1)
    assert load(state, run.id).state(1).status == "done-manual"
    await runner.aclose()
