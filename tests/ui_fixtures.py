"""Fixed data for the UI tests and snapshots: a config, an engine that is never started, and
engine events fed through the engine's own listener path, all at a fixed time.

Hosts and ports below are never contacted (the engine is not started).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Markdown

from tui.app import WatchdeckApp
from tui.engine.config import Check, Config, Database, Queue, Runbooks
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, Event, SourceUpdated
from tui.engine.samples import Alert, CheckSample, Connections, DatabaseSample, QueueSample, Session
from tui.engine.state import State

NOW = 1_700_000_000.0
"""2023-11-14 22:13:20 UTC: the fixed clock of every UI test."""
RUNBOOKS = Path(__file__).parent / "ui_runbooks"
EMAILS_DEPTH = (120, 180, 260, 340, 410, 530, 610, 700, 820, 960, 1100, 1240)


def clock() -> float:
    return NOW


@contextlib.contextmanager
def utc() -> Iterator[None]:
    """Local time is UTC inside (the status line shows local ``HH:MM:SS``)."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def make_config() -> Config:
    return Config(
        checks=[
            Check(name="api", url="http://127.0.0.1:9/health"),
            Check(name="checkout", url="http://127.0.0.1:9/checkout", expect=["status == 200"]),
            Check(name="search", url="http://127.0.0.1:9/search", severity="warning"),
        ],
        databases=[Database(name="main", dsn="postgresql://app:secret@127.0.0.1:9/app")],
        queues=[
            Queue(name="emails", url="redis://127.0.0.1:9/0"),
            Queue(name="webhooks", url="redis://127.0.0.1:9/0"),
            Queue(name="reports", url="redis://127.0.0.1:9/0"),
        ],
        runbooks=Runbooks(paths=[str(RUNBOOKS)]),
    )


def make_engine(config: Config | None = None) -> Engine:
    return Engine(config or make_config(), base_dir=RUNBOOKS, clock=clock)


def make_app(engine: Engine | None = None, *, theme: str | None = None) -> WatchdeckApp:
    """The console on the fixed engine, not started; ``feed`` delivers the fixed events."""
    return WatchdeckApp(engine or make_engine(), theme=theme, clock=clock, start_engine=False)


def session(pid: int, query: str, **fields: object) -> Session:
    values: dict[str, object] = {
        "pid": pid,
        "backend_start": NOW - 7200,
        "state": "active",
        "user": "app",
        "application": "billing-worker",
        "client": "10.0.0.7",
        "duration_s": 754.0,
        "xact_age_s": 760.0,
        "wait_event": None,
        "query": query,
    }
    values.update(fields)
    return Session(**values)  # type: ignore[arg-type]


def database_sample() -> DatabaseSample:
    return DatabaseSample(
        name="main",
        at=NOW - 1,
        server_version="16.4",
        max_connections=100,
        usable_connections=97,
        connections=Connections(
            total=38, active=6, idle=27, idle_in_transaction=3, waiting_on_lock=2, not_visible=2
        ),
        long_queries=(
            session(4242, "SELECT customer_id, sum(amount)\n  FROM invoices GROUP BY 1"),
        ),
        blocked=(
            session(
                4317,
                "UPDATE accounts SET balance = balance - 10 WHERE id = 7",
                application="api",
                duration_s=95.0,
                wait_event="transactionid",
                blocked_by=(4242,),
            ),
        ),
    )


def source_events(state: State) -> list[Event]:
    """Samples recorded through ``State`` (as the scheduler does), one event per source."""
    checks = [
        CheckSample("api", "http", NOW - 4, up=True, status="ok", latency_ms=42.0, http_status=200),
        CheckSample(
            "checkout",
            "http",
            NOW - 3,
            up=False,
            status="critical",
            latency_ms=812.0,
            http_status=500,
            failed_conditions=("status (500) == 200",),
        ),
        CheckSample(
            "search", "http", NOW - 2, up=True, status="ok", latency_ms=118.0, http_status=200
        ),
    ]
    events: list[Event] = []
    for sample in checks:
        state.record_sample(f"check:{sample.name}", sample, sample.at)
        events.append(SourceUpdated(state.schedule(f"check:{sample.name}", NOW + 6)))
    for offset, depth in enumerate(EMAILS_DEPTH):
        at = NOW - 10 * (len(EMAILS_DEPTH) - 1 - offset)
        emails = QueueSample("emails", "redis_list", at, depth=depth)
        state.record_sample("queue:emails", emails, at)
        reports = QueueSample("reports", "redis_list", at, depth=0)
        state.record_sample("queue:reports", reports, at)
    for at, depth in ((NOW - 60, 14), (NOW - 50, 15), (NOW - 40, 17)):
        state.record_sample("queue:webhooks", QueueSample("webhooks", "redis_list", at, depth), at)
    state.record_error("queue:webhooks", "connection refused", NOW - 2)
    for name in ("emails", "webhooks", "reports"):
        events.append(SourceUpdated(state.schedule(f"queue:{name}", NOW + 8)))
    state.record_sample("database:main", database_sample(), NOW - 1)
    events.append(SourceUpdated(state.schedule("database:main", NOW + 4)))
    return events


ALERTS = (
    Alert(
        name="DbConnectionsHigh",
        source="watchdeck",
        state="resolved",
        severity="warning",
        since=NOW - 600,
        summary="main at 82% of usable connections",
    ),
    Alert(
        name="EmailBacklog",
        source="watchdeck",
        state="pending",
        severity="warning",
        since=NOW - 45,
        summary="emails backlog 1240",
        runbook="queue-backlog",
    ),
    Alert(
        name="CheckoutDown",
        source="watchdeck",
        state="firing",
        severity="critical",
        since=NOW - 312,
        summary="checkout answers 500: status (500) == 200",
    ),
)


def events(engine: Engine) -> list[Event]:
    return [*source_events(engine.state), AlertsUpdated(ALERTS, NOW)]


async def feed(pilot: Pilot[int]) -> None:
    """Deliver the fixed events through the engine's listeners, then let the UI settle."""
    app = pilot.app
    assert isinstance(app, WatchdeckApp)
    for _ in range(100):
        if app.deck.is_mounted and app.deck.query(Markdown):
            break
        await pilot.pause(0.02)
    for event in events(app.engine):
        app.engine.scheduler.emit(event)
    await settle(pilot)


async def settle(pilot: Pilot[int]) -> None:
    """Wait (boundedly) until pending messages ran and the runbook preview has rendered."""
    await pilot.pause()
    for _ in range(100):
        if app_idle(pilot.app):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def app_idle(app: object) -> bool:
    assert isinstance(app, WatchdeckApp)
    preview = app.deck.runbooks.query_one(Markdown)
    return not app.engine.runbooks or bool(preview.children)
