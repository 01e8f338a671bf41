"""The Health pane: one row per configured check, unhealthy first, with its recent history.

``s`` cycles the sort, ``/`` narrows the rows by name or detail, ``enter`` asks for the
check's detail screen. A toast says when a check changes state, never on each failed poll.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import DataTable

from tui.engine.derived import CheckResult, CheckStats
from tui.engine.report import source_status
from tui.engine.samples import CheckSample, Status
from tui.engine.state import SourceState, State
from widgets.filter_field import CLEAR_FILTER, FILTER, FilterField
from widgets.pane import SourceTablePane
from widgets.status import GLYPHS, NO_DATA, SPARKS, Palette, problem, same
from widgets.table import ColumnSpec, KeyedTable

HISTORY_WIDTH = 10
"""Results shown in the history strip, newest on the right."""
DOWN = "✖"
"""A down poll in the history strip: a glyph of its own, not only a colour."""
FLAPPING = "≈ flapping"
CERT_WARNING_DAYS = 30
SORTS = ("status", "name", "latency", "p95")
STATUS_RANK: dict[str, int] = {"critical": 0, "warning": 1, "stale": 2, "unknown": 3, "ok": 4}
"""Default order: unhealthy first; ``unknown`` covers checks not polled yet."""
TOAST_SEVERITY: dict[str, SeverityLevel] = {
    "critical": "error",
    "warning": "warning",
    "unknown": "warning",
    "ok": "information",
}
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


class HealthTable(KeyedTable):
    """A KeyedTable that also keeps sorting while focused until the operator moves the cursor.

    The console starts with this table focused; without this the first polls would never
    bring the failing checks to the top. Once the cursor moved, rows stay put until the table
    loses focus or the operator asks (``s``, the filter).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aimed = False
        self._placing = False

    def sync(self, rows: Mapping[str, Sequence[Any]]) -> None:
        self._placing = True
        try:
            super().sync(rows)
            if self.has_focus and not self.aimed:
                self.apply_order()
        finally:
            self._placing = False

    def reorder(self) -> None:
        """Sort now (the operator asked), keeping the cursor on the check it was on."""
        key = self.cursor_key()
        self._placing = True
        try:
            self.apply_order()
            row = self.get_row_index(key) if key is not None and key in self.rows else 0
            self.move_cursor(row=row, scroll=True)
        finally:
            self._placing = False

    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if self.has_focus and not self._placing and old != new:
            self.aimed = True

    def on_blur(self) -> None:
        """Then KeyedTable's own ``on_blur`` (Textual calls each class's handler) re-sorts."""
        self.aimed = False


class HealthPane(SourceTablePane):
    BINDINGS: ClassVar[list[BindingType]] = [
        FILTER,
        Binding("s", "cycle_sort", "sort"),
        CLEAR_FILTER,
    ]

    class DetailWanted(Message):
        """``enter`` on a check: show its detail screen."""

        def __init__(self, state: SourceState) -> None:
            super().__init__()
            self.state = state

    def __init__(self, states: Sequence[SourceState], history: State) -> None:
        super().__init__(1, "Health", id="health", states=states)
        self.history = history
        self.sort = SORTS[0]
        self.filter = ""
        self.keys: dict[str, tuple[Any, ...]] = {}
        """Sort key of each shown row, by check name (the table sorts on the name cell)."""
        self.shown = len(self.states)
        self.heading = Text()
        self.flapping_told: set[str] = set()
        """Checks whose flapping was announced: their changes are not toasted until it stops."""

    def compose(self) -> ComposeResult:
        yield HealthTable(
            COLUMNS,
            order_by=("check",),
            order=lambda cells: self.keys.get(cells[0], ()),
            id="health-table",
        )
        yield FilterField("filter: name or detail · enter keeps · esc clears", id="health-filter")

    @property
    def focus_target(self) -> HealthTable:
        return self.query_one(HealthTable)

    # --- data ------------------------------------------------------------------------
    def update_source(self, state: SourceState, now: float) -> None:
        previous = self.states.get(state.name)
        super().update_source(state, now)
        if previous is not None:
            self.announce(previous, state)

    def redraw(self) -> None:
        field = self.query_one(FilterField)
        rows: dict[str, tuple[Any, ...]] = {}
        for name, state in self.states.items():
            stats = self.history.check_stats(name, self.now)
            cells = self.row(state, stats)
            if not field.matches(name, cells[-1].plain):
                continue
            self.keys[name] = sort_key(self.sort, state, stats)
            rows[name] = cells
        self.shown = len(rows)
        self.focus_target.sync(rows)
        self.show_title()
        self.show_sources_state()

    def row(self, state: SourceState, stats: CheckStats | None = None) -> tuple[Any, ...]:
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

    def show_title(self) -> None:
        title = Text(f"{self.number} {self.title}")
        title.append(f" · by {self.sort}", "dim")
        if self.filter:
            title.append(f" · /{self.filter} ({self.shown} of {len(self.states)})")
        if not same(title, self.heading):
            self.heading = title
            self.border_title = title

    def show_sources_state(self) -> None:
        """Poll errors first (as every pane); else the worst check's reason, then the tally.

        The subtitle is visible at any width, while the detail column may be scrolled off.
        """
        if any(state.error is not None for state in self.states.values()):
            super().show_sources_state()
            return
        unhealthy = [
            (STATUS_RANK[state.sample.status], state.name, state.sample)
            for state in self.states.values()
            if isinstance(state.sample, CheckSample)
            and state.sample.status in ("critical", "warning")
        ]
        if not unhealthy:
            super().show_sources_state()
            return
        palette = self.palette
        _, name, sample = min(unhealthy, key=lambda entry: entry[:2])
        subtitle = Text(
            f"{GLYPHS[sample.status]} {name}: {first_failure(sample)} · ",
            style=palette.style(sample.status),
        )
        subtitle.append_text(
            palette.tally(
                source_status(state) for state in self.states.values() if state.sample is not None
            )
        )
        self.show_problem(False, subtitle)

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

    # --- keys ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.query_one(FilterField).active
        return True

    def action_filter(self) -> None:
        self.query_one(FilterField).open()

    def action_clear_filter(self) -> None:
        self.query_one(FilterField).clear()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.redraw()
        self.focus_target.reorder()

    @on(FilterField.Applied)
    def _filtered(self, event: FilterField.Applied) -> None:
        event.stop()
        self.filter = event.text
        self.redraw()
        self.focus_target.reorder()

    @on(DataTable.RowSelected, "#health-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        state = self.states.get(event.row_key.value or "")
        if state is not None:
            self.post_message(self.DetailWanted(state))


def sort_key(sort: str, state: SourceState, stats: CheckStats | None) -> tuple[Any, ...]:
    """Status: worst first, then by name. Latency and p95: slowest first, no data last."""
    if sort == "name":
        return (state.name,)
    if sort == "status":
        return (STATUS_RANK[row_status(state)], state.name)
    if sort == "latency":
        sample = state.sample if isinstance(state.sample, CheckSample) else None
        value = sample.latency_ms if sample else None
    else:
        value = stats.p95_ms if stats else None
    return (value is None, -(value or 0.0), state.name)


def row_status(state: SourceState) -> str:
    if state.sample is None and state.error is None:
        return "unknown"
    if state.stale:
        return "stale"
    return source_status(state)


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
    """``74d``; under 30 days in the warning style, ``expired`` in the critical one."""
    if days is None:
        return Text(NO_DATA)
    if days < 0:
        return Text("expired", palette.style("critical"))
    style = palette.style("warning") if days < CERT_WARNING_DAYS else ""
    return Text(f"{math.floor(days)}d", style)
