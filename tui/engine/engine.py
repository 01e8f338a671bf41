"""The composition root: config in, a running scheduler, state and rules out.

Both faces use it: the TUI starts it and listens; ``watchdeck check`` polls once.
Sources are imported lazily by kind, so a config without databases never imports psycopg.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine.actions import ActionRunner, Outcome
from tui.engine.config import Config
from tui.engine.events import AlertsUpdated, Listener
from tui.engine.journal import Journal
from tui.engine.rules import RuleEngine
from tui.engine.runbooks.catalog import RunbookEntry, discover
from tui.engine.samples import Alert, Session
from tui.engine.scheduler import Scheduler
from tui.engine.sources import Source
from tui.engine.state import State

if TYPE_CHECKING:
    from tui.engine.pg_actions import BackendSignaller, Signal
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
        self.rules = RuleEngine(config.alerts.rules, self.state)
        journal = Journal(state_dir / "journal.jsonl") if state_dir else None
        self.actions = ActionRunner(journal, read_only=self.read_only)
        self.alerts: tuple[Alert, ...] = ()
        self.runbooks: list[RunbookEntry] = discover(self.runbook_paths())
        self._rules_task: asyncio.Task[None] | None = None

    # --- construction ------------------------------------------------------------------
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
            from tui.engine.sources.redis_queues import RedisClients, RedisListSource

            clients = RedisClients(timeout=settings.timeout)
            self._closers.append(clients.aclose)
            sources.extend(
                RedisListSource(queue, settings, clients.get(queue.url))
                for queue in self.config.queues
            )
        return sources

    # --- listening ---------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self.scheduler.subscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self.scheduler.unsubscribe(listener)

    # --- running -----------------------------------------------------------------------
    def evaluate_rules(self) -> tuple[Alert, ...]:
        now = self.clock()
        self.alerts = self.rules.evaluate(now)
        self.scheduler.emit(AlertsUpdated(self.alerts, now))
        return self.alerts

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
            action, lambda: signaller.send(signal, session.pid, session.backend_start)
        )

    async def database_sizes(self, database: str) -> tuple[DatabaseSize, ...]:
        """Sizes of every database on ``database``'s server, fetched now (not polled)."""
        source = self.scheduler.sources[f"database:{database}"]
        return await source.database_sizes()  # type: ignore[attr-defined,no-any-return]

    async def top_statements(self, database: str) -> tuple[TopStatement, ...]:
        """pg_stat_statements by total time, fetched now; raises ``Unavailable`` with why."""
        source = self.scheduler.sources[f"database:{database}"]
        return await source.top_statements()  # type: ignore[attr-defined,no-any-return]

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
