"""The Queues pane: one row per configured queue with its depth trend."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult

from tui.engine.samples import QueueSample
from tui.engine.state import SourceState, State
from tui.engine.units import format_duration
from widgets.pane import SourceTablePane
from widgets.status import NO_DATA, number, problem, sparkline
from widgets.table import ColumnSpec, KeyedTable

TREND_WIDTH = 12
COLUMNS = (
    ColumnSpec("status", "status"),
    ColumnSpec("queue", "queue"),
    ColumnSpec("kind", "kind"),
    ColumnSpec("depth", "depth"),
    ColumnSpec("trend", "trend", TREND_WIDTH),
    ColumnSpec("oldest", "oldest"),
    ColumnSpec("error", "error"),
)


class QueuesPane(SourceTablePane):
    def __init__(self, states: Sequence[SourceState], history: State) -> None:
        super().__init__(2, "Queues", id="queues", states=states)
        self.history = history

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="queues-table")

    def row(self, state: SourceState) -> tuple[Text, str, str, str, str, str, Text]:
        palette = self.palette
        sample = state.sample if isinstance(state.sample, QueueSample) else None
        if state.error is not None:
            error = Text(problem(state, self.now, self.paused), style=palette.style("critical"))
        elif sample is None:
            error = palette.muted("waiting for first poll")
        else:
            error = Text()
        trend = sparkline(self.history.history_of(f"queue.{state.name}.depth"), TREND_WIDTH)
        return (
            palette.source(state),
            state.name,
            state.kind,
            number(sample.depth) if sample else NO_DATA,
            trend,
            format_duration(sample.oldest_age_s) if sample else NO_DATA,
            error,
        )
