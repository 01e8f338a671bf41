"""Immutable samples produced by sources, one per poll pass.

Each sample knows its metric values under the names alert rules use
(``check.NAME.latency_ms``, ``db.NAME.pct_of_usable``, ``queue.NAME.depth``). ``None`` means
"no data", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tui.engine.derived import DERIVED_METRICS

Status = Literal["ok", "warning", "critical", "unknown"]
STATUS_ORDER: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    """The most severe status; ``critical`` outranks ``unknown`` for display purposes."""
    rank = {"ok": 0, "unknown": 1, "warning": 2, "critical": 3}
    return max(statuses, key=rank.__getitem__, default="ok")


@dataclass(frozen=True, slots=True)
class CertInfo:
    """One certificate of the chain the server presented, leaf first."""

    subject: str
    issuer: str
    not_before: float
    not_after: float
    """Expiry (epoch seconds)."""
    sans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """One ``expect`` condition after a poll: ``ok`` is None when there was no data."""

    text: str
    """The condition as written, e.g. ``status == 200``."""
    ok: bool | None
    actual: str
    """The actual value as shown, e.g. ``500`` or ``no data``."""
    message: str
    """``status (500) == 200`` when failed; the condition text when it holds."""


@dataclass(frozen=True, slots=True)
class CheckSample:
    name: str
    kind: str
    at: float
    """Wall-clock time of the poll (epoch seconds)."""
    up: bool
    status: Status
    latency_ms: float | None = None
    http_status: int | None = None
    failed_conditions: tuple[str, ...] = ()
    error: str | None = None
    cert_days_left: float | None = None
    """Days until the earliest expiry across the whole presented chain."""
    conditions: tuple[ConditionResult, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    """Response headers, with cookie and auth values masked."""
    body_excerpt: str | None = None
    """The start of the response body (decoded, capped) for the detail screen."""
    body_bytes: int | None = None
    """Bytes of body read (at most the cap)."""
    body_truncated: bool = False
    cert_chain: tuple[CertInfo, ...] = ()
    json_metrics: tuple[tuple[str, float | None], ...] = ()
    """The check's ``metrics:`` read from the JSON body (``None`` when not there or not a
    number)."""

    def metrics(self) -> dict[str, float | None]:
        return {
            "up": 1.0 if self.up else 0.0,
            "latency_ms": self.latency_ms,
            "http_status": float(self.http_status) if self.http_status is not None else None,
            "cert_days_left": self.cert_days_left,
            **dict(self.json_metrics),
        }


@dataclass(frozen=True, slots=True)
class Session:
    """One backend of interest: a long-running query or a blocked/blocking session."""

    pid: int
    backend_start: float
    state: str | None
    user: str | None
    application: str | None
    client: str | None
    duration_s: float | None
    xact_age_s: float | None
    wait_event: str | None
    query: str
    blocked_by: tuple[int, ...] = ()
    """Pids this session waits for (``pg_blocking_pids``); 0 is a prepared transaction."""
    database: str | None = None
    state_age_s: float | None = None
    """Time in its current state: how long an idle-in-transaction session has been idle.
    (An aborted transaction has no ``xact_age_s``; this is what is known of it.)"""
    query_start: float | None = None
    """When its current (or, idle, its last) query started (epoch seconds): a cancel stops
    this query only, never the next one a pooled connection runs on the same backend."""

    @staticmethod
    def nothing_to_cancel(pid: int, state: str | None) -> str | None:
        """Why cancelling a backend in ``state`` would do nothing, or ``None``.

        An idle session runs no query, so PostgreSQL ignores the cancel; one idle in a
        transaction (the usual root blocker) keeps its locks until it ends.
        """
        if not (state or "").startswith("idle"):
            return None
        return f"pid {pid}: nothing running to cancel ({state}): terminate it with K"


Counts = tuple[tuple[str, int], ...]
"""``(name, sessions)`` pairs, most sessions first."""


@dataclass(frozen=True, slots=True)
class Connections:
    """Client backends, by state; the states overlap (a session waiting on a lock is active)."""

    total: int
    active: int
    idle: int
    idle_in_transaction: int
    """Idle in an open transaction, aborted ones included."""
    waiting_on_lock: int
    not_visible: int = 0
    """Sessions whose state is hidden from us for lack of pg_read_all_stats."""
    aborted: int = 0
    """Idle in a transaction that failed (``idle in transaction (aborted)``)."""
    by_database: Counts = ()
    by_user: Counts = ()
    by_application: Counts = ()
    """Sessions without an application name count under ``""``."""
    by_client: Counts = ()
    """Client address, ``local`` for a unix socket, ``not visible`` for hidden sessions."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the polling role may see and do, probed once per connection."""

    version_num: int = 0
    """``server_version_num``, e.g. 160002."""
    user: str = ""
    superuser: bool = False
    read_all_stats: bool = False
    """Sees every session (superuser, pg_read_all_stats or pg_monitor)."""
    signal_backend: bool = False
    """May cancel or terminate other roles' sessions (superuser or pg_signal_backend)."""
    statements: bool = False
    """pg_stat_statements is installed in this database and loaded."""
    reasons: tuple[str, ...] = ()
    """What is degraded and why, one human sentence each."""


