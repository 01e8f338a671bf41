"""A runbook run: its steps with a cursor, the selected step's command as it would run, the
live output, the window timer and the alerts the runbook is attached to.

Everything that acts goes through the engine's ``RunbookExecutor``, which refuses under
``--read-only`` and journals: ``enter`` runs a step after a confirm (a ``danger`` step wants
the runbook's name typed), ``space`` ticks a manual step, ``R`` retries, ``S`` skips with a
reason, ``ctrl+c`` cancels the running step (only the step), ``e`` exports the report.

Output arrives in chunks as fast as a command prints; it is gathered in an ``OutputFeed``
(bounded) and written to the panel at most every ``FLUSH`` seconds, so a command printing
10 MB keeps the console responsive and the panel holds at most ``OUTPUT_LINES`` lines (all
of it is in the step's output file).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, Static

from tui.engine.actions import ActionRefused
from tui.engine.errors import os_reason
from tui.engine.runbooks.catalog import RunbookEntry
from tui.engine.runbooks.executor import InteractiveCommand, RunbookExecutor, StepPlan
from tui.engine.runbooks.model import Step
from tui.engine.runbooks.report import GLYPHS as REPORT_GLYPHS
from tui.engine.runbooks.report import render_report
from tui.engine.runbooks.run import FINAL, Run, RunError, still_running
from tui.engine.runbooks.variables import shown
from tui.engine.units import format_duration
from tui.screens.confirm import ConfirmScreen
from tui.screens.runbook_dialogs import SkipScreen
from widgets.status import GLYPHS, Palette, same
from widgets.table import PlainTable

if TYPE_CHECKING:
    from tui.engine.engine import Engine

OUTPUT_LINES = 2000
"""Lines the output panel holds (the oldest go first)."""
PENDING_CAP = 1024 * 1024
"""Characters of output waiting for the next redraw; beyond, the oldest are dropped."""
LINE_CAP = 1000
"""Characters of one output line shown; the rest of a longer line is cut (``…``)."""
KEEP = 128 * 1024
"""Characters of each finished step's output kept to show again when it is selected."""
FLUSH = 0.1
"""Seconds between redraws of streaming output."""
TITLE_WIDTH = 48
STATUS: dict[str, tuple[str, str, str]] = {
    "pending": (REPORT_GLYPHS["pending"], "pending", ""),
    "running": ("▶", "running", "info"),
    "ok": (REPORT_GLYPHS["ok"], "ok", "ok"),
    "failed": (REPORT_GLYPHS["failed"], "failed", "critical"),
    "skipped": (REPORT_GLYPHS["skipped"], "skipped", "muted"),
    "done-manual": (REPORT_GLYPHS["done-manual"], "done", "ok"),
    "interrupted": (REPORT_GLYPHS["interrupted"], "interrupted", "warning"),
}
"""Step status: glyph, word, and the palette style (colour is only a second channel)."""
RETRYABLE = frozenset({"failed", "interrupted"})
SKIPPED = "[… earlier output not shown here: all of it is in the step's output file]"


class OutputFeed:
    """Output between two redraws: cheap to add to, bounded, and handed over as text ready
    for the panel (at most ``lines`` lines, none longer than ``line_cap``)."""

    def __init__(
        self, lines: int = OUTPUT_LINES, cap: int = PENDING_CAP, line_cap: int = LINE_CAP
    ) -> None:
        self.lines = lines
        self.cap = cap
        self.line_cap = line_cap
        self.chunks: deque[str] = deque()
        self.size = 0
        self.dropped = 0
        """Characters dropped before the panel saw them, since the last ``take``."""
        self.total = 0
        self.column = 0
        """Characters already on the panel's last line."""

    def add(self, text: str) -> None:
        self.chunks.append(text)
        self.size += len(text)
        self.total += len(text)
        while self.size > self.cap and len(self.chunks) > 1:
            gone = self.chunks.popleft()
            self.size -= len(gone)
            self.dropped += len(gone)
        if self.size > self.cap:
            cut = self.size - self.cap
            self.chunks[0] = self.chunks[0][cut:]
            self.size, self.dropped = self.cap, self.dropped + cut

    def take(self) -> str:
        """What arrived since the last call, trimmed for the panel ("" when nothing did)."""
        if not self.chunks:
            return ""
        text = "".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        segments = text.split("\n")
        out: list[str] = []
        if self.dropped or len(segments) - 1 > self.lines:
            segments = segments[-(self.lines + 1) :]
            out.append(("\n" if self.column else "") + SKIPPED + "\n")
            self.column = self.dropped = 0
        for number, segment in enumerate(segments):
            if number:
                out.append("\n")
                self.column = 0
            room = self.line_cap - self.column
            if len(segment) > room:
                segment = segment[: max(room, 0)] + ("…" if room > 0 else "")
            self.column += len(segment)
            out.append(segment)
        return "".join(out)


