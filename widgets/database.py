"""The Database pane: a summary line per database, then its long and blocked sessions."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tui.engine.samples import DatabaseSample, Session
from tui.engine.state import SourceState
from tui.engine.units import format_duration
from widgets.pane import SourcePane
from widgets.status import NO_DATA, STALE, WAITING, gauge, problem, same, single_line
from widgets.table import ColumnSpec, KeyedTable

QUERY_WIDTH = 120
GAUGE_WIDTH = 8
COLUMNS = (
    ColumnSpec("pid", "pid"),
    ColumnSpec("duration", "running"),
    ColumnSpec("state", "state"),
    ColumnSpec("user", "user"),
    ColumnSpec("app", "app"),
    ColumnSpec("wait", "wait"),
    ColumnSpec("query", "query"),
)
DB_COLUMN = ColumnSpec("db", "db")


class DatabasePane(SourcePane):
    DEFAULT_CSS = """
    DatabasePane .db-summary { height: auto; padding: 0 1; }
    DatabasePane .empty { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, states: Sequence[SourceState]) -> None:
        super().__init__(3, "Database", id="database", states=states)
        self.show_db = len(self.states) > 1
        """Sessions get a ``db`` column only when there is more than one database."""
        self.lines = {name: Static(classes="db-summary") for name in self.states}
        self.summaries: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        yield from self.lines.values()
        columns = (DB_COLUMN, *COLUMNS) if self.show_db else COLUMNS
        yield KeyedTable(columns, id="database-table")
        yield Static("no long or blocked queries", classes="empty", id="db-empty")

    @property
    def focus_target(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def redraw(self) -> None:
        rows: dict[str, tuple[str | Text, ...]] = {}
        for name, state in self.states.items():
            text = self.summary(state)
            if not same(self.summaries.get(name), text):
                self.summaries[name] = text
                self.line(name).update(text)
            if isinstance(state.sample, DatabaseSample):
                rows.update(self.session_rows(state.name, state.sample))
        self.focus_target.sync(rows)
        self.query_one("#db-empty").display = not rows
        self.show_sources_state()

    def line(self, name: str) -> Static:
        """The summary line of a database, added if the database is new."""
        line = self.lines.get(name)
        if line is None:
            line = self.lines[name] = Static(classes="db-summary")
            self.mount(line, before=self.focus_target)
        return line

    def summary(self, state: SourceState) -> Text:
        palette = self.palette
        sample = state.sample if isinstance(state.sample, DatabaseSample) else None
        text = Text()
        if sample is None and state.error is None:
            text.append(f"{WAITING} {state.name}", palette.style("muted"))
            text.append(" · waiting for first poll", palette.style("muted"))
            return text
        if state.error is not None:
            marker = STALE if state.stale else "✖"
            text.append(f"{marker} {state.name}", palette.style("critical"))
            text.append(f" · {problem(state, self.now, self.paused)}", palette.style("critical"))
            if sample is None:
                return text
            text.append("\n")
        else:
            text.append(f"✔ {state.name}", palette.style("ok"))
            text.append(" · ")
        conns = sample.connections
        fraction = sample.pct_of_usable
        level = "critical" if fraction >= 0.9 else "warning" if fraction >= 0.75 else "ok"
        values = Text(style=palette.style("muted") if state.error is not None else "")
        values.append(f"PG {sample.server_version} · ")
        values.append(f"conns {conns.total}/{sample.usable_connections} ")
        values.append(gauge(fraction, GAUGE_WIDTH), palette.style(level))
        values.append(f" {fraction * 100:.0f}%\n")
        values.append(f"active {conns.active} · idle {conns.idle} · ")
        values.append(f"idle-in-tx {conns.idle_in_transaction} · ")
        values.append(f"waiting {conns.waiting_on_lock}")
        if conns.not_visible:
            values.append(f" · {conns.not_visible} not visible", palette.style("warning"))
        text.append_text(values)
        return text

    def session_rows(
        self, database: str, sample: DatabaseSample
    ) -> dict[str, tuple[str | Text, ...]]:
        rows: dict[str, tuple[str | Text, ...]] = {}
        for session in (*sample.blocked, *sample.long_queries):
            key = f"{database}/{session.pid}/{session.backend_start!r}"
            if key not in rows:
                cells = self.session_cells(session)
                rows[key] = (database, *cells) if self.show_db else cells
        return rows

    def session_cells(self, session: Session) -> tuple[str | Text, ...]:
        palette = self.palette
        if session.blocked_by:
            blockers = ", ".join(
                "prepared xact" if pid == 0 else str(pid) for pid in session.blocked_by
            )
            state: str | Text = Text(f"▲ blocked by {blockers}", palette.style("warning"))
        else:
            state = session.state or NO_DATA
        return (
            str(session.pid),
            format_duration(session.duration_s),
            state,
            session.user or NO_DATA,
            session.application or NO_DATA,
            session.wait_event or NO_DATA,
            single_line(session.query, QUERY_WIDTH),
        )
