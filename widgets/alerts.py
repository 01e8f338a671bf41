"""The Alerts pane: firing first, then pending, then recently resolved."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tui.engine.samples import Alert
from widgets.pane import Pane
from widgets.status import GLYPHS, age, same, single_line
from widgets.table import ColumnSpec, KeyedTable

SUMMARY_WIDTH = 100
STATE_ORDER = {"firing": 0, "pending": 1, "resolved": 2}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_STATUS = {"critical": "critical", "warning": "warning", "info": "info"}
COLUMNS = (
    ColumnSpec("severity", "severity"),
    ColumnSpec("state", "state"),
    ColumnSpec("alert", "alert"),
    ColumnSpec("for", "for"),
    ColumnSpec("summary", "summary"),
)


def _order(cells: tuple[Text, Text, str]) -> tuple[int, int, str]:
    severity, state, name = cells
    return (
        STATE_ORDER.get(state.plain, 3),
        SEVERITY_ORDER.get(severity.plain.partition(" ")[2], 3),
        name,
    )


class AlertsPane(Pane):
    DEFAULT_CSS = """
    AlertsPane .empty { height: 1; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__(4, "Alerts", id="alerts")
        self.alerts: tuple[Alert, ...] = ()
        self.empty_text = Text()

    def compose(self) -> ComposeResult:
        yield KeyedTable(
            COLUMNS, order_by=("severity", "state", "alert"), order=_order, id="alerts-table"
        )
        yield Static(classes="empty", id="alerts-empty")

    @property
    def focus_target(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def update_alerts(self, alerts: Sequence[Alert], now: float) -> None:
        self.alerts = tuple(alerts)
        self.now = now
        self.refresh_view()

    def firing(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.state == "firing"]

    def badge(self) -> Text:
        firing = self.firing()
        if not firing:
            return Text(GLYPHS["ok"], style=self.palette.style("ok"))
        status = self.worst_severity(firing)
        return Text(f"{GLYPHS[status]} {len(firing)}", style=self.palette.style(status))

    @staticmethod
    def worst_severity(alerts: Sequence[Alert]) -> str:
        best = min(alerts, key=lambda alert: SEVERITY_ORDER.get(alert.severity, 3))
        return SEVERITY_STATUS.get(best.severity, "unknown")

    def redraw(self) -> None:
        palette = self.palette
        rows: dict[str, tuple[Text, Text, str, str, Text]] = {}
        for alert in self.alerts:
            status = SEVERITY_STATUS.get(alert.severity, "unknown")
            muted = alert.state == "resolved"
            style = palette.style("muted") if muted else palette.style(status)
            plain = palette.style("muted") if muted else ""
            rows[f"{alert.source}/{alert.name}"] = (
                Text(f"{GLYPHS.get(status, '?')} {alert.severity}", style=style),
                Text(alert.state, style=plain),
                alert.name,
                age(self.now - alert.since),
                Text(single_line(alert.summary, SUMMARY_WIDTH), style=plain),
            )
        self.focus_target.sync(rows)
        empty = self.query_one("#alerts-empty", Static)
        empty.display = not rows
        empty_text = palette.status("ok", "no alerts")
        if not rows and not same(empty_text, self.empty_text):
            self.empty_text = empty_text
            empty.update(empty_text)
        self.show_problem(False, self.subtitle())

    def subtitle(self) -> Text:
        palette = self.palette
        text = Text()
        for state in ("firing", "pending", "resolved"):
            matching = [alert for alert in self.alerts if alert.state == state]
            if not matching:
                continue
            if text:
                text.append(" · ")
            if state == "resolved":
                text.append(f"{len(matching)} resolved", palette.style("muted"))
            else:
                status = self.worst_severity(matching)
                text.append(f"{GLYPHS[status]} {len(matching)} {state}", palette.style(status))
        return text
