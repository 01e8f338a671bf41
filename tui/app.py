"""The console app: wires the engine to the console screen and owns the global keys.

The engine runs in the app's own event loop; its events arrive through one listener that
posts them as Textual messages, and each is routed to the pane that shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from tui.engine.actions import ActionRefused
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, Event, PollingChanged, SourceUpdated
from tui.screens.check_detail import CheckDetailScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.console import ConsoleScreen
from tui.screens.database_info import DatabaseInfoScreen
from tui.screens.help import HelpScreen
from tui.screens.session_detail import SessionDetailScreen
from widgets.database import DatabasePane
from widgets.db_sessions import SessionRow
from widgets.health import HealthPane
from widgets.runbooks import RunbooksPane

DEFAULT_THEME = "textual-dark"
TICK = 1.0
"""Seconds between re-renders of time-dependent text (ages, retry countdowns)."""


class EngineEvent(Message):
    """An engine event, carried into Textual's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class WatchdeckApp(App[int]):
    TITLE = "watchdeck"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "refresh"),
        Binding("p", "toggle_pause", "pause"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        # Ctrl-C stops a terminal program; at 3 a.m. nobody should have to learn ctrl+q.
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("ctrl+p", "command_palette", "palette", show=False, priority=True),
        Binding("colon", "command_palette", "palette", show=False),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        theme: str | None = None,
        clock: Callable[[], float] = time.time,
        start_engine: bool = True,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.start_engine = start_engine
        self.started = False
        wanted = theme or engine.config.settings.theme
        self.unknown_theme = None if wanted in self.available_themes else wanted
        self.theme = DEFAULT_THEME if self.unknown_theme else wanted
        self.deck = ConsoleScreen(engine.runbooks, engine.state, read_only=engine.read_only)

    def get_default_screen(self) -> ConsoleScreen:
        return self.deck

    async def on_mount(self) -> None:
        if self.unknown_theme:
            self.notify(
                f"unknown theme {self.unknown_theme!r}: using {DEFAULT_THEME}"
                " (ctrl+p → Theme lists them)",
                severity="warning",
            )
        self.engine.subscribe(self.listen)
        if self.engine.alerts:  # attached to an engine that already evaluated its rules
            self.deck.alerts_updated(self.engine.alerts, self.clock())
        self.set_interval(TICK, self.tick)
        if self.start_engine:
            await self.engine.start()
            self.started = True

    async def on_unmount(self) -> None:
        self.engine.unsubscribe(self.listen)
        if self.started:
            await self.engine.stop()

    def listen(self, event: Event) -> None:
        """The engine's listener: hand the event over to the message queue."""
        self.post_message(EngineEvent(event))

    def on_engine_event(self, message: EngineEvent) -> None:
        if not self.is_running:  # shutting down: the screens are being torn down
            return
        event = message.event
        now = self.clock()
        with self.batch_update():
            if isinstance(event, SourceUpdated):
                self.deck.source_updated(event.state, now)
                for screen in self.detail_screens():
                    screen.source_updated(event.state, now)
            elif isinstance(event, AlertsUpdated):
                self.deck.alerts_updated(event.alerts, now)
            elif isinstance(event, PollingChanged):
                self.deck.polling_changed(event.paused, now)
                for screen in self.detail_screens():
                    screen.tick(now, event.paused)

    def tick(self) -> None:
        if not self.is_running:
            return
        now = self.clock()
        with self.batch_update():
            self.deck.tick(now)
            for screen in self.detail_screens():
                screen.tick(now, self.deck.paused)

    def detail_screens(self) -> list[CheckDetailScreen]:
        return [screen for screen in self.screen_stack if isinstance(screen, CheckDetailScreen)]

    def on_health_pane_detail_wanted(self, message: HealthPane.DetailWanted) -> None:
        state = message.state
        check = next(
            (check for check in self.engine.config.checks if check.name == state.name), None
        )
        screen = CheckDetailScreen(
            state, self.engine.state, check=check, now=self.clock(), paused=self.deck.paused
        )
        self.push_screen(screen)

    async def on_runbooks_pane_wanted(self, message: RunbooksPane.Wanted) -> None:
        try:
            text = message.entry.read()
        except OSError as exc:
            text = f"# {message.entry.title}\n\ncannot read `{message.entry.path}`: {exc.strerror}"
        pane = self.deck.runbooks
        await pane.show_text(message.entry, text)

    # --- database ----------------------------------------------------------------------
    def on_database_pane_session_wanted(self, message: DatabasePane.SessionWanted) -> None:
        self.push_screen(SessionDetailScreen(message.row))

    def on_database_pane_info_wanted(self, message: DatabasePane.InfoWanted) -> None:
        name = message.database
        state = self.engine.state.sources[f"database:{name}"]
        screen = DatabaseInfoScreen(
            state,
            sizes=lambda: self.engine.database_sizes(name),
            statements=lambda: self.engine.top_statements(name),
        )
        self.push_screen(screen)

    @work(group="signal")
    async def on_database_pane_signal_wanted(self, message: DatabasePane.SignalWanted) -> None:
        """Confirm, then signal each session through the engine (journaled, read-only aware)."""
        signal, rows = message.signal, message.rows
        confirmed = await self.push_screen_wait(_confirm_signal(signal, rows))
        if not confirmed:
            return
        for row in rows:
            try:
                outcome = await self.engine.signal_backend(row.database, signal, row.session)
            except ActionRefused as exc:
                self.notify(str(exc), title="not run", severity="error")
                return
            self.notify(outcome.message, severity="information" if outcome.ok else "error")
        for database in {row.database for row in rows}:
            self.engine.scheduler.refresh_now(f"database:{database}")
        self.deck.database.signalled()

    # --- keys ------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.engine.refresh_now()

    def action_toggle_pause(self) -> None:
        if self.engine.paused:
            self.engine.resume()
        else:
            self.engine.pause()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self.exit(0)


def _confirm_signal(signal: str, rows: tuple[SessionRow, ...]) -> ConfirmScreen:
    """``Terminate 2 sessions?`` with pid, user and query of each (the first ten)."""
    verb = "Stop the running query of" if signal == "cancel" else "Terminate"
    count = f"{len(rows)} sessions" if len(rows) > 1 else "this session"
    lines: list[str] = []
    for row in rows[:10]:
        session = row.session
        lines.append(
            f"pid {session.pid} · {session.user or '?'} · {row.database}"
            f" · {session.application or 'no application'}"
        )
        lines.append(f"  {' '.join(session.query.split())[:150]}")
    if len(rows) > 10:
        lines.append(f"… and {len(rows) - 10} more")
    if signal == "terminate":
        lines.append("")
        lines.append("Terminating closes the connection and rolls back its transaction.")
    return ConfirmScreen(
        f"{verb} {count}?",
        lines,
        confirm_label="Stop query" if signal == "cancel" else "Terminate",
        danger=signal == "terminate",
    )
