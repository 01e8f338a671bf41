"""Shell steps: process groups stopped whole, output capped in memory and whole on disk,
values that are never code, secrets that are never written, the action path."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from pathlib import Path

import pytest
from runbook_helpers import everything_written, executor, journal, runbook

from tui.engine.actions import ActionRefused
from tui.engine.runbooks.output import MEMORY_CAP, StreamMasker
from tui.engine.runbooks.report import render_report
from tui.engine.runbooks.run import RunError
from tui.engine.runbooks.run import load as load_run


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its parent (init) to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


HANGING = """# Hang

```sh {timeout=1s}
trap '' TERM
sh -c 'trap "" TERM; sleep 300' &
echo "child $!"
sleep 300
```
"""


async def test_timeout_kills_the_whole_group_even_when_it_ignores_sigterm(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state, grace=0.3)
    run = runner.start(runbook(tmp_path, HANGING), {})
    result = await runner.run_step(run, 1)
    assert result.status == "failed"
    assert result.message.startswith("timed out after 1.0s: process group stopped")
    child = int(re.search(r"child (\d+)", result.output).group(1))
    leader = run.state(1).pgid
    assert leader is not None and leader != child
    assert wait_until_gone(child), "the background child survived the timeout"
    assert wait_until_gone(leader)
    assert "[watchdeck] timed out" in result.output


async def test_cancel_stops_the_step_and_only_the_step(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state, grace=0.3)
    book = runbook(
        tmp_path, "# C\n\n```sh\necho started\nsleep 300\n```\n\n```sh\necho next\n```\n"
    )
    run = runner.start(book, {})
    started = asyncio.Event()

    def seen(text: str) -> None:
        if "started" in text:
            started.set()

    task = asyncio.create_task(runner.run_step(run, 1, on_output=seen))
    await asyncio.wait_for(started.wait(), 30)
    assert runner.busy and runner.cancel()
    result = await task
    assert (result.status, result.message) == ("failed", "cancelled: process group stopped")
    assert wait_until_gone(run.state(1).pgid)
    assert not runner.cancel()  # idle again: the next step runs as usual
    assert (await runner.run_step(run, 2)).status == "ok"


async def test_task_cancellation_records_the_step_then_propagates(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state, grace=0.3)
    run = runner.start(runbook(tmp_path, "# C\n\n```sh\necho started\nsleep 300\n```\n"), {})
    started = asyncio.Event()
    task = asyncio.create_task(runner.run_step(run, 1, on_output=lambda text: started.set()))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()  # what SIGTERM or SIGHUP does to a headless run
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.state(1).status == "interrupted"
    assert "watchdeck was stopped" in run.state(1).message
    assert wait_until_gone(run.state(1).pgid)
    loaded = load_run(state, run.id)  # on disk too: a person decides whether it runs again
    assert loaded.state(1).status == "interrupted"
    assert runner.resume(loaded, {}) == [1]
    [entry] = [e for e in journal(state) if e["event"] == "runbook.step.result"]
    assert entry["status"] == "interrupted"


async def test_ten_megabytes_capped_in_memory_and_whole_on_disk(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    size = 10_000_000
    book = runbook(tmp_path, f"# Big\n\n```sh\nyes 0123456789abcdef | head -c {size}\n```\n")
    run = runner.start(book, {})
    streamed = 0

    def live(text: str) -> None:
        nonlocal streamed
        streamed += len(text)

    result = await runner.run_step(run, 1, on_output=live)
    assert result.status == "ok"
    assert streamed == size  # everything reached the screen's callback, in pieces
    assert len(result.output) < MEMORY_CAP + 100
    assert result.output.startswith(f"[{size - MEMORY_CAP} bytes dropped]\n")
    assert result.output_file is not None
    data = result.output_file.read_bytes()
    assert len(data) == size
    entry = next(e for e in journal(state) if e["event"] == "runbook.step.result")
    assert entry["output_bytes"] == size
    assert entry["output_file"] == str(result.output_file)
    assert entry["output_sha256"] == hashlib.sha256(data).hexdigest()
    assert len(entry["output_excerpt"]) <= 4200


@pytest.mark.parametrize(
    "value",
    ["$(touch {marker})", "`touch {marker}`", "x; touch {marker}", '\'"; touch {marker}; "'],
)
async def test_a_value_is_never_executed(tmp_path: Path, value: str):
    marker = tmp_path / "pwned"
    value = value.format(marker=marker)
    book = runbook(
        tmp_path,
        "---\nvariables: {V: {required: true}}\n---\n# Values\n\n"
        '```sh\necho "quoted: $V"\necho unquoted: $V ${V}\n```\n\n'
        "```bash\nprintf '%s\\n' \"$V\"\ncat <<EOF\nheredoc: $V\nEOF\n```\n",
    )
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(book, {"V": value})
    plan = runner.plan(run, 1)
    assert f'echo "quoted: {value}"' in plan.command  # shown filled in, for the confirm
    for index in (1, 2):
        result = await runner.run_step(run, index)
        assert result.status == "ok", result.message
        assert value in result.output
    assert not marker.exists()


async def test_secrets_are_masked_and_never_written(tmp_path: Path):
    secret = "s3cr3t-Value-42-xyz"
    book = runbook(
        tmp_path,
        "---\nvariables:\n  TOKEN: {secret: true, required: true}\n  USER_NAME: alice\n---\n"
        "# Secret\n\n"
        '```sh {capture=ECHOED}\necho "token=$TOKEN for $USER_NAME"\n```\n\n'
        '```sh\nprintf %s "$TOKEN" | cut -c1-4; echo "again: $TOKEN" >&2; exit 2\n```\n',
    )
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(book, {"TOKEN": secret})
    plans = [runner.plan(run, 1).command, runner.plan(run, 2).command]
    assert plans[0] == 'echo "token=*** for alice"'
    shown: list[str] = []
    first = await runner.run_step(run, 1, on_output=shown.append)
    assert first.output == "token=*** for alice\n"
    assert run.values["ECHOED"] == "token=*** for alice"
    second = await runner.run_step(run, 2, on_output=shown.append)
    assert (second.status, second.exit_code) == ("failed", 2)
    assert "s3cr" in second.output and "again: ***" in second.output
    assert secret not in "".join(shown)
    report = render_report(load_run(state, run.id))
    assert "| `TOKEN` | `***` |" in report
    written = everything_written(state)
    assert "token=*** for alice" in written
    assert secret not in written and secret not in report


def test_stream_masker_catches_a_secret_split_across_chunks():
    masker = StreamMasker(["abcdefgh"])
    data = b"xxabcdefghyy--abcd" + b"efgh"
    pieces = [masker.feed(data[i : i + 3]) for i in range(0, len(data), 3)]
    assert b"".join(pieces) + masker.flush() == b"xx***yy--***"


async def test_exit_status_and_stop_at_first_failing_command(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    book = runbook(
        tmp_path, "# E\n\n```sh\nfalse\necho after\n```\n\n```bash\nfalse | true\necho piped\n```\n"
    )
    run = runner.start(book, {})
    first = await runner.run_step(run, 1)
    assert (first.status, first.exit_code, first.output) == ("failed", 1, "")
    assert first.message.startswith("exit 1 in ")
    second = await runner.run_step(run, 2)
    assert (second.status, second.exit_code) == ("failed", 1)  # bash runs with pipefail


async def test_capture_feeds_later_steps(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    book = runbook(
        tmp_path,
        "# Cap\n\n```sh {capture=PIDS}\necho '  101 102  '\necho noise >&2\n```\n\n"
        '```sh\necho "got [$PIDS]"\n```\n',
    )
    run = runner.start(book, {})
    assert (await runner.run_step(run, 1)).status == "ok"
    assert run.values["PIDS"] == "101 102"  # stdout only, stripped
    assert runner.plan(run, 2).command == 'echo "got [101 102]"'
    assert (await runner.run_step(run, 2)).output == "got [101 102]\n"
    assert load_run(state, run.id).values["PIDS"] == "101 102"


async def test_every_step_goes_through_the_action_path(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, "# J\n\n```sh {danger}\necho hi\n```\n"), {})
    await runner.run_step(run, 1)
    events = [entry["event"] for entry in journal(state)]
    assert events == [
        "runbook.run.started",
        "action.requested",
        "runbook.step.result",
        "action.done",
    ]
    requested = journal(state)[1]
    assert requested["action"] == "runbook.step"
    assert requested["details"]["step"] == 1 and requested["details"]["command"] == "echo hi"
    for key in ("user", "host", "ssh_connection"):
        assert key in requested
    result = journal(state)[2]
    assert (result["exit_code"], result["status"], result["output_excerpt"]) == (0, "ok", "hi\n")


async def test_read_only_refuses_and_records_nothing(tmp_path: Path):
    state = tmp_path / "state"
    marker = tmp_path / "ran"
    runner = executor(state, read_only=True)
    run = runner.start(runbook(tmp_path, f"# R\n\n```sh\ntouch {marker}\n```\n"), {})
    with pytest.raises(ActionRefused, match="read-only"):
        await runner.run_step(run, 1)
    assert not marker.exists()
    assert run.state(1).status == "pending"
    assert not list(run.dir.glob("*.out"))
    assert [entry["event"] for entry in journal(state)] == ["runbook.run.started"]
    # Nor is a person's tick, skip, resume or close (the timeline opens any run).
    for write in (
        lambda: runner.tick(run, 1),
        lambda: runner.skip(run, 1, "n/a"),
        lambda: runner.resume(run, {}),
        lambda: runner.close(run),
    ):
        with pytest.raises(RunError, match="read-only mode"):
            write()
    assert run.state(1).status == "pending" and run.closed_at is None
    assert [entry["event"] for entry in journal(state)] == ["runbook.run.started"]


async def test_an_interactive_step_asks_for_the_terminal(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, "# I\n\n```sh {interactive}\nexit 4\n```\n"), {})
    marker = await runner.run_step(run, 1)
    assert marker.needs_terminal and marker.status == "pending"
    assert run.state(1).status == "pending"
    handed: list[list[str]] = []

    async def attach(command) -> int:  # the console does this inside App.suspend()
        handed.append(command.argv)
        return await (await asyncio.create_subprocess_exec(*command.argv)).wait()

    result = await runner.run_step(run, 1, attach=attach)
    assert handed and handed[0][-1] == "exit 4\n"
    assert (result.status, result.exit_code) == ("failed", 4)


async def test_steps_run_in_the_runbook_directory_with_values_in_the_environment(tmp_path: Path):
    state = tmp_path / "state"
    runner = executor(state)
    book = runbook(
        tmp_path,
        "---\nvariables: {COUNT: 3, FLAG: false}\n---\n# D\n\n"
        '```sh\npwd\necho "$COUNT $FLAG"\n```\n',
    )
    run = runner.start(book, {"COUNT": "5"})
    result = await runner.run_step(run, 1)
    assert result.output == f"{os.path.realpath(tmp_path)}\n5 false\n"
