"""The composition root: config in, a running scheduler, state and rules out.

Both faces use it: the TUI starts it and listens; ``watchdeck check`` polls once.
Sources are imported lazily by kind, so a config without databases never imports psycopg.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine import logs
from tui.engine.actions import ActionRunner, Outcome
from tui.engine.alert_book import AlertBook, AlertEvent
from tui.engine.alert_state import FILENAME, AlertStore
from tui.engine.config import Config
from tui.engine.events import AlertsUpdated, Event, Listener, SourceUpdated, StateProblems
from tui.engine.journal import Journal
from tui.engine.maintenance import ActiveWindow, active, compile_window
from tui.engine.rules import RuleEngine
from tui.engine.runbooks.catalog import RunbookEntry, attached_alerts, discover, runbook_files
from tui.engine.samples import Alert, AlertsSample, Session
from tui.engine.scheduler import Scheduler
from tui.engine.sources import Source
from tui.engine.state import State
from tui.engine.timeline import TimelineStore, recorder

ALERT_SAVE_EVERY = 60.0
"""Seconds between saves of the alert state when nothing but flapping counts changed."""

if TYPE_CHECKING:
    from tui.engine.alert_actions import AlertActions, SilenceOutcome
    from tui.engine.alert_sources import AlertmanagerSource
    from tui.engine.pg_actions import BackendSignaller, Signal
    from tui.engine.runbooks.executor import RunbookExecutor
    from tui.engine.sources.pg_ondemand import DatabaseSize, TopStatement


class Engine:
    def __init__(
        self,
        config: Config,
        *,
        base_dir: Path | None = None,
        read_only: bool = False,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        """Where the journal, alert history and runbook progress live (created on first write)."""
        self.base_dir = base_dir or Path.cwd()
        self.read_only = read_only or config.settings.read_only
        self.clock = clock
        self.state = State(
            history=config.settings.history,
            window=config.settings.window,
            windows={check.name: check.window for check in config.checks if check.window},
            clock=clock,
        )
        self._closers: list[Callable[[], object]] = []
        self._signallers: dict[str, BackendSignaller] = {}
        self.scheduler = Scheduler(
            self._build_sources(), self.state, max_backoff=config.settings.max_backoff, clock=clock
        )
        journal = Journal(state_dir / "journal.jsonl") if state_dir else None
        self.actions = ActionRunner(journal, read_only=self.read_only)
        self.alerts: tuple[Alert, ...] = ()
        self._rules_task: asyncio.Task[None] | None = None
        self.timeline = TimelineStore(state_dir) if state_dir else None
        """The incident timeline, recorded from events and actions (None: no state dir)."""
        self._setup_alerts()
        if self.timeline is not None:
            recorder.attach(self, self.timeline, self._tell_state_problems)

    # --- construction ------------------------------------------------------------------
    @functools.cached_property
    def runbooks(self) -> list[RunbookEntry]:
        """Parsed on first use: ``watchdeck check`` needs only their names."""
        return discover(self.runbook_paths())

    def runbook_paths(self) -> list[Path]:
        return [self._resolve(path) for path in self.config.runbooks.paths]

    def _resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def _build_sources(self) -> list[Source]:
        settings = self.config.settings
        sources: list[Source] = []
        if self.config.checks:
            from tui.engine.sources.http import CheckClients, check_source

            clients = CheckClients(settings)
            self._closers.append(clients.aclose)
            sources.extend(
                check_source(check, settings, clients, self.base_dir)
                for check in self.config.checks
            )
        if self.config.databases:
            from tui.engine.sources.postgres import PostgresSource

            sources.extend(PostgresSource(db, settings) for db in self.config.databases)
        if self.config.queues:
            from tui.engine.sources.queue_sources import QueueSources

            queues = QueueSources(self.config, self.state, lambda event: self.scheduler.emit(event))
            self._closers.append(queues.aclose)
            sources.extend(queues.sources)
        sources.extend(self._build_alert_sources())
        return sources

    # --- listening ---------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self.scheduler.subscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self.scheduler.unsubscribe(listener)

    # --- running -----------------------------------------------------------------------
    def evaluate_rules(self) -> tuple[Alert, ...]:
        now = self.clock()
        self.alert_book.set_internal(self.rules.evaluate(now))
        return self._publish_alerts(now)

    async def start(self) -> None:
        self.scheduler.start()
        self._rules_task = asyncio.create_task(self._rules_loop(), name="watchdeck-rules")

    async def _rules_loop(self) -> None:
        interval = self.config.alerts.evaluation_interval or self.config.settings.interval
        while True:
            await asyncio.sleep(interval)
            if not self.scheduler.paused:
                self.evaluate_rules()

    async def check_once(self) -> tuple[Alert, ...]:
        """One pass of every source, then one rule evaluation."""
        await self.scheduler.poll_once()
        return self.evaluate_rules()

    async def stop(self) -> None:
        if self._rules_task is not None:
            self._rules_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rules_task
        await self.scheduler.stop()
        self.save_alert_state()
        for close in self._closers:
            with contextlib.suppress(Exception):
                result = close()
                if asyncio.iscoroutine(result):
                    await result

    # --- databases ---------------------------------------------------------------------
    async def signal_backend(self, database: str, signal: Signal, session: Session) -> Outcome:
        """Cancel or terminate one session, confirmed by the caller; raises ActionRefused.

        Each database gets its own action connection, opened on first use (never the poller's).
        """
        from tui.engine.pg_actions import BackendSignaller, signal_action

        signaller = self._signallers.get(database)
        if signaller is None:
            db = next(db for db in self.config.databases if db.name == database)
            timeout = float(db.timeout or self.config.settings.timeout)
            signaller = self._signallers[database] = BackendSignaller(db.dsn, timeout)
            self._closers.append(signaller.aclose)
        action = signal_action(database, signal, session)
        return await self.actions.run(
            action,
            lambda: signaller.send(signal, session.pid, session.backend_start, session.query_start),
        )

    async def database_sizes(self, database: str) -> tuple[DatabaseSize, ...]:
        """Sizes of every database on ``database``'s server, fetched now (not polled)."""
        source = self.scheduler.sources[f"database:{database}"]
        return await source.database_sizes()  # type: ignore[attr-defined,no-any-return]

    async def top_statements(self, database: str) -> tuple[TopStatement, ...]:
        """pg_stat_statements by total time, fetched now; raises ``Unavailable`` with why."""
        source = self.scheduler.sources[f"database:{database}"]
        return await source.top_statements()  # type: ignore[attr-defined,no-any-return]

    # --- runbooks ----------------------------------------------------------------------
    def runbook_executor(self) -> RunbookExecutor:
        """Runs runbook steps through this engine's action path (read-only refusal, journal)
        with its databases and health checks; ``aclose()`` it when the viewer closes."""
        from tui.engine.runbooks.executor import RunbookExecutor

        return RunbookExecutor(
            self.config,
            self.actions,
            state_dir=self.state_dir,
            base_dir=self.base_dir,
            clock=self.clock,
        )

    def runbook_alerts(self, entry: RunbookEntry) -> list[str]:
        """Alert names attached to a runbook: its front matter's, the rules naming it, and
        alerts firing now that name it."""
        return attached_alerts(entry, self.config.alerts.rules, self.alerts)

    # --- controls ----------------------------------------------------------------------
    def refresh_now(self) -> None:
        self.scheduler.refresh_now()

    def pause(self) -> None:
        self.scheduler.pause()

    def resume(self) -> None:
        self.scheduler.resume()

    @property
    def paused(self) -> bool:
        return self.scheduler.paused

    # --- alerts ------------------------------------------------------------------------
    def _build_alert_sources(self) -> list[Source]:
        self.alertmanagers: dict[str, AlertmanagerSource] = {}
        if not self.config.alerts.sources:
            return []
        from tui.engine.alert_sources import AlertmanagerSource, alert_source

        sources: list[Source] = [
            alert_source(config, self.config.settings, self.base_dir)
            for config in self.config.alerts.sources
        ]
        self.alertmanagers = {s.name: s for s in sources if isinstance(s, AlertmanagerSource)}
        return sources

    def _setup_alerts(self) -> None:
        """Rules, maintenance windows and the alert book, restored from the state file."""
        from tui.engine.alert_actions import AlertActions

        alerts = self.config.alerts
        self.rules = RuleEngine(
            alerts.rules,
            self.state,
            retention=alerts.resolved_retention,
            flapping=alerts.flapping,
            max_gap=alerts.max_gap,
        )
        self.maintenance = [compile_window(window) for window in self.config.maintenance]
        self.alert_book = AlertBook(retention=alerts.resolved_retention, windows=self.maintenance)
        self.alert_store = AlertStore(self.state_dir / FILENAME) if self.state_dir else None
        self.alert_actions: AlertActions = AlertActions(
            self.actions,
            self.alert_book,
            self.alertmanagers,
            clock=self.clock,
            changed=lambda: self._publish_alerts(self.clock()),
            refresh=self._refresh_source,
        )
        saved = self.alert_store.load() if self.alert_store else {}
        self.rules.restore(saved.get("rules"))
        self.alert_book.restore(saved, [source.name for source in alerts.sources])
        now = self.clock()
        self.alert_book.set_internal(self.rules.current(now))
        self.alerts = self.alert_book.publish(now, record=False)
        self._alerts_saved_at = now
        self._alerts_unsaved = False
        """The last save failed: try again at each evaluation until one works."""
        self._state_problems = tuple(self.state_problems())
        """As last told (those of the start are in ``alert_warnings``)."""
        self.scheduler.subscribe(self._alert_source_updated)

    def _alert_source_updated(self, event: Event) -> None:
        if isinstance(event, SourceUpdated) and event.state.section == "alertsource":
            self._publish_alerts(self.clock())

    def _publish_alerts(self, now: float) -> tuple[Alert, ...]:
        """Merge the rules' alerts with the sources' last good polls, save when something
        changed (or a minute passed: flapping counts; or the last save failed), and tell the
        listeners."""
        for source in self.state.sources.values():
            if source.section == "alertsource" and isinstance(source.sample, AlertsSample):
                alerts = source.sample.alerts
                self.alert_book.take_poll(source.name, alerts, source.sample.at, now)
        self.alerts = self.alert_book.publish(now)
        if (
            self.alert_book.dirty
            or self._alerts_unsaved
            or now - self._alerts_saved_at >= ALERT_SAVE_EVERY
        ):
            self.save_alert_state()
        self._tell_state_problems()
        self.scheduler.emit(AlertsUpdated(self.alerts, now))
        return self.alerts

    def _refresh_source(self, source_id: str) -> None:
        if self._rules_task is not None:  # running: poll it now rather than at its next turn
            self.scheduler.refresh_now(source_id)

    def save_alert_state(self) -> bool:
        """Write rule states, external alerts, acknowledgements and history to the state file;
        False when there is no state dir or it cannot be written (``alert_warnings`` says why)."""
        if self.alert_store is None:
            return False
        now = self.clock()
        self._alerts_saved_at = now
        data = {"saved_at": now, "rules": self.rules.snapshot(), **self.alert_book.snapshot()}
        saved = self.alert_store.save(data)
        self._alerts_unsaved = not saved
        return saved

    def state_problems(self) -> list[str]:
        """Writes to the state dir that fail now, one line each: the alert state file (also a
        load that failed), the timeline and watchdeck's log."""
        store = self.alert_store.problem if self.alert_store else None
        timeline = self.timeline.problem if self.timeline else None
        return [problem for problem in (store, timeline, logs.problem()) if problem]

    def _tell_state_problems(self) -> None:
        problems = tuple(self.state_problems())
        if problems != self._state_problems:
            self._state_problems = problems
            self.scheduler.emit(StateProblems(problems))

    def alert_history(self, alert: Alert | None = None) -> list[AlertEvent]:
        """State changes, oldest first (persisted across restarts); only ``alert``'s if given."""
        return self.alert_book.events(alert)

    def alert_warnings(self) -> list[str]:
        """Problems worth telling the user that do not stop anything: rules naming a runbook
        that is not under ``runbooks.paths``, a state file or log that cannot be read or
        written."""
        names = {path.stem for path in runbook_files(self.runbook_paths())}
        warnings = [
            f"rule {rule.name}: no runbook named {rule.runbook!r} under runbooks.paths"
            for rule in self.config.alerts.rules
            if rule.runbook and rule.runbook not in names
        ]
        return warnings + self.state_problems()

    def runbook_for(self, alert: Alert) -> RunbookEntry | None:
        """The local runbook an alert names (``runbook:`` or a ``runbook`` annotation)."""
        return next((entry for entry in self.runbooks if entry.name == alert.runbook), None)

    def maintenance_now(self) -> list[ActiveWindow]:
        """The maintenance windows open now."""
        return active(self.maintenance, self.clock())

    async def acknowledge_alert(self, alert: Alert, comment: str = "") -> Outcome:
        """Acknowledge locally (until it resolves); raises ActionRefused (read-only, journal)."""
        return await self.alert_actions.acknowledge(alert, comment)

    async def unacknowledge_alert(self, alert: Alert) -> Outcome:
        return await self.alert_actions.unacknowledge(alert)

    def can_silence(self, alert: Alert) -> bool:
        """Whether ``alert`` comes from an Alertmanager (and the console is not read-only)."""
        return not self.read_only and self.alert_actions.silencer(alert) is not None

    async def silence_alert(self, alert: Alert, duration: float, comment: str) -> SilenceOutcome:
        """Silence in the alert's Alertmanager for ``duration`` seconds, matching its labels;
        the outcome carries the silence id. Raises ActionRefused, or ValueError when the alert
        cannot be silenced."""
        return await self.alert_actions.silence(alert, duration, comment)

    async def expire_silence(self, source: str, silence_id: str) -> Outcome:
        """Expire a silence (e.g. one of ``alert.silenced_by``) in the Alertmanager ``source``."""
        return await self.alert_actions.expire_silence(source, silence_id)
