"""A source pane that is one table with a row per source, kept sorted and narrowed: ``s``
cycles the sort, ``/`` narrows the rows, ``enter`` asks for the source's detail screen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from tui.engine.report import source_status
from tui.engine.samples import Status
from tui.engine.state import SourceState, State
from widgets.filter_field import CLEAR_FILTER, FILTER, FilterField
from widgets.pane import SourcePane
from widgets.status import GLYPHS, same
from widgets.table import ColumnSpec, SortedTable

STATUS_RANK: dict[str, int] = {"critical": 0, "warning": 1, "stale": 2, "unknown": 3, "ok": 4}
"""Default order: unhealthy first; ``unknown`` covers sources not polled yet."""


class Entry(NamedTuple):
    """One source's row as the pane shows, filters and sorts it."""

    cells: tuple[Any, ...]
    matched: tuple[str, ...]
    """What the filter looks in besides the name."""
    value: float | None
    """What the sorts other than ``status`` and ``name`` order by: largest first."""


class SortedPane(SourcePane):
    """Subclasses give their ``SORTS``, ``COLUMNS`` (the name second), the filter's hint, each
    source's ``entry`` and the ``worst`` reason to show in the subtitle."""

    BINDINGS: ClassVar[list[BindingType]] = [
        FILTER,
        Binding("s", "cycle_sort", "sort"),
        CLEAR_FILTER,
    ]
    SORTS: ClassVar[tuple[str, ...]]
    COLUMNS: ClassVar[tuple[ColumnSpec, ...]]
    FILTER_HINT: ClassVar[str]

    class DetailWanted(Message):
        def __init__(self, state: SourceState) -> None:
            super().__init__()
            self.state = state

    def __init__(
        self, number: int, title: str, *, id: str, states: Sequence[SourceState], history: State
    ) -> None:
        super().__init__(number, title, id=id, states=states)
        self.history = history
        self.sort = self.SORTS[0]
        self.filter = ""
        self.keys: dict[str, tuple[Any, ...]] = {}
        """Sort key of each shown row, by source name (the table sorts on the name cell, a Text)."""
        self.shown = len(self.states)
        self.heading = Text()

    def compose(self) -> ComposeResult:
        yield from self.not_configured()
        table = SortedTable(
            self.COLUMNS,
            order_by=(self.COLUMNS[1].key,),
            order=lambda cells: self.keys.get(cells[0].plain, ()),
            id=f"{self.id}-table",
        )
        table.show_header = self.configured
        yield table
        yield FilterField(self.FILTER_HINT, id=f"{self.id}-filter")

    @property
    def focus_target(self) -> SortedTable:
        return self.query_one(SortedTable)

    # --- data ------------------------------------------------------------------------
    def entry(self, state: SourceState) -> Entry:
        raise NotImplementedError

    def worst(self) -> tuple[Status, str, str] | None:
        """The status, name and reason of the worst source past a threshold, if any."""
        raise NotImplementedError

    def redraw(self) -> None:
        field = self.query_one(FilterField)
        rows: dict[str, tuple[Any, ...]] = {}
        self.keys = {}
        for name, state in self.states.items():
            entry = self.entry(state)
            if field.matches(name, *entry.matched):
                self.keys[name] = sort_key(self.sort, state, entry.value)
                rows[name] = entry.cells
        self.shown = len(rows)
        self.focus_target.sync(rows)
        self.show_title()
        self.show_sources_state()

    def show_title(self) -> None:
        title = Text(f"{self.number} {self.title}")
        title.append(f" · by {self.sort}", "dim")
        if self.filter:
            title.append(f" · /{self.filter} ({self.shown} of {len(self.states)})")
        if not same(title, self.heading):
            self.heading = title
            self.border_title = title

    def show_sources_state(self) -> None:
        """Poll errors first (as every pane); else the worst source's reason, then the tally:
        the subtitle is visible at any width, the reason column may be scrolled off."""
        worst = self.worst()
        if worst is None or any(state.error is not None for state in self.states.values()):
            super().show_sources_state()
            return
        status, name, reason = worst
        subtitle = Text(f"{GLYPHS[status]} {name}: {reason} · ", style=self.palette.style(status))
        subtitle.append_text(self.tally())
        self.show_problem(False, subtitle)

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
        self.sort = self.SORTS[(self.SORTS.index(self.sort) + 1) % len(self.SORTS)]
        self.redraw()
        self.focus_target.reorder()

    @on(FilterField.Applied)
    def _filtered(self, event: FilterField.Applied) -> None:
        event.stop()
        self.filter = event.text
        self.redraw()
        self.focus_target.reorder()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        state = self.states.get(event.row_key.value or "")
        if state is not None:
            self.post_message(self.DetailWanted(state))


def sort_key(sort: str, state: SourceState, value: float | None) -> tuple[Any, ...]:
    """Status: worst first, then by name. Any other: the largest value first, no data last."""
    if sort == "name":
        return (state.name,)
    if sort == "status":
        return (STATUS_RANK[row_status(state)], state.name)
    return (value is None, -(value or 0.0), state.name)


def row_status(state: SourceState) -> str:
    if state.sample is None and state.error is None:
        return "unknown"
    if state.stale:
        return "stale"
    return source_status(state)
