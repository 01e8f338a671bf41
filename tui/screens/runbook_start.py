"""What ``r`` on a runbook opens: its run in progress resumed (secrets asked again), or a new
run (its variables asked first). Runs are found in the state directory by runbook file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App

from tui.engine.runbooks.catalog import RunbookEntry
from tui.engine.runbooks.executor import RunbookExecutor
from tui.engine.runbooks.report import when, who
from tui.engine.runbooks.run import FINAL, Run, RunSummary, summaries
from tui.screens.runbook_dialogs import ResumeScreen, VariablesScreen


def open_runs(state_dir: Path | None, entries: Iterable[RunbookEntry]) -> dict[str, RunSummary]:
    """The latest run not closed of each runbook (matched by its file), by runbook name."""
    if state_dir is None:
        return {}
    names = {entry.path.resolve(): entry.name for entry in entries}
    found: dict[str, RunSummary] = {}
    for summary in summaries(state_dir):
        name = names.get(Path(summary.path).resolve())
        if name is not None and not summary.closed:
            found.setdefault(name, summary)
    return found


async def open_run(
    app: App[Any], entry: RunbookEntry, executor: RunbookExecutor
) -> tuple[Run, list[int]] | None:
    """A run of ``entry`` to show: its open run resumed (secrets asked again), or a new one
    (variables asked first; an open run is closed); ``None`` when the person cancelled.
    Raises RunbookError, RunError (RunLocked when another process drives the open run, which
    it can neither resume nor close); call it from a worker (it waits for dialogs)."""
    runbook = entry.load()
    summary = open_runs(executor.state_dir, [entry]).get(entry.name)
    previous = executor.open(summary.id) if summary is not None else None
    if previous is not None:
        executor.hold(previous)  # refused while another watchdeck drives it
        choice = await app.push_screen_wait(
            ResumeScreen(
                f"A run of {runbook.title} is open", resume_lines(previous, runbook.sha256)
            )
        )
        if choice is None:
            return None
        if choice == "resume":
            secrets: dict[str, str] = {}
            missing = previous.missing_secrets()
            if missing:
                given = await app.push_screen_wait(VariablesScreen(previous.runbook, missing))
                if given is None:
                    return None
                secrets = given
            return previous, executor.resume(previous, secrets)
    values: dict[str, str] = {}
    if runbook.variables:
        given = await app.push_screen_wait(VariablesScreen(runbook))
        if given is None:
            return None
        values = given
    if previous is not None:
        executor.close(previous)
    return executor.start(runbook, values), []


def resume_lines(run: Run, current_sha: str) -> list[str]:
    counts = run.counts()
    done = sum(count for status, count in counts.items() if status in FINAL)
    progress = [f"{done} of {len(run.steps)} steps done"]
    progress += [
        f"{counts[status]} {status}" for status in ("failed", "interrupted") if counts.get(status)
    ]
    lines = [
        f"run {run.id}, started {when(run.started_at)} by {who(run.who)}",
        " · ".join(progress),
    ]
    if run.runbook.sha256 != current_sha:
        lines.append("The runbook changed since: the run goes on with the version it started with.")
    lines += ["", "Resume goes on with it; New run closes it and starts again."]
    return lines
