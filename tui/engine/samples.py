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

    def metrics(self) -> dict[str, float | None]:
        return {
            "up": 1.0 if self.up else 0.0,
            "latency_ms": self.latency_ms,
            "http_status": float(self.http_status) if self.http_status is not None else None,
            "cert_days_left": self.cert_days_left,
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


@dataclass(frozen=True, slots=True)
class Connections:
    total: int
    active: int
    idle: int
    idle_in_transaction: int
    waiting_on_lock: int
    not_visible: int = 0
    """Sessions whose state is hidden from us for lack of pg_read_all_stats."""


@dataclass(frozen=True, slots=True)
class DatabaseSample:
    name: str
    at: float
    server_version: str
    max_connections: int
    usable_connections: int
    connections: Connections
    long_queries: tuple[Session, ...] = ()
    blocked: tuple[Session, ...] = ()

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
            "long_queries": float(len(self.long_queries)),
            "blocked": float(len(self.blocked)),
        }


@dataclass(frozen=True, slots=True)
class QueueSample:
    name: str
    kind: str
    at: float
    depth: int | None
    active: int | None = None
    failed: int | None = None
    delayed: int | None = None
    oldest_age_s: float | None = None
    workers: int | None = None

    def metrics(self) -> dict[str, float | None]:
        def num(value: float | None) -> float | None:
            return float(value) if value is not None else None

        return {
            "depth": num(self.depth),
            "active": num(self.active),
            "failed": num(self.failed),
            "delayed": num(self.delayed),
            "oldest_age_s": num(self.oldest_age_s),
            "workers": num(self.workers),
        }


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
    "queue": ("depth", "active", "failed", "delayed", "oldest_age_s", "workers"),
}
"""Metric names alert rules may use, by section of the metric path (``queue.NAME.depth``)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as the Alerts pane and ``check --json`` show it."""

    name: str
    source: str
    state: Literal["pending", "firing", "resolved"]
    severity: str
    since: float
    """When the alert entered its current state (epoch seconds)."""
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    runbook: str | None = None
    value: float | None = None
    active_since: float | None = None
    """When the condition first became true (start of pending)."""
