"""The headless face: the ``check --json`` contract, a plain-text table and Nagios exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tui.engine.derived import CheckStats
from tui.engine.samples import (
    Alert,
    AlertsSample,
    CheckSample,
    DatabaseSample,
    QueueSample,
    Session,
    Status,
    worst,
)
from tui.engine.state import SourceState
from tui.engine.units import format_duration

EXIT_CODES: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def source_status(state: SourceState) -> Status:
    if state.error is not None:
        return "critical"
    if state.sample is None:
        return "unknown"
    if isinstance(state.sample, CheckSample | QueueSample):
        return state.sample.status
    return "ok"


def _derived(stats: CheckStats | None) -> dict[str, Any]:
    """The check's window metrics as of its last pass; ``None`` where there is no data."""
    uptime = stats.uptime if stats else None
    return {
        "latency_p50_ms": _round(stats.p50_ms) if stats else None,
        "latency_p95_ms": _round(stats.p95_ms) if stats else None,
        "error_rate": _round(stats.error_rate, 4) if stats else None,
        "uptime_pct": None if uptime is None else round(uptime * 100, 2),
        "consecutive_failures": stats.consecutive_failures if stats else None,
        "last_change": iso(stats.last_change_at) if stats else None,
        "flapping": stats.flapping if stats else None,
    }


def _check(state: SourceState) -> dict[str, Any]:
    sample = state.sample if isinstance(state.sample, CheckSample) else None
    return {
        "name": state.name,
        "kind": state.kind,
        "status": source_status(state),
        "latency_ms": _round(sample.latency_ms) if sample else None,
        "http_status": sample.http_status if sample else None,
        "cert_days_left": _round(sample.cert_days_left) if sample else None,
        "failed_conditions": list(sample.failed_conditions) if sample else [],
        "error": state.error or (sample.error if sample else None),
        **_derived(state.stats),
    }


def _database(state: SourceState) -> dict[str, Any]:
    sample = state.sample if isinstance(state.sample, DatabaseSample) and not state.error else None
    if sample is None:
        stale = state.sample if isinstance(state.sample, DatabaseSample) else None
        return {
            "name": state.name,
            "status": source_status(state),
            "server_version": None,
            "max_connections": None,
            "usable_connections": None,
            "pct_of_usable": None,
            "connections": None,
            "long_queries": [],
            "blocking": [],
            "counts": None,
            "metrics": {m.name: None for m in stale.custom_metrics} if stale else {},
            "error": state.error,
        }
    conns = sample.connections

    def session(s: Session) -> dict[str, Any]:
        return {
            "pid": s.pid,
            "duration_s": _round(s.duration_s),
            "xact_age_s": _round(s.xact_age_s),
            "state": s.state,
            "database": s.database,
            "user": s.user,
            "application": s.application,
            "client": s.client,
            "wait_event": s.wait_event,
            "query": s.query,
        }

    return {
        "name": state.name,
        "status": source_status(state),
        "server_version": sample.server_version,
        "in_recovery": sample.in_recovery,
        "max_connections": sample.max_connections,
        "reserved_connections": sample.reserved_connections,
        "usable_connections": sample.usable_connections,
        "pct_of_usable": round(sample.pct_of_usable * 100, 1),
        "connections": {
            "total": conns.total,
            "active": conns.active,
            "idle": conns.idle,
            "idle_in_transaction": conns.idle_in_transaction,
            "aborted": conns.aborted,
            "waiting_on_lock": conns.waiting_on_lock,
            "not_visible": conns.not_visible,
            "by_database": dict(conns.by_database),
            "by_user": dict(conns.by_user),
            "by_application": dict(conns.by_application),
            "by_client": dict(conns.by_client),
        },
        "long_queries": [session(s) for s in sample.long_queries],
        "idle_in_transaction": [session(s) for s in sample.idle_transactions],
        "blocking": [{**session(s), "blocked_by": list(s.blocked_by)} for s in sample.blocked],
        "counts": {  # the lists above stop at the sessions one poll lists; these do not
            "long_queries": sample.long_query_count,
            "idle_in_transaction": sample.idle_transaction_count,
            "blocked": sample.blocked_count,
        },
        "root_blockers": list(sample.root_blockers),
        "replicas": [
            {
                "name": r.name,
                "client": r.client,
                "state": r.state,
                "sync_state": r.sync_state,
                "lag_bytes": r.lag_bytes,
                "replay_lag_s": _round(r.replay_lag_s, 3),
            }
            for r in sample.replicas
        ],
        "standby_lag_s": _round(sample.standby_lag_s, 3),
        "standby_lag_bytes": sample.standby_lag_bytes,
        "metrics": {m.name: m.value for m in sample.custom_metrics},
        "metric_errors": {m.name: m.error for m in sample.custom_metrics if m.error},
        "degraded": list(sample.capabilities.reasons),
        "error": None,
    }


