"""Entries from a source's pass: check and queue status changes, database events.

Each function takes the source's state after a pass and what was last seen of it (a small
JSON-able record, ``None`` when never seen), and returns the entries and the new record. A
first sight is no entry: it is where the timeline starts watching.
"""

from __future__ import annotations

from itertools import islice, pairwise
from typing import Any

from tui.engine.derived import FLAP_RESULTS
from tui.engine.report import source_status
from tui.engine.samples import CheckSample, DatabaseSample, QueueSample, Session
from tui.engine.state import SourceState
from tui.engine.timeline.entry import STATUS_SEVERITY, Entry, Link
from tui.engine.timeline.maker import Maker, one_line
from tui.engine.units import format_duration

Record = dict[str, Any]
KEPT_SESSIONS = 200
"""Long queries and blockers remembered per database (the file stays small)."""
QUERY_CHARS = 160


def observe(
    state: SourceState, known: Record | None, make: Maker, now: float
) -> tuple[list[Entry], Record]:
    at = state.last_attempt or now
    if state.section == "check":
        return _check(state, known, make, at)
    if state.section == "queue":
        return _queue(state, known, make, at)
    return _database(state, known, make, at)


# --- checks -------------------------------------------------------------------------------
def _flaps(state: SourceState) -> tuple[int, int]:
    """(changes, results) among the check's last ``FLAP_RESULTS`` results."""
    recent = state.stats.recent if state.stats else ()
    last = [result.up for result in islice(reversed(recent), FLAP_RESULTS)]
    return sum(before != after for before, after in pairwise(last)), len(last)


def _check(
    state: SourceState, known: Record | None, make: Maker, at: float
) -> tuple[list[Entry], Record]:
    status = source_status(state)
    flapping = bool(state.stats and state.stats.flapping)
    record = {"status": status, "flapping": flapping}
    if known is None or (flapping and known.get("flapping")):
        return [], record  # while it flaps, its ups and downs are not entries one by one
    link = Link("health", state.name)
    if flapping:
        changes, results = _flaps(state)
        text = f"{state.name} is flapping: {changes} changes in its last {results} polls"
        return [make(at, "check", state.name, "warning", "check.flapping", text, link=link)], record
    if status == known.get("status") and not known.get("flapping"):
        return [], record
    was = "flapping" if known.get("flapping") else known.get("status", "unknown")
    sample = state.sample if isinstance(state.sample, CheckSample) else None
    detail = state.error
    if detail is None and sample is not None and status != "ok":
        detail = "; ".join(sample.failed_conditions[:3]) or sample.error
    text = f"{state.name} {status} (was {was})" + (f": {detail}" if detail else "")
    severity = STATUS_SEVERITY[status]
    return [make(at, "check", state.name, severity, "check.state", text, link=link)], record


# --- queues -------------------------------------------------------------------------------
def _queue(
    state: SourceState, known: Record | None, make: Maker, at: float
) -> tuple[list[Entry], Record]:
    status = source_status(state)
    record = {"status": status}
    if known is None or known.get("status") == status:
        return [], record
    sample = state.sample if isinstance(state.sample, QueueSample) else None
    if state.error:
        detail = state.error
    elif sample is not None:
        detail = "; ".join(sample.reasons) or f"depth {sample.depth}"
    else:
        detail = ""
    text = f"{state.name} {status} (was {known.get('status', 'unknown')})"
    text += f": {detail}" if detail else ""
    link = Link("queues", state.name)
    severity = STATUS_SEVERITY[status]
    return [make(at, "queue", state.name, severity, "queue.state", text, link=link)], record


# --- databases ----------------------------------------------------------------------------
def session_key(pid: int, backend_start: float | None) -> str:
    return f"{pid}/{backend_start!r}"


def _who(session: Session) -> str:
    return " · ".join(filter(None, (session.user, session.application, session.client)))


def _query(session: Session) -> str:
    return one_line(session.query, QUERY_CHARS) or "(no query text)"


def _waiters(sample: DatabaseSample) -> dict[int, int]:
    """Sessions waiting behind each root blocker, directly or not (each counted once)."""
    return {node.pid: node.behind for node in sample.blocking_tree()}


def _database(
    state: SourceState, known: Record | None, make: Maker, at: float
) -> tuple[list[Entry], Record]:
    name = state.name
    seen = known is not None
    known = known or {}
    connected = known.get("connected", True)
    record: Record = {
        "connected": connected,
        "lost_at": known.get("lost_at"),
        "long": known.get("long", []),
        "blockers": known.get("blockers", []),
    }
    link = Link("database", name)
    if state.error is not None:
        record["connected"] = False
        if not seen or not connected:
            return [], record
        record["lost_at"] = at
        text = f"{name}: connection lost: {state.error}"
        return [make(at, "database", name, "critical", "database.lost", text, link=link)], record
    sample = state.sample
    if not isinstance(sample, DatabaseSample):
        return [], record
    long = {session_key(s.pid, s.backend_start): s for s in sample.long_queries}
    visible = {s.pid: s for s in sample.blockers}
    roots = {
        session_key(pid, visible[pid].backend_start if pid in visible else 0.0): pid
        for pid in sample.root_blockers
    }
    record = {
        "connected": True,
        "lost_at": None,
        "long": list(long)[:KEPT_SESSIONS],
        "blockers": list(roots)[:KEPT_SESSIONS],
    }
    if not seen:
        return [], record
    entries: list[Entry] = []
    if not connected:
        lost_at = known.get("lost_at")
        after = (
            f" after {format_duration(at - lost_at)}" if isinstance(lost_at, int | float) else ""
        )
        text = f"{name}: connection regained{after}"
        entries.append(make(at, "database", name, "ok", "database.regained", text, link=link))
    for key, session in long.items():
        if key in known.get("long", []):
            continue
        running = f" running {format_duration(session.duration_s)}" if session.duration_s else ""
        who = f" ({_who(session)})" if _who(session) else ""
        text = f"{name}: long query pid {session.pid}{running}{who}: {_query(session)}"
        row = Link("database", f"{name}/{key}")
        entries.append(make(at, "database", name, "warning", "database.long_query", text, link=row))
    new_roots = {key: pid for key, pid in roots.items() if key not in known.get("blockers", [])}
    waiters = _waiters(sample) if new_roots else {}
    for key, pid in new_roots.items():
        blocked = waiters.get(pid, 0)
        sessions = f"{blocked} session{'s' if blocked != 1 else ''}"
        blocker = visible.get(pid)
        if blocker is None:
            what = "a prepared transaction" if pid == 0 else f"pid {pid} (not visible)"
            text = f"{name}: {what} blocks {sessions}"
        else:
            about = ", ".join(filter(None, (blocker.state, _who(blocker))))
            text = f"{name}: pid {pid} ({about}) blocks {sessions}: {_query(blocker)}"
        row = Link("database", f"{name}/{key}")
        entries.append(make(at, "database", name, "warning", "database.blocker", text, link=row))
    return entries, record