@dataclass(frozen=True, slots=True)
class Replica:
    """A standby streaming from this primary (``pg_stat_replication``)."""

    name: str
    """Its ``application_name`` (the standby's cluster name or ``walreceiver``)."""
    client: str | None
    state: str | None
    sync_state: str | None
    lag_bytes: float | None
    """WAL not yet replayed on the standby; ``None`` when hidden for lack of privileges."""
    replay_lag_s: float | None
    """0 when the standby has replayed everything; ``None`` when unknown."""


@dataclass(frozen=True, slots=True)
class CustomMetric:
    """The latest run of a configured metric query."""

    name: str
    value: float | None
    """``None`` is no data: no row, NULL, not run yet, or an error."""
    at: float | None = None
    """When the query ran (epoch seconds); ``None`` before its first run."""
    error: str | None = None
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class BlockNode:
    """One node of the lock-wait tree: a session and the sessions waiting for it."""

    pid: int
    """0 is a prepared transaction (no session)."""
    session: Session | None
    """``None`` for a prepared transaction or a session we cannot see."""
    waiters: tuple[BlockNode, ...] = ()
    behind: int = 0
    """Sessions waiting for it, directly or not, each counted once (a session waiting for
    two of its waiters appears twice in the tree)."""


@dataclass(frozen=True, slots=True)
class DatabaseSample:
    name: str
    at: float
    server_version: str
    max_connections: int
    usable_connections: int
    connections: Connections
    long_queries: tuple[Session, ...] = ()
    """Active queries running longer than ``long_query``, longest first."""
    blocked: tuple[Session, ...] = ()
    """Sessions waiting on a lock, each with ``blocked_by``, longest wait first."""
    reserved_connections: int = 0
    """Slots only superusers (and ``pg_use_reserved_connections``) may use."""
    idle_transactions: tuple[Session, ...] = ()
    """Sessions idle in a transaction open longer than ``idle_in_transaction``, oldest first."""
    blockers: tuple[Session, ...] = ()
    """The root blockers' sessions (those we can see)."""
    root_blockers: tuple[int, ...] = ()
    """Pids that block others and wait for nobody; 0 is a prepared transaction."""
    in_recovery: bool = False
    """The server is a standby."""
    replicas: tuple[Replica, ...] = ()
    standby_lag_s: float | None = None
    """On a standby: replay delay, 0 when everything received is replayed."""
    standby_lag_bytes: float | None = None
    capabilities: Capabilities = Capabilities()
    custom_metrics: tuple[CustomMetric, ...] = ()
    long_query_s: float = 300.0
    """The thresholds the lists were drawn with (``long_query``, ``idle_in_transaction``)."""
    idle_in_transaction_s: float = 60.0
    long_queries_total: int | None = None
    """Every long query, listed or not (the lists stop at 50); ``None``: as many as listed."""
    idle_transactions_total: int | None = None
    blocked_total: int | None = None

    @property
    def long_query_count(self) -> int:
        return (
            len(self.long_queries) if self.long_queries_total is None else self.long_queries_total
        )

    @property
    def idle_transaction_count(self) -> int:
        return (
            len(self.idle_transactions)
            if self.idle_transactions_total is None
            else self.idle_transactions_total
        )

    @property
    def blocked_count(self) -> int:
        return len(self.blocked) if self.blocked_total is None else self.blocked_total

    @property
    def pct_of_usable(self) -> float:
        """Share of usable connection slots in use, as a fraction (0.42 is 42 %)."""
        if self.usable_connections <= 0:
            return 1.0
        return self.connections.total / self.usable_connections

    def metrics(self) -> dict[str, float | None]:
        return {
            "pct_of_usable": self.pct_of_usable,
            "connections": float(self.connections.total),
            "active": float(self.connections.active),
            "idle_in_transaction": float(self.connections.idle_in_transaction),
            "waiting_on_lock": float(self.connections.waiting_on_lock),
            "long_queries": float(self.long_query_count),
            "blocked": float(self.blocked_count),
            **{metric.name: metric.value for metric in self.custom_metrics},
        }

    def blocking_tree(self) -> tuple[BlockNode, ...]:
        """Root blockers with their waiters below them, recursively.

        A session waiting for several pids appears under each; its own waiters are expanded
        once. Sessions waiting in a cycle (a deadlock not yet detected) have no root: they
        become roots themselves, so nobody blocked is ever left out.
        """
        sessions = {s.pid: s for s in (*self.blockers, *self.blocked)}
        waiters: dict[int, list[int]] = {}
        for session in self.blocked:
            for pid in session.blocked_by:
                waiters.setdefault(pid, []).append(session.pid)
        expanded: set[int] = set()

        def behind(pid: int) -> int:
            seen: set[int] = set()
            todo = [pid]
            while todo:
                for waiter in waiters.get(todo.pop(), ()):
                    if waiter not in seen:
                        seen.add(waiter)
                        todo.append(waiter)
            return len(seen - {pid})

        def node(pid: int) -> BlockNode:
            if pid in expanded:
                return BlockNode(pid, sessions.get(pid), behind=behind(pid))
            expanded.add(pid)
            below = tuple(node(waiter) for waiter in waiters.get(pid, ()))
            return BlockNode(pid, sessions.get(pid), below, behind(pid))

        roots = [node(pid) for pid in self.root_blockers]
        for session in self.blocked:
            if session.pid not in expanded:
                roots.append(node(session.pid))
        return tuple(roots)


