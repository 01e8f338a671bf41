"""Fixed data for the UI tests and snapshots: a config, an engine that is never started, and
engine events fed through the engine's own listener path, all at a fixed time.

Hosts and ports below are never contacted (the engine is not started).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
from textual.pilot import Pilot
from textual.widgets import Markdown

from tui.app import WatchdeckApp
from tui.engine.alert_book import fingerprint
from tui.engine.config import (
    Alerts,
    AlertSource,
    Check,
    Config,
    Database,
    LocalTime,
    Maintenance,
    Queue,
    Runbooks,
)
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, Event, SourceUpdated
from tui.engine.queues_derived import QueueHistory, QueueReading
from tui.engine.samples import (
    Alert,
    AlertsSample,
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
from tui.engine.sources.queue_shared import total
from tui.engine.state import State
from tui.screens.console import FIGURES_EVERY

NOW = 1_700_000_000.0
"""2023-11-14 22:13:20 UTC: the fixed clock of every UI test."""
RUNBOOKS = Path(__file__).parent / "ui_runbooks"
DAY = 86_400.0
EMAILS_DEPTH = (120, 180, 260, 340, 410, 530, 610, 700, 820, 960, 1100, 1240)
INVOICES_DEPTH = (4, 6, 3, 8, 5, 4, 9, 12, 7, 5, 3, 4)
"""Busy but keeping up: the depth comes back to where it was."""


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


def figures_tick(app: WatchdeckApp) -> None:
    """The app's tick as the one that draws new figures (one tick in FIGURES_EVERY does)."""
    app.deck.ticks = FIGURES_EVERY - 1
    app.tick()


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
    state.record_sample("database:main", database_sample(), NOW - 1)
    events.append(SourceUpdated(state.schedule("database:main", NOW + 4)))
    return events


# --- queues: reads turned into samples by the engine's own QueueHistory ---------------------
QUEUE_URL = "redis://127.0.0.1:9/0"
READS = 12
"""Reads of each queue, 10 s apart, the last at ``NOW``."""
VIDEO_QUEUES = ("thumbs", "transcode")
"""What discovery finds under the ``video`` entry."""


def read_times(count: int = READS, last: float = NOW) -> list[float]:
    return [last - 10 * (count - 1 - index) for index in range(count)]


def make_queues_config() -> Config:
    """The fixed config with queues of several kinds, in every state the Queues pane knows:
    growing past a threshold, stale, empty, no workers, failures counted across queues,
    draining with an ETA, values the system does not record, broker rates, and a discovered
    BullMQ pair (one paused)."""
    queues = [
        Queue(name="emails", url=QUEUE_URL, warn_depth=1000, crit_depth=5000),
        Queue(name="webhooks", url=QUEUE_URL),
        Queue(name="reports", url=QUEUE_URL),
        Queue(name="mailer", kind="rq", url=QUEUE_URL, warn_age=300.0, min_workers=1),
        Queue(name="invoices", kind="sidekiq", url=QUEUE_URL, warn_failed=20, crit_failed=50),
        Queue(name="thumbnails", kind="celery", url=QUEUE_URL, warn_depth=500),
        Queue(name="orders", kind="sql", database="main", sql="SELECT count(*) AS depth FROM jobs"),
        Queue(name="events", kind="rabbitmq", url="http://127.0.0.1:9"),
        Queue(name="video", kind="bullmq", url=QUEUE_URL, discover=True, min_workers=1),
    ]
    return msgspec.structs.replace(make_config(), queues=queues)


CELERY_NOTE = (
    "active counts reserved, unacknowledged messages of every queue on this broker "
    "(Celery keeps one unacked index)"
)
SIDEKIQ_NOTE = (
    "failed (retry + dead), delayed (schedule) and active (busy threads) are counted "
    "across all queues: Sidekiq keeps them that way"
)


def queue_reads(name: str) -> list[tuple[float, QueueReading]]:
    """What each read of a queue found, oldest first (as its layout would report it)."""
    times = read_times()
    if name == "emails":
        return [(at, QueueReading(depth)) for at, depth in zip(times, EMAILS_DEPTH, strict=True)]
    if name == "reports":
        return [(at, QueueReading(0)) for at in times]
    if name == "webhooks":
        return [
            (at, QueueReading(depth)) for at, depth in zip(times[5:8], (14, 15, 17), strict=True)
        ]
    if name == "mailer":
        return [
            (
                at,
                QueueReading(
                    40,
                    active=0,
                    failed=3,
                    delayed=2,
                    oldest_age_s=250.0 + 10 * index,
                    workers=0,
                    breakdown=(("scheduled", 2), ("deferred", 0), ("finished", 812)),
                ),
            )
            for index, at in enumerate(times)
        ]
    if name == "invoices":
        return [
            (
                at,
                QueueReading(
                    depth,
                    active=5,
                    failed=57,
                    delayed=3,
                    oldest_age_s=4.2,
                    workers=2,
                    breakdown=(("retry", 40), ("dead", 17), ("scheduled", 3)),
                    shared=("active", "failed", "delayed"),
                    notes=(SIDEKIQ_NOTE,),
                ),
            )
            for at, depth in zip(times, INVOICES_DEPTH, strict=True)
        ]
    if name == "thumbnails":
        return [
            (
                at,
                QueueReading(
                    900 - 20 * index,
                    active=8,
                    breakdown=(("priority 0", 880 - 20 * index), ("priority 3", 20)),
                    shared=("active",),
                    notes=(CELERY_NOTE,),
                ),
            )
            for index, at in enumerate(times)
        ]
    if name == "orders":
        return [(NOW, QueueReading(42))]
    if name == "events":
        return [
            (at, QueueReading(15, active=4, workers=3, rate_in=120.0, rate_out=118.0))
            for at in times
        ]
    return []


