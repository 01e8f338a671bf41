"""The typed config model (version 1).

msgspec Structs, not pydantic: ``watchdeck check`` runs from cron and must start fast, and
msgspec imports in a fraction of pydantic's time while giving the same typed validation and
JSON Schema. Loading YAML, ``${VAR}`` interpolation and error locations live in ``loader.py``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from tui.engine.units import Duration, Percent

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
    bell: bool = True
    """Ring the terminal bell when a critical alert starts firing (the console only)."""


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
    metrics: dict[str, str] = msgspec.field(default_factory=dict)
    """Numbers read from the JSON body, usable in rules as ``check.NAME.KEY``: KEY -> a JSON
    path such as ``$.disk.free_pct`` (http checks only)."""


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


QueueKind = Literal[
    "redis_list",
    "celery",
    "rq",
    "bullmq",
    "sidekiq",
    "redis_stream",
    "rabbitmq",
    "sql",
    "prometheus",
]
REDIS_KINDS = frozenset({"redis_list", "celery", "rq", "bullmq", "sidekiq", "redis_stream"})
DEFAULT_URLS: dict[str, str] = {
    **dict.fromkeys(REDIS_KINDS, "redis://127.0.0.1:6379/0"),
    "rabbitmq": "http://127.0.0.1:15672",
    "prometheus": "http://127.0.0.1:9090",
}
DEFAULT_PREFIXES: dict[str, str] = {"rq": "rq", "bullmq": "bull", "sidekiq": "", "celery": ""}


class Queue(_Model):
    """A queue to watch, read-only. Keys that only some kinds use say so below."""

    name: str
    kind: QueueKind = "redis_list"
    url: str | None = None
    """Redis kinds: the Redis URL (default ``redis://127.0.0.1:6379/0``); rabbitmq: the
    management API, credentials in the URL (default ``http://127.0.0.1:15672``); prometheus:
    the server (default ``http://127.0.0.1:9090``). Not used by sql."""
    queue: str | None = None
    """The queue system's own name for the queue (a stream's key); defaults to ``name``."""
    interval: Duration | None = None
    timeout: Duration | None = None
    window: Duration | None = None
    """Window of the rates and ETA; defaults to ``settings.window``."""
    discover: bool = False
    """Watch every queue the system lists instead of one (rq, sidekiq, bullmq, celery,
    rabbitmq); each becomes a queue named ``NAME/QUEUE`` and this entry their total."""
    exclude: list[str] = msgspec.field(default_factory=list)
    """With ``discover``: glob patterns of queue names to leave out."""
    prefix: str | None = None
    """Key prefix: rq ``rq`` (RQ_KEY_PREFIX), bullmq ``bull``, sidekiq the redis-namespace
    (none by default), celery the ``global_keyprefix`` transport option (none by default)."""
    priority_steps: list[int] = msgspec.field(default_factory=lambda: [0, 3, 6, 9])
    """celery: the ``priority_steps`` transport option; a queue is one list per step."""
    sep: str = "\x06\x16"
    """celery: the ``sep`` transport option between a queue's name and its priority."""
    group: str | None = None
    """redis_stream: the consumer group; by default the group furthest behind."""
    vhost: str = "/"
    """rabbitmq: the virtual host."""
    database: str | None = None
    """sql: the name of an entry under ``databases`` to run ``sql`` on."""
    sql: str | None = None
    """sql: one SELECT returning one row with a ``depth`` column and optionally ``active``,
    ``failed``, ``delayed``, ``oldest_age_s`` (seconds or an interval) and ``workers``."""
    query: str | None = None
    """prometheus: an instant query whose single value is the depth."""
    queries: dict[str, str] = msgspec.field(default_factory=dict)
    """prometheus: instant queries for the other fields, e.g. ``{oldest_age_s: ...}``."""
    warn_depth: int | None = None
    """Status warning when depth is at or above this (critical for ``crit_depth``)."""
    crit_depth: int | None = None
    warn_age: Duration | None = None
    """Status warning when the oldest ready job is at least this old."""
    crit_age: Duration | None = None
    warn_failed: int | None = None
    """Status warning when failed (or dead) jobs are at or above this."""
    crit_failed: int | None = None
    min_workers: int | None = None
    """Status critical when fewer live workers serve the queue (where workers are known)."""

    @property
    def key(self) -> str:
        return self.queue or self.name

    @property
    def endpoint(self) -> str:
        """``url``, or the kind's default."""
        return self.url or DEFAULT_URLS.get(self.kind, "")

    @property
    def key_prefix(self) -> str:
        return DEFAULT_PREFIXES.get(self.kind, "") if self.prefix is None else self.prefix


class Rule(_Model):
    name: str
    when: str
    """``METRIC OP VALUE``, e.g. ``queue.emails.depth > 1000`` or ``check.api.latency_ms > 1s``;
    comparisons may be joined with ``and`` / ``or`` (``and`` binds tighter)."""
    for_: Duration = msgspec.field(default=0.0, name="for")
    """How long the condition must hold before the alert fires (pending until then)."""
    keep_firing_for: Duration = 0.0
    """How long the alert keeps firing after the condition cleared."""
    severity: Severity = "warning"
    summary: str = ""
    """Templated: ``{{ value }}``, ``{{ name }}``, ``{{ metric }}``, ``{{ threshold }}``,
    ``{{ labels.NAME }}``."""
    description: str = ""
    """Templated like ``summary``."""
    runbook: str | None = None
    """A local runbook's file stem (under ``runbooks.paths``)."""
    runbook_url: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    """More annotations (e.g. ``dashboard``), templated like ``summary``."""
    on_no_data: Literal["ok", "alert", "keep"] = "keep"
    """A metric without data: ``ok`` counts as false, ``alert`` as true, ``keep`` changes
    nothing."""


class AlertSource(_Model):
    """An external alert source: Alertmanager (API v2) or Prometheus (``/api/v1/alerts``)."""

    name: str
    kind: Literal["alertmanager", "prometheus"]
    url: str
    """The base URL, e.g. ``http://127.0.0.1:9093`` (a path prefix is kept)."""
    interval: Duration | None = None
    timeout: Duration | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    username: str | None = None
    """Basic auth; keep the password in the environment: ``password: ${AM_PASSWORD}``."""
    password: str | None = None
    bearer_token: str | None = None
    match: dict[str, str] = msgspec.field(default_factory=dict)
    """Only alerts whose labels have these values, e.g. ``{team: db}``."""


class Flapping(_Model):
    """Nagios-style thresholds on the weighted share of state changes over 21 results."""

    high: Percent = 0.5
    """A rule starts flapping above this."""
    low: Percent = 0.25
    """It stops flapping below this."""


class Alerts(_Model):
    rules: list[Rule] = msgspec.field(default_factory=list)
    sources: list[AlertSource] = msgspec.field(default_factory=list)
    evaluation_interval: Duration | None = None
    """How often rules are evaluated; defaults to ``settings.interval``."""
    resolved_retention: Duration = 900.0
    """How long a resolved alert stays visible."""
    flapping: Flapping = msgspec.field(default_factory=Flapping)
    max_gap: Duration = 3600.0
    """A pending timer survives a gap between evaluations up to this long (watchdeck stopped,
    cron runs apart); after a longer one it restarts, since nobody saw the condition hold."""


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class LocalTime(str):
    """A wall-clock time (``02:00``) or date-time (``2025-03-01 22:00``) as written.

    YAML would read an unquoted ``02:00`` as the number 120 and a date-time as a timestamp;
    the loader hands fields of this type the text as written instead.
    """


class Maintenance(_Model):
    """A maintenance window: alerts inside still show, marked suppressed, and notify nobody.

    Weekly: ``start: "02:00"`` with ``duration`` on ``days`` (every day when omitted).
    One-off: ``start: 2025-03-01 22:00`` with ``end`` or ``duration``. Times are in
    ``timezone`` unless they carry an offset.
    """

    name: str
    start: LocalTime
    duration: Duration | None = None
    end: LocalTime | None = None
    days: list[Weekday] = msgspec.field(default_factory=list)
    timezone: str = "UTC"
    """An IANA time zone such as ``Europe/Paris``."""
    alerts: list[str] = msgspec.field(default_factory=list)
    """Alert names it covers (``*`` and ``?`` wildcards); every alert when empty."""
    sources: list[str] = msgspec.field(default_factory=list)
    """Alert sources it covers (``watchdeck`` for the rules); every source when empty."""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    """Only alerts with these label values."""
    comment: str = ""


class Runbooks(_Model):
    paths: list[str] = msgspec.field(default_factory=list)


class Config(_Model):
    version: Literal[1] = 1
    settings: Settings = msgspec.field(default_factory=Settings)
    checks: list[Check] = msgspec.field(default_factory=list)
    databases: list[Database] = msgspec.field(default_factory=list)
    queues: list[Queue] = msgspec.field(default_factory=list)
    alerts: Alerts = msgspec.field(default_factory=Alerts)
    maintenance: list[Maintenance] = msgspec.field(default_factory=list)
    runbooks: Runbooks = msgspec.field(default_factory=Runbooks)


__all__ = [
    "AlertSource",
    "Alerts",
    "Check",
    "Config",
    "Database",
    "Flapping",
    "LocalTime",
    "Maintenance",
    "Metric",
    "Queue",
    "QueueKind",
    "Rule",
    "Runbooks",
    "Settings",
    "Severity",
    "Weekday",
]
