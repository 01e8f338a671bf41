"""The Health pane: one row per configured check, unhealthy first."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult

from tui.engine.samples import CheckSample
from tui.engine.state import SourceState
from widgets.pane import SourceTablePane
from widgets.status import NO_DATA, age, problem, rank
from widgets.table import ColumnSpec, KeyedTable

COLUMNS = (
    ColumnSpec("status", "status"),
    ColumnSpec("check", "check"),
    ColumnSpec("code", "code"),
    ColumnSpec("latency", "latency"),
    ColumnSpec("detail", "detail"),
    ColumnSpec("age", "age"),
)


class HealthPane(SourceTablePane):
    def __init__(self, states: Sequence[SourceState]) -> None:
        super().__init__(1, "Health", id="health", states=states)

    def compose(self) -> ComposeResult:
        yield KeyedTable(
            COLUMNS,
            order_by=("status", "check"),
            order=lambda cells: (rank(cells[0]), cells[1]),
            id="health-table",
        )

    def row(self, state: SourceState) -> tuple[Text, str, str, str, Text, str]:
        palette = self.palette
        sample = state.sample if isinstance(state.sample, CheckSample) else None
        if sample is None:
            detail = (
                palette.muted("waiting for first poll")
                if state.error is None
                else Text(problem(state, self.now, self.paused), style=palette.style("critical"))
            )
            return (palette.source(state), state.name, NO_DATA, NO_DATA, detail, NO_DATA)
        if state.error is not None:
            detail = Text(problem(state, self.now, self.paused), style=palette.style("critical"))
        elif sample.failed_conditions:
            detail = Text("; ".join(sample.failed_conditions), style=palette.style(sample.status))
        else:
            detail = Text(sample.error or "", style=palette.style(sample.status))
        return (
            palette.source(state),
            state.name,
            str(sample.http_status) if sample.http_status is not None else NO_DATA,
            f"{sample.latency_ms:.0f}ms" if sample.latency_ms is not None else NO_DATA,
            detail,
            age(self.now - sample.at),
        )
