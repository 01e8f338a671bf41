"""One line of the incident timeline, and how it is stored (one JSON object per line)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

Source = Literal["check", "queue", "database", "alert", "action", "runbook"]
Severity = Literal["critical", "warning", "info", "ok"]
Pane = Literal["health", "queues", "database", "alerts", "runbooks"]
SOURCES: tuple[str, ...] = get_args(Source)
SEVERITIES: tuple[str, ...] = get_args(Severity)
PANES: tuple[str, ...] = get_args(Pane)
STATUS_SEVERITY: dict[str, Severity] = {
    "ok": "ok",
    "warning": "warning",
    "critical": "critical",
    "unknown": "warning",
    "info": "info",
}
"""A source's status (or an alert's severity) as a timeline severity; unknown is a warning."""


@dataclass(frozen=True, slots=True)
class Link:
    """Where ``enter`` on an entry jumps in the console."""

    pane: Pane
    key: str
    """The row key of that pane's table (check or queue name, ``DB/PID/BACKEND_START`` for a
    session, ``SOURCE/FINGERPRINT`` for an alert, a database's name), or the run id."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    """Unique and sortable: ``f"{at:017.6f}-{seq:04d}"``."""
    at: float
    """Epoch seconds."""
    source: Source
    subject: str
    """What it is about: ``api``, ``emails``, ``demo``, ``PaymentsDown``, a runbook run."""
    severity: Severity
    event: str
    """``check.state``, ``queue.state``, ``database.long_query``, ``alert.firing``... """
    text: str
    """One line for humans; secrets never in it."""
    who: str = ""
    """``user@host`` for actions and runbook runs."""
    link: Link | None = None


def to_json(entry: Entry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": entry.id,
        "at": entry.at,
        "source": entry.source,
        "subject": entry.subject,
        "severity": entry.severity,
        "event": entry.event,
        "text": entry.text,
        "who": entry.who,
        "link": None,
    }
    if entry.link is not None:
        data["link"] = {"pane": entry.link.pane, "key": entry.link.key}
    return data


def from_json(data: object) -> Entry | None:
    """An entry written by ``to_json``; ``None`` for anything else (a torn or foreign line)."""
    if not isinstance(data, dict):
        return None
    at = data.get("at")
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        return None
    texts = ("id", "subject", "event", "text", "who")
    if not all(isinstance(data.get(key, ""), str) for key in texts) or not data.get("id"):
        return None
    if data.get("source") not in SOURCES or data.get("severity") not in SEVERITIES:
        return None
    link = data.get("link")
    parsed: Link | None = None
    if isinstance(link, dict) and link.get("pane") in PANES and isinstance(link.get("key"), str):
        parsed = Link(link["pane"], link["key"])
    return Entry(
        id=data["id"],
        at=float(at),
        source=data["source"],
        subject=data.get("subject", ""),
        severity=data["severity"],
        event=data.get("event", ""),
        text=data.get("text", ""),
        who=data.get("who", ""),
        link=parsed,
    )
