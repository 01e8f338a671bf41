"""The console app: wires the engine to the console screen and owns the global keys.

The engine runs in the app's own event loop; its events arrive through one listener that
posts them as Textual messages, and each is routed to the pane that shows it.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

from textual import constants, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.message import Message

from tui.engine.actions import ActionRefused, Outcome
from tui.engine.alert_actions import actor
from tui.engine.alert_book import newly_firing
from tui.engine.engine import Engine
from tui.engine.events import (
    AlertsUpdated,
    Event,
    PollingChanged,
    SourceUpdated,
    StateProblems,
    TimelineAppended,
)
from tui.engine.runbooks.model import RunbookError
from tui.engine.runbooks.run import RunError
from tui.engine.runbooks.variables import VariableProblem
from tui.engine.samples import Alert
from tui.screens.alert_detail import AlertContext, AlertDetailScreen
from tui.screens.alert_dialogs import AcknowledgeScreen, SilenceScreen, describe, describe_silence
from tui.screens.check_detail import CheckDetailScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.console import ConsoleScreen
from tui.screens.database_info import DatabaseInfoScreen
from tui.screens.help import HelpScreen
from tui.screens.queue_detail import QueueDetailScreen
from tui.screens.runbook_run import RunbookRunScreen
from tui.screens.runbook_start import open_run, open_runs
from tui.screens.session_detail import SessionDetailScreen
from tui.screens.timeline import TimelineScreen
from widgets.alerts import AlertsPane
from widgets.database import DatabasePane
from widgets.db_sessions import SessionRow
from widgets.health import HealthPane
from widgets.queues import QueuesPane, config_of
from widgets.runbooks import RunbooksPane
from widgets.status import GLYPHS

DEFAULT_THEME = "textual-dark"
TICK = 1.0
"""Seconds between re-renders of time-dependent text (ages, retry countdowns)."""
SETTLE_HEAP_AFTER = 5.0
"""Seconds after start (the first polls drawn) when the heap built so far is frozen."""
YOUNG_OBJECTS = 10_000
"""Allocations of tracked objects (containers) between two collections of the youngest
generation once settled; Python's default is 700."""
LIVE_DETAILS = (CheckDetailScreen, QueueDetailScreen)
"""Detail screens following one source: each gets every source update and clock tick."""
TOASTS_AT_ONCE = 3
"""New critical alerts toasted one by one; beyond, one toast counts the rest."""


class EngineEvent(Message):
    """An engine event, carried into Textual's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


def settle_heap() -> None:
    """Take what the console built at start out of the garbage collector's full passes.

    About 160,000 long-lived objects (widgets, CSS, Rich styles, config) were scanned by
    every full collection, about 100 ms of CPU a minute while idle; frozen after one last
    collection, a full pass scans only what came later (10 ms a minute). Frozen objects are
    still freed when their last reference goes; only a cycle among them is never collected
    (a start-up toast dropped later, say: bytes, once).

    The youngest generation is then collected every YOUNG_OBJECTS allocations instead of
    every 700: most of what a frame or a poll allocates is freed by reference counting
    before the pass would scan it, and fewer short-lived objects are promoted to be scanned
    again (the idle demo console: 58 young and 5 middle passes a minute, 42 ms, became 3
    and 1, 24 ms).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


