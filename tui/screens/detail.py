"""The frame of the detail screens: a header above a scroll of titled sections.

Each section is a Static redrawn only when what it shows changed, so a new poll or a clock
tick neither jumps the scroll position nor rewrites the whole screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.engine.state import SourceState, State
from tui.engine.units import format_duration
from widgets.status import Palette, clock_time, problem, same


@dataclass(frozen=True, slots=True)
class Section:
    """What one section shows: rows of cells under optional column labels, or a note."""

    title: str
    rows: tuple[tuple[Text, ...], ...] = ()
    columns: tuple[str, ...] = ()
    note: Text | None = None

    def fingerprint(self) -> tuple[object, ...]:
        """Equal when the section looks the same (``Text.__eq__`` ignores a text's style)."""
        texts = [cell for row in self.rows for cell in row]
        if self.note is not None:
            texts.append(self.note)
        return (
            self.title,
            self.columns,
            tuple(len(row) for row in self.rows),
            tuple((text.plain, str(text.style), tuple(text.spans)) for text in texts),
        )

    def render(self) -> RenderableType:
        if not self.rows:
            return self.note or Text()
        table = Table(
            box=None,
            show_header=bool(self.columns),
            show_edge=False,
            pad_edge=False,
            header_style="dim",
            padding=(0, 2, 0, 0),
        )
        width = len(self.rows[0])
        for index, label in enumerate(self.columns or ("",) * width):
            table.add_column(label, no_wrap=index < width - 1)
        for row in self.rows:
            table.add_row(*row)
        if self.note is None:
            return table
        grid = Table.grid()
        grid.add_row(table)
        grid.add_row(self.note)
        return grid


class DetailScreen(Screen[None]):
    """Subclasses name their ``SECTIONS`` and header id and say what they show (``content``)."""

    DEFAULT_CSS = """
    DetailScreen .detail-header {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    DetailScreen #detail-scroll {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    DetailScreen .section {
        height: auto;
        padding: 0 1;
        border-top: solid $foreground 30%;
        border-title-align: left;
        border-title-color: $accent;
        border-title-style: bold;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "back"),
        Binding("q", "close", "back", show=False),
    ]

    SECTIONS: ClassVar[tuple[str, ...]]
    HEADER_ID: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.heading = Text()
        self.shown: dict[str, Section] = {}

    def compose(self) -> ComposeResult:
        yield Static(id=self.HEADER_ID, classes="detail-header")
        with VerticalScroll(id="detail-scroll"):
            for name in self.SECTIONS:
                yield Static(id=f"section-{name}", classes="section")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()
        self.redraw()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())

    def content(self, palette: Palette) -> tuple[Text, dict[str, Section]]:
        """The header and each section as they are now."""
        raise NotImplementedError

    def redraw(self) -> None:
        """Update what changed; styles count, so a theme change recolours everything."""
        header, sections = self.content(Palette.of(self.app.theme_variables))
        if not same(header, self.heading):
            self.heading = header
            self.query_one(f"#{self.HEADER_ID}", Static).update(header)
        for name, section in sections.items():
            shown = self.shown.get(name)
            if shown is None or shown.fingerprint() != section.fingerprint():
                self.shown[name] = section
                widget = self.query_one(f"#section-{name}", Static)
                widget.border_title = section.title
                widget.update(section.render())

    def action_close(self) -> None:
        self.dismiss()


class SourceDetailScreen(DetailScreen):
    """The detail of one source: the app hands it every update of it and every clock tick."""

    def __init__(self, state: SourceState, history: State, *, now: float, paused: bool) -> None:
        super().__init__()
        self.state = state
        self.history = history
        self.now = now
        self.paused = paused

    def source_updated(self, state: SourceState, now: float) -> None:
        if state.id == self.state.id:
            self.state = state
            self.tick(now, self.paused)

    def tick(self, now: float, paused: bool) -> None:
        self.now = now
        self.paused = paused
        if self.is_mounted:
            self.redraw()

    def last_poll(self, reading: Text, palette: Palette) -> Text:
        """When it was last polled, then the poll's error or else ``reading``."""
        state = self.state
        if state.last_attempt is None:
            return palette.muted("waiting for first poll")
        text = Text(
            f"last poll {clock_time(state.last_attempt)} ({ago(self.now, state.last_attempt)})"
        )
        if state.error is not None:
            text.append(" · ")
            text.append(problem(state, self.now, self.paused), palette.style("critical"))
            if state.last_success is not None:
                text.append(f" · last good poll {clock_time(state.last_success)}")
            return text
        text.append_text(reading)
        if self.paused:
            text.append(" · polling paused")
        return text


def ago(now: float, at: float) -> str:
    seconds = max(0.0, now - at)
    if seconds < 1:
        return "just now"
    return f"{seconds:.0f}s ago" if seconds < 60 else f"{format_duration(seconds)} ago"
