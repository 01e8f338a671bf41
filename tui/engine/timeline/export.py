"""A window of the timeline as a post-mortem document (Markdown) or JSON.

The document has a header (window, host, config), the timeline as a table, the alerts with
how long they fired, the actions taken, and the runbook runs of the window with their full
reports (``tui.engine.runbooks.report``). Times are shown in one time zone, named in the
header: the local one unless told otherwise, with the offset it had at each instant (a window
across a summer time change names the zone at each time).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from tui.engine.timeline.actions import RUNS, closes, run_events
from tui.engine.timeline.entry import SEVERITIES, Entry, to_json
from tui.engine.timeline.store import TimelineStore
from tui.engine.units import format_duration

GLYPHS = {"critical": "✖", "warning": "▲", "info": "○", "ok": "✔"}
"""As the console shows statuses (``widgets.status.GLYPHS``): a glyph, then the word."""
ACTION_EVENTS = frozenset({"action.done", "action.failed", "action.refused", "runbook.step"})
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_MARKUP = re.compile(r"([\\|<>&\[\]!`*_])")
"""What could make text from outside (query text, application and alert names) a tag, a link,
an image, emphasis or a table cell of its own."""


@dataclass
class AlertSpan:
    """One occurrence of an alert: pending, firing, then resolved (or cleared, or still on)."""

    name: str
    key: str
    severity: str = ""
    """Its severity when it fired (empty when it never fired)."""
    pending_at: float | None = None
    firing_at: float | None = None
    ended_at: float | None = None
    ended: str = ""
    """``resolved``, ``cleared`` (before firing), or empty while it is still on."""
    silenced: bool = False
    acknowledged_by: str = ""

    @property
    def started_at(self) -> float:
        return self.pending_at if self.pending_at is not None else self.firing_at or 0.0

    def firing_for(self, until: float) -> float | None:
        if self.firing_at is None:
            return None
        return (self.ended_at if self.ended_at is not None else until) - self.firing_at


@dataclass
class RunInWindow:
    id: str
    runbook: str
    title: str
    started_at: float
    closed_at: float | None
    who: str
    report: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Export:
    since: float
    until: float
    tz: tzinfo | None
    """``None``: this machine's local time."""
    host: str
    config: str
    entries: list[Entry]
    alerts: list[AlertSpan]
    runs: list[RunInWindow]

    @property
    def actions(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.event in ACTION_EVENTS]


# --- gathering ----------------------------------------------------------------------------
def alert_spans(entries: Iterable[Entry], since: float, until: float) -> list[AlertSpan]:
    """Occurrences of alerts that overlap the window, from every alert entry up to ``until``
    (one that started firing before the window and resolved in it counts)."""
    spans: list[AlertSpan] = []
    open_spans: dict[str, AlertSpan] = {}
    for entry in entries:
        if entry.source != "alert" or entry.at > until:
            continue
        key = entry.link.key if entry.link else entry.subject
        state = entry.event.removeprefix("alert.")
        span = open_spans.get(key)
        if span is None and state in ("pending", "firing"):
            span = open_spans[key] = AlertSpan(entry.subject, key)
            spans.append(span)
        if span is None:
            continue
        if state == "pending" and span.pending_at is None and span.firing_at is None:
            span.pending_at = entry.at
        elif state == "firing" and span.firing_at is None:
            span.firing_at, span.severity = entry.at, entry.severity
        elif state in ("resolved", "inactive"):
            span.ended_at, span.ended = entry.at, "resolved" if state == "resolved" else "cleared"
            del open_spans[key]
        elif state == "silenced":
            span.silenced = True
        elif state == "acknowledged":
            span.acknowledged_by = entry.who or "someone"
    return [
        span
        for span in spans
        if span.started_at <= until and (span.ended_at is None or span.ended_at >= since)
    ]


