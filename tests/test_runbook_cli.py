"""``watchdeck runbook``: the headless face, run as a user would (a subprocess, no terminal)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GUIDE = """---
variables:
  WHO: {default: world}
  TOKEN: {secret: true}
---
# Say hello

- [ ] Tell the team

```sh {name="Greet"}
echo "hello $WHO"
```

```sh {name="Mark", confirm}
touch "$MARK"
```

```sh {name="Drop everything", danger}
echo "dropped, token ${TOKEN:-none}"
```
"""


def cli(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "runbook", *args],
        cwd=tmp,
        env=environment(tmp, env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def environment(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "WATCHDECK_CONFIG"}
    env["WATCHDECK_STATE_DIR"] = str(tmp / "state")
    env["MARK"] = str(tmp / "marked")
    return env | (extra or {})


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    (tmp_path / "runbooks").mkdir()
    path = tmp_path / "runbooks" / "say-hello.md"
    path.write_text(GUIDE)
    (tmp_path / "watchdeck.yaml").write_text("runbooks: {paths: [runbooks]}\n")
    return path


def runs(tmp: Path) -> list[Path]:
    return sorted((tmp / "state" / "runbooks").glob("*.jsonl"))


def test_list_and_show(tmp_path: Path, guide: Path):
    listed = cli(tmp_path, "list")
    assert listed.returncode == 0
    assert listed.stdout.split() == ["say-hello", "4", "Say", "hello"]
    shown = cli(tmp_path, "show", "say-hello", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["title"], data["path"]) == ("Say hello", str(guide))
    assert data["variables"][1] == {
        "name": "TOKEN",
        "type": "string",
        "default": None,
        "choices": None,
        "secret": True,
        "required": False,
        "description": "",
    }
    steps = [
        (s["index"], s["title"], s["kind"], s["confirm"], s["danger"], s["timeout_s"])
        for s in data["steps"]
    ]
    assert steps == [
        (1, "Tell the team", "manual", False, False, None),
        (2, "Greet", "shell", False, False, None),
        (3, "Mark", "shell", True, False, None),
        (4, "Drop everything", "shell", True, True, None),
    ]
    assert data["steps"][1]["code"] == 'echo "hello $WHO"\n'
    text = cli(tmp_path, "show", str(guide))
    assert "[danger]" in text.stdout and '| echo "hello $WHO"' in text.stdout


def test_run_all_the_way_with_json(tmp_path: Path, guide: Path):
    secret = "tok-abcdef-123"
    result = cli(
        tmp_path, "run", "say-hello", "--var", "WHO=ops", "--var", "TOKEN", "--yes",
        "--danger-ok", "say-hello", "--json", env={"TOKEN": secret},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    statuses = [(s["index"], s["status"], s["message"] or "") for s in data["steps"]]
    assert [status[:2] for status in statuses] == [
        (1, "pending"),  # a manual step is reported, never faked
        (2, "ok"),
        (3, "ok"),
        (4, "ok"),
    ]
    assert data["steps"][1]["output_excerpt"] == "hello ops\n"
    assert data["steps"][3]["output_excerpt"] == "dropped, token ***\n"
    assert data["variables"] == {"WHO": "ops", "TOKEN": "***"}
    assert data["closed"] and (tmp_path / "marked").exists()
    assert "hello ops" in result.stderr  # live output goes to stderr when stdout is JSON
    report = cli(tmp_path, "report", data["run_id"])
    assert report.returncode == 0
    assert "### 2. ✓ Greet" in report.stdout and "hello ops" in report.stdout
    state = "".join(p.read_text(errors="replace") for p in (tmp_path / "state").rglob("*.*"))
    assert secret not in state + result.stdout + result.stderr + report.stdout


def test_without_a_terminal_a_confirm_step_needs_yes(tmp_path: Path, guide: Path):
    result = cli(tmp_path, "run", "say-hello")
    assert result.returncode == 1
    assert "stopped: step 3 asks for confirmation: pass --yes, or run from a terminal" in (
        result.stderr
    )
    assert "hello world" in result.stdout  # step 2 ran
    assert not (tmp_path / "marked").exists()


def test_danger_needs_the_runbooks_name(tmp_path: Path, guide: Path):
    only_yes = cli(tmp_path, "run", "say-hello", "--yes")
    assert only_yes.returncode == 1
    assert "step 4 is marked danger" in only_yes.stderr
    assert "--danger-ok say-hello" in only_yes.stderr
    assert "dropped, token none" not in only_yes.stdout  # shown, not run
    wrong = cli(tmp_path, "run", "say-hello", "--yes", "--danger-ok", "other-runbook")
    assert wrong.returncode == 1
    assert "--danger-ok names 'other-runbook'; this runbook is 'say-hello'" in wrong.stderr


def test_a_failing_step_stops_the_run_with_exit_1(tmp_path: Path):
    (tmp_path / "fail.md").write_text('# F\n\n```sh\nexit 7\n```\n\n```sh\ntouch "$MARK"\n```\n')
    result = cli(tmp_path, "run", "./fail.md", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [(s["status"], s["exit_code"]) for s in data["steps"]] == [
        ("failed", 7),
        ("pending", None),
    ]
    assert not data["closed"] and not (tmp_path / "marked").exists()


def test_dry_run_runs_nothing(tmp_path: Path, guide: Path):
    result = cli(tmp_path, "run", "say-hello", "--dry-run", "--var", "WHO=$(touch x)")
    assert result.returncode == 0, result.stderr
    assert 'echo "hello $(touch x)"' in result.stdout
    assert "[4] ▶ sh: Drop everything (sh; needs --danger-ok or the name typed" in result.stdout
    assert not (tmp_path / "marked").exists() and not (tmp_path / "x").exists()
    assert runs(tmp_path) == []
    assert not (tmp_path / "state" / "journal.jsonl").exists()


def test_dry_run_checks_a_captured_value_when_it_runs(tmp_path: Path):
    """The placeholder of a value a step captures is no host: a valid runbook dry-runs clean."""
    (tmp_path / "cap.md").write_text(
        "# Cap\n\n```sh {capture=HOST}\necho db1\n```\n\n"
        "```http\nGET http://$HOST:9/health\n```\n\n```http\nGET http://$NOPE:9/\n```\n"
    )
    result = cli(tmp_path, "run", "./cap.md", "--dry-run", env={"NOPE": "a b"})
    assert "? checked when it runs: $HOST is captured by then" in result.stdout
    assert "✗ would fail: $NOPE must be a host or port in the URL" in result.stdout
    assert result.returncode == 1  # $NOPE is wrong whatever runs before it


def test_read_only_refuses_to_run(tmp_path: Path, guide: Path):
    result = cli(tmp_path, "run", "say-hello", "--yes", "--read-only")
    assert result.returncode == 1
    assert "read-only mode: runbook steps are not run" in result.stderr
    assert runs(tmp_path) == [] and not (tmp_path / "marked").exists()


def test_clear_errors(tmp_path: Path, guide: Path):
    unknown = cli(tmp_path, "run", "nope")
    assert unknown.returncode == 1
    assert "no runbook 'nope' (a file, or one of: say-hello)" in unknown.stderr
    bad = cli(tmp_path, "run", "say-hello", "--var", "WHOM=x")
    assert bad.returncode == 1
    assert "unknown variable WHOM (did you mean WHO?)" in bad.stderr
    (tmp_path / "broken.md").write_text("# B\n\n```sh {timeout=never}\nls\n```\n")
    broken = cli(tmp_path, "show", "./broken.md")
    assert broken.returncode == 1
    assert f"{tmp_path / 'broken.md'}:3: ```sh {{...}}: timeout: expected a duration" in (
        broken.stderr
    )


SLOW = """# Survive a kill