QueueTrend = Literal["empty", "draining", "steady", "growing"]
QUEUE_METRICS = (
    "depth",
    "active",
    "failed",
    "delayed",
    "oldest_age_s",
    "workers",
    "rate_in",
    "rate_out",
    "rate_net",
    "eta_s",
)
"""Metric names rules use under ``queue.NAME.`` (rates are per minute, ages in seconds)."""


@dataclass(frozen=True, slots=True)
class QueueSample:
    """One read of a queue. ``None`` is "this system does not record it", never zero.

    ``depth`` is ready work only: delayed or scheduled jobs are ``delayed``, jobs being
    worked on are ``active``. The rates and ETA are derived from this queue's earlier reads
    (``tui.engine.queues_derived``).
    """

    name: str
    kind: str
    at: float
    depth: int | None
    active: int | None = None
    failed: int | None = None
    delayed: int | None = None
    oldest_age_s: float | None = None
    """Age of the oldest ready job, where the system records when it was enqueued."""
    workers: int | None = None
    """Live workers or consumers serving the queue."""
    status: Status = "ok"
    """From the queue's thresholds (``warn_depth``, ``crit_age``, ``min_workers``...)."""
    reasons: tuple[str, ...] = ()
    """The thresholds crossed, e.g. ``depth 1200 >= 1000``."""
    paused: bool | None = None
    rate_in: float | None = None
    """Jobs arriving per minute, where a counter or the broker records it."""
    rate_out: float | None = None
    """Jobs leaving per minute (finished or delivered), where recorded."""
    rate_net: float | None = None
    """Depth change per minute over the window: ``rate_in - rate_out`` as depth alone shows it."""
    eta_s: float | None = None
    """Seconds until empty at the current drain rate; ``None`` unless draining (or empty: 0)."""
    trend: QueueTrend | None = None
    """``None`` until two reads span some time."""
    breakdown: tuple[tuple[str, float | None], ...] = ()
    """The system's own counts behind the fields (priority lists, retry/dead sets...)."""
    shared: tuple[str, ...] = ()
    """Fields the system counts across all its queues, not for this queue alone (Sidekiq's
    retry, dead and schedule sets; Celery's unacked index): shown marked, never divided up."""
    notes: tuple[str, ...] = ()
    """What is unknown and why, one sentence each (e.g. ``lag needs Redis 7``)."""
    queue: str | None = None
    """The queue system's own name for it."""
    parent: str | None = None
    """For a discovered queue, the name of the ``discover: true`` entry that found it."""

    def metrics(self) -> dict[str, float | None]:
        return {name: _number(getattr(self, name)) for name in QUEUE_METRICS}