def video_reads(queue: str) -> list[tuple[float, QueueReading]]:
    """The queues discovery finds under ``video``: one with nobody serving it, one paused."""
    times = read_times()
    if queue == "transcode":
        depths = [12 + 2 * index for index in range(READS)]
        return [
            (
                at,
                QueueReading(
                    depth,
                    active=0,
                    failed=1,
                    delayed=0,
                    oldest_age_s=40.0 + 10 * index,
                    workers=0,
                    paused=False,
                ),
            )
            for index, (at, depth) in enumerate(zip(times, depths, strict=True))
        ]
    return [
        (at, QueueReading(5, active=0, failed=0, delayed=0, workers=1, paused=True)) for at in times
    ]


def discovered(engine: Engine, parent: str, queue: str) -> list[QueueSample]:
    """Register ``PARENT/QUEUE`` as discovery does and record its reads; its samples."""
    entry = next(q for q in engine.config.queues if q.name == parent)
    name = f"{parent}/{queue}"
    config = msgspec.structs.replace(entry, name=name, queue=queue, discover=False)
    settings = engine.config.settings
    history = QueueHistory(config, history=settings.history, window=float(settings.window))
    engine.state.register(f"queue:{name}", "queue", name, entry.kind)
    samples = []
    for at, reading in video_reads(queue):
        sample = history.sample(name, entry.kind, at, reading, parent=parent)
        engine.state.record_sample(f"queue:{name}", sample, at)
        samples.append(sample)
    return samples


def queue_events(engine: Engine) -> list[Event]:
    """Every configured queue's reads recorded through ``State``, one event per queue (and
    per queue found by discovery); ``webhooks``' last poll failed."""
    state, settings = engine.state, engine.config.settings
    events: list[Event] = []
    for queue in engine.config.queues:
        source = f"queue:{queue.name}"
        history = QueueHistory(queue, history=settings.history, window=float(settings.window))
        reads = queue_reads(queue.name)
        if queue.discover:
            children = {child: discovered(engine, queue.name, child) for child in VIDEO_QUEUES}
            for child in children:
                events.append(SourceUpdated(state.schedule(f"{source}/{child}", NOW + 8)))
            lasts = [samples[-1] for samples in children.values()]
            reads = [(NOW, total(lasts, 0))]
        for at, reading in reads:
            state.record_sample(source, history.sample(queue.name, queue.kind, at, reading), at)
        if queue.name == "webhooks":
            state.record_error(source, "connection refused", NOW - 2)
        events.append(SourceUpdated(state.schedule(source, NOW + 8)))
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
    return [*source_events(engine.state), *queue_events(engine), AlertsUpdated(ALERTS, NOW)]


# --- alerts from rules and external sources, through the engine's alert book ----------------
def make_alerts_config() -> Config:
    """The fixed config plus an Alertmanager, a Prometheus (never contacted) and a maintenance
    window open at ``NOW`` over one alert."""
    base = make_config()
    sources = [
        AlertSource(name="am", kind="alertmanager", url="http://127.0.0.1:9"),
        AlertSource(name="prom", kind="prometheus", url="http://127.0.0.1:9"),
    ]
    window = Maintenance(
        name="search-reindex",
        start=LocalTime("2023-11-14 22:00"),
        duration=3600.0,
        alerts=["HighLatency"],
        labels={"service": "search"},
        comment="planned reindex, OPS-4702",
    )
    return msgspec.structs.replace(base, alerts=Alerts(sources=sources), maintenance=[window])


