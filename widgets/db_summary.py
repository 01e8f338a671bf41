"""The lines above the sessions table, one block per database.

✔ main · PG 16.4 primary · conns 42/97 ███▌░░░░ 43% of usable · 3 reserved
  active 3 · idle 30 · idle in tx 2 (1 aborted) · waiting on lock 1 · 3 not visible
  long ≥ 5m 1 · idle tx ≥ 1m 1 · blocked 2 behind 1 · standby s1 streaming lag 0 B
  metrics sessions_1h 42 · ingest_lag 3
  ▲ role x lacks pg_read_all_stats …
"""

from __future__ import annotations

from rich.text import Text

from tui.engine.samples import DatabaseSample, Replica
from tui.engine.state import SourceState
from tui.engine.units import format_duration
from widgets.status import GLYPHS, STALE, WAITING, Palette, gauge, number, problem

GAUGE_WIDTH = 8
WARN_AT = 0.75
CRITICAL_AT = 0.9


def usage_status(fraction: float) -> str:
    return "critical" if fraction >= CRITICAL_AT else "warning" if fraction >= WARN_AT else "ok"


def summary(state: SourceState, palette: Palette, now: float, paused: bool) -> Text:
    sample = state.sample if isinstance(state.sample, DatabaseSample) else None
    text = Text()
    if sample is None and state.error is None:
        text.append(f"{WAITING} {state.name} · waiting for first poll", palette.style("muted"))
        return text
    if state.error is not None:
        marker = STALE if state.stale else GLYPHS["critical"]
        reason = problem(state, now, paused, retrying="reconnecting")
        text.append(f"{marker} {state.name} · {reason}", palette.style("critical"))
        if sample is None:
            return text
        text.append("\n")
    else:
        text.append(f"{GLYPHS['ok']} {state.name}", palette.style("ok"))
        text.append(" · ")
    body = Text(style=palette.style("muted") if state.error is not None else "")
    body.append_text(_server(sample, palette))
    body.append("\n  ")
    body.append_text(_states(sample, palette))
    body.append("\n  ")
    body.append_text(_lists(sample, palette))
    if sample.custom_metrics:
        body.append("\n  metrics ")
        for index, metric in enumerate(sample.custom_metrics):
            if index:
                body.append(" · ")
            body.append(f"{metric.name} ")
            if metric.error is not None:
                body.append(f"{GLYPHS['unknown']} error", palette.style("warning"))
            else:
                body.append(number(metric.value))
    for reason in sample.capabilities.reasons:
        body.append(f"\n  {GLYPHS['warning']} {reason}", palette.style("warning"))
    text.append_text(body)
    return text


def _server(sample: DatabaseSample, palette: Palette) -> Text:
    conns = sample.connections
    fraction = sample.pct_of_usable
    level = usage_status(fraction)
    text = Text(f"PG {sample.server_version} {'standby' if sample.in_recovery else 'primary'}")
    text.append(f" · conns {conns.total}/{sample.usable_connections} ")
    text.append(gauge(fraction, GAUGE_WIDTH), palette.style(level))
    text.append(f" {fraction * 100:.0f}% of usable", palette.style(level))
    if level != "ok":
        text.append(f" {GLYPHS[level]}", palette.style(level))
    if sample.reserved_connections:
        text.append(f" · {sample.reserved_connections} reserved")
    return text


def _states(sample: DatabaseSample, palette: Palette) -> Text:
    conns = sample.connections
    text = Text(f"active {conns.active} · idle {conns.idle} · idle in tx ")
    text.append(str(conns.idle_in_transaction))
    if conns.aborted:
        text.append(f" ({conns.aborted} aborted)", palette.style("warning"))
    text.append(" · waiting on lock ")
    text.append(
        str(conns.waiting_on_lock), palette.style("warning") if conns.waiting_on_lock else ""
    )
    if conns.not_visible:
        text.append(
            f" · {GLYPHS['warning']} {conns.not_visible} not visible", palette.style("warning")
        )
    return text


def _lists(sample: DatabaseSample, palette: Palette) -> Text:
    text = Text()
    for label, count in (
        (f"long ≥ {format_duration(sample.long_query_s)}", sample.long_query_count),
        (
            f"idle tx ≥ {format_duration(sample.idle_in_transaction_s)}",
            sample.idle_transaction_count,
        ),
    ):
        text.append(f"{label} ")
        text.append(str(count), palette.style("warning") if count else "")
        text.append(" · ")
    text.append("blocked ")
    if sample.blocked_count:
        roots = len(sample.root_blockers)
        text.append(
            f"{sample.blocked_count} behind {roots} root blocker{'s' * (roots != 1)}",
            palette.style("critical"),
        )
    else:
        text.append("0")
    text.append_text(_replication(sample))
    return text


def _replication(sample: DatabaseSample) -> Text:
    if sample.in_recovery:
        lag = format_duration(sample.standby_lag_s) if sample.standby_lag_s is not None else "—"
        return Text(f" · replay lag {lag} ({byte_size(sample.standby_lag_bytes)} behind)")
    if not sample.replicas:
        return Text(" · no standbys")
    return Text(" · " + " · ".join(_replica(replica) for replica in sample.replicas))


def _replica(replica: Replica) -> str:
    lag = format_duration(replica.replay_lag_s) if replica.replay_lag_s is not None else "—"
    return (
        f"standby {replica.name} {replica.state or '?'} lag {lag} / {byte_size(replica.lag_bytes)}"
    )


def byte_size(value: float | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "kB", "MB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
