"""One PostgreSQL session in full: who, since when, waiting on what, and the whole query."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.engine.units import format_duration
from widgets.db_sessions import SessionRow
from widgets.status import NO_DATA

ROLES = {
    "root": "root blocker",
    "waiting": "waiting on a lock",
    "long": "long query",
    "idle_tx": "idle in transaction",
}


class SessionDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    SessionDetailScreen { align: center middle; }
    SessionDetailScreen > VerticalScroll {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-color: $accent;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    SessionDetailScreen #session-query { margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("y", "copy", "copy query"),
    ]

    def __init__(self, row: SessionRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        session = self.row.session
        with VerticalScroll() as body:
            body.border_title = Text(f"{self.row.database} · pid {session.pid}")
            body.border_subtitle = "y copy query · esc close"
            yield Static(self.facts(), id="session-facts")
            yield Static(Text(session.query or NO_DATA), id="session-query")

    def facts(self) -> Table:
        session = self.row.session
        table = Table(box=None, show_header=False, show_edge=False, pad_edge=False)
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        blocked_by = ", ".join(
            "prepared transaction" if pid == 0 else str(pid) for pid in session.blocked_by
        )
        for label, value in (
            ("listed as", ROLES[self.row.role]),
            ("state", session.state),
            ("database", session.database),
            ("user", session.user),
            ("application", session.application),
            ("client", session.client),
            ("query age", format_duration(session.duration_s)),
            ("transaction age", format_duration(session.xact_age_s)),
            ("in this state", format_duration(session.state_age_s)),
            ("wait event", session.wait_event),
            ("blocked by", blocked_by or None),
            ("sessions behind it", str(self.row.waiters) if self.row.role == "root" else None),
        ):
            table.add_row(label, Text(value or NO_DATA))  # set by clients: never markup
        return table

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.row.session.query)
        self.notify(f"query of pid {self.row.session.pid} copied (OSC 52)", timeout=3)

    def action_close(self) -> None:
        self.dismiss()