```sh {name="First"}
echo first
```

```sh {name="Slow"}
if [ -e "$MARK" ]; then echo "second attempt"; exit 0; fi
touch "$MARK"
echo started
sleep 300
```

```sh {name="Last"}
echo last
```
"""


def _process_event(run_file: Path) -> dict | None:
    for line in run_file.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "step.process" and event["step"] == 2:
            return event
    return None


@contextlib.contextmanager
def _slow_run_in_step_2(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``runbook run`` of SLOW as a real process, once step 2's process runs; killed
    afterwards with that step's process group (a SIGKILL of the run orphans it)."""
    (tmp_path / "slow.md").write_text(SLOW)
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "runbook", "run", "./slow.md"],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    event = None
    try:
        deadline = time.monotonic() + 60
        while event is None and time.monotonic() < deadline:
            found = runs(tmp_path)
            event = _process_event(found[0]) if found else None
            time.sleep(0.05)
        assert event is not None, "step 2 never started"
        yield process
    finally:
        process.kill()
        process.wait()
        if event is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(event["pgid"], signal.SIGKILL)


def test_kill_9_mid_step_then_resume(tmp_path: Path):
    with _slow_run_in_step_2(tmp_path) as process:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

        undecided = cli(tmp_path, "resume")
        assert undecided.returncode == 1
        assert "step 2 was interrupted (its processes may still be running)" in undecided.stdout
        assert "--interrupted retry or --interrupted skip" in undecided.stderr

        resumed = cli(tmp_path, "resume", "--interrupted", "retry", "--json")
        assert resumed.returncode == 0, resumed.stderr
        data = json.loads(resumed.stdout)
        assert [(s["status"], s["attempts"]) for s in data["steps"]] == [
            ("ok", 1),  # not run again
            ("ok", 2),
            ("ok", 1),
        ]
        assert data["steps"][1]["output_excerpt"] == "second attempt\n"
        assert "step 2 was interrupted" in resumed.stderr
        report = cli(tmp_path, "report", data["run_id"]).stdout
        assert "- **Resumed:**" in report and "attempt 2" in report


