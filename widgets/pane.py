"""The frame every pane shares: ``1 Health`` on the border, its status in the subtitle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Self

from rich.text import Text
from textual.containers import Vertical
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Static

from tui.engine.report import source_status
from tui.engine.state import SourceState
from widgets.status import GLYPHS, NO_DATA, STALE, WAITING, Palette, problem, same, worst_of


class Pane(Vertical):
    """A numbered pane. Subclasses render their data and say which widget takes focus.

    The ``-problem`` class marks a pane with a source whose last pass failed (its border
    turns to the error colour; the subtitle says ``stale · …`` in words as well).
    """

    DEFAULT_CSS = """
    Pane {
        border: round $foreground 30%;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 0;
        height: 1fr;
        background: $surface;
    }
    Pane:focus-within {
        border: round $accent;
        border-title-color: $accent;
    }
    Pane.-problem {
        border: round $error;
        border-subtitle-color: $text-error;
    }
    Pane.-problem:focus-within {
        border: heavy $error;
    }
    """

    _subtitle_changing = False
    """While a new subtitle is set: its refresh repaints the bottom border only."""

    def __init__(self, number: int, title: str, *, id: str) -> None:
        super().__init__(id=id)
        self.number = number
        self.title = title
        self.border_title = f"{number} {title}"
        self.now = 0.0
        self.paused = False
        self._subtitle = Text()
        self.undrawn = False
        """Data arrived that the pane has not drawn yet (new figures wait for a tick)."""

    @property
    def palette(self) -> Palette:
        return Palette.of(self.app.theme_variables)

    @property
    def focus_target(self) -> Widget:
        """The widget that gets focus when the pane is selected (``1``-``5``, ``tab``)."""
        raise NotImplementedError

    def badge(self) -> Text:
        """What the compact pane strip shows after the pane's name (``✔``, ``▲``, ``2``)."""
        return Text()

    def show_problem(self, problem: bool, subtitle: Text) -> None:
        """Set the ``-problem`` class (which redraws the pane) and the subtitle (which redraws
        the bottom border only)."""
        self.set_class(problem, "-problem")
        if not same(subtitle, self._subtitle):
            self._subtitle = subtitle
            self._subtitle_changing = True
            try:
                self.border_subtitle = subtitle
            finally:
                self._subtitle_changing = False

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        """Textual repaints a whole pane for a new subtitle: its border and every line of
        what it holds composed and sent again. The subtitles carry live figures (the queues
        pane's worst depth), so each poll did that; only the bottom border changes."""
        if self._subtitle_changing and not regions and self.is_mounted:
            width, height = self.outer_size
            left, top = self.content_offset
            regions = (Region(-left, height - 1 - top, width, 1),)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def tick(self, now: float, paused: bool, *, figures: bool = True) -> None:
        """Re-render what depends on the time (ages, retry countdowns) or on pausing, and,
        when ``figures``, the data that waits to be drawn (``undrawn``)."""
        pausing = paused != self.paused
        self.now = now
        self.paused = paused
        if pausing or (figures and self.undrawn) or self.clock_bound():
            self.refresh_view()

    def clock_bound(self) -> bool:
        """Whether every tick must redraw the pane: here always (its text has ages)."""
        return True

    def refresh_view(self) -> None:
        """Redraw once mounted (data that arrives earlier is drawn by ``on_mount``)."""
        if self.is_mounted:
            self.undrawn = False
            self.redraw()

    def redraw(self) -> None:
        """Render the stored data again; unchanged cells are not touched."""

    def on_mount(self) -> None:
        self.redraw()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())


class SourcePane(Pane):
    """A pane showing one row (or line) per configured source of one section."""

    DEFAULT_CSS = """
    SourcePane .not-configured { padding: 0 1; color: $text-muted; }
    """
    NOT_CONFIGURED: ClassVar[str]
    """What the pane says when the config has none of its sources: what to add, and where."""

    def __init__(self, number: int, title: str, *, id: str, states: Sequence[SourceState]) -> None:
        super().__init__(number, title, id=id)
        self.states: dict[str, SourceState] = {state.name: state for state in states}
        self.configured = bool(self.states)

    def not_configured(self) -> Iterator[Static]:
        """The hint, composed first when the config has none of this pane's sources."""
        if not self.configured:
            yield Static(self.NOT_CONFIGURED, classes="not-configured", markup=False)

    def update_source(self, state: SourceState, now: float) -> None:
        previous = self.states.get(state.name)
        self.states[state.name] = state
        self.now = now
        self.undrawn = True
        if news(previous, state):
            self.refresh_view()

    def clock_bound(self) -> bool:
        """A failing source counts down to its retry; the rest shows what the sources sampled,
        which the clock does not change. Skipping the others took the idle demo console from
        3.5 % to 2.8 % of a core."""
        return any(state.error is not None for state in self.states.values())

    def badge(self) -> Text:
        if not self.configured:
            return self.palette.muted(NO_DATA)
        status = worst_of(self.states.values())
        if status is None:
            return self.palette.muted(WAITING)
        return Text(GLYPHS[status], style=self.palette.style(status))

    def tally(self) -> Text:
        """How many sources are in each status, those not polled yet left out."""
        return self.palette.tally(
            source_status(state) for state in self.states.values() if state.sample is not None
        )

    def show_sources_state(self, note: str | None = None) -> None:
        """Subtitle: the failing source in words (or how many fail), else a tally; ``note``
        (muted) goes first."""
        palette = self.palette
        failing = [state for state in self.states.values() if state.error is not None]
        if len(failing) == 1:
            state = failing[0]
            marker = STALE if state.stale else GLYPHS["critical"]
            subtitle = Text(
                f"{marker} {state.name}: {problem(state, self.now, self.paused)}",
                style=palette.style("critical"),
            )
        elif failing:
            subtitle = Text(f"✖ {len(failing)} sources failing", style=palette.style("critical"))
        else:
            subtitle = self.tally()
        if note:
            subtitle = palette.muted(f"{note} · ").append_text(subtitle)
        self.show_problem(bool(failing), subtitle)


def news(previous: SourceState | None, state: SourceState) -> bool:
    """Whether an update is drawn at once: first data, a status change (unless the source is
    flapping: its changes are figures then), an error coming or going, flapping starting or
    stopping. New figures wait for the console's next figures tick (every 2 s): sources poll
    on their own clocks, so drawing each update repainted a pane several times a second."""
    return (
        previous is None
        or previous.sample is None
        or (previous.error is None) != (state.error is None)
        or (source_status(previous) != source_status(state) and not flapping(state))
        or flapping(previous) != flapping(state)
    )


def flapping(state: SourceState) -> bool:
    return state.stats is not None and state.stats.flapping