class WatchdeckApp(App[int]):
    TITLE = "watchdeck"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "refresh"),
        Binding("p", "toggle_pause", "pause"),
        Binding("t", "timeline", "timeline"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        # Ctrl-C stops a terminal program; at 3 a.m. nobody should have to learn ctrl+q.
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("ctrl+p", "command_palette", "palette", show=False, priority=True),
        Binding("colon", "command_palette", "palette", show=False),
        Binding("ctrl+l", "redraw", "redraw", show=False),
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
        self.deck = ConsoleScreen(
            engine.runbooks,
            engine.state,
            read_only=engine.read_only,
            rules=bool(engine.config.alerts.rules),
        )
        self.configure_queues()
        self.started_at = clock()
        self.known_alerts: tuple[Alert, ...] = engine.alerts
        """The alerts last shown: an alert firing now that was not then is new."""
        self.user = actor()
        """``user@host`` as the alert dialogs name who acknowledges or silences."""
        self.told_problems: tuple[str, ...] = tuple(engine.state_problems())
        """State-dir writes failing now, as last told (those of the start: ``on_mount``)."""

    def get_driver_class(self) -> type[Driver]:
        """Textual's terminal driver writing fewer bytes; the one Textual is told to use
        (TEXTUAL_DRIVER: ``watchdeck serve``'s web driver) or Windows' stay as they are."""
        if constants.DRIVER is not None or sys.platform == "win32":
            return super().get_driver_class()
        from tui.driver import CompactDriver

        return CompactDriver

    def action_redraw(self) -> None:
        """Send the whole screen again, as curses programs do on ctrl+l: the driver sends only
        changes, so a terminal garbled by another program's output stays so until then."""
        from tui.driver import CompactDriver

        if isinstance(self._driver, CompactDriver):  # Textual keeps no public handle on it
            self._driver.redraw()
        self.refresh()

    def get_default_screen(self) -> ConsoleScreen:
        return self.deck

    async def on_mount(self) -> None:
        if self.unknown_theme:
            self.notify(
                f"unknown theme {self.unknown_theme!r}: using {DEFAULT_THEME}"
                " (ctrl+p → Theme lists them)",
                severity="warning",
                markup=False,
            )
        self.engine.subscribe(self.listen)
        if self.engine.alerts:  # attached to an engine that already evaluated its rules
            self.deck.alerts_updated(self.engine.alerts, self.clock())
        for warning in self.engine.alert_warnings():
            self.notify(warning, title="Alerts", severity="warning", markup=False)
        self.show_runbook_runs()
        self.set_interval(TICK, self.tick)
        if not self.is_headless:
            self.set_timer(SETTLE_HEAP_AFTER, settle_heap)
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
                self.alerts_updated(event.alerts, now)
            elif isinstance(event, PollingChanged):
                self.deck.polling_changed(event.paused, now)
                for screen in self.detail_screens():
                    screen.tick(now, event.paused)
            elif isinstance(event, StateProblems):
                self.state_problems(event.problems)
            elif isinstance(event, TimelineAppended):
                for screen in self.screen_stack:
                    if isinstance(screen, TimelineScreen):
                        screen.appended(event.entries)

    def state_problems(self, problems: tuple[str, ...]) -> None:
        """A state-dir write failing in the background: said once, and once when it works
        again (write actions say so themselves when they are refused)."""
        for problem in problems:
            if problem not in self.told_problems:
                self.notify(problem, title="state dir", severity="warning", markup=False)
        if self.told_problems and not problems:
            self.notify("the state directory is written again", title="state dir")
        self.told_problems = problems

    def tick(self, *, figures: bool | None = None) -> None:
        """``figures``: as ``ConsoleScreen.tick`` (default: one tick in FIGURES_EVERY)."""
        if not self.is_running:
            return
        now = self.clock()
        with self.batch_update():
            self.deck.tick(now, figures=figures)
            for screen in self.detail_screens():
                screen.tick(now, self.deck.paused)

    def detail_screens(self) -> list[CheckDetailScreen | QueueDetailScreen]:
        return [screen for screen in self.screen_stack if isinstance(screen, LIVE_DETAILS)]

    def on_health_pane_detail_wanted(self, message: HealthPane.DetailWanted) -> None:
        state = message.state
        check = next(
            (check for check in self.engine.config.checks if check.name == state.name), None
        )
        screen = CheckDetailScreen(
            state, self.engine.state, check=check, now=self.clock(), paused=self.deck.paused
        )
        self.push_screen(screen)

    # --- runbooks ----------------------------------------------------------------------
    async def on_runbooks_pane_wanted(self, message: RunbooksPane.Wanted) -> None:
        try:
            text = message.entry.read()
        except OSError as exc:
            text = f"# {message.entry.title}\n\ncannot read `{message.entry.path}`: {exc.strerror}"
        pane = self.deck.runbooks
        await pane.show_text(message.entry, text)

    def show_runbook_runs(self) -> None:
        """The Runbooks pane lists each runbook's alerts and marks those with an open run."""
        entries = self.engine.runbooks
        attached = {entry.name: self.engine.runbook_alerts(entry) for entry in entries}
        self.deck.runbooks.annotate(attached, open_runs(self.engine.state_dir, entries))

    @work(group="runbook-run")
    async def on_runbooks_pane_run_wanted(self, message: RunbooksPane.RunWanted) -> None:
        """Start or resume a run of the runbook, then show it until the person goes back."""
        entry = message.entry
        executor = self.engine.runbook_executor()
        try:
            opened = await open_run(self, entry, executor)
            if opened is not None:
                run, interrupted = opened
                screen = RunbookRunScreen(
                    run, executor, self.engine, entry, interrupted=interrupted
                )
                await self.push_screen_wait(screen)
        except (RunbookError, RunError, VariableProblem) as exc:
            self.notify(str(exc), title=entry.name, severity="error", markup=False)
        finally:
            await executor.aclose()
        self.show_runbook_runs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While a runbook step runs, ctrl+c cancels the step (the run screen's binding) and
        quitting waits until it ended."""
        if action == "quit":
            return not any(
                isinstance(screen, RunbookRunScreen) and screen.busy for screen in self.screen_stack
            )
        if action == "timeline":  # from the console, and back
            return self.screen is self.deck or isinstance(self.screen, TimelineScreen)
        return True

    # --- queues ------------------------------------------------------------------------
    def configure_queues(self) -> None:
        """The Queues pane marks the values past their queue's thresholds."""
        pane = self.deck.by_section["queue"]
        if isinstance(pane, QueuesPane):
            pane.configure(self.engine.config.queues)

    def on_queues_pane_detail_wanted(self, message: QueuesPane.DetailWanted) -> None:
        state = message.state
        queue = config_of({queue.name: queue for queue in self.engine.config.queues}, state.name)
        settings = self.engine.config.settings
        screen = QueueDetailScreen(
            state,
            self.engine.state,
            queue=queue,
            window=float(queue.window if queue and queue.window else settings.window),
            now=self.clock(),
            paused=self.deck.paused,
        )
        self.push_screen(screen)

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
                self.notify(str(exc), title="not run", severity="error", markup=False)
                return
            self.notify(
                outcome.message, severity="information" if outcome.ok else "error", markup=False
            )
        for database in {row.database for row in rows}:
            self.engine.scheduler.refresh_now(f"database:{database}")
        self.deck.database.signalled()

    # --- alerts ------------------------------------------------------------------------
    def alerts_updated(self, alerts: Sequence[Alert], now: float) -> None:
        """Show the alerts, keep open alert details live, and announce new critical ones."""
        self.deck.alerts_updated(alerts, now)
        by_key = {alert.key: alert for alert in alerts}
        for screen in self.screen_stack:
            if isinstance(screen, AlertDetailScreen):
                screen.show(self.alert_context(by_key.get(screen.key), alerts, now))
        self.announce(newly_firing(self.known_alerts, alerts, self.started_at))
        self.known_alerts = tuple(alerts)

    def announce(self, firing: Sequence[Alert]) -> None:
        """A toast, and the terminal bell unless ``settings.bell`` is off, for each critical
        alert that started to notify while the console runs (``newly_firing``: it started
        firing, or its maintenance window, silence or inhibition ended)."""
        critical = [alert for alert in firing if alert.severity == "critical"]
        if not critical:
            return
        if self.engine.config.settings.bell:
            self.bell()
        for alert in critical[:TOASTS_AT_ONCE]:
            self.notify(
                f"{GLYPHS['critical']} {alert.name} firing: {alert.summary}",
                title=f"Alert · {alert.source}",
                severity="error",
                timeout=15,
                markup=False,
            )
        if len(critical) > TOASTS_AT_ONCE:
            more = len(critical) - TOASTS_AT_ONCE
            self.notify(
                f"{GLYPHS['critical']} {more} more critical alerts firing (4 Alerts)",
                title="Alerts",
                severity="error",
                timeout=15,
            )

    def alert_context(
        self, alert: Alert | None, alerts: Sequence[Alert], now: float
    ) -> AlertContext:
        if alert is None:
            return AlertContext(None, now=now)
        return AlertContext(
            alert,
            history=self.engine.alert_history(alert),
            windows=[w for w in self.engine.maintenance_now() if w.name in alert.maintenance],
            runbook=self.engine.runbook_for(alert),
            alerts=alerts,
            now=now,
        )

    def on_alerts_pane_detail_wanted(self, message: AlertsPane.DetailWanted) -> None:
        context = self.alert_context(message.alert, self.deck.alerts.alerts, self.clock())
        self.push_screen(AlertDetailScreen(context, read_only=self.engine.read_only))

    def on_alerts_pane_runbook_wanted(self, message: AlertsPane.RunbookWanted) -> None:
        """A local runbook opens in the Runbooks pane; a runbook URL is shown and copied (a
        terminal over SSH has no browser to open it in)."""
        alert = message.alert
        entry = self.engine.runbook_for(alert)
        if entry is not None:
            while isinstance(self.screen, AlertDetailScreen):
                self.pop_screen()
            self.deck.open_runbook(entry)
        elif alert.runbook_url:
            self.copy_to_clipboard(alert.runbook_url)
            self.notify(
                f"{alert.runbook_url} (copied, OSC 52)",
                title=f"runbook of {alert.name}",
                timeout=15,
                markup=False,
            )
        elif alert.runbook:
            self.notify(
                f"no runbook named {alert.runbook!r} under runbooks.paths",
                title=alert.name,
                severity="warning",
                markup=False,
            )
        else:
            self.notify(f"{alert.name} names no runbook", severity="warning", markup=False)

    @work(group="alert-action")
    async def on_alerts_pane_ack_wanted(self, message: AlertsPane.AckWanted) -> None:
        """Acknowledge (with an optional comment), or take an acknowledgement back."""
        alert = message.alert
        if alert.acknowledged:
            question = ConfirmScreen(
                f"Remove the acknowledgement of {alert.name}?",
                [
                    *describe(alert),
                    "",
                    f"acknowledged by {alert.acknowledged_by}"
                    + (f": {alert.ack_comment}" if alert.ack_comment else ""),
                ],
                confirm_label="Unacknowledge",
            )
            if await self.push_screen_wait(question):
                await self.run_alert_action(self.engine.unacknowledge_alert(alert))
            return
        comment = await self.push_screen_wait(AcknowledgeScreen(alert, by=self.user))
        if comment is not None:
            await self.run_alert_action(self.engine.acknowledge_alert(alert, comment))

    @work(group="alert-action")
    async def on_alerts_pane_silence_wanted(self, message: AlertsPane.SilenceWanted) -> None:
        """Ask for a duration and a comment, then silence the alert in its Alertmanager."""
        alert = message.alert
        if not self.engine.can_silence(alert):
            why = "read-only mode" if self.engine.read_only else "no configured Alertmanager"
            self.notify(f"{alert.name} cannot be silenced: {why}", severity="error", markup=False)
            return
        dialog = SilenceScreen(alert, by=self.user, now=self.clock())
        answer = await self.push_screen_wait(dialog)
        if answer is not None:
            seconds, comment = answer
            await self.run_alert_action(self.engine.silence_alert(alert, seconds, comment))

    expiring = False
    """An expiry is being read, asked or sent: ``x`` again (the Alertmanager is slow to tell
    what the silences are) is not a second question."""

    @work(group="alert-action")
    async def on_alerts_pane_expire_wanted(self, message: AlertsPane.ExpireWanted) -> None:
        """Confirm, then expire every silence silencing the alert. The question shows what
        each silence is (it may be a colleague's, covering many alerts), as read from the
        Alertmanager now."""
        alert = message.alert
        silences = alert.silenced_by
        if not silences:
            self.notify(f"{alert.name} is not silenced", severity="warning", markup=False)
            return
        if self.expiring:
            return
        self.expiring = True
        try:
            await self.expire_silences(alert, silences)
        finally:
            self.expiring = False

    async def expire_silences(self, alert: Alert, silences: Sequence[str]) -> None:
        self.notify(f"reading the silences of {alert.name} in {alert.source}…", markup=False)
        found = await self.engine.alert_actions.silences(alert.source, silences)
        now = self.clock()
        lines = [*describe(alert)]
        for silence, details in zip(silences, found, strict=True):
            others = sum(
                1
                for other in self.engine.alerts
                if other.source == alert.source
                and silence in other.silenced_by
                and other.key != alert.key
            )
            lines += ["", *describe_silence(silence, details, others, now)]
        count = "its silence" if len(silences) == 1 else f"its {len(silences)} silences"
        question = ConfirmScreen(
            f"Expire {count} in {alert.source}?",
            [*lines, "", "Matching alerts notify again at once."],
            confirm_label="Expire",
        )
        if not await self.push_screen_wait(question):
            return
        for silence in silences:
            if not await self.run_alert_action(self.engine.expire_silence(alert.source, silence)):
                return

    async def run_alert_action(self, action: Awaitable[Outcome]) -> bool:
        """Await a confirmed action and say how it went in one line; False if it failed."""
        try:
            outcome = await action
        except ActionRefused as exc:
            self.notify(str(exc), title="not run", severity="error", markup=False)
            return False
        except ValueError as exc:
            self.notify(str(exc), title="not run", severity="error", markup=False)
            return False
        self.notify(
            outcome.message, severity="information" if outcome.ok else "error", markup=False
        )
        return outcome.ok

    # --- keys ------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.engine.refresh_now()

    def action_toggle_pause(self) -> None:
        if self.engine.paused:
            self.engine.resume()
        else:
            self.engine.pause()

    def action_timeline(self) -> None:
        if isinstance(self.screen, TimelineScreen):
            self.screen.dismiss()
        else:
            self.push_screen(TimelineScreen(self.engine, self.deck, clock=self.clock))

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
