"""The compact-mode strip: every pane's number, name and status on one line."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from widgets.pane import Pane
from widgets.status import same


class PaneStrip(Static):
    """``1 Health ✔ │ 2 Queues ▲ │ 3 Database ✖ │ 4 Alerts ✖ 2 │ 5 Runbooks``."""

    DEFAULT_CSS = """
    PaneStrip {
        height: 1;
        padding: 0 1;
        background: $panel;
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = Text()

    def show(self, panes: Sequence[Pane], active: int) -> None:
        text = Text()
        for pane in panes:
            if text:
                text.append(" │ ", "dim")
            segment = Text(f"{pane.number} {pane.title}")
            badge = pane.badge()
            if badge:
                segment.append(" ")
                segment.append_text(badge)
            if pane.number == active:
                segment = Text("▸", "bold") + segment
                segment.stylize("bold reverse")
            text.append_text(segment)
        if not same(text, self.text):
            self.text = text
            self.update(text, layout=False)  # one row always: no layout pass per poll
