"""The runbook viewer in the console: the Runbooks pane, the variables form, and the run screen
driving real shell steps through the engine's executor (state in a temporary directory)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runbook_ui import highlight, screen_text, until, viewer_app
from textual.widgets import Button, Input, Log, Markdown, OptionList, Select
from ui_fixtures import utc

from tui.app import WatchdeckApp
from tui.engine.config import Check
from tui.engine.runbooks.report import GLYPHS
from tui.engine.runbooks.run import load, summaries
from tui.engine.samples import Alert
from tui.screens.confirm import ConfirmScreen
from tui.screens.console import ConsoleScreen
from tui.screens.help import KEYS
from tui.screens.runbook_dialogs import ResumeScreen, SkipScreen, VariablesScreen
from tui.screens.runbook_run import OUTPUT_LINES, SKIPPED, OutputFeed, RunbookRunScreen

BIG = (120, 40)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def run_screen(app: WatchdeckApp) -> RunbookRunScreen:
    screen = app.screen
    assert isinstance(screen, RunbookRunScreen), screen
    return screen


def status(app: WatchdeckApp, index: int) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, RunbookRunScreen))
    return screen.run.state(index).status


def notices(app: WatchdeckApp) -> str:
    return "\n".join(str(notification.message) for notification in app._notifications)


async def start(pilot, name: str) -> RunbookRunScreen:  # type: ignore[no-untyped-def]
    """Open a new run of ``name`` (a runbook without variables)."""
    await highlight(pilot, name)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(pilot.app.screen, RunbookRunScreen), "the run screen")
    return run_screen(pilot.app)


async def go_to(pilot, index: int) -> None:  # type: ignore[no-untyped-def]
    screen = run_screen(pilot.app)
    screen.table.move_cursor(row=index - 1)
    await pilot.pause()
    assert screen.cursor == index


async def run_confirmed(pilot, index: int) -> None:  # type: ignore[no-untyped-def]
    """enter on the step, then tab to the confirm button and press it."""
    await go_to(pilot, index)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirm")
    await pilot.press("tab", "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, RunbookRunScreen), "back")


# --- the pane -----------------------------------------------------------------------------
async def test_the_pane_lists_runbooks_and_previews_without_front_matter(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        pane = app.deck.runbooks
        options = pane.query_one(OptionList)
        prompts = {
            option.id: str(options.get_option(option.id).prompt)
            for option in options.options
            if option.id
        }
        assert prompts["deploy"] == "Deploy the API · 5 steps · alerts: DeployFailing"
        assert prompts["broken"].startswith("✖ broken · 3: front matter: variables.HOME")
        await highlight(pilot, "deploy-values")
        markdown = pane.query_one(Markdown)
        await until(pilot, lambda: markdown.source.startswith("# Deploy with values"), "preview")
        assert "variables:" not in markdown.source and "---" not in markdown.source
        await highlight(pilot, "broken")
        await until(pilot, lambda: "cannot be run" in markdown.source, "the error")
        assert markdown.source.endswith("# Broken on purpose\n")
        assert pane.check_action("run", ()) is None, "a broken runbook cannot be run"
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConsoleScreen)


async def test_an_open_run_is_marked_in_the_list(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await start(pilot, "deploy")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back to the console")
        options = app.deck.runbooks.query_one(OptionList)
        await until(
            pilot,
            lambda: "▶ run in progress" in str(options.get_option("deploy").prompt),
            "the mark",
        )


# --- the variables form -------------------------------------------------------------------
async def test_variables_form_checks_values_and_starts_the_run(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await highlight(pilot, "deploy-values")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        form = app.screen
        assert form.query_one("#var-COUNT", Input).value == "3"
        assert form.query_one("#var-TOKEN", Input).password
        await pilot.click("#start")
        errors = {
            name: str(form.query_one(f"#error-{name}").render()) for name in ("TARGET", "TOKEN")
        }
        assert "TARGET is required (where to; one of staging, production)" in errors["TARGET"]
        assert "TOKEN is required (the deploy token)" in errors["TOKEN"]
        assert isinstance(app.screen, VariablesScreen), "not started"

        form.query_one("#var-TARGET", Select).value = "production"
        form.query_one("#var-TOKEN", Input).focus()
        await pilot.press(*"tok-12345")
        form.query_one("#var-COUNT", Input).value = ""
        await pilot.press("enter")  # from the token on to COUNT
        assert app.focused is form.query_one("#var-COUNT", Input)
        await pilot.press("enter", "enter")  # COUNT empty: its default; NOTE empty: unset
        screen = await until_run_screen(pilot)
        assert screen.run.values == {"TARGET": "production", "TOKEN": "tok-12345", "COUNT": 3}
        assert "values: TARGET=production · TOKEN=*** · COUNT=3" in screen_text(app)


async def until_run_screen(pilot) -> RunbookRunScreen:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: isinstance(pilot.app.screen, RunbookRunScreen), "the run screen")
    return run_screen(pilot.app)


async def test_a_value_is_never_executed_and_a_secret_never_shown(tmp_path: Path):
    planted = tmp_path / "planted"
    note = f"$(touch {planted}) `touch {planted}`"
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await highlight(pilot, "deploy-values")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        form = app.screen
        form.query_one("#var-TARGET", Select).value = "staging"
        form.query_one("#var-TOKEN", Input).value = "s3cret-token-value"
        form.query_one("#var-NOTE", Input).value = note
        await pilot.click("#start")
        screen = await until_run_screen(pilot)
        await run_confirmed(pilot, 1)
        await until(pilot, lambda: status(app, 1) == "ok", "step 1 ok")
        assert f"note={note}" in "\n".join(screen.log_panel.lines)
        assert not planted.exists()

        await go_to(pilot, 2)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        assert 'echo "token is ***"' in screen_text(app)
        assert "s3cret-token-value" not in screen_text(app)
        await pilot.press("tab", "enter")
        await until(pilot, lambda: status(app, 2) == "ok", "step 2 ok")
        await pilot.pause(0.2)
        assert "token is ***" in screen.log_panel.lines
        text = screen_text(app)
        assert "TOKEN=***" in text and "s3cret-token-value" not in text


# --- running steps ------------------------------------------------------------------------
async def test_a_step_runs_only_after_the_confirm_and_shows_its_output(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "deploy")
        assert screen.cursor == 1
        await go_to(pilot, 2)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        body = str(app.screen.query_one(".body").render())
        assert 'echo "hello from the step"' in body and "runs on: sh" in body
        await pilot.press("enter")  # Cancel is focused
        await until(pilot, lambda: app.screen is screen, "cancelled")
        assert status(app, 2) == "pending"

        await run_confirmed(pilot, 2)
        await until(pilot, lambda: status(app, 2) == "ok", "step 2 ok")
        assert "hello from the step" in screen.log_panel.lines
        row = screen.table.get_row("2")
        assert str(row[3]) == f"{GLYPHS['ok']} ok"
        assert "exit 0 in" in str(app.screen.query_one("#detail-text").render())


async def test_a_failing_step_then_retry(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "deploy")
        await run_confirmed(pilot, 3)
        await until(pilot, lambda: status(app, 3) == "failed", "step 3 failed")
        assert "first try fails" in screen.log_panel.lines
        assert "exit 3" in str(screen.query_one("#detail-text").render())
        assert screen.check_action("retry", ()) is True
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        assert app.screen.query_one("#confirm", Button).label.plain == "Run again"
        await pilot.press("tab", "enter")
        await until(pilot, lambda: status(app, 3) == "ok", "step 3 ok on retry")
        assert "recovered" in screen.log_panel.lines
        assert screen.run.state(3).attempts == 2
        assert screen.check_action("retry", ()) is None


async def test_skip_with_a_reason_and_tick_a_manual_step(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "deploy")
        await pilot.press("space")
        assert status(app, 1) == "done-manual"
        assert screen.cursor == 2, "on to the next open step"
        await go_to(pilot, 1)
        await pilot.press("space")
        assert status(app, 1) == "pending", "space again takes the tick back"

        await go_to(pilot, 3)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SkipScreen), "the skip dialog")
        assert app.screen.query_one("#confirm", Button).disabled, "a reason is required"
        await pilot.press(*"done by hand", "enter")
        await until(pilot, lambda: status(app, 3) == "skipped", "skipped")
        assert screen.run.state(3).message == "done by hand"
        assert "↷ skipped: done by hand" in str(screen.table.get_row("3")[3])
        assert [s.status for s in load(tmp_path / "state", screen.run.id).steps][:3] == [
            "pending",
            "pending",
            "skipped",
        ]


async def test_a_danger_step_needs_the_runbooks_name(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "deploy")
        await go_to(pilot, 4)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        dialog = app.screen
        confirm = dialog.query_one("#confirm", Button)
        assert confirm.disabled
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press(*"deplo")
        assert confirm.disabled
        await pilot.press("y")
        assert not confirm.disabled
        confirm.focus()
        await pilot.press("enter")
        await until(pilot, lambda: status(app, 4) == "ok", "step 4 ok")
        assert "cache dropped" in screen.log_panel.lines


async def test_ctrl_c_cancels_the_step_not_the_app(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "deploy")
        await run_confirmed(pilot, 5)
        await until(pilot, lambda: "waiting" in screen.log_panel.lines, "the step's output")
        assert status(app, 5) == "running"
        await pilot.press("escape")
        await pilot.press("q")
        await pilot.pause()
        assert app.screen is screen and app.is_running
        assert "step 5 is running: wait for it, or ctrl+c cancels it" in notices(app)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: status(app, 5) == "failed", "step 5 cancelled")
        assert screen.run.state(5).message == "cancelled: process group stopped"
        assert app.is_running and app.screen is screen
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back")
        await pilot.press("ctrl+c")  # idle: quits as everywhere
        await pilot.pause()
    assert app.return_code == 0


async def test_ten_megabytes_of_output_keep_the_console_responsive(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "flood")
        await run_confirmed(pilot, 1)
        log = screen.query_one(Log)
        await until(pilot, lambda: log.line_count > 100, "output streaming")
        assert status(app, 1) == "running"
        await pilot.press("e")  # a key handled while the output pours in
        await until(pilot, lambda: "report written to" in notices(app), "the export")
        assert status(app, 1) == "running", "the command is still printing"
        assert log.line_count <= OUTPUT_LINES
        (tmp_path / "runbooks" / "stop").touch()
        await until(pilot, lambda: status(app, 1) == "ok", "the step ends", tries=2400)
        state = screen.run.state(1)
        assert state.output_bytes is not None and state.output_bytes >= 10_000_000
        assert log.line_count <= OUTPUT_LINES
        assert len(screen.outputs[1]) <= 128 * 1024
        assert log.lines[-2] == "x" * 99


async def test_read_only_hides_the_run_keys_and_reading_still_works(tmp_path: Path):
    app = viewer_app(tmp_path, read_only=True)
    async with app.run_test(size=BIG) as pilot:
        await highlight(pilot, "deploy")
        pane = app.deck.runbooks
        assert pane.check_action("run", ()) is False
        assert "r" not in app.active_bindings or app.active_bindings["r"].binding.action != "run"
        await pilot.press("r", "enter")  # r refreshes; enter reads
        await pilot.pause()
        assert isinstance(app.screen, ConsoleScreen)
        assert app.focused is pane.preview
        assert pane.query_one(Markdown).source.startswith("# Deploy the API")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConsoleScreen)
    assert not (tmp_path / "state" / "runbooks").exists()


async def test_a_run_opened_read_only_is_only_read(tmp_path: Path):
    """The timeline opens any run: under --read-only its screen runs, ticks and skips
    nothing, and the keys are not offered."""
    app = viewer_app(tmp_path, read_only=True)
    async with app.run_test(size=BIG) as pilot:
        entry = next(entry for entry in app.engine.runbooks if entry.name == "deploy")
        executor = app.engine.runbook_executor()
        run = executor.start(entry.load(), {})
        journal = tmp_path / "state" / "journal.jsonl"
        before = journal.read_text()
        screen = RunbookRunScreen(run, executor, app.engine, entry)
        app.push_screen(screen)
        await pilot.pause()
        for action in ("run", "tick", "retry", "skip"):
            assert screen.check_action(action, ()) is False
        await pilot.press("space", "s", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunbookRunScreen)
        assert run.state(1).status == "pending"
        assert journal.read_text() == before
        await executor.aclose()


async def test_resume_shows_an_interrupted_step_to_retry_or_skip(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        entry = next(entry for entry in app.engine.runbooks if entry.name == "deploy")
        executor = app.engine.runbook_executor()
        run = executor.start(entry.load(), {})
        executor.tick(run, 1)
        run.started(2, 'echo "hello from the step"', None)  # what a kill -9 leaves behind
        await highlight(pilot, "deploy")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "resume or new")
        assert f"run {run.id}, started" in str(app.screen.query_one(".body").render())
        await pilot.press("enter")  # Resume is focused
        screen = await until_run_screen(pilot)
        assert screen.run.id == run.id
        assert screen.cursor == 2
        assert str(screen.table.get_row("2")[3]) == f"{GLYPHS['interrupted']} interrupted"
        assert "step 2 was interrupted: R retries it, S skips it" in notices(app)
        assert screen.check_action("retry", ()) is True
        assert screen.check_action("skip", ()) is True
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: status(app, 2) == "ok", "retried")
        assert load(tmp_path / "state", run.id).resumed


async def test_a_new_run_closes_the_open_one(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        entry = next(entry for entry in app.engine.runbooks if entry.name == "deploy")
        first = app.engine.runbook_executor().start(entry.load(), {})
        await highlight(pilot, "deploy")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "resume or new")
        await pilot.click("#new")
        screen = await until_run_screen(pilot)
        assert screen.run.id != first.id
        closed = {summary.id: summary.closed for summary in summaries(tmp_path / "state")}
        assert closed == {first.id: True, screen.run.id: False}


HOLD = """\
# Hold the line