# --- the run screen -----------------------------------------------------------------------
class StepTable(PlainTable):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "screen.run", "run")]


class RunbookRunScreen(Screen[None]):
    DEFAULT_CSS = """
    RunbookRunScreen #run-header { height: auto; padding: 0 1; background: $boost; }
    RunbookRunScreen StepTable { height: auto; max-height: 45%; }
    RunbookRunScreen #detail {
        height: auto;
        max-height: 30%;
        padding: 0 1;
        border-top: solid $foreground 20%;
        scrollbar-size-vertical: 1;
    }
    RunbookRunScreen #detail-text { width: 100%; }
    RunbookRunScreen Log {
        overflow: auto;
        height: 1fr;
        min-height: 3;
        border: round $foreground 30%;
        border-title-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "run", "run", show=False),  # from the output too; the table shows it
        Binding("space", "tick", "tick"),
        Binding("R", "retry", "retry"),
        Binding("S", "skip", "skip"),
        Binding("e", "export", "export report"),
        Binding("escape", "back", "back"),
        # Only while a step runs (check_action): otherwise ctrl+c quits, as everywhere.
        Binding("ctrl+c", "cancel_step", "cancel step", priority=True),
        Binding("q", "hold_quit", "quit", show=False),
    ]

    def __init__(
        self,
        run: Run,
        executor: RunbookExecutor,
        engine: Engine,
        entry: RunbookEntry,
        *,
        interrupted: Iterable[int] = (),
    ) -> None:
        super().__init__()
        self.run = run
        self.runbook = run.runbook
        self.executor = executor
        self.engine = engine
        self.entry = entry
        self.interrupted = tuple(interrupted)
        self.plans: dict[int, StepPlan] = {}
        self.outputs: dict[int, str] = {}
        self.feed = OutputFeed()
        self.live: int | None = None
        """The step running now (its output streams into the panel)."""
        self.shown_output: int | None = None
        self.header = Text()

    # --- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="run-header")
        yield StepTable(id="steps", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="detail"):
            yield Static(id="detail-text")
        yield Log(id="output", max_lines=OUTPUT_LINES, highlight=False)
        yield Footer()

    @property
    def table(self) -> StepTable:
        return self.query_one(StepTable)

    @property
    def log_panel(self) -> Log:
        return self.query_one(Log)

    @property
    def palette(self) -> Palette:
        return Palette.of(self.app.theme_variables)

    @property
    def busy(self) -> bool:
        return self.live is not None

    @property
    def cursor(self) -> int:
        return self.table.cursor_row + 1

    def on_mount(self) -> None:
        table = self.table
        for label, key in (("#", "index"), ("step", "title"), ("kind", "kind")):
            table.add_column(label, key=key)
        table.add_column("status", key="status")
        table.add_column("took", key="took")
        for step in self.runbook.steps:
            table.add_row(*self.cells(step), key=str(step.index))
        table.move_cursor(row=self.next_open(0) - 1)
        table.focus()
        self.flusher = self.set_interval(FLUSH, self.flush_output, pause=True)
        self.set_interval(1.0, self.tick)
        self.show_header()
        self.show_step()
        if self.interrupted:
            listed = ", ".join(map(str, self.interrupted))
            self.notify(
                f"step {listed} was interrupted: R retries it, S skips it",
                title=f"resumed run {self.run.id}",
                severity="warning",
                timeout=10,
            )

    def next_open(self, after: int) -> int:
        """The first step after ``after`` not yet final (else the last step)."""
        for step in self.runbook.steps[after:]:
            if self.run.state(step.index).status not in FINAL:
                return step.index
        return max(len(self.runbook.steps), 1)

    # --- rendering ---------------------------------------------------------------------
    def status(self, index: int) -> Text:
        state = self.run.state(index)
        glyph, word, style = STATUS.get(state.status, ("?", state.status, ""))
        if state.status == "skipped" and state.message:
            word = f"{word}: {state.message}"
        return Text(f"{glyph} {word}", style=self.palette.style(style) if style else "")

    def took(self, index: int) -> str:
        state = self.run.state(index)
        if state.status == "running" and state.started_at is not None:
            return format_duration(max(self.run.clock() - state.started_at, 0.0))
        return format_duration(state.duration) if state.duration is not None else ""

    def cells(self, step: Step) -> tuple[Text | str, ...]:
        title = (
            step.title if len(step.title) <= TITLE_WIDTH else step.title[: TITLE_WIDTH - 1] + "…"
        )
        return (str(step.index), title, kind(step), self.status(step.index), self.took(step.index))

    def show_row(self, index: int) -> None:
        table, key = self.table, str(index)
        table.update_cell(key, "status", self.status(index), update_width=True)
        table.update_cell(key, "took", self.took(index), update_width=True)

    def show_rows(self) -> None:
        for step in self.runbook.steps:
            self.show_row(step.index)

    def plan(self, index: int) -> StepPlan:
        if index not in self.plans:
            self.plans[index] = self.executor.plan(self.run, index)
        return self.plans[index]

    def show_header(self) -> None:
        """Which run of what; progress and the window timer; alerts; the values."""
        palette, run, runbook = self.palette, self.run, self.runbook
        started = datetime.fromtimestamp(run.started_at).strftime("%H:%M:%S")
        about = f"  {runbook.path.name} · run {run.id} · started {started}"
        header = Text.assemble((f"▶ {runbook.title}", "bold"), (about, "dim"))
        if run.resumed:
            header.append(" · resumed", "dim")
        done = sum(state.status in FINAL for state in run.steps)
        failed = sum(state.status == "failed" for state in run.steps)
        header.append(f"\n{done} of {len(run.steps)} steps done")
        if failed:
            header.append(f" · {failed} failed", palette.style("critical"))
        if run.closed_at is not None:
            header.append(" · run closed", palette.style("ok"))
        window = run.window_status()
        if window is not None:
            header.append(" │ ", "dim").append_text(window_text(*window, palette))
        alerts = self.alerts_text()
        if alerts is not None:
            header.append("\n").append_text(alerts)
        values = shown(runbook, run.values)
        for var in run.missing_secrets():
            values[var.name] = "*** (not given again)"
        if values:
            listed = " · ".join(f"{name}={value}" for name, value in values.items())
            header.append("\n").append(f"values: {listed}", "dim")
        if not same(header, self.header):  # it is redrawn each second: only when it changed
            self.header = header
            self.query_one("#run-header", Static).update(header)

    def alerts_text(self) -> Text | None:
        """The alerts this runbook is for, those firing now marked (glyph, word, colour)."""
        names = self.engine.runbook_alerts(self.entry)
        if not names:
            return None
        firing = {
            alert.name: alert.severity for alert in self.engine.alerts if alert.state == "firing"
        }
        text = Text("alerts: ", "dim")
        for number, name in enumerate(names):
            if number:
                text.append(" · ", "dim")
            severity = firing.get(name)
            if severity is None:
                text.append(name)
            else:
                status = "critical" if severity == "critical" else "warning"
                text.append(f"{GLYPHS[status]} {name} firing", self.palette.style(status))
        return text

    def show_step(self) -> None:
        """The selected step: what it is, the command as it would run, how it ended."""
        index = self.cursor
        step = self.runbook.step(index)
        state = self.run.state(index)
        palette = self.palette
        text = Text.assemble((f"{index}. {step.title}", "bold"), "  ", self.status(index))
        if step.kind == "manual":
            text.append("\nmanual: a person does it, then space ticks it", "dim")
            text.append(f"\n\n{step.text or step.title}")
        else:
            plan = self.plan(index)
            text.append(f"\n{' · '.join(facts(step, plan))}", "dim")
            for line in plan.command.splitlines() or [""]:
                text.append(f"\n  {line}", "bold")
            if plan.problem and plan.problem != state.message:
                text.append(
                    f"\n{GLYPHS['critical']} cannot run: {plan.problem}", palette.style("critical")
                )
        if state.message and state.status != "skipped":
            _, _, style = STATUS.get(state.status, ("", "", ""))
            text.append(f"\n{state.message}", palette.style(style) if style else "")
        if state.attempts > 1:
            text.append(f" (attempt {state.attempts})", "dim")
        if state.status == "interrupted" and still_running(state):
            text.append(
                f"\n{GLYPHS['warning']} its processes may still be running (process group "
                f"{state.pgid}): check before retrying",
                palette.style("warning"),
            )
        self.query_one("#detail-text", Static).update(text)
        self.show_output(index)

    def show_output(self, index: int) -> None:
        """The output of the selected step; while a step runs, the running step's."""
        if self.live is not None or index == self.shown_output:
            return
        self.shown_output = index
        state = self.run.state(index)
        log = self.log_panel
        log.clear()
        saved = self.outputs.get(index) or state.excerpt
        feed = OutputFeed()
        feed.add(saved)
        log.write(feed.take())
        self.title_output(index)

    def flush_output(self) -> None:
        text = self.feed.take()
        if text:
            self.log_panel.write(text)
            self.log_panel.border_title = (
                f"output · step {self.live} · running · {self.feed.total:,} characters"
            )

    def title_output(self, index: int) -> None:
        """The output panel's title: whose output it shows and how much the step printed."""
        state = self.run.state(index)
        size = f" · {state.output_bytes:,} bytes" if state.output_bytes else ""
        self.log_panel.border_title = f"output · step {index}{size}"

    def tick(self) -> None:
        self.show_header()
        if self.live is not None:
            self.show_row(self.live)

    def refresh_all(self) -> None:
        self.plans.clear()
        self.show_rows()
        self.show_header()
        self.show_step()
        self.refresh_bindings()
        self.close_when_finished()

    def close_when_finished(self) -> None:
        run = self.run
        if run.closed_at is None and run.finished and not self.busy:
            try:
                self.executor.close(run)
            except RunError as exc:
                self.notify(str(exc), title="run not closed", severity="error", markup=False)
                return
            self.show_header()
            self.notify(f"every step done: run {run.id} closed · e exports the report")

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        if self.is_mounted:
            self.show_step()
            self.refresh_bindings()

    # --- keys ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel_step", "hold_quit"):
            return self.busy
        if not self.is_mounted:
            return action in ("back", "export")
        if action in ("run", "tick", "retry", "skip") and self.executor.actions.read_only:
            return False  # read-only: the run is read, as the timeline opens any run
        step = self.runbook.step(self.cursor)
        status = self.run.state(step.index).status
        if action == "run":
            return None if self.busy or not step.runnable else True
        if action == "tick":
            return step.kind == "manual" or None
        if action == "retry":
            return (step.runnable and status in RETRYABLE and not self.busy) or None
        if action == "skip":
            return (step.index != self.live and status not in FINAL) or None
        return True

    def action_run(self) -> None:
        step = self.runbook.step(self.cursor)
        if not step.runnable:
            self.notify("a manual step: space ticks it once done", severity="warning")
        elif self.busy:
            self.notify(f"step {self.live} is running: one step at a time", severity="warning")
        else:
            self.run_step(step.index)

    def action_retry(self) -> None:
        if self.run.state(self.cursor).status in RETRYABLE:
            self.action_run()

    def action_tick(self) -> None:
        index = self.cursor
        step, state = self.runbook.step(index), self.run.state(index)
        if step.kind != "manual":
            self.notify("space ticks manual steps; enter runs this one", severity="warning")
            return
        try:
            self.executor.tick(self.run, index, done=state.status != "done-manual")
        except RunError as exc:
            self.notify(str(exc), title="not recorded", severity="error", markup=False)
            return
        if state.status == "done-manual":
            self.table.move_cursor(row=self.next_open(index) - 1)
        self.refresh_all()

    @work(group="runbook-dialog")
    async def action_skip(self) -> None:
        index = self.cursor
        step, state = self.runbook.step(index), self.run.state(index)
        if index == self.live or state.status in FINAL:
            return
        lines = [
            f"{kind(step)} · {state.status}",
            "",
            "The reason goes into the run and its report.",
        ]
        reason = await self.app.push_screen_wait(
            SkipScreen(f"Skip step {index}: {step.title}?", lines)
        )
        if reason is None:
            return
        try:
            self.executor.skip(self.run, index, reason)
        except RunError as exc:
            self.notify(str(exc), title="not recorded", severity="error", markup=False)
            return
        self.table.move_cursor(row=self.next_open(index) - 1)
        self.refresh_all()

    def action_cancel_step(self) -> None:
        if self.executor.cancel():
            self.notify(f"cancelling step {self.live}: stopping its processes", timeout=5)

    def action_hold_quit(self) -> None:
        self.notify(
            f"step {self.live} is running: ctrl+c cancels it; quit once it ended",
            severity="warning",
        )

    def action_back(self) -> None:
        if self.busy:
            self.notify(
                f"step {self.live} is running: wait for it, or ctrl+c cancels it",
                severity="warning",
            )
            return
        self.dismiss()

    def action_export(self) -> None:
        state_dir = self.executor.state_dir
        if state_dir is None:
            return
        path = state_dir / "reports" / f"{self.runbook.name}-{self.run.id}.md"
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(render_report(self.run), encoding="utf-8")
        except OSError as exc:
            reason = os_reason(exc)
            self.notify(f"cannot write {path}: {reason}", severity="error", markup=False)
            return
        self.notify(f"report written to {path}", title="exported", timeout=15, markup=False)

    # --- running -------------------------------------------------------------------------
    def confirm(self, step: Step, plan: StepPlan) -> ConfirmScreen:
        state = self.run.state(step.index)
        lines = [
            f"runs on: {plan.target}"
            + (f" · timeout {format_duration(plan.timeout)}" if plan.timeout else "")
        ]
        if step.interactive:
            lines.append("interactive: the console hands the terminal over until it exits")
        lines += ["", *plan.command.splitlines()]
        if state.status == "interrupted" and still_running(state):
            lines += ["", f"its earlier attempt may still be running (process group {state.pgid})"]
        verb = "Run again" if state.attempts else "Run"
        return ConfirmScreen(
            f"{verb} step {step.index}: {step.title}?",
            lines,
            confirm_label=verb,
            danger=plan.danger,
            require_text=self.runbook.name if plan.danger else None,
        )

    @work(group="runbook-step")
    async def run_step(self, index: int) -> None:
        step = self.runbook.step(index)
        plan = self.executor.plan(self.run, index)
        if not plan.problem and not await self.app.push_screen_wait(self.confirm(step, plan)):
            return
        if self.busy:
            return
        self.begin(index)
        try:
            result = await self.executor.run_step(
                self.run, index, on_output=self.feed.add, attach=self.attach
            )
        except (ActionRefused, RunError, ValueError) as exc:
            self.end(index)
            self.notify(str(exc), title="not run", severity="error", markup=False)
            return
        # Not in a finally: cancelled (the console closing), the screen is going away.
        self.outputs[index] = result.output[-KEEP:]
        self.end(index)
        glyph = GLYPHS["ok"] if result.status == "ok" else GLYPHS["critical"]
        self.notify(
            f"{glyph} step {index} {result.status}: {result.message}",
            severity="information" if result.status == "ok" else "error",
            markup=False,
        )
        self.close_when_finished()

    def begin(self, index: int) -> None:
        self.live = self.shown_output = index
        self.feed = OutputFeed()
        self.log_panel.clear()
        self.log_panel.border_title = f"output · step {index} · running"
        self.flusher.resume()
        self.refresh_all()

    def end(self, index: int) -> None:
        self.flush_output()
        self.flusher.pause()
        self.live = None
        self.title_output(index)
        self.shown_output = index if self.cursor == index else None
        self.refresh_all()

    async def attach(self, command: InteractiveCommand) -> int:
        """Hand the terminal to an interactive step (psql, ssh) until it exits. The call
        blocks the event loop on purpose: nothing may draw while the terminal is lent."""
        try:
            with self.app.suspend():
                return command.call_on_terminal()
        except SuspendNotSupported:
            raise RuntimeError(
                "this console cannot hand its terminal over (a browser, a test): "
                "run the step with `watchdeck runbook run` in a terminal"
            ) from None