def external(
    source: str, kind: str, name: str, severity: str, since: float, **fields: object
) -> Alert:
    """An alert as an external source reports it: its labels (``alertname``, ``severity`` and
    ``labels``) make its fingerprint."""
    labels = {"alertname": name, "severity": severity, **fields.pop("labels", {})}  # type: ignore[dict-item]
    annotations = {"summary": str(fields.pop("summary")), **fields.pop("annotations", {})}  # type: ignore[dict-item]
    values: dict[str, object] = {
        "name": name,
        "source": source,
        "source_kind": kind,
        "state": "firing",
        "severity": severity,
        "since": since,
        "active_since": since,
        "summary": annotations["summary"],
        "labels": labels,
        "annotations": annotations,
        "description": annotations.get("description", ""),
        "fingerprint": fingerprint(labels),
    }
    values.update(fields)
    return Alert(**values)  # type: ignore[arg-type]


DISK_FULL = external(
    "am",
    "alertmanager",
    "DiskFull",
    "critical",
    NOW - 700,
    labels={"instance": "db1", "mountpoint": "/var/lib/postgresql"},
    summary="Disk on db1 is 92% full",
    annotations={
        "description": "Free space on /var/lib/postgresql fell below 8% and grows 2 GB an hour.",
        "runbook_url": "https://wiki.example.internal/runbooks/disk-full",
    },
    runbook="https://wiki.example.internal/runbooks/disk-full",
    runbook_url="https://wiki.example.internal/runbooks/disk-full",
    generator_url="http://prometheus.example.internal:9090/graph?g0.expr=disk_free",
)
TARGETS_DOWN = tuple(
    external(
        "am",
        "alertmanager",
        "TargetDown",
        "warning",
        NOW - 1800 + 60 * index,
        labels={"instance": f"web{index}:9100", "job": "node"},
        summary=f"web{index}:9100 has not answered a scrape for 5 minutes",
        **({"inhibited_by": (DISK_FULL.fingerprint,), "suppressed": True} if index == 4 else {}),
    )
    for index in range(1, 6)
)
AM_ALERTS = (
    DISK_FULL,
    external(
        "am",
        "alertmanager",
        "ReplicationLag",
        "warning",
        NOW - 2400,
        labels={"instance": "db2"},
        summary="replica db2 is 3m behind",
        runbook="replication-lag",
        silenced_by=("0f1c3a4e-6b2d-4f0a-9c1e-7d8e9fa0b1c2",),
        suppressed=True,
    ),
    *TARGETS_DOWN,
)
PROM_ALERTS = (
    external(
        "prom",
        "prometheus",
        "HighLatency",
        "warning",
        NOW - 240,
        labels={"service": "api"},
        summary="api p95 latency 1.84s",
        value=1.84,
    ),
    external(
        "prom",
        "prometheus",
        "HighLatency",
        "warning",
        NOW - 90,
        labels={"service": "search"},
        summary="search p95 latency 1.21s",
        value=1.21,
        state="pending",
    ),
)
RULE_ALERTS = tuple(
    dataclasses.replace(
        alert,
        labels=(labels := {"alertname": alert.name, "severity": alert.severity}),
        fingerprint=fingerprint(labels),
        annotations={"summary": alert.summary},
        flapping=alert.name == "EmailBacklog",
    )
    for alert in ALERTS
)
"""``ALERTS`` as the rules make them: with labels and a fingerprint."""


def alert_events(engine: Engine) -> list[Event]:
    """DiskFull's history (fired, resolved, fired again), the rules' alerts, an acknowledgement,
    then a good poll of ``am`` and a stale ``prom``: the engine's own listener merges them."""
    book = engine.alert_book
    first = dataclasses.replace(DISK_FULL, since=NOW - 1500, active_since=NOW - 1500)
    for at, polled in ((NOW - 1500, [first]), (NOW - 1200, []), (NOW - 700, [DISK_FULL])):
        book.take_poll("am", polled, at, at)
        book.publish(at)
    book.set_internal(RULE_ALERTS)
    book.acknowledge(DISK_FULL, "alice@ops-1", "on it, ticket OPS-4711", NOW - 120)
    state = engine.state
    state.record_sample(
        "alertsource:am", AlertsSample("am", "alertmanager", NOW - 2, AM_ALERTS), NOW - 2
    )
    prom = AlertsSample("prom", "prometheus", NOW - 40, PROM_ALERTS)
    state.record_sample("alertsource:prom", prom, NOW - 40)
    state.record_error("alertsource:prom", "connection refused", NOW - 1)
    return [
        SourceUpdated(state.schedule("alertsource:am", NOW + 3)),
        SourceUpdated(state.schedule("alertsource:prom", NOW + 8)),
    ]


def alerts_app() -> WatchdeckApp:
    return make_app(make_engine(make_alerts_config()))


async def feed_alerts(pilot: Pilot[int]) -> None:
    """``feed``, then the alerts of ``alert_events``."""
    await feed(pilot)
    app = pilot.app
    assert isinstance(app, WatchdeckApp)
    for event in alert_events(app.engine):
        app.engine.scheduler.emit(event)
    await settle(pilot)


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
