"""The timeline view (``t``): what changed and what was done, newest first, live.

It opens on the last ``WINDOW`` seconds of the engine's timeline (at most ``LIMIT`` rows, the
newest) and adds the entries the engine tells it about (``TimelineAppended``, forwarded by
the app), placed by id: an entry may arrive older than rows already shown. ``s`` and ``v``
narrow by source and severity, ``/`` by text; ``enter`` jumps to the entry's row in its pane
(or opens its runbook run), ``esc`` goes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.engine.runbooks.catalog import RunbookEntry
from tui.engine.runbooks.run import RunError
from tui.engine.timeline import Entry, Link
from tui.engine.timeline.entry import SOURCES
from tui.screens.console import PANE_TITLES, ConsoleScreen
from tui.screens.runbook_run import RunbookRunScreen
from tui.screens.runbook_start import open_runs
from widgets.alerts import GROUP, AlertsPane
from widgets.database import DatabasePane
from widgets.filter_field import CLEAR_FILTER, FILTER, FilterField
from widgets.pane import Pane
from widgets.runbooks import RunbooksPane
from widgets.sorted_pane import SortedPane
from widgets.status import GLYPHS, Palette, same, single_line
from widgets.table import ColumnSpec, KeyedTable

if TYPE_CHECKING:
    from tui.engine.engine import Engine

WINDOW = 2 * 3600.0
"""Seconds of the timeline read when the view opens."""
LIMIT = 2000
"""Rows kept: beyond, the oldest go (the export has the whole window). A DataTable measures
every new row: 2,000 rows open in about half a second."""
REFILL_OVER = 100
"""``DataTable.remove_row`` renumbers every row, so removing many one by one takes quadratic
time (seconds for a filter hiding 1,500 of 3,000 rows): when a filter change hides more rows
than this, the table is emptied and refilled instead. Live entries only ever add rows."""
WHAT_WIDTH = 60
"""Characters of an entry's text in its row (``who`` still fits at 120 columns); the line
under the table shows all of it."""
SOURCE_FILTERS: tuple[str, ...] = ("all", *SOURCES)
SEVERITY_FILTERS: dict[str, frozenset[str]] = {
    "all": frozenset({"critical", "warning", "info", "ok"}),
    "warning and worse": frozenset({"critical", "warning"}),
    "critical": frozenset({"critical"}),
}
PANE_NUMBERS = {"health": 1, "queues": 2, "database": 3, "alerts": 4, "runbooks": 5}
NO_STATE_DIR = (
    "The timeline needs a state directory: start watchdeck with --state-dir DIR "
    "(or $WATCHDECK_STATE_DIR)."
)
COLUMNS = (
    ColumnSpec("time", "time"),
    ColumnSpec("source", "source"),
    ColumnSpec("severity", "severity"),
    ColumnSpec("what", "what"),
    ColumnSpec("who", "who"),
)


def when(at: float, now: float) -> str:
    """``HH:MM:SS``, with the date in front when it is not today's (local time)."""
    moment, today = time.localtime(at), time.localtime(now)
    if moment[:3] == today[:3]:
        return time.strftime("%H:%M:%S", moment)
    if moment.tm_year == today.tm_year:
        return time.strftime("%b %d %H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment)


def severity_cell(severity: str, palette: Palette) -> Text:
    """``✖ critical``, ``▲ warning``, ``○ info``, ``✔ ok``: glyph and word, colour on top."""
    return Text(f"{GLYPHS.get(severity, '?')} {severity}", style=palette.style(severity))


def target(entry: Entry) -> str:
    """Where ``enter`` goes, in words."""
    link = entry.link
    if link is None:
        return "has nothing to open"
    if link.pane == "runbooks":
        return "opens the run"  # its id is in the subject
    title = PANE_TITLES[PANE_NUMBERS[link.pane] - 1]
    return f"goes to {title}: {_label(entry, link)}"


class TimelineTable(KeyedTable):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "jump")]