def _number(value: float | None) -> float | None:
    return float(value) if value is not None else None


Sample = CheckSample | DatabaseSample | QueueSample

METRICS: dict[str, tuple[str, ...]] = {
    "check": ("up", "latency_ms", "http_status", "cert_days_left", *DERIVED_METRICS),
    "db": (
        "pct_of_usable",
        "connections",
        "active",
        "idle_in_transaction",
        "waiting_on_lock",
        "long_queries",
        "blocked",
    ),
    "queue": QUEUE_METRICS,
}
"""Metric names alert rules may use, by section of the metric path (``queue.NAME.depth``)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as the Alerts pane and ``check --json`` show it: from a rule or a source."""

    name: str
    source: str
    """``watchdeck`` for the rules, else the alert source's name."""
    state: Literal["pending", "firing", "resolved"]
    severity: str
    """``info``, ``warning`` or ``critical`` (an external alert's label, normalised)."""
    since: float
    """When the alert entered its current state (epoch seconds)."""
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    runbook: str | None = None
    """A local runbook's file stem, else the runbook URL."""
    value: float | None = None
    active_since: float | None = None
    """When the condition first became true (start of pending; ``startsAt`` for Alertmanager)."""
    source_kind: Literal["rule", "alertmanager", "prometheus"] = "rule"
    fingerprint: str = ""
    """Stable identity of the alert within its source (Alertmanager's own when it has one)."""
    description: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    generator_url: str | None = None
    """Where the alert comes from (Prometheus' graph link), for an external alert."""
    suppressed: bool = False
    """Notifies nobody: inside a maintenance window, or silenced, inhibited or muted."""
    maintenance: tuple[str, ...] = ()
    """Names of the maintenance windows covering it."""
    silenced_by: tuple[str, ...] = ()
    """Alertmanager silence ids."""
    inhibited_by: tuple[str, ...] = ()
    """Fingerprints of the Alertmanager alerts inhibiting it."""
    muted_by: tuple[str, ...] = ()
    """Alertmanager time intervals muting it."""
    acknowledged_by: str | None = None
    """``user@host`` of whoever acknowledged it locally."""
    acknowledged_at: float | None = None
    ack_comment: str = ""
    flapping: bool = False

    @property
    def key(self) -> str:
        """Unique among the alerts shown: ``source/fingerprint``."""
        return f"{self.source}/{self.fingerprint or self.name}"

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_by is not None


@dataclass(frozen=True, slots=True)
class AlertsSample:
    """One poll of an external alert source: every alert it reported."""

    name: str
    kind: str
    at: float
    alerts: tuple[Alert, ...] = ()

    def metrics(self) -> dict[str, float | None]:
        return {}
