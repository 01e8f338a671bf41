"""Entries for what people did: every action the ``ActionRunner`` ran or refused, and the
runbook runs started and finished (read from the runs' own files, so a run made headless
with ``watchdeck runbook run`` shows up too, once a console or ``watchdeck check`` looks).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tui.engine.actions import Finished
from tui.engine.journal import json_objects
from tui.engine.timeline.entry import Entry, Link, Severity
from tui.engine.timeline.maker import Maker
from tui.engine.timeline.sources import session_key

STATUS_WORDS = {"done-manual": "done", "pending": "not done"}
"""As a run's report says them (``tui.engine.runbooks.report.LABELS``)."""
RUNS = "runbooks"
"""Where the runs' files are under the state dir (``tui.engine.runbooks.run.RUNS``)."""
_ALERT_TARGET = re.compile(r"^alert (?P<name>.+) \((?P<source>\S+) (?P<fingerprint>\S*)\)$")
"""``alert NAME (SOURCE FINGERPRINT)``, as ``alert_actions`` names its targets."""


def _link(finished: Finished) -> Link | None:
    action = finished.action
    details = action.details
    if action.kind == "runbook.step" and details.get("run"):
        return Link("runbooks", str(details["run"]))
    if action.kind.startswith("pg.") and "pid" in details:
        key = session_key(int(details["pid"]), details.get("backend_start"))  # type: ignore[arg-type]
        return Link("database", f"{details.get('database')}/{key}")
    match = _ALERT_TARGET.match(action.target)
    if action.kind.startswith("alert.") and match:
        return Link("alerts", f"{match['source']}/{match['fingerprint'] or match['name']}")
    return None


def action_entry(finished: Finished, at: float, who: str, make: Maker) -> Entry:
    """``runbook.step`` for a runbook step (its message carries the exit code), else
    ``action.done``, ``action.failed`` or ``action.refused``."""
    action, outcome = finished.action, finished.outcome
    severity: Severity = "info"
    if outcome is None:
        event, result = "action.refused", f"refused: {finished.refused}"
    elif outcome.ok:
        event, result = "action.done", outcome.message
    else:
        event, result, severity = "action.failed", f"failed: {outcome.message}", "warning"
    link = _link(finished)
    if action.kind == "runbook.step":
        details = action.details
        subject = f"{details.get('runbook')} run {details.get('run')}"
        step = f"step {details.get('step')}: {details.get('title')}"
        if outcome is not None:
            event = "runbook.step"
        return make(
            at, "runbook", subject, severity, event, f"{step} → {result}", who=who, link=link
        )
    subject = action.target
    if link is not None and link.pane == "alerts":
        subject = _ALERT_TARGET.match(action.target)["name"]  # type: ignore[index]
    text = f"{action.summary} → {result}"
    return make(at, "action", subject, severity, event, text, who=who, link=link)


# --- runbook runs -------------------------------------------------------------------------
def run_events(path: Path) -> list[dict[str, Any]]:
    """A run file's events (``tui.engine.runbooks.run``), without parsing its runbook."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return list(json_objects(handle))
    except OSError:
        return []


def _identity(event: dict[str, Any]) -> str:
    user, host = event.get("user"), event.get("host")
    return f"{user}@{host}" if user and host else ""


def closes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``run.closed`` events of a run file."""
    return [
        event
        for event in events
        if event.get("event") == "run.closed" and isinstance(event.get("at"), int | float)
    ]


def _run_entries(
    run_id: str, events: list[dict[str, Any]], was: dict[str, Any] | None, make: Maker
) -> list[Entry]:
    """``runbook.started`` for a run not seen before, ``runbook.finished`` for each close
    since (a resumed run closes again)."""
    first = events[0] if events else {}
    if first.get("event") != "run.started" or not isinstance(first.get("at"), int | float):
        return []
    name = str(first.get("runbook") or "runbook")
    title = str(first.get("title") or name)
    subject = f"{name} run {run_id}"
    link = Link("runbooks", run_id)
    who = _identity(first)
    entries = []
    if was is None:
        at = float(first["at"])
        text = f"{title}: run started"
        entries.append(
            make(at, "runbook", subject, "info", "runbook.started", text, who=who, link=link)
        )
    already = int(was.get("closes", 0)) if was else 0
    for close in closes(events)[already:]:
        counts = close.get("counts") if isinstance(close.get("counts"), dict) else {}
        summary = ", ".join(
            f"{count} {STATUS_WORDS.get(status, status)}" for status, count in counts.items()
        )
        failed = bool(counts.get("failed") or counts.get("interrupted"))
        severity: Severity = "warning" if failed else "ok"
        text = f"{title}: run finished" + (f" ({summary})" if summary else "")
        entries.append(
            make(
                float(close["at"]),
                "runbook",
                subject,
                severity,
                "runbook.finished",
                text,
                who=who,
                link=link,
            )
        )
    return entries


def scan_runs(
    state_dir: Path, known: dict[str, dict[str, Any]] | None, make: Maker
) -> tuple[list[Entry], dict[str, dict[str, Any]]]:
    """Runs started or finished since ``known`` (by run id: the file's mtime and how often
    it was closed); with ``known`` ``None``, the runs there now are where the timeline
    starts."""
    seen: dict[str, dict[str, Any]] = {}
    entries: list[Entry] = []
    try:
        files = [entry for entry in os.scandir(state_dir / RUNS) if entry.name.endswith(".jsonl")]
    except OSError:
        files = []
    for file in files:
        run_id = file.name.removesuffix(".jsonl")
        try:
            mtime = file.stat().st_mtime_ns
        except OSError:
            continue
        was = (known or {}).get(run_id)
        if was is not None and was.get("mtime") == mtime:
            seen[run_id] = was
            continue
        events = run_events(Path(file.path))
        seen[run_id] = {"mtime": mtime, "closes": len(closes(events))}
        if known is not None:
            entries.extend(_run_entries(run_id, events, was, make))
    return entries, seen