def runs_in_window(state_dir: Path, since: float, until: float) -> list[RunInWindow]:
    """Runbook runs open at some time in the window, oldest first, with their reports."""
    from tui.engine.runbooks import run as runs
    from tui.engine.runbooks.report import render_report

    found: list[RunInWindow] = []
    for file in sorted((state_dir / RUNS).glob("*.jsonl")):
        events = run_events(file)
        first = events[0] if events else {}
        started = first.get("at")
        if first.get("event") != "run.started" or not isinstance(started, int | float):
            continue
        ends = [e for e in events if e.get("event") in ("run.closed", "run.resumed")]
        closed = closes(ends[-1:])
        closed_at = float(closed[0]["at"]) if closed else None
        if started > until or (closed_at is not None and closed_at < since):
            continue
        try:
            run = runs.load(state_dir, file.stem)
        except runs.RunError as exc:
            report = f"(report unavailable: {exc})\n"
            counts: dict[str, int] = {}
        else:
            report, counts = render_report(run), run.counts()
        who = f"{first.get('user') or '?'}@{first.get('host') or '?'}"
        found.append(
            RunInWindow(
                id=file.stem,
                runbook=str(first.get("runbook") or ""),
                title=str(first.get("title") or ""),
                started_at=float(started),
                closed_at=closed_at,
                who=who,
                report=report,
                counts=counts,
            )
        )
    return sorted(found, key=lambda run: run.started_at)


def gather(
    store: TimelineStore,
    state_dir: Path,
    since: float,
    until: float,
    *,
    tz: tzinfo,
    config: str,
    host: str | None = None,
) -> Export:
    every = store.read(None, until)
    return Export(
        since=since,
        until=until,
        tz=tz,
        host=host or socket.gethostname(),
        config=config,
        entries=[entry for entry in every if entry.at >= since],
        alerts=alert_spans(every, since, until),
        runs=runs_in_window(state_dir, since, until),
    )


# --- showing ------------------------------------------------------------------------------
def local(at: float, tz: tzinfo | None) -> datetime:
    """``at`` in ``tz``; ``None`` is this machine's local time with the rules of that instant
    (``astimezone`` asks the C library), not today's offset."""
    if tz is None:
        return datetime.fromtimestamp(at, UTC).astimezone()
    return datetime.fromtimestamp(at, tz)


def zone(at: float, tz: tzinfo | None) -> str:
    """``CET (UTC+01:00)``, or ``UTC``."""
    moment = local(at, tz)
    offset = moment.strftime("%z")
    name = moment.tzname()
    return "UTC" if name == "UTC" else f"{name} (UTC{offset[:3]}:{offset[3:]})"


def severity(word: str) -> str:
    return f"{GLYPHS.get(word, '?')} {word}" if word else "—"


def _inline(text: str) -> str:
    """``text`` as literal Markdown on one line."""
    return _MARKUP.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


def _cell(text: str) -> str:
    return _inline(text) or " "


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _demoted(markdown: str, levels: int) -> list[str]:
    """A report's lines with its headings ``levels`` deeper (code blocks left alone)."""
    lines, fence = [], ""
    for line in markdown.rstrip("\n").splitlines():
        match = _FENCE.match(line)
        if match and (not fence or match.group(1).startswith(fence)):
            fence = "" if fence else match.group(1)
        elif not fence and line.startswith("#"):
            line = "#" * levels + line
        lines.append(line)
    return lines


