"""Every alert shown, from the rules and the external sources, and what happened to them.

The book merges the rules' alerts with the last alerts of each external source, marks those
inside a maintenance window as suppressed and those acknowledged locally, keeps an external
alert that vanished from its source as resolved for ``retention``, and records every state
change in a bounded history. All of it is saved in the state file (see ``alert_state``).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from tui.engine.maintenance import Window
from tui.engine.printable import printable
from tui.engine.samples import Alert

HISTORY = 1000
"""State changes kept (and saved)."""
ACK_KEEP = 7 * 86400.0
"""An acknowledgement of an alert no longer shown is forgotten after this long."""
STATE_ORDER = {"firing": 0, "pending": 1, "resolved": 2}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_Saved = TypeVar("_Saved", "Ack", "AlertEvent")
_TUPLES = {"maintenance", "silenced_by", "inhibited_by", "muted_by"}
_MAPPINGS = {"labels", "annotations"}


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for a label set (16 hex digits)."""
    text = "\x00".join(f"{key}\x01{value}" for key, value in sorted(labels.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def sort_alerts(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    """Firing first, then pending, then resolved; the most severe, then the newest, first."""
    return tuple(
        sorted(
            alerts,
            key=lambda a: (
                STATE_ORDER.get(a.state, 3),
                SEVERITY_ORDER.get(a.severity, 3),
                -a.since,
                a.name,
            ),
        )
    )


def notifies(alert: Alert) -> bool:
    return alert.state == "firing" and not alert.suppressed


def newly_firing(
    before: Sequence[Alert], after: Sequence[Alert], started_at: float = -math.inf
) -> list[Alert]:
    """Alerts that notify in ``after`` (firing, not suppressed) and did not in ``before``:
    what deserves a bell or a toast, once.

    One that starts firing counts if it did so at or after ``started_at`` (those already
    firing when the console opened are in the pane, not announced). One that was firing in
    ``before`` while suppressed (maintenance window, silence, inhibition) counts whenever it
    fired: it notifies from now on, and was never announced."""
    firing = {alert.key: alert for alert in before if alert.state == "firing"}
    new = []
    for alert in after:
        if not notifies(alert):
            continue
        old = firing.get(alert.key)
        if (old is None and alert.since >= started_at) or (old is not None and old.suppressed):
            new.append(alert)
    return new


@dataclass(frozen=True, slots=True)
class Ack:
    by: str
    """``user@host``."""
    at: float
    comment: str
    active_since: float | None
    """The alert instance acknowledged: a new occurrence is not acknowledged."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One state change of one alert (``inactive``: it cleared before firing)."""

    at: float
    source: str
    name: str
    fingerprint: str
    state: str
    severity: str
    summary: str
    value: float | None = None


def alert_to_json(alert: Alert) -> dict[str, Any]:
    return asdict(alert)


def alert_from_json(data: object) -> Alert | None:
    """An alert saved by ``alert_to_json``; ``None`` for anything else (damaged, foreign).

    Its texts go through ``printable`` again: a file saved before sources did so may hold an
    alert's escape sequences."""
    if not isinstance(data, dict):
        return None
    known = {spec.name for spec in fields(Alert)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if key in _TUPLES:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return None
            value = tuple(printable(v) for v in value)
        elif key in _MAPPINGS:
            if not isinstance(value, dict):
                return None
            value = {printable(str(k)): printable(str(v)) for k, v in value.items()}
        elif isinstance(value, str):
            value = printable(value)
        values[key] = value
    if values.get("state") not in STATE_ORDER or not isinstance(values.get("since"), int | float):
        return None
    if not all(isinstance(values.get(key), str) for key in ("name", "source", "severity")):
        return None
    try:
        return Alert(**values)
    except TypeError:
        return None


def _firing_since(alert: Alert, old: Alert | None, now: float) -> Alert:
    """``alert`` as just polled, its ``since`` following ``old``, the same occurrence as last
    polled: firing since ``now`` when it was pending, since as before when it was firing."""
    if alert.state != "firing" or old is None or old.active_since != alert.active_since:
        return alert
    if old.state == "pending":
        return replace(alert, since=now)
    if old.state == "firing":
        return replace(alert, since=old.since)
    return alert


def _event(alert: Alert, at: float, state: str | None = None) -> AlertEvent:
    return AlertEvent(
        at=at,
        source=alert.source,
        name=alert.name,
        fingerprint=alert.fingerprint,
        state=state or alert.state,
        severity=alert.severity,
        summary=alert.summary,
        value=alert.value,
    )


class AlertBook:
    def __init__(
        self, *, retention: float, windows: Sequence[Window] = (), history: int = HISTORY
    ) -> None:
        self.retention = retention
        self.windows = list(windows)
        self.internal: tuple[Alert, ...] = ()
        self.external: dict[str, dict[str, Alert]] = {}
        """Per source, its alerts by key as of its last good poll (and the recently resolved)."""
        self.polled_at: dict[str, float] = {}
        self.acks: dict[str, Ack] = {}
        self.history: deque[AlertEvent] = deque(maxlen=history)
        self.shown: dict[str, Alert] = {}
        self.dirty = False
        """Something worth saving changed since the last ``snapshot``."""

    # --- input ---------------------------------------------------------------------------
    def set_internal(self, alerts: Iterable[Alert]) -> None:
        self.internal = tuple(alerts)

    def take_poll(self, source: str, alerts: Iterable[Alert], polled_at: float, now: float) -> None:
        """A source's good poll (taken once): a firing alert it no longer reports is resolved
        at ``now``.

        Prometheus gives only when an alert went pending (``activeAt``, its ``since`` when first
        seen): one seen pending and now firing fires since ``now``, and keeps that ``since``
        while it fires (``active_since`` stays ``activeAt``: acknowledgements follow it)."""
        if self.polled_at.get(source) == polled_at:
            return
        self.polled_at[source] = polled_at
        before = self.external.get(source, {})
        current = {alert.key: _firing_since(alert, before.get(alert.key), now) for alert in alerts}
        for key, old in before.items():
            if key in current:
                continue
            if old.state == "firing":
                current[key] = replace(old, state="resolved", since=now)
            elif old.state == "resolved":
                current[key] = old
        self.external[source] = current

    def acknowledge(self, alert: Alert, by: str, comment: str, at: float) -> None:
        self.acks[alert.key] = Ack(by, at, comment, alert.active_since)
        self.dirty = True

    def unacknowledge(self, alert: Alert) -> bool:
        """Forget the acknowledgement of this occurrence; False when there was none."""
        ack = self.acks.get(alert.key)
        if ack is None or ack.active_since != alert.active_since:
            return False
        del self.acks[alert.key]
        self.dirty = True
        return True

    # --- output --------------------------------------------------------------------------
    def publish(self, now: float, *, record: bool = True) -> tuple[Alert, ...]:
        """Every alert to show at ``now``, sorted; state changes go to the history."""
        merged = list(self.internal)
        for alerts in self.external.values():
            for key, alert in list(alerts.items()):
                if alert.state == "resolved" and now - alert.since > self.retention:
                    del alerts[key]
                else:
                    merged.append(alert)
        open_windows = [window for window in self.windows if window.occurrence(now)]
        shown = sort_alerts(self._decorated(alert, open_windows) for alert in merged)
        if record:
            self._record(shown, now)
        self.shown = {alert.key: alert for alert in shown}
        self._forget_acks(now)
        return shown

    def _decorated(self, alert: Alert, open_windows: list[Window]) -> Alert:
        changes: dict[str, Any] = {}
        windows = tuple(window.name for window in open_windows if window.covers(alert))
        if windows:
            changes.update(maintenance=windows, suppressed=True)
        ack = self.acks.get(alert.key)
        if ack is not None and ack.active_since == alert.active_since:
            changes.update(acknowledged_by=ack.by, acknowledged_at=ack.at, ack_comment=ack.comment)
        return replace(alert, **changes) if changes else alert

    def _record(self, shown: Sequence[Alert], now: float) -> None:
        keys = set()
        for alert in shown:
            keys.add(alert.key)
            old = self.shown.get(alert.key)
            if old is None or (old.state, old.active_since) != (alert.state, alert.active_since):
                self.history.append(_event(alert, now))
                self.dirty = True
        for key, old in self.shown.items():
            if key not in keys and old.state == "pending":
                self.history.append(_event(old, now, "inactive"))
                self.dirty = True

    def _forget_acks(self, now: float) -> None:
        stale = [
            k for k, ack in self.acks.items() if k not in self.shown and now - ack.at > ACK_KEEP
        ]
        for key in stale:
            del self.acks[key]

    def events(self, alert: Alert | None = None) -> list[AlertEvent]:
        """The history, oldest first; only ``alert``'s when given."""
        if alert is None:
            return list(self.history)
        return [
            event
            for event in self.history
            if (event.source, event.fingerprint) == (alert.source, alert.fingerprint)
        ]

    # --- persistence -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        self.dirty = False
        return {
            "external": {
                source: [alert_to_json(alert) for alert in alerts.values()]
                for source, alerts in self.external.items()
            },
            "acks": {key: asdict(ack) for key, ack in self.acks.items()},
            "history": [asdict(event) for event in self.history],
        }

    def restore(self, data: Mapping[str, Any], sources: Iterable[str]) -> None:
        """Take back a snapshot; entries that do not parse, and sources no longer configured,
        are dropped."""
        configured = set(sources)
        external = data.get("external")
        for source, saved in external.items() if isinstance(external, dict) else ():
            if source not in configured or not isinstance(saved, list):
                continue
            alerts = (alert_from_json(item) for item in saved)
            self.external[source] = {a.key: a for a in alerts if a is not None}
        acks = data.get("acks")
        for key, saved in acks.items() if isinstance(acks, dict) else ():
            ack = _parsed(Ack, saved, numbers=("at",), texts=("by", "comment"))
            if ack is not None:
                self.acks[key] = ack
        history = data.get("history")
        texts = ("source", "name", "fingerprint", "state", "severity", "summary")
        for saved in history if isinstance(history, list) else ():
            event = _parsed(AlertEvent, saved, numbers=("at",), texts=texts)
            if event is not None:
                self.history.append(event)


def _parsed(
    cls: type[_Saved], saved: object, numbers: tuple[str, ...], texts: tuple[str, ...]
) -> _Saved | None:
    """``cls(**saved)`` when ``saved`` has its fields with the right types, else ``None``."""
    if not isinstance(saved, dict):
        return None
    if not all(isinstance(saved.get(key), int | float) for key in numbers):
        return None
    if not all(isinstance(saved.get(key), str) for key in texts):
        return None
    try:
        return cls(**{**saved, **{key: printable(saved[key]) for key in texts}})
    except TypeError:
        return None