QUEUE_FIELDS = ("depth", "active", "failed", "delayed", "workers")


def _queue(state: SourceState) -> dict[str, Any]:
    """The contract's fields, then the rates, ETA and what the system's own counts say.

    Rates are per minute; ``eta_s`` is null unless the queue drains (0 when empty); fields
    in ``shared`` are counted across all the system's queues, not for this one alone.
    """
    sample = state.sample if isinstance(state.sample, QueueSample) and not state.error else None
    return {
        "name": state.name,
        "kind": state.kind,
        "status": source_status(state),
        **{field: getattr(sample, field) if sample else None for field in QUEUE_FIELDS},
        "oldest_age_s": _round(sample.oldest_age_s) if sample else None,
        "error": state.error,
        "rate_in": _round(sample.rate_in, 2) if sample else None,
        "rate_out": _round(sample.rate_out, 2) if sample else None,
        "rate_net": _round(sample.rate_net, 2) if sample else None,
        "eta_s": _round(sample.eta_s) if sample else None,
        "trend": sample.trend if sample else None,
        "paused": sample.paused if sample else None,
        "reasons": list(sample.reasons) if sample else [],
        "shared": list(sample.shared) if sample else [],
        "breakdown": dict(sample.breakdown) if sample else {},
        "notes": list(sample.notes) if sample else [],
        "queue": sample.queue if sample else None,
        "discovered_by": sample.parent if sample else None,
    }


def _queue_detail(queue: dict[str, Any]) -> str:
    """One line for the text report: the error, or depth with what else is known."""
    if queue["error"]:
        return str(queue["error"])
    depth = queue["depth"]
    parts = [f"depth {'unknown' if depth is None else depth}"]
    if queue["oldest_age_s"] is not None:
        parts.append(f"oldest {format_duration(queue['oldest_age_s'])}")
    if queue["workers"] is not None:
        parts.append(f"{queue['workers']} workers")
    if queue["rate_net"] is not None:
        parts.append(f"{queue['rate_net']:+.1f}/min")
    return "; ".join([", ".join(parts), *queue["reasons"], *queue["notes"]])


def stale_reason(alert: Alert, sources: dict[str, SourceState]) -> str | None:
    """Why an external alert is only as its source last told (or as the state file kept it):
    the source's error, or that it was not polled yet; ``None`` for a fresh one."""
    source = sources.get(alert.source) if alert.source_kind != "rule" else None
    if source is None:
        return None
    if source.error is not None:
        return source.error
    return "not polled yet" if source.sample is None else None


def _alert(alert: Alert, sources: dict[str, SourceState]) -> dict[str, Any]:
    stale = stale_reason(alert, sources)
    return {
        "name": alert.name,
        "source": alert.source,
        "state": alert.state,
        "severity": alert.severity,
        "since": iso(alert.since),
        "summary": alert.summary,
        "labels": dict(alert.labels),
        "runbook": alert.runbook,
        "value": alert.value,
        "active_since": iso(alert.active_since),
        "description": alert.description,
        "annotations": dict(alert.annotations),
        "runbook_url": alert.runbook_url,
        "generator_url": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "suppressed": alert.suppressed,
        "maintenance": list(alert.maintenance),
        "silenced_by": list(alert.silenced_by),
        "inhibited_by": list(alert.inhibited_by),
        "muted_by": list(alert.muted_by),
        "acknowledged": alert.acknowledged,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": iso(alert.acknowledged_at),
        "flapping": alert.flapping,
        "stale": stale is not None,
        "stale_reason": stale,
    }


def _alert_source(state: SourceState) -> dict[str, Any]:
    sample = state.sample if isinstance(state.sample, AlertsSample) else None
    return {
        "name": state.name,
        "kind": state.kind,
        "status": source_status(state),
        "alerts": len(sample.alerts) if sample and not state.error else None,
        "error": state.error,
    }