class TimelinePane(Pane):
    """The table of entries, with its filter field; the title and subtitle say what it shows
    (the filters in words)."""

    DEFAULT_CSS = """
    TimelinePane .empty { height: auto; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "cycle_source", "source"),
        Binding("v", "cycle_severity", "severity"),
        FILTER,
        CLEAR_FILTER,
    ]

    def __init__(self, clock: Callable[[], float], redrawn: Callable[[], None]) -> None:
        super().__init__(6, "Timeline", id="timeline")
        self.border_title = "Timeline"
        self.clock = clock
        self.redrawn = redrawn
        """Called after each redraw: the row under the cursor may be another one now."""
        self.entries: dict[str, Entry] = {}
        self.source = SOURCE_FILTERS[0]
        self.severity = next(iter(SEVERITY_FILTERS))
        self.text = ""
        self.shown: list[str] = []
        """Ids of the rows shown, newest first."""
        self.empty = ""
        self.since: float | None = None
        self.dropped = 0

    def compose(self) -> ComposeResult:
        yield FilterField("filter: text, subject or who · enter keeps · esc clears")
        yield TimelineTable(COLUMNS, id="timeline-table")
        yield Static(classes="empty", id="timeline-empty", markup=False)

    @property
    def focus_target(self) -> TimelineTable:
        return self.query_one(TimelineTable)

    @property
    def highlighted(self) -> Entry | None:
        return self.entries.get(self.focus_target.highlighted_key or "")

    # --- data ------------------------------------------------------------------------
    def add(self, entries: Iterable[Entry]) -> None:
        """Keep ``entries`` (by id: one told twice is one row), the newest ``LIMIT``."""
        self.entries.update((entry.id, entry) for entry in entries)
        if len(self.entries) > LIMIT:
            ids = sorted(self.entries)
            for old in ids[: len(ids) - LIMIT]:
                del self.entries[old]
            self.dropped += len(ids) - LIMIT
        self.refresh_view()

    def matches(self, entry: Entry) -> bool:
        if self.source != "all" and entry.source != self.source:
            return False
        if entry.severity not in SEVERITY_FILTERS[self.severity]:
            return False
        if not self.text:
            return True
        needle = self.text.casefold()
        return any(
            needle in part.casefold()
            for part in (entry.text, entry.subject, entry.who, entry.event, entry.source)
        )

    def redraw(self) -> None:
        palette = self.palette
        now = self.clock()
        self.shown = [
            key for key in sorted(self.entries, reverse=True) if self.matches(self.entries[key])
        ]
        rows: dict[str, tuple[Text, ...]] = {}
        for key in self.shown:
            entry = self.entries[key]
            # Text, never str: DataTable reads a str cell as markup, and entries quote queries.
            rows[key] = (
                Text(when(entry.at, now)),
                Text(entry.source),
                severity_cell(entry.severity, palette),
                Text(single_line(entry.text, WHAT_WIDTH)),
                Text(entry.who),
            )
        table = self.focus_target
        hidden = len(table.rows.keys() - rows.keys())
        if hidden > REFILL_OVER:
            follow = table.highlighted_key
            table.clear()
            table.sync(rows, arranged=True)
            if follow in rows:
                table.move_cursor(row=table.get_row_index(follow), animate=False)
        else:
            table.sync(rows, arranged=True)
        self.show_empty()
        self.show_title()
        self.redrawn()

    def filters(self) -> str:
        words = [f"source: {self.source}", f"severity: {self.severity}"]
        if self.text:
            words.append(f"filter: {self.text}")
        return " · ".join(words)

    def show_title(self) -> None:
        title = Text("Timeline")
        if self.since is not None:
            title.append(f" · since {when(self.since, self.clock())}", "dim")
        subtitle = Text(self.filters())
        count = f"{len(self.entries)} entries"
        if len(self.shown) != len(self.entries):
            count = f"{len(self.shown)} of {count}"
        subtitle.append(f" · {count}", "dim")
        if self.dropped:
            subtitle.append(f" · oldest {self.dropped} not shown", "dim")
        if not same(title, self.border_title):
            self.border_title = title
        self.show_problem(False, subtitle)

    def show_empty(self) -> None:
        if self.shown:
            text = ""
        elif self.entries:
            text = f"no entry matches {self.filters()}"
        else:
            text = (
                "nothing recorded in the last 2h: check and queue changes, database events, "
                "alerts and actions appear here as they happen"
            )
        widget = self.query_one("#timeline-empty", Static)
        widget.display = bool(text)
        if text != self.empty:
            self.empty = text
            widget.update(text)

    # --- keys ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.query_one(FilterField).active
        return True

    def action_cycle_source(self) -> None:
        index = SOURCE_FILTERS.index(self.source)
        self.source = SOURCE_FILTERS[(index + 1) % len(SOURCE_FILTERS)]
        self.redraw()

    def action_cycle_severity(self) -> None:
        levels = list(SEVERITY_FILTERS)
        self.severity = levels[(levels.index(self.severity) + 1) % len(levels)]
        self.redraw()

    def action_filter(self) -> None:
        self.query_one(FilterField).open()

    def action_clear_filter(self) -> None:
        self.query_one(FilterField).clear()

    @on(FilterField.Applied)
    def _filtered(self, event: FilterField.Applied) -> None:
        event.stop()
        self.text = event.text
        self.redraw()


class TimelineScreen(Screen[None]):
    DEFAULT_CSS = """
    TimelineScreen #timeline-detail {
        height: auto;
        max-height: 4;
        padding: 0 1;
        background: $boost;
    }
    TimelineScreen #timeline-problems { height: auto; padding: 0 1; color: $text-warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "back")]

    def __init__(
        self, engine: Engine, console: ConsoleScreen, *, clock: Callable[[], float]
    ) -> None:
        super().__init__()
        self.engine = engine
        self.console = console
        self.clock = clock
        self.pane = TimelinePane(clock, self.show_detail)
        self.detail = Text()

    def compose(self) -> ComposeResult:
        yield self.pane
        yield Static(id="timeline-detail")
        yield Static(id="timeline-problems", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        store = self.engine.timeline
        problems: list[str] = []
        if store is None:
            problems.append(NO_STATE_DIR)
            self.pane.display = False
        else:
            since = self.clock() - WINDOW
            self.pane.since = since
            self.pane.add(store.read(since))
            problems.extend(store.read_problems)
        widget = self.query_one("#timeline-problems", Static)
        widget.display = bool(problems)
        widget.update(f"{GLYPHS['warning']} " + " · ".join(problems))
        self.pane.focus_target.focus()
        self.show_detail()

    def appended(self, entries: Iterable[Entry]) -> None:
        """Entries just written to the timeline (the app forwards ``TimelineAppended``)."""
        self.pane.add(entries)

    # --- the highlighted entry ---------------------------------------------------------
    @on(DataTable.RowHighlighted, "#timeline-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_detail()

    def show_detail(self) -> None:
        """The highlighted entry in full: date, event, who, where ``enter`` goes, its text."""
        if not self.is_mounted:
            return
        widget = self.query_one("#timeline-detail", Static)
        entry = self.pane.highlighted
        widget.display = entry is not None
        if entry is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.at))
        head = [stamp, entry.event, entry.subject]
        if entry.who:
            head.append(f"by {entry.who}")
        head.append(f"enter {target(entry)}")
        text = Text(" · ".join(head), "dim")
        text.append("\n")
        text.append(entry.text)
        if not same(text, self.detail):
            self.detail = text
            widget.update(text)

    # --- jumping -----------------------------------------------------------------------
    @on(DataTable.RowSelected, "#timeline-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        entry = self.pane.entries.get(event.row_key.value or "")
        if entry is None:
            return
        link = entry.link
        if link is None:
            self.notify(
                f"{entry.event}: this entry has no row or run to open", timeout=4, markup=False
            )
        elif link.pane == "runbooks":
            self.app.run_worker(self.open_run(link.key), group="runbook-run")
        else:
            self.dismiss()
            self.app.call_later(land, self.console, entry, link)

    async def open_run(self, run_id: str) -> None:
        """The entry's runbook run: an open run goes on the way ``r`` in the Runbooks pane
        does (resume or new run); any other is shown as it is, its report one ``e`` away."""
        engine, app = self.engine, self.app
        executor = engine.runbook_executor()
        try:
            run = executor.open(run_id)
            entry = _catalog_entry(engine.runbooks, run.source)
            if entry is None:
                entry = RunbookEntry(
                    run.runbook.name, run.runbook.title, run.source, len(run.runbook.steps)
                )
            latest = open_runs(engine.state_dir, [entry]).get(entry.name)
            if not engine.read_only and latest is not None and latest.id == run_id:
                app.post_message(RunbooksPane.RunWanted(entry))
                return
            await app.push_screen_wait(RunbookRunScreen(run, executor, engine, entry))
        except RunError as exc:
            app.notify(str(exc), title=f"run {run_id}", severity="error", markup=False)
        finally:
            await executor.aclose()

    def action_back(self) -> None:
        self.dismiss()


def _catalog_entry(entries: Iterable[RunbookEntry], source: Path) -> RunbookEntry | None:
    wanted = source.resolve()
    return next((entry for entry in entries if entry.path.resolve() == wanted), None)


def land(console: ConsoleScreen, entry: Entry, link: Link) -> None:
    """Back on the console: focus the pane and put its cursor on the entry's row, or say in
    one line why there is no such row."""
    problem = jump(console, entry, link)
    if problem is not None:
        console.app.notify(problem, severity="warning", timeout=6, markup=False)


def jump(console: ConsoleScreen, entry: Entry, link: Link) -> str | None:
    """Focus the pane ``link`` names and move its cursor to the linked row; a line saying
    why not when that row is not there (the pane keeps the focus)."""
    number = PANE_NUMBERS[link.pane]
    console.action_show_pane(number)
    pane = console.panes[number - 1]
    if isinstance(pane, DatabasePane):
        if link.key in pane.states:
            return None  # the database itself: its summary line is at the top of the pane
        pane.refresh_view()
    if isinstance(pane, AlertsPane):
        _unfold(pane, link.key)
    table = pane.focus_target
    if not isinstance(table, KeyedTable):
        return None
    if link.key in table.rows:
        table.move_cursor(row=table.get_row_index(link.key), scroll=True, animate=False)
        return None
    label = _label(entry, link)
    if isinstance(pane, SortedPane) and pane.filter:
        return f"{label} is hidden by the filter /{pane.filter} in {pane.title} (esc clears it)"
    return f"{label} is no longer in {pane.title}"


def _unfold(pane: AlertsPane, key: str) -> None:
    """Open the group an alert is folded into, so that it has a row."""
    alert = next((alert for alert in pane.alerts if alert.key == key), None)
    if alert is not None and key not in pane.rows and GROUP + alert.name in pane.rows:
        pane.fold(GROUP + alert.name, True)


def _label(entry: Entry, link: Link) -> str:
    if link.pane == "database" and link.key.count("/") >= 2:
        database, pid, _start = link.key.rsplit("/", 2)
        return f"pid {pid} on {database}"
    if link.pane == "alerts":
        return entry.subject
    return link.key
