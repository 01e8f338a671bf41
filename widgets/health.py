"""The Health pane: one row per configured check, unhealthy first, with its recent history.

``s`` cycles the sort, ``/`` narrows the rows by name or detail, ``enter`` asks for the
check's detail screen. A toast says when a check changes state, never on each failed poll.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.notifications import SeverityLevel

from tui.engine.derived import CheckResult, CheckStats
from tui.engine.report import source_status
from tui.engine.samples import CheckSample, Status
from tui.engine.state import SourceState, State
from widgets.sorted_pane import STATUS_RANK, Entry, SortedPane
from widgets.status import GLYPHS, NO_DATA, SPARKS, Palette, problem
from widgets.table import ColumnSpec

HISTORY_WIDTH = 10
"""Results shown in the history strip, newest on the right."""
DOWN = "✖"
"""A down poll in the history strip: a glyph of its own, not only a colour."""
FLAPPING = "≈ flapping"
CERT_WARNING_DAYS = 30
TOAST_SEVERITY: dict[str, SeverityLevel] = {
    "critical": "error",
    "warning": "warning",
    "unknown": "warning",
    "ok": "information",
}


class HealthPane(SortedPane):
    SORTS = ("status", "name", "latency", "p95")
    COLUMNS = (
        ColumnSpec("status", "status"),
        ColumnSpec("check", "check"),
        ColumnSpec("code", "code"),
        ColumnSpec("latency", "latency"),
        ColumnSpec("p95", "p95"),
        ColumnSpec("history", "history", HISTORY_WIDTH),
        ColumnSpec("cert", "cert"),
        ColumnSpec("detail", "detail"),
    )
    FILTER_HINT = "filter: name or detail · enter keeps · esc clears"
    NOT_CONFIGURED = (
        "No checks in this config. Add HTTP, TCP or TLS checks under `checks:` "
        "(README: Health checks); `watchdeck init` writes a commented example."
    )

    class DetailWanted(SortedPane.DetailWanted):
        """``enter`` on a check: show its detail screen."""

    def __init__(self, states: Sequence[SourceState], history: State) -> None:
        super().__init__(1, "Health", id="health", states=states, history=history)
        self.flapping_told: set[str] = set()
        """Checks whose flapping was announced: their changes are not toasted until it stops."""

    # --- data ------------------------------------------------------------------------
    def update_source(self, state: SourceState, now: float) -> None:
        previous = self.states.get(state.name)
        super().update_source(state, now)
        if previous is not None:
            self.announce(previous, state)

    def entry(self, state: SourceState) -> Entry:
        stats = self.history.check_stats(state.name, self.now)
        cells = self.row(state, stats)
        if self.sort == "latency":
            sample = state.sample if isinstance(state.sample, CheckSample) else None
            value = sample.latency_ms if sample else None
        else:
            value = stats.p95_ms if stats else None
        return Entry(cells, (cells[-1].plain,), value)

    def row(self, state: SourceState, stats: CheckStats | None) -> tuple[Any, ...]:
        palette = self.palette
        sample = state.sample if isinstance(state.sample, CheckSample) else None
        status = palette.source(state)
        if stats is not None and stats.flapping:
            status.append(f" {FLAPPING}", palette.style("warning"))
        return (
            status,
            state.name,
            str(sample.http_status) if sample and sample.http_status is not None else NO_DATA,
            milliseconds(sample.latency_ms if sample else None),
            milliseconds(stats.p95_ms if stats else None),
            history_strip(stats.recent if stats else (), palette),
            cert_days(sample.cert_days_left if sample else None, palette),
            self.detail(state, sample),
        )

    def detail(self, state: SourceState, sample: CheckSample | None) -> Text:
        palette = self.palette
        if state.error is not None:
            return Text(problem(state, self.now, self.paused), style=palette.style("critical"))
        if sample is None:
            return palette.muted("waiting for first poll")
        return Text(first_failure(sample), style=palette.style(sample.status))

    def worst(self) -> tuple[Status, str, str] | None:
        """The worst check's first failure: visible at any width, the detail column may not be."""
        unhealthy = [
            (STATUS_RANK[state.sample.status], state.name, state.sample)
            for state in self.states.values()
            if isinstance(state.sample, CheckSample)
            and state.sample.status in ("critical", "warning")
        ]
        if not unhealthy:
            return None
        _, name, sample = min(unhealthy, key=lambda entry: entry[:2])
        return sample.status, name, first_failure(sample)

    # --- toasts ----------------------------------------------------------------------
    def announce(self, previous: SourceState, state: SourceState) -> None:
        """Toast a change of state. A flapping check is announced once, then kept quiet until
        it settles (Nagios does the same with notifications), and then its state is told."""
        before, after = toast_status(previous), toast_status(state)
        if before is None or after is None:
            return
        stats = self.history.check_stats(state.name, self.now)
        flapping = stats is not None and stats.flapping
        if state.name in self.flapping_told:
            if not flapping:
                self.flapping_told.discard(state.name)
                self.toast(f"{GLYPHS[after]} {state.name} stopped flapping: {after}", after)
        elif before != after and flapping:
            self.flapping_told.add(state.name)
            self.toast(f"{FLAPPING}: {state.name} keeps changing state; quiet until it settles")
        elif before != after:
            self.toast(change_message(state, before, after), after)

    def toast(self, message: str, status: Status = "warning") -> None:
        self.notify(message, title="Health", severity=TOAST_SEVERITY[status], markup=False)