def alert_status(state: str, severity: str) -> Status:
    """A firing alert raises the overall status to its severity; info alerts never do."""
    if state != "firing" or severity not in ("warning", "critical"):
        return "ok"
    return "critical" if severity == "critical" else "warning"


def counted_status(alert: Alert, stale: bool = False) -> Status:
    """What an alert adds to the overall status. A suppressed one (maintenance window,
    silenced, inhibited or muted) notifies nobody and adds nothing; an acknowledged one still
    counts: somebody is on it, but it is not fixed.

    A stale one (its source unreachable or not polled yet) adds nothing either: it is a memory,
    not a reading, and may have resolved since. What is known is the source's own status,
    which counts: critical while it fails (so a down Alertmanager still exits 2), unknown
    before its first poll, rather than an alert claimed to fire."""
    if alert.suppressed or stale:
        return "ok"
    return alert_status(alert.state, alert.severity)


def build_report(
    sources: list[SourceState],
    alerts: tuple[Alert, ...],
    checked_at: float,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    by_section: dict[str, list[SourceState]] = {
        "check": [],
        "database": [],
        "queue": [],
        "alertsource": [],
    }
    for state in sources:
        by_section[state.section].append(state)
    alert_sources = {state.name: state for state in by_section["alertsource"]}
    statuses: list[Status] = [source_status(state) for state in sources]
    statuses += [
        counted_status(alert, stale_reason(alert, alert_sources) is not None) for alert in alerts
    ]
    return {
        "status": worst(statuses),
        "checked_at": iso(checked_at),
        "checks": [_check(state) for state in by_section["check"]],
        "databases": [_database(state) for state in by_section["database"]],
        "queues": [_queue(state) for state in by_section["queue"]],
        "alerts": [_alert(alert, alert_sources) for alert in alerts],
        "alert_sources": [_alert_source(state) for state in by_section["alertsource"]],
        "warnings": list(warnings or []),
    }


GLYPHS = {
    "ok": "✔",
    "warning": "▲",
    "critical": "✖",
    "unknown": "?",
    "pending": "◔",
    "resolved": "↺",
    "suppressed": "◌",
    "stale": "◌",
}


def render_text(report: dict[str, Any]) -> str:
    """A compact table for humans and cron mail."""
    lines = [
        f"{GLYPHS[report['status']]} {report['status'].upper()}  checked {report['checked_at']}"
    ]

    def row(status: str, kind: str, name: str, detail: str) -> None:
        lines.append(f"  {GLYPHS[status]} {status:<8} {kind:<6} {name:<24} {detail}".rstrip())

    for check in report["checks"]:
        detail = check["error"] or ", ".join(check["failed_conditions"])
        if not detail:
            detail = f"{check['http_status'] or ''} {check['latency_ms']}ms".strip()
        row(check["status"], "check", check["name"], detail)
    for db in report["databases"]:
        detail = db["error"] or (
            f"{db['connections']['total']}/{db['usable_connections']} connections "
            f"({db['pct_of_usable']}%), {db['counts']['long_queries']} long, "
            f"{db['counts']['blocked']} blocked"
        )
        row(db["status"], "db", db["name"], detail)
    for queue in report["queues"]:
        row(queue["status"], "queue", queue["name"], _queue_detail(queue))
    for source in report["alert_sources"]:
        detail = source["error"] or f"{source['alerts']} alerts"
        row(source["status"], "source", source["name"], detail)
    for alert in report["alerts"]:
        firing = alert["state"] == "firing"
        status = alert_status(alert["state"], alert["severity"]) if firing else alert["state"]
        marks = [
            *([f"stale: {alert['stale_reason']}"] if alert["stale"] else []),
            *(["suppressed"] if alert["suppressed"] else []),
            *([f"acknowledged by {alert['acknowledged_by']}"] if alert["acknowledged"] else []),
            *(["flapping"] if alert["flapping"] else []),
        ]
        detail = f"{alert['severity']}: {alert['summary']}"
        if alert["source"] != "watchdeck":
            detail = f"[{alert['source']}] {detail}"
        if firing and (alert["stale"] or alert["suppressed"]):
            status = "stale" if alert["stale"] else "suppressed"
        row(
            status,
            "alert",
            alert["name"],
            detail + (f" ({', '.join(marks)})" if marks else ""),
        )
    lines.extend(f"  warning: {warning}" for warning in report["warnings"])
    return "\n".join(lines)