```sh {name="Wait"}
echo "waiting"; sleep 30
```
"""


async def test_a_run_live_in_another_watchdeck_is_refused_in_one_line(tmp_path: Path):
    app = viewer_app(tmp_path, runbooks={"hold": HOLD})
    env = {key: value for key, value in os.environ.items() if key != "WATCHDECK_CONFIG"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "runbook", "run", str(tmp_path / "runbooks/hold.md")],
        cwd=tmp_path,
        env=env | {"WATCHDECK_STATE_DIR": str(tmp_path / "state")},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pgid = None
    try:
        deadline = time.monotonic() + 60
        while pgid is None and time.monotonic() < deadline:  # until its step runs
            for run_file in (tmp_path / "state" / "runbooks").glob("*.jsonl"):
                events = [json.loads(line) for line in run_file.read_text().splitlines()]
                pgid = next((e["pgid"] for e in events if e["event"] == "step.process"), None)
            time.sleep(0.05)
        assert pgid is not None, "the step never started"
        journal = tmp_path / "state" / "journal.jsonl"
        written = run_file.read_bytes(), journal.read_bytes()
        async with app.run_test(size=BIG) as pilot:
            options = app.deck.runbooks.query_one(OptionList)
            assert "▶ run in progress" in str(options.get_option("hold").prompt)  # listed
            await highlight(pilot, "hold")
            await pilot.press("r")
            await until(
                pilot,
                lambda: "another watchdeck" in notices(app) or app.screen is not app.deck,
                "the refusal",
            )
            assert isinstance(app.screen, ConsoleScreen)
            assert (
                f"run {run_file.stem} is open in another watchdeck (pid {process.pid}, "
                in notices(app)
            )
            assert notices(app).endswith("): finish or close it there first")
            assert (run_file.read_bytes(), journal.read_bytes()) == written

            process.kill()  # kill -9: the kernel lets go of the lock
            process.wait(timeout=30)
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "resume or new")
    finally:
        process.kill()
        process.wait()
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # the orphaned step


async def test_export_writes_the_report_and_says_where(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "deploy")
        await pilot.press("space")
        await run_confirmed(pilot, 2)
        await until(pilot, lambda: status(app, 2) == "ok", "step 2 ok")
        await pilot.press("e")
        await pilot.pause()
        path = tmp_path / "state" / "reports" / f"deploy-{screen.run.id}.md"
        assert f"report written to {path}" in notices(app)
        report = path.read_text()
        assert report.startswith("# Runbook run: Deploy the API\n")
        assert "### 1. ☑ Announce the deploy in #ops" in report
        assert "hello from the step" in report


async def test_a_check_step_passes_when_the_check_is_healthy(tmp_path: Path, http_server: str):
    checks = [Check(name="api", url=f"{http_server}/ok")]
    app = viewer_app(tmp_path, checks=checks)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "restart-api")
        assert "runs on check api" in str(screen.query_one("#detail-text").render())
        await run_confirmed(pilot, 1)
        await until(pilot, lambda: status(app, 1) == "ok", "healthy")
        assert "check api: healthy (HTTP 200" in "\n".join(screen.log_panel.lines)
        await until(pilot, lambda: screen.run.closed_at is not None, "the run closes")
        assert "every step done" in notices(app)


async def test_the_run_screen_marks_the_alerts_firing_now(tmp_path: Path):
    app = viewer_app(tmp_path)
    app.engine.alerts = (
        Alert(
            name="DeployFailing",
            source="am",
            state="firing",
            severity="critical",
            since=0.0,
            summary="deploys fail",
        ),
    )
    async with app.run_test(size=BIG) as pilot:
        await start(pilot, "deploy")
        assert "alerts: ✖ DeployFailing firing" in screen_text(app)


async def test_secrets_are_asked_again_on_resume(tmp_path: Path):
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        entry = next(entry for entry in app.engine.runbooks if entry.name == "deploy-values")
        given = {"TARGET": "staging", "TOKEN": "first-token-value"}
        run = app.engine.runbook_executor().start(entry.load(), given)
        await highlight(pilot, "deploy-values")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "resume or new")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the secrets form")
        form = app.screen
        assert [field.id for field in form.fields()] == ["var-TOKEN"], "only the secret"
        await pilot.press("enter")
        error = str(form.query_one("#error-TOKEN").render())
        assert "TOKEN is required: it was given when the run started" in error
        await pilot.press(*"second-token-value", "enter")
        screen = await until_run_screen(pilot)
        assert screen.run.id == run.id
        await run_confirmed(pilot, 2)
        await until(pilot, lambda: status(app, 2) == "ok", "step 2 ok")
        assert "token is ***" in screen.log_panel.lines
        assert "second-token-value" not in screen_text(app)


def test_the_help_lists_the_run_keys():
    listed = " ".join(key for key, _ in KEYS)
    for binding in RunbookRunScreen.BINDINGS:
        assert not isinstance(binding, tuple)
        if binding.show:
            assert {"escape": "esc"}.get(binding.key, binding.key) in listed, binding.key


async def test_an_interactive_step_needs_a_terminal_to_hand_over(tmp_path: Path):
    """Headless (as in a browser), the console cannot lend its terminal: the step fails
    saying so, nothing runs behind the screen."""
    app = viewer_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        screen = await start(pilot, "look-around")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        body = str(app.screen.query_one(".body").render())
        assert "interactive: the console hands the terminal over until it exits" in body
        await pilot.press("tab", "enter")
        await until(pilot, lambda: status(app, 1) == "failed", "refused")
        assert screen.run.state(1).message.startswith("this console cannot hand its terminal over")
        assert app.is_running


def test_the_output_feed_holds_a_bounded_amount():
    """What the output panel is given: no more lines than it holds, no line longer than the
    cap, and at most ``cap`` characters waiting between two redraws."""
    feed = OutputFeed(lines=10, cap=1000, line_cap=20)
    feed.add("a" * 50)
    assert feed.take() == "a" * 20 + "…"
    feed.add("b" * 30 + "\nnext\n")
    assert feed.take() == "\nnext\n", "the rest of a cut line is dropped"
    feed.add("".join(f"{number}\n" for number in range(100)))
    text = feed.take()
    assert text.startswith(SKIPPED + "\n")
    assert text.splitlines()[1:] == [str(number) for number in range(90, 100)]
    for _ in range(50):
        feed.add("x" * 300)
    assert feed.size <= 1000
    assert feed.take().startswith(SKIPPED)
    assert feed.take() == ""
