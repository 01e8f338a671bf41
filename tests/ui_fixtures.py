"""Fixed data for the UI tests and snapshots: a config, an engine that is never started, and
engine events fed through the engine's own listener path, all at a fixed time.

Hosts and ports below are never contacted (the engine is not started).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
from textual.pilot import Pilot
from textual.widgets import Markdown

from tui.app import WatchdeckApp
from tui.engine.config import Check, Config, Database, Queue, Runbooks
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, Event, SourceUpdated
from tui.engine.samples import (
    Alert,
    Capabilities,
    CertInfo,
    CheckSample,
    ConditionResult,
    Connections,
    CustomMetric,
    DatabaseSample,
    QueueSample,
    Replica,
    Session,
)
from tui.engine.state import State

NOW = 1_700_000_000.0
"""2023-11-14 22:13:20 UTC: the fixed clock of every UI test."""
RUNBOOKS = Path(__file__).parent / "ui_runbooks"
DAY = 86_400.0
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
            Check(name="checkout", url="https://127.0.0.1:9/checkout", expect=["status == 200"]),
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
    """A lock chain (4242 ← 4317 ← 4401), a long report, an aborted and an idle transaction,
    a standby, a custom metric, and a role that cannot see everything."""
    root = session(4242, "SELECT customer_id, sum(amount)\n  FROM invoices GROUP BY 1")
    return DatabaseSample(
        name="main",
        at=NOW - 1,
        server_version="16.4",
        max_connections=100,
        usable_connections=97,
        reserved_connections=3,
        connections=Connections(
            total=38,
            active=6,
            idle=27,
            idle_in_transaction=3,
            waiting_on_lock=2,
            not_visible=2,
            aborted=1,
            by_database=(("app", 34), ("postgres", 4)),
            by_user=(("app", 30), ("report", 6), ("postgres", 2)),
            by_application=(("billing-worker", 20), ("api", 12), ("", 6)),
            by_client=(("10.0.0.7", 21), ("10.0.0.8", 15), ("not visible", 2)),
        ),
        long_queries=(
            root,
            session(
                5100,
                "SELECT * FROM events WHERE created_at > $1",
                user="report",
                application="metabase",
                duration_s=1210.0,
                xact_age_s=1210.0,
            ),
        ),
        idle_transactions=(
            session(
                4500,
                "UPDATE carts SET status = 'paid' WHERE id = $1",
                state="idle in transaction",
                application="api",
                duration_s=430.0,
                xact_age_s=431.0,
                state_age_s=420.0,
            ),
            session(
                4501,
                "INSERT INTO audit VALUES ($1)",
                state="idle in transaction (aborted)",
                application="api",
                duration_s=95.0,
                xact_age_s=None,
                state_age_s=90.0,
            ),
        ),
        blocked=(
            session(
                4317,
                "UPDATE accounts SET balance = balance - 10 WHERE id = 7",
                application="api",
                duration_s=95.0,
                wait_event="Lock:transactionid",
                blocked_by=(4242,),
            ),
            session(
                4401,
                "ALTER TABLE accounts ADD COLUMN note text",
                user="postgres",
                application="psql",
                duration_s=40.0,
                xact_age_s=40.0,
                wait_event="Lock:relation",
                blocked_by=(4317,),
            ),
        ),
        blockers=(root,),
        root_blockers=(4242,),
        replicas=(Replica("replica-1", "10.0.0.9", "streaming", "async", 0.0, 0.0),),
        capabilities=Capabilities(
            version_num=160004,
            user="watchdeck",
            read_all_stats=False,
            signal_backend=True,
            reasons=(
                "role watchdeck lacks pg_read_all_stats (grant pg_monitor): other roles'"
                " sessions are counted as not visible",
            ),
        ),
        custom_metrics=(CustomMetric("orders_1h", 1234.0, at=NOW - 5, duration_ms=3.2),),
    )


def history(name: str, kind: str, latencies: Sequence[float | None]) -> list[CheckSample]:
    """Earlier polls 10 s apart before ``NOW - 10``: ``None`` is a down poll (HTTP 500)."""
    first = NOW - 10 * len(latencies)
    return [
        CheckSample(
            name,
            kind,
            first + 10 * index,
            up=latency is not None,
            status="ok" if latency is not None else "critical",
            latency_ms=latency if latency is not None else 30.0,
            http_status=(200 if latency is not None else 500) if kind == "http" else None,
        )
        for index, latency in enumerate(latencies)
    ]


def cert(subject: str, issuer: str, days: float, sans: tuple[str, ...] = ()) -> CertInfo:
    return CertInfo(subject, issuer, NOW - 300 * DAY, NOW + days * DAY, sans)


CHECKOUT_BODY = (
    '{"status":"degraded","version":"2.14.1","checks":'
    '{"db":{"status":"ok","latency_ms":3},"payments":{"status":"timeout","after_ms":800}}}'
)
CHECKOUT_CHAIN = (
    cert(
        "CN=checkout.internal",
        "CN=Internal Issuing CA 2",
        17.4,
        ("checkout.internal", "checkout.svc.cluster.local"),
    ),
    cert("CN=Internal Issuing CA 2", "CN=Internal Root CA", 412.0),
)


def checkout_sample(at: float = NOW - 3, code: int = 500, body: str = CHECKOUT_BODY) -> CheckSample:
    """The failing check of the fixed data, with everything its detail screen shows."""
    return CheckSample(
        "checkout",
        "http",
        at,
        up=False,
        status="critical",
        latency_ms=812.0,
        http_status=code,
        failed_conditions=(f"status ({code}) == 200",),
        conditions=(
            ConditionResult("status == 200", False, str(code), f"status ({code}) == 200"),
            ConditionResult("latency < 1s", True, "812ms", "latency < 1s"),
            ConditionResult('json $.checks.db.status == "ok"', True, '"ok"', ""),
            ConditionResult("header X-Content-Type-Options exists", None, "no data", ""),
        ),
        headers=(
            ("content-type", "application/json"),
            ("content-length", str(len(body))),
            ("server", "nginx/1.25.3"),
            ("set-cookie", "***"),
            ("strict-transport-security", "max-age=63072000"),
            ("x-request-id", "7f3c9a2e-51d4-4c1b-9a57-0e8d2b6f4a11"),
        ),
        body_excerpt=body,
        body_bytes=len(body),
        cert_days_left=17.4,
        cert_chain=CHECKOUT_CHAIN,
    )


def check_samples() -> dict[str, list[CheckSample]]:
    """Every check's polls, oldest first; the last one is what the Health pane shows."""
    slow = [410.0, 520.0, 480.0, 640.0, 590.0, 720.0, 880.0, None, 930.0, 1010.0, 960.0]
    return {
        "api": [
            *history("api", "http", [38.0, 41.0, 40.0, 44.0, 39.0, 42.0, 40.0, 57.0, 41.0, 43.0]),
            CheckSample(
                "api", "http", NOW - 4, up=True, status="ok", latency_ms=42.0, http_status=200
            ),
        ],
        "checkout": [
            *history("checkout", "http", [120.0, 118.0, 125.0, 119.0, 131.0, 122.0, None, None]),
            checkout_sample(),
        ],
        "search": [
            *history("search", "http", slow),
            CheckSample(
                "search",
                "http",
                NOW - 2,
                up=False,
                status="warning",
                latency_ms=1240.0,
                http_status=200,
                failed_conditions=("latency (1.24s) < 1s",),
            ),
        ],
        "login": history("login", "http", [64.0, 70.0, 66.0, 61.0]),
        "payments": [
            *history("payments", "http", [90.0, None] * 6),
            CheckSample(
                "payments",
                "http",
                NOW - 5,
                up=True,
                status="ok",
                latency_ms=95.0,
                http_status=200,
            ),
        ],
        "site-cert": [
            *history("site-cert", "tls", [15.0, 16.0, 14.0, 15.0]),
            CheckSample(
                "site-cert",
                "tls",
                NOW - 6,
                up=True,
                status="ok",
                latency_ms=15.0,
                cert_days_left=12.6,
                cert_chain=(cert("CN=example.test", "CN=Example CA", 12.6, ("example.test",)),),
            ),
        ],
    }


FAILED_POLLS = {"login": "connection refused"}
"""Checks whose last poll raised: the last good sample stays, marked stale."""


def make_health_config() -> Config:
    """The fixed config plus checks in every state the Health pane knows."""
    base = make_config()
    extra = [
        Check(name="login", url="http://127.0.0.1:9/login"),
        Check(name="payments", url="http://127.0.0.1:9/payments"),
        Check(name="db-port", kind="tcp", host="127.0.0.1", port=9),
        Check(name="site-cert", kind="tls", host="127.0.0.1", port=9, server_name="example.test"),
    ]
    return msgspec.structs.replace(base, checks=[*base.checks, *extra])


def source_events(state: State) -> list[Event]:
    """Samples recorded through ``State`` (as the scheduler does), one event per source."""
    events: list[Event] = []
    for name, samples in check_samples().items():
        source = f"check:{name}"
        if source not in state.sources:
            continue
        for sample in samples:
            state.record_sample(source, sample, sample.at)
        if name in FAILED_POLLS:
            state.record_error(source, FAILED_POLLS[name], NOW - 1)
        events.append(SourceUpdated(state.schedule(source, NOW + 6)))
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
