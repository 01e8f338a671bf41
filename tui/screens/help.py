"""The help screen (``?``): every key, and what the status glyphs mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.engine.replay import JUMP, SPEEDS
from tui.screens.runbook_run import STATUS
from widgets.alerts import ACKED, SUPPRESSED
from widgets.health import FLAPPING
from widgets.queues import SHARED
from widgets.status import GLYPHS, STALE, WAITING

KEYS: tuple[tuple[str, str], ...] = (
    ("1 2 3 4 5", "focus Health, Queues, Database, Alerts, Runbooks"),
    ("tab / shift+tab", "next / previous pane"),
    ("z", "zoom the focused pane; z again restores"),
    ("↑ ↓ pgup pgdn", "move in a table, a list or a runbook"),
    ("enter", "Health: the highlighted check in detail"),
    ("enter", "Runbooks: read the highlighted runbook full size"),
    ("/", "Health: filter by name or detail (enter keeps it)"),
    ("s", "Health: sort by status → name → latency → p95"),
    ("enter", "Queues: the highlighted queue in detail, with history"),
    ("/", "Queues: filter by name, kind or reason"),
    ("s", "Queues: sort status → name → depth → growth → oldest"),
    ("enter", "Database: the highlighted session in full"),
    ("c / K", "Database: cancel the query / terminate the session (asks first)"),
    ("space", "Database: mark a session; c and K then act on all marked"),
    ("y", "Database: copy the query text (OSC 52 clipboard)"),
    ("i", "Database: connections by database/user/app/client, role, sizes"),
    ("enter", "Alerts: the alert in detail (labels, links, history)"),
    ("enter  → ←", "Alerts: open / close a group (TargetDown ×7)"),  # noqa: RUF001
    ("a", "Alerts: acknowledge (comment optional); again to undo"),
    ("s", "Alerts: silence in Alertmanager (duration, comment)"),
    ("x", "Alerts: expire the alert's silence (asks first)"),
    ("o", "Alerts: open its runbook (a URL is shown and copied)"),
    ("r", "Runbooks: run it (variables first), or go on with its open run"),
    ("enter", "Runbooks, while reading one: run it"),
    ("↑ ↓", "Run: move between the steps"),
    ("enter", "Run: run the step after a confirm (danger: type the name)"),
    ("space", "Run: tick a manual step done (again to untick)"),
    ("R / S", "Run: retry a failed or interrupted step / skip with a reason"),
    ("ctrl+c", "Run: cancel the running step (only the step)"),
    ("e", "Run: export the run's report to the state directory"),
    ("esc", "Run: back to the console (not while a step runs)"),
    ("home / end", "first / last row of a table"),
    ("esc", "clear the filter, close a detail or a runbook, unzoom"),
    ("r", "refresh every source now (also while paused)"),
    ("p", "pause / resume polling"),
    ("ctrl+p  :", "command palette: themes, keys, quit"),
    ("ctrl+l", "draw the whole screen again (after another program wrote on it)"),
    ("?", "this help"),
    ("q  ctrl+c", "quit"),
)
REPLAY: tuple[tuple[str, str], ...] = (
    ("space", "play / pause (play at the end starts again)"),
    (", .", "one event back / forward (pauses)"),
    ("[ ]", f"{JUMP:g} s back / forward"),
    ("- +", f"slower / faster (×{SPEEDS[0]:g} to ×{SPEEDS[-1]:g})"),  # noqa: RUF001
    ("home / end", "start / end of the recording"),
    ("", "read-only: no actions, no runbook runs, rules not re-evaluated"),
)
"""Keys of ``watchdeck replay`` (shown only there)."""
TIMELINE: tuple[tuple[str, str], ...] = (
    ("t", "the timeline: what changed and what was done (t or esc: back)"),
    ("s", "Timeline: source all → check → queue → database → alert → action → runbook"),
    ("v", "Timeline: severity all → warning and worse → critical"),
    ("/", "Timeline: filter by text, subject or who (esc clears)"),
    ("enter", "Timeline: go to the entry's row in its pane, or open its runbook run"),
)
LEGEND: tuple[tuple[str, str], ...] = (
    (f"{GLYPHS['ok']} ok", "healthy"),
    (f"{GLYPHS['warning']} warning", "degraded, or a warning alert"),
    (f"{GLYPHS['critical']} critical", "down, failing, or a critical alert"),
    (f"{GLYPHS['unknown']} unknown", "no data"),
    (f"{STALE} stale", "last poll failed; the last good data is shown"),
    (f"{WAITING} waiting", "not polled yet"),
    (FLAPPING, "a check going up and down; toasts wait until it settles"),
    ("▲ 1,240", "a queue's value past one of its thresholds (✖ when critical)"),
    (f"57{SHARED}", "counted across all the system's queues (Sidekiq retry, Celery unacked)"),
    ("◆ blocks N", "a root blocker: N sessions wait behind it (└ waiting)"),
    ("⏸ refresh held", "the Database pane holds still while you select"),
    (f"{GLYPHS['info']} info", "an info alert"),
    (f"{SUPPRESSED} suppressed", "an alert in a maintenance window, silenced or inhibited"),
    (f"{ACKED} ack NAME", "acknowledged here by NAME; `check` still counts it"),
    (
        " ".join(glyph for glyph, _, _ in STATUS.values()),
        "runbook steps: " + ", ".join(word for _, word, _ in STATUS.values()),
    ),
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-color: $accent;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen Static { width: 100%; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("question_mark", "close", "close", key_display="?", show=False),
        Binding("q", "close", "close", show=False),
    ]

    def __init__(self, *, replay: bool = False) -> None:
        super().__init__()
        self.replay = replay

    def compose(self) -> ComposeResult:
        with VerticalScroll() as body:
            body.border_title = "watchdeck · keys"
            body.border_subtitle = "esc, ? or q to close"
            yield Static(_table(self.replay))

    def action_close(self) -> None:
        self.dismiss()


def _table(replay: bool) -> Table:
    table = Table(box=None, expand=True, show_header=False, show_edge=False, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column()
    sections = (("replay", REPLAY),) if replay else ()
    for heading, rows in (*sections, ("keys", KEYS), ("timeline", TIMELINE), ("status", LEGEND)):
        if table.row_count:
            table.add_row("", "")
        table.add_row(Text(heading, "bold underline"), "")
        for key, meaning in rows:
            table.add_row(Text(key, "bold"), meaning)
    return table