def test_a_run_live_in_another_process_is_refused_until_that_process_is_gone(tmp_path: Path):
    from tui.engine.journal import identity

    with _slow_run_in_step_2(tmp_path) as process:
        run_file, journal = runs(tmp_path)[0], tmp_path / "state" / "journal.jsonl"
        before = run_file.read_bytes(), journal.read_bytes()

        refused = cli(tmp_path, "resume", run_file.stem, "--interrupted", "retry")
        assert refused.returncode == 1
        holder = re.escape(f"(pid {process.pid}, {identity()['user']}@{identity()['host']}")
        assert re.fullmatch(
            f"watchdeck runbook resume: run {run_file.stem} is open in another watchdeck "
            rf"{holder}, since \d\d:\d\d\): finish or close it there first\n",
            refused.stderr,
        ), refused.stderr
        assert refused.stdout == ""
        assert (run_file.read_bytes(), journal.read_bytes()) == before  # nothing ran, or said so
        assert cli(tmp_path, "report", run_file.stem).returncode == 0  # reading needs no lock
        assert run_file.stem in cli(tmp_path, "runs").stdout

        process.send_signal(signal.SIGKILL)  # the kernel lets go of its lock
        process.wait(timeout=30)
        resumed = cli(tmp_path, "resume", run_file.stem, "--interrupted", "retry", "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert "step 2 was interrupted" in resumed.stderr
        data = json.loads(resumed.stdout)
        assert [(s["status"], s["attempts"]) for s in data["steps"]] == [
            ("ok", 1),
            ("ok", 2),
            ("ok", 1),
        ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_step_stopped_by_a_signal_is_interrupted_and_never_rerun_by_itself(
    tmp_path: Path, signum: signal.Signals
):
    with _slow_run_in_step_2(tmp_path) as process:
        process.send_signal(signum)
        assert process.wait(timeout=30) == 130
        assert "resume with: watchdeck runbook resume" in process.stderr.read()
    ended = [json.loads(line) for line in runs(tmp_path)[0].read_text().splitlines()][-1]
    assert (ended["event"], ended["step"], ended["status"]) == ("step.ended", 2, "interrupted")

    undecided = cli(tmp_path, "resume", "--json")
    assert undecided.returncode == 1
    assert "step 2 was interrupted" in undecided.stderr
    assert "--interrupted retry or --interrupted skip" in undecided.stderr
    data = json.loads(undecided.stdout)
    assert [(s["status"], s["attempts"]) for s in data["steps"]] == [
        ("ok", 1),
        ("interrupted", 1),  # not run again by itself
        ("pending", 0),
    ]


ASKS = """---
variables:
  TOKEN: {secret: true, required: true}
---
# Ask first

```sh {confirm}
touch "$MARK"
```
"""


@pytest.mark.parametrize(
    ("args", "prompt", "answer", "signum"),
    [
        (["--var", "TOKEN=given-token"], b"run this step? [y/N]", b"y\n", signal.SIGTERM),
        (["--var", "TOKEN=given-token"], b"run this step? [y/N]", b"y\n", signal.SIGINT),
        ([], b"TOKEN: ", b"typed-token\n", signal.SIGHUP),  # getpass, without echo
    ],
)
def test_a_signal_during_a_prompt_stops_before_anything_runs(
    tmp_path: Path, args: list[str], prompt: bytes, answer: bytes, signum: signal.Signals
):
    import pty
    import select
    import termios

    (tmp_path / "ask.md").write_text(ASKS)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "runbook", "run", "./ask.md", *args],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while prompt not in seen and process.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    seen += os.read(master, 65536)
        assert prompt in seen, seen.decode(errors="replace")
        process.send_signal(signum)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still waiting: the answer would run the step
            os.write(master, answer)
            process.wait(timeout=30)
            code = None
        assert code == 130, "the prompt went on waiting after the signal"
        assert termios.tcgetattr(master)[3] & termios.ECHO  # the terminal echoes again
    finally:
        process.kill()
        process.wait()
        os.close(master)
    assert not (tmp_path / "marked").exists()
    assert not any('"step.started"' in path.read_text() for path in runs(tmp_path))
    journal = tmp_path / "state" / "journal.jsonl"
    assert "action.requested" not in (journal.read_text() if journal.exists() else "")


def test_runbook_commands_never_import_textual(tmp_path: Path, guide: Path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tui.cli", "runbook", "run", "say-hello",
         "--dry-run"],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "markdown_it" in imported
    assert not [name for name in imported if name.split(".")[0] == "textual"]


def test_on_a_terminal_a_person_ticks_confirms_and_types_the_name(tmp_path: Path, guide: Path):
    import pty
    import select

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "runbook", "run", "say-hello", "--json"],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    os.write(master, b"d\ny\nsay-hello\n")  # tick step 1, confirm step 3, name for step 4
    seen = b""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            with contextlib.suppress(OSError):
                seen += os.read(master, 65536)
    stdout = process.communicate(timeout=60)[0]
    os.close(master)
    assert process.returncode == 0, seen.decode(errors="replace")
    assert b"done? [d]one, [s]kip, [l]ater, [q]uit" in seen
    assert b"DANGER: type the runbook's name (say-hello)" in seen
    data = json.loads(stdout)
    assert [s["status"] for s in data["steps"]] == ["done-manual", "ok", "ok", "ok"]
    assert (tmp_path / "marked").exists()
