"""The console: five panes, the compact strip, the status line and the footer.

At 100x30 and above every pane is visible; below, only the focused pane is shown and the
strip keeps the other four one key away. ``z`` shows the focused pane alone at any size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Grid
from textual.events import DescendantFocus, Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from tui.engine.runbooks.catalog import RunbookEntry
from tui.engine.samples import Alert
from tui.engine.state import SourceState, State
from widgets.alerts import AlertsPane
from widgets.database import DatabasePane
from widgets.health import HealthPane
from widgets.pane import Pane, SourcePane
from widgets.pane_strip import PaneStrip
from widgets.queues import QueuesPane
from widgets.runbooks import RunbooksPane
from widgets.status_line import StatusLine

COMPACT_BELOW = (100, 30)
"""Terminal width and height under which only the focused pane is shown."""
FIGURES_EVERY = 2
"""New figures of an unchanged status are drawn every other tick (2 s, the default interval):
each source's row changes once a poll anyway, so fewer redraw passes show the same figures.
Status changes, errors and first data are drawn at once."""
PANES = Binding.Group("pane", compact=True)
FOOTER_FIRST = ("question_mark", "q")
"""Keys the footer shows first, at any width: it cuts the keys that do not fit, and help and
quit, the app's own keys, came after the pane's and went first at 80 columns."""
PANE_TITLES = ("Health", "Queues", "Database", "Alerts", "Runbooks")


class ConsoleScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(number), f"show_pane({number})", title, group=PANES)
            for number, title in enumerate(PANE_TITLES, start=1)
        ),
        Binding("tab", "cycle(1)", "next"),
        Binding("shift+tab", "cycle(-1)", "previous", show=False),
        Binding("z", "zoom", "zoom"),
        Binding("escape", "unzoom", "back", show=False),
    ]

    def __init__(
        self,
        runbooks: Sequence[RunbookEntry],
        history: State,
        *,
        read_only: bool,
        rules: bool = True,
    ) -> None:
        super().__init__()
        self.ticks = 0
        sources = list(history.sources.values())
        health = HealthPane([state for state in sources if state.section == "check"], history)
        queues = QueuesPane([state for state in sources if state.section == "queue"], history)
        database = DatabasePane(
            [state for state in sources if state.section == "database"], read_only=read_only
        )
        self.alerts = AlertsPane(
            [state for state in sources if state.section == "alertsource"],
            read_only=read_only,
            rules=rules,
        )
        self.runbooks = RunbooksPane(runbooks, read_only=read_only)
        self.panes: list[Pane] = [health, queues, database, self.alerts, self.runbooks]
        self.database = database
        self.by_section: dict[str, SourcePane] = {
            "check": health,
            "queue": queues,
            "database": database,
        }
        self.sources: dict[str, SourceState] = dict(history.sources)
        self.read_only = read_only
        self.paused = False
        first = next((pane for pane in (health, queues, database) if pane.configured), self.alerts)
        self.active = first.number
        """The pane shown and focused first: the first with sources in the config (at 80x24
        only one pane shows, and a config of one database opened on an empty Health pane)."""
        self.AUTO_FOCUS = f"#{first.id} *"
        self.zoomed = False
        self.compact = False

    def compose(self) -> ComposeResult:
        yield PaneStrip(id="strip")
        with Grid(id="panes"):
            yield from self.panes
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.lay_out()
        self.show_status()

    # --- data ------------------------------------------------------------------------
    def source_updated(self, state: SourceState, now: float) -> None:
        before = self.sources.get(state.id)
        self.sources[state.id] = state
        pane = self.by_section.get(state.section)
        if pane is not None:
            pane.update_source(state, now)
        elif state.section == "alertsource":
            self.alerts.update_source(state, now)
        if (
            before is None
            or before.last_attempt is None
            or (before.error is None) != (state.error is None)
        ):
            self.update_status()  # news; the time of the last refresh waits for the tick

    def alerts_updated(self, alerts: Iterable[Alert], now: float) -> None:
        self.alerts.update_alerts(tuple(alerts), now)
        self.update_status()

    def polling_changed(self, paused: bool, now: float) -> None:
        self.paused = paused
        self.tick(now)
        self.update_status()

    def tick(self, now: float, *, figures: bool | None = None) -> None:
        """``figures``: draw the new figures waiting (default: on every FIGURES_EVERY-th tick)."""
        self.ticks += 1
        if figures is None:
            figures = self.ticks % FIGURES_EVERY == 0
        for pane in self.panes:
            pane.tick(now, self.paused, figures=figures)
        if figures:  # the time of the last refresh is a figure too (news is shown at once)
            self.update_status()

    def update_status(self) -> None:
        """Redraw the status line and the strip once mounted (``on_mount`` draws them first)."""
        if self.is_mounted:
            self.show_status()

    def show_status(self) -> None:
        self.query_one(StatusLine).show(
            self.sources.values(), paused=self.paused, read_only=self.read_only
        )
        self.query_one(PaneStrip).show(self.panes, self.active)

    # --- navigation ------------------------------------------------------------------
    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """In the order the footer shows them (``FOOTER_FIRST`` first)."""
        bindings = super().active_bindings
        return {**{key: bindings[key] for key in FOOTER_FIRST if key in bindings}, **bindings}

    @property
    def active_pane(self) -> Pane:
        return self.panes[self.active - 1]

    def action_show_pane(self, number: int) -> None:
        self.activate(number)
        self.active_pane.focus_target.focus()

    def action_cycle(self, step: int) -> None:
        self.action_show_pane((self.active - 1 + step) % len(self.panes) + 1)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.lay_out()

    def action_unzoom(self) -> None:
        if self.zoomed:
            self.action_zoom()

    def activate(self, number: int) -> None:
        if number != self.active:
            self.active = number
            self.lay_out()

    def lay_out(self) -> None:
        """Apply the layout: every pane, or only the active one (zoomed or compact)."""
        single = self.zoomed or self.compact
        grid = self.query_one("#panes", Grid)
        grid.set_class(single, "-single")
        for pane in self.panes:
            pane.set_class(pane.number == self.active, "-active")
        self.query_one(PaneStrip).display = self.compact
        self.update_status()

    def on_resize(self, event: Resize) -> None:
        width, height = COMPACT_BELOW
        compact = event.size.width < width or event.size.height < height
        if compact != self.compact:
            self.compact = compact
            if self.is_mounted:
                self.lay_out()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        pane = _pane_of(event.widget)
        if pane is not None:
            self.activate(pane.number)

    @on(RunbooksPane.ReadRequested)
    def _read_runbook(self) -> None:
        self.activate(self.runbooks.number)
        if not self.zoomed:
            self.action_zoom()
        self.runbooks.preview.focus()

    def open_runbook(self, entry: RunbookEntry) -> None:
        """Show ``entry`` full size in the Runbooks pane (an alert's ``o``): highlighting it
        asks for its text, as moving onto it in the list does."""
        options = self.runbooks.focus_target
        options.highlighted = options.get_option_index(entry.name)
        self._read_runbook()


def _pane_of(widget: Widget) -> Pane | None:
    for node in widget.ancestors_with_self:
        if isinstance(node, Pane):
            return node
    return None
