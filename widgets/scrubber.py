"""The replay's scrubber bar: where in the recording, how fast, and whether it plays.

From the left: the state as a word with its glyph (``▶ playing``, ``‖ paused``, ``■ ended``:
never colour alone), the speed, the position as a clock time, the bar, the end as a clock
time, how far in of how long, and how many events have been shown."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from tui.engine.units import format_duration
from widgets.status import clock_time

MIN_BAR = 10
"""Narrower than this, the bar goes and the times stay."""


@dataclass(frozen=True, slots=True)
class ScrubberView:
    position: float
    start: float
    end: float
    speed: float
    playing: bool
    index: int
    """Events applied so far."""
    count: int

    @property
    def word(self) -> str:
        if self.playing:
            return "▶ playing"
        return "■ ended" if self.position >= self.end else "‖ paused"

    @property
    def fraction(self) -> float:
        length = self.end - self.start
        return 1.0 if length <= 0 else min(max((self.position - self.start) / length, 0.0), 1.0)


class Scrubber(Widget):
    DEFAULT_CSS = """
    Scrubber {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: ScrubberView | None = None

    def show(self, view: ScrubberView) -> None:
        if view != self.view:
            self.view = view
            self.refresh()

    @property
    def text(self) -> Text:
        return self.render()

    def render(self) -> Text:
        view = self.view
        if view is None:
            return Text("replay: loading…")
        head = Text.assemble((view.word, "bold"), f" ×{view.speed:g}  ")  # noqa: RUF001
        head.append(clock_time(view.position), "bold")
        tail = Text(f" {clock_time(view.end)}  ")
        tail.append(
            f"{_duration(view.position - view.start)} of {_duration(view.end - view.start)}"
        )
        events = f" · event {view.index}/{view.count}"
        width = self.content_size.width
        room = width - head.cell_len - tail.cell_len - 1
        if room - len(events) >= MIN_BAR:
            tail.append(events, "dim")
            room -= len(events)
        if room < MIN_BAR:
            return head + tail
        filled = round(view.fraction * (room - 1))
        bar = Text(" ")
        bar.append("━" * filled, "bold")
        bar.append("●", "bold")
        bar.append("─" * (room - 1 - filled), "dim")
        return head + bar + tail


def _duration(seconds: float) -> str:
    """``3m12s``; under a second is ``0s`` (a scrubber has no use for milliseconds)."""
    return format_duration(seconds) if seconds >= 1 else "0s"
