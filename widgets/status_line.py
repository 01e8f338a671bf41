"""The status line: when data last arrived, how many sources fail, and the console's mode."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from tui.engine.state import SourceState
from widgets.status import GLYPHS, Palette, clock_time, same


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = Text()

    def show(self, states: Iterable[SourceState], *, paused: bool, read_only: bool) -> None:
        palette = Palette.of(self.app.theme_variables)
        states = list(states)
        polled = [state.last_attempt for state in states if state.last_attempt is not None]
        failing = [state for state in states if state.error is not None]
        text = Text()
        if paused:  # the modes first: an error's text is cut at the end of the line, not them
            text.append(" ‖ PAUSED ", "bold reverse")
            text.append(" · ")
        if read_only:
            text.append("read-only · ")
        if polled:
            text.append(f"last refresh {clock_time(max(polled))}")
        else:
            text.append("waiting for first poll")
        text.append(f" · {len(states)} source{'' if len(states) == 1 else 's'} · ")
        if failing:
            first = failing[0]
            count = f"{len(failing)} error{'' if len(failing) == 1 else 's'}"
            text.append(
                f"{GLYPHS['critical']} {count} ({first.name}: {first.error})",
                palette.style("critical"),
            )
        else:
            text.append(f"{GLYPHS['ok']} no errors", palette.style("ok"))
        if not same(text, self.text):
            self.text = text
            self.update(text, layout=False)  # one row always: no layout pass per poll