def kind(step: Step) -> str:
    base = f"check {step.check}" if step.kind == "check" else step.language or step.kind
    flags = [flag for flag in ("danger", "interactive") if getattr(step, flag)]
    return " · ".join([base, *flags])


def facts(step: Step, plan: StepPlan) -> list[str]:
    """``runs on sh · timeout 5m · capture DRAINED · danger: the name is typed``."""
    found = [f"runs on {plan.target}"]
    if plan.timeout:
        found.append(f"timeout {format_duration(plan.timeout)}")
    if step.capture:
        found.append(f"capture {step.capture}")
    if step.check and step.kind != "check":
        found.append(f"then check {step.check}")
    if step.interactive:
        found.append("interactive: the terminal is handed over")
    if plan.danger:
        found.append("danger: the runbook's name is typed to run it")
    return found


def window_text(planned: float, elapsed: float, overrun: bool, palette: Palette) -> Text:
    """``window 30m · 12m03s elapsed · 17m57s left``; past it, an overrun warning in words."""
    base = f"window {span(planned)} · {span(elapsed)} elapsed"
    if overrun:
        return Text(
            f"{GLYPHS['critical']} OVERRUN by {span(elapsed - planned)}: {base}",
            palette.style("critical"),
        )
    left = planned - elapsed
    if left <= planned * 0.1:
        return Text(
            f"{GLYPHS['warning']} {base} · {span(left)} left, nearly over",
            palette.style("warning"),
        )
    return Text(f"{base} · {span(left)} left")


def span(seconds: float) -> str:
    """Whole seconds (a timer that ticks once a second): ``0s``, ``42s``, ``12m03s``."""
    whole = max(int(seconds), 0)
    return f"{whole}s" if whole < 60 else format_duration(whole)