def toast_status(state: SourceState) -> Status | None:
    """The state toasts compare; ``None`` before the first poll (so that one is not toasted)."""
    if state.sample is None and state.error is None:
        return None
    return source_status(state)


def change_message(state: SourceState, before: Status, after: Status) -> str:
    if after == "ok":
        return f"{GLYPHS['ok']} {state.name} recovered (was {before})"
    sample = state.sample if isinstance(state.sample, CheckSample) else None
    reason = state.error or (first_failure(sample) if sample else "")
    text = f"{GLYPHS[after]} {state.name} is {after} (was {before})"
    return f"{text}: {reason}" if reason else text


def first_failure(sample: CheckSample) -> str:
    """The first failed condition with its actual value (``status (500) == 200``), or the error."""
    if sample.failed_conditions:
        first, *others = sample.failed_conditions
        return f"{first} (+{len(others)} more)" if others else first
    return sample.error or ""


def milliseconds(value: float | None) -> str:
    if value is None:
        return NO_DATA
    if value < 1000:
        return f"{value:.0f}ms"
    seconds = value / 1000
    if seconds < 10:
        return f"{seconds:.2f}s"
    return f"{seconds:.1f}s" if seconds < 100 else f"{seconds:.0f}s"


def history_strip(recent: Sequence[CheckResult], palette: Palette) -> Text:
    """The last results as a latency sparkline scaled from 0 to their highest; ``✖`` for down."""
    tail = list(recent)[-HISTORY_WIDTH:]
    highest = max(
        (result.latency_ms for result in tail if result.up and result.latency_ms is not None),
        default=0.0,
    )
    text = Text(" " * (HISTORY_WIDTH - len(tail)))
    for result in tail:
        if not result.up:
            text.append(DOWN, palette.style("critical"))
        elif result.latency_ms is None or highest <= 0:
            text.append(SPARKS[0])
        else:
            text.append(SPARKS[round(result.latency_ms / highest * (len(SPARKS) - 1))])
    return text


def cert_days(days: float | None, palette: Palette) -> Text:
    """``74d``; under 30 days ``▲ 9d`` in the warning style (the glyph says it without
    colour), ``expired`` in the critical one."""
    if days is None:
        return Text(NO_DATA)
    if days < 0:
        return Text("expired", palette.style("critical"))
    if days < CERT_WARNING_DAYS:
        return Text(f"{GLYPHS['warning']} {math.floor(days)}d", palette.style("warning"))
    return Text(f"{math.floor(days)}d")
