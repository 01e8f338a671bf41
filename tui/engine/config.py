"""The typed config model (version 1).

msgspec Structs, not pydantic: ``watchdeck check`` runs from cron and must start fast, and
msgspec imports in a fraction of pydantic's time while giving the same typed validation and
JSON Schema. Loading YAML, ``${VAR}`` interpolation and error locations live in ``loader.py``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tui.engine.units import Duration

Severity = Literal["info", "warning", "critical"]


class _Model(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base for every config section: unknown keys are errors, fields are keyword-only."""


class Settings(_Model):
    interval: Duration = 5.0
    """Default poll interval of every source."""
    timeout: Duration = 3.0
    """Default per-pass timeout of every source."""
    max_backoff: Duration = 60.0
    """Cap of the exponential backoff after consecutive failures."""
    history: int = 720
    """Samples kept per series (bounded memory)."""
    window: Duration = 300.0
    """Window of the derived check metrics (p50/p95 latency, error rate, uptime)."""
    theme: str = "textual-dark"
    read_only: bool = False


class Check(_Model):
    name: str
    kind: Literal["http", "tcp", "tls"] = "http"
    url: str | None = None
    host: str | None = None
    port: int | None = None
    method: str = "GET"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    """Request headers; values may use ${VAR} (e.g. a token), never shown on screen."""
    body: str | None = None
    """Request body (for POST/PUT health endpoints)."""
    follow_redirects: bool = False
    interval: Duration | None = None
    timeout: Duration | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    """A CA bundle to verify the server with (relative to the config file)."""
    server_name: str | None = None
    """TLS: the name to verify and send as SNI, when it differs from ``host``."""
    expect: list[str] = msgspec.field(default_factory=list)
    """Conditions that must all hold; an http check without any expects ``status == 2xx``."""
    severity: Literal["warning", "critical"] = "critical"
    """Status of the check when it fails."""
    window: Duration | None = None
    """Window of the derived metrics; defaults to ``settings.window``."""


class Metric(_Model):
    """A custom database metric: a query returning one number, usable in rules as ``db.DB.NAME``."""

    name: str
    sql: str
    """One statement, run in a read-only transaction; its single value is the metric (NULL or no
    row is no data; an interval counts as seconds)."""
    interval: Duration | None = None
    """Defaults to the database's interval."""
    timeout: Duration | None = None
    """Defaults to the database's timeout."""


class Database(_Model):
    name: str
    dsn: str
    interval: Duration | None = None
    timeout: Duration | None = None
    long_query: Duration = 300.0
    """Queries running at least this long are listed as long queries."""
    idle_in_transaction: Duration = 60.0
    """Sessions idle in an open transaction at least this long are listed."""
    metrics: list[Metric] = msgspec.field(default_factory=list)


class Queue(_Model):
    name: str
    kind: Literal["redis_list"] = "redis_list"
    url: str = "redis://127.0.0.1:6379/0"
    queue: str | None = None
    """The queue system's own name for the queue; defaults to ``name``."""
    interval: Duration | None = None
    timeout: Duration | None = None

    @property
    def key(self) -> str:
        return self.queue or self.name


class Rule(_Model):
    name: str
    when: str
    """``METRIC OP VALUE``, e.g. ``queue.emails.depth > 1000`` or ``check.api.latency_ms > 1s``."""
    for_: Duration = msgspec.field(default=0.0, name="for")
    severity: Severity = "warning"
    summary: str = ""
    description: str = ""
    runbook: str | None = None
    runbook_url: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    on_no_data: Literal["ok", "alert", "keep"] = "keep"


class Alerts(_Model):
    rules: list[Rule] = msgspec.field(default_factory=list)
    evaluation_interval: Duration | None = None
    """How often rules are evaluated; defaults to ``settings.interval``."""


class Runbooks(_Model):
    paths: list[str] = msgspec.field(default_factory=list)


class Config(_Model):
    version: Literal[1] = 1
    settings: Settings = msgspec.field(default_factory=Settings)
    checks: list[Check] = msgspec.field(default_factory=list)
    databases: list[Database] = msgspec.field(default_factory=list)
    queues: list[Queue] = msgspec.field(default_factory=list)
    alerts: Alerts = msgspec.field(default_factory=Alerts)
    runbooks: Runbooks = msgspec.field(default_factory=Runbooks)


__all__ = [
    "Alerts",
    "Check",
    "Config",
    "Database",
    "Metric",
    "Queue",
    "Rule",
    "Runbooks",
    "Settings",
    "Severity",
]
