"""The Database pane: a summary per database, then the sessions that need a look.

Sessions are keyed by database, pid and backend start. While the operator moves the
cursor (and while a dialog is open) the pane holds its data: the row being aimed at never
moves or changes under the cursor. New samples are kept and shown once the hold ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from tui.engine.samples import DatabaseSample, Session
from tui.engine.state import SourceState
from tui.engine.units import format_duration
from widgets.db_sessions import SessionRow, session_rows
from widgets.db_summary import summary
from widgets.pane import SourcePane
from widgets.status import NO_DATA, single_line
from widgets.table import ColumnSpec, KeyedTable
from widgets.text_block import TextBlock

Signal = Literal["cancel", "terminate"]
HOLD_SECONDS = 3.0
"""How long after the last cursor move the pane keeps showing the data it had."""
QUERY_WIDTH = 60
MARK = "●"
COLUMNS = (
    ColumnSpec("mark", " ", 1),
    ColumnSpec("pid", "pid"),
    ColumnSpec("what", "what"),
    ColumnSpec("age", "age"),
    ColumnSpec("xact", "xact"),
    ColumnSpec("user", "user"),
    ColumnSpec("query", "query"),
    ColumnSpec("wait", "wait"),
    ColumnSpec("app", "app"),
    ColumnSpec("client", "client"),
)
DB_COLUMN = ColumnSpec("db", "db")


class SessionTable(KeyedTable):
    """A keyed table that notes when the operator last moved its cursor."""

    moved_at = 0.0

    class Moved(Message):
        """The operator moved the cursor: the pane starts (or extends) its hold."""

    def _moved(self) -> None:
        self.moved_at = time.monotonic()
        self.post_message(self.Moved())

    def action_cursor_up(self) -> None:
        self._moved()
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._moved()
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self._moved()
        super().action_page_up()

    def action_page_down(self) -> None:
        self._moved()
        super().action_page_down()

    def action_scroll_top(self) -> None:
        self._moved()
        super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        self._moved()
        super().action_scroll_bottom()


class DatabasePane(SourcePane):
    DEFAULT_CSS = """
    DatabasePane .db-summary { height: auto; padding: 0 1; }
    DatabasePane .empty { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "signal('cancel')", "cancel"),
        Binding("K", "signal('terminate')", "terminate"),
        Binding("space", "mark", "mark"),
        Binding("i", "info", "info"),
        Binding("y", "copy", "copy query", show=False),
    ]
    NOT_CONFIGURED = (
        "No databases in this config. Add PostgreSQL under `databases:`, its DSN in an "
        "environment variable (README: Databases)."
    )

    class SignalWanted(Message):
        """Cancel or terminate these sessions (after the operator confirms)."""

        def __init__(self, signal: Signal, rows: Sequence[SessionRow]) -> None:
            super().__init__()
            self.signal = signal
            self.rows = tuple(rows)

    class SessionWanted(Message):
        def __init__(self, row: SessionRow) -> None:
            super().__init__()
            self.row = row

    class InfoWanted(Message):
        def __init__(self, database: str) -> None:
            super().__init__()
            self.database = database

    def __init__(self, states: Sequence[SourceState], *, read_only: bool = False) -> None:
        super().__init__(3, "Database", id="database", states=states)
        self.read_only = read_only
        self.show_db = len(self.states) > 1
        """Sessions get a ``db`` column only when there is more than one database."""
        self.lines = {name: TextBlock(classes="db-summary") for name in self.states}
        self.rows: dict[str, SessionRow] = {}
        """What the table shows, by row key."""
        self.marked: set[str] = set()
        self.held = False
        """Data held back while the operator aims (``redraw``)."""
        self.cut_said = ""
        """The note on lists the poll cut short, as last drawn."""

    def compose(self) -> ComposeResult:
        yield from self.not_configured()
        yield from self.lines.values()
        columns = (DB_COLUMN, *COLUMNS) if self.show_db else COLUMNS
        table = SessionTable(columns, id="database-table")
        table.show_header = self.configured
        yield table
        yield Static(
            "no long, blocked or idle-in-transaction sessions", classes="empty", id="db-empty"
        )
        cut = Static(classes="empty", id="db-cut")
        cut.display = False
        yield cut

    @property
    def focus_target(self) -> SessionTable:
        return self.query_one(SessionTable)

    # --- holding ---------------------------------------------------------------------
    def selecting(self) -> bool:
        """The operator moved the cursor lately."""
        return time.monotonic() - self.focus_target.moved_at < HOLD_SECONDS

    def redraw(self) -> None:
        """Show the latest data, unless the operator is aiming: moving the cursor (said in
        the subtitle) or answering a dialog (which covers the pane anyway)."""
        selecting = self.selecting()
        self.held = selecting or self.app.screen is not self.screen
        if self.held:
            self.undrawn = True
        else:
            self.show_data()
        self.show_sources_state(note="⏸ refresh held while you select" if selecting else None)

    def clock_bound(self) -> bool:
        """Held data is drawn by the first tick after the operator stops aiming."""
        return self.held or super().clock_bound()

    def on_session_table_moved(self) -> None:
        self.redraw()

    def show_data(self) -> None:
        rows: dict[str, SessionRow] = {}
        cut: list[str] = []
        for name, state in self.states.items():
            self.line(name).show(summary(state, self.palette, self.now, self.paused))
            if isinstance(state.sample, DatabaseSample):
                rows.update((row.key, row) for row in session_rows(state.name, state.sample))
                cut += (f"{name}: {part}" if self.show_db else part for part in _cut(state.sample))
        self.rows = rows
        self.marked &= rows.keys()
        self.focus_target.sync({key: self.cells(row) for key, row in rows.items()}, arranged=True)
        self.query_one("#db-empty").display = self.configured and not rows
        said = " · ".join(cut)
        if said != self.cut_said:  # an update lays the pane out again: only when it changed
            self.cut_said = said
            note = self.query_one("#db-cut", Static)
            note.display = bool(cut)
            note.update(Text(said))

    def line(self, name: str) -> TextBlock:
        """The summary line of a database, added if the database is new."""
        line = self.lines.get(name)
        if line is None:
            line = self.lines[name] = TextBlock(classes="db-summary")
            self.mount(line, before=self.focus_target)
        return line

    # --- cells -----------------------------------------------------------------------
    def cells(self, row: SessionRow) -> tuple[str | Text, ...]:
        session = row.session
        age = session.state_age_s if (session.state or "").startswith("idle") else None
        cells: tuple[str | Text, ...] = (
            MARK if row.key in self.marked else " ",
            str(session.pid),
            self.what(row),
            _age(age if age is not None else session.duration_s),
            _age(session.xact_age_s),
            session.user or NO_DATA,
            single_line(session.query, QUERY_WIDTH) or NO_DATA,
            session.wait_event or NO_DATA,
            session.application or NO_DATA,
            session.client or NO_DATA,
        )
        return (row.database, *cells) if self.show_db else cells

    def what(self, row: SessionRow) -> Text:
        palette = self.palette
        if row.role == "root":
            return Text(f"◆ blocks {row.waiters}", palette.style("critical"))
        if row.role == "waiting":
            return Text("  " * (row.depth - 1) + "└ waiting", palette.style("warning"))
        if row.role == "long":
            return Text("▲ long query", palette.style("warning"))
        aborted = row.session.state == "idle in transaction (aborted)"
        return Text("▲ aborted tx" if aborted else "▲ idle in tx", palette.style("warning"))

    # --- keys ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "signal" and self.read_only)

    @property
    def highlighted(self) -> SessionRow | None:
        key = self.focus_target.highlighted_key
        return self.rows.get(key) if key is not None else None

    def action_mark(self) -> None:
        row = self.highlighted
        if row is None:
            return
        self.marked ^= {row.key}
        table = self.focus_target
        table.update_cell(row.key, "mark", MARK if row.key in self.marked else " ")
        table.action_cursor_down()

    def action_signal(self, signal: Signal) -> None:
        targets = [self.rows[key] for key in self.rows if key in self.marked]
        if not targets and self.highlighted is not None:
            targets = [self.highlighted]
        if not targets:
            self.notify("no session selected", severity="warning")
            return
        unseen = next((row for row in targets if not row.visible), None)
        if unseen is not None:
            pid = unseen.session.pid
            why = (
                "a prepared transaction: COMMIT or ROLLBACK PREPARED it"
                if pid == 0
                else ("this role cannot see that session")
            )
            self.notify(f"pid {pid} cannot be signalled ({why})", severity="error")
            return
        if signal == "cancel":
            for row in targets:
                idle = Session.nothing_to_cancel(row.session.pid, row.session.state)
                if idle is not None:
                    self.notify(idle, severity="error", markup=False)
                    return
        self.post_message(self.SignalWanted(signal, targets))

    def action_copy(self) -> None:
        row = self.highlighted
        if row is None:
            return
        self.app.copy_to_clipboard(row.session.query)
        self.notify(f"query of pid {row.session.pid} copied (OSC 52)", timeout=3)

    def on_data_table_row_selected(self, event: SessionTable.RowSelected) -> None:
        event.stop()
        row = self.rows.get(event.row_key.value or "")
        if row is not None:
            self.post_message(self.SessionWanted(row))

    def action_info(self) -> None:
        row = self.highlighted
        name = row.database if row is not None else next(iter(self.states), None)
        if name is not None:
            self.post_message(self.InfoWanted(name))

    def signalled(self) -> None:
        """After an action: marks are spent and the data may change at once."""
        self.marked.clear()
        self.focus_target.moved_at = 0.0
        self.refresh_view()


def _cut(sample: DatabaseSample) -> list[str]:
    """The lists the poll cut short (it lists 50 sessions of each kind at most)."""
    return [
        f"showing {len(listed)} of {total} {what}"
        for what, listed, total in (
            ("blocked sessions", sample.blocked, sample.blocked_count),
            ("long queries", sample.long_queries, sample.long_query_count),
            ("idle transactions", sample.idle_transactions, sample.idle_transaction_count),
        )
        if total > len(listed)
    ]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return NO_DATA
    return f"{seconds:.0f}s" if seconds < 60 else format_duration(seconds)