def render_markdown(export: Export, *, exported_by: str, exported_at: float) -> str:
    tz, since, until = export.tz, export.since, export.until
    day = local(since, tz).date()
    same_day = day == local(until, tz).date()
    shown = [since, until, *(e.at for e in export.entries)]
    shown += [
        at
        for span in export.alerts
        for at in (span.pending_at, span.firing_at, span.ended_at)
        if at is not None
    ]
    zones = list(dict.fromkeys(zone(at, tz) for at in sorted(shown)))
    named = " %Z" if len(zones) > 1 else ""

    def when(at: float | None) -> str:
        if at is None:
            return "—"
        moment = local(at, tz)
        dated = not same_day or moment.date() != day  # an alert on since the day before
        return moment.strftime(("%Y-%m-%d %H:%M:%S" if dated else "%H:%M:%S") + named)

    def full(at: float) -> str:
        return local(at, tz).strftime("%Y-%m-%d %H:%M:%S" + named)

    counts = {word: 0 for word in SEVERITIES}
    for entry in export.entries:
        counts[entry.severity] += 1
    tally = ", ".join(f"{count} {word}" for word, count in counts.items() if count)
    lines = [
        f"# Incident timeline {full(since)} to {full(until)}",
        "",
        f"- **Window:** {full(since)} → {full(until)} ({format_duration(until - since)}), "
        f"times in {' then '.join(zones)}",
        f"- **Host:** {_inline(export.host)}",
        f"- **Config:** {_inline(export.config)}",
        f"- **Entries:** {len(export.entries)}" + (f" ({tally})" if tally else ""),
        f"- **Exported:** {full(exported_at)} by {_inline(exported_by)}",
        "",
        "## Timeline",
        "",
    ]
    if export.entries:
        rows = [[when(e.at), e.source, severity(e.severity), e.text, e.who] for e in export.entries]
        lines += _table(["Time", "Source", "Severity", "What", "Who"], rows)
    else:
        lines.append("Nothing was recorded in this window.")
    lines += ["", "## Alerts", ""]
    if export.alerts:
        rows = []
        for span in export.alerts:
            if span.ended == "cleared":
                ended = f"cleared {when(span.ended_at)}"
            else:
                ended = when(span.ended_at) if span.ended_at is not None else "still firing"
            if span.firing_at is None and not span.ended:
                ended = "still pending"
            firing = span.firing_for(until)
            lasted = format_duration(firing) if firing is not None else "—"
            if firing is not None and span.ended_at is None:
                lasted += " so far"
            notes = ", ".join(
                filter(
                    None,
                    (
                        "silenced" if span.silenced else "",
                        f"acknowledged by {span.acknowledged_by}" if span.acknowledged_by else "",
                    ),
                )
            )
            rows.append(
                [
                    span.name,
                    severity(span.severity),
                    when(span.pending_at),
                    when(span.firing_at),
                    ended,
                    lasted,
                    notes,
                ]
            )
        header = ["Alert", "Severity", "Pending", "Firing", "Resolved", "Firing for", "Notes"]
        lines += _table(header, rows)
    else:
        lines.append("No alert was pending or firing in this window.")
    lines += ["", "## Actions", ""]
    if export.actions:
        rows = [[when(e.at), e.who, e.subject, e.text] for e in export.actions]
        lines += _table(["Time", "Who", "On", "What"], rows)
    else:
        lines.append("No action was taken in this window.")
    lines += ["", "## Runbook runs", ""]
    if not export.runs:
        lines.append("No runbook run in this window.")
    for run in export.runs:
        _, _, body = run.report.partition("\n")  # its title line: the heading below says it
        title = _inline(run.title or run.runbook)
        lines += [f"### {title} (run `{run.id}`)", *_demoted(body, 2), ""]
    return "\n".join(lines).rstrip() + "\n"


def render_json(export: Export) -> dict[str, Any]:
    tz, until = export.tz, export.until

    def iso(at: float | None) -> str | None:
        return None if at is None else local(at, tz).isoformat(timespec="seconds")

    def entry(item: Entry) -> dict[str, Any]:
        return {**to_json(item), "time": iso(item.at)}

    return {
        "since": iso(export.since),
        "until": iso(until),
        "timezone": zone(until, tz),
        "host": export.host,
        "config": export.config,
        "entries": [entry(item) for item in export.entries],
        "alerts": [
            {
                "name": span.name,
                "key": span.key,
                "severity": span.severity or None,
                "pending_at": iso(span.pending_at),
                "firing_at": iso(span.firing_at),
                "ended_at": iso(span.ended_at),
                "ended": span.ended or None,
                "firing_s": None
                if (firing := span.firing_for(until)) is None
                else round(firing, 3),
                "still_firing": span.firing_at is not None and span.ended_at is None,
                "silenced": span.silenced,
                "acknowledged_by": span.acknowledged_by or None,
            }
            for span in export.alerts
        ],
        "actions": [entry(item) for item in export.actions],
        "runbook_runs": [
            {
                "id": run.id,
                "runbook": run.runbook,
                "title": run.title,
                "started_at": iso(run.started_at),
                "closed_at": iso(run.closed_at),
                "who": run.who,
                "counts": run.counts,
                "report": run.report,
            }
            for run in export.runs
        ],
    }


def show_lines(entries: Iterable[Entry], tz: tzinfo | None) -> list[str]:
    """``watchdeck timeline show``: one line per entry, its time with the zone of then."""
    return [
        f"{local(e.at, tz):%Y-%m-%d %H:%M:%S %Z}  {severity(e.severity):<10}  {e.source:<8}  "
        f"{e.text}" + (f"  [{e.who}]" if e.who else "")
        for e in entries
    ]
