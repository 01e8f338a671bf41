"""Entries for alerts: the alert book's own history of state changes (pending, firing,
resolved, cleared before firing), and what the published alerts show changing besides:
silenced in Alertmanager, acknowledged here.

The book's history is persisted with the alert state, so ``watchdeck check`` from cron sees
an alert go from pending (one run) to firing (a later run) like the console does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tui.engine.alert_book import AlertBook, AlertEvent
from tui.engine.samples import Alert
from tui.engine.timeline.entry import STATUS_SEVERITY, Entry, Link, Severity
from tui.engine.timeline.maker import Maker
from tui.engine.units import format_duration


def _key(source: str, fingerprint: str, name: str) -> str:
    """An alert's row key in the Alerts pane (``Alert.key``)."""
    return f"{source}/{fingerprint or name}"


class AlertWatch:
    """Remembers how far into the book's history it has read, and the alerts last shown."""

    def __init__(self, book: AlertBook, alerts: Iterable[Alert]) -> None:
        self.book = book
        self.mark: AlertEvent | None = book.history[-1] if book.history else None
        self.shown = {alert.key: alert for alert in alerts}

    def _new_events(self) -> list[AlertEvent]:
        new: list[AlertEvent] = []
        for event in reversed(self.book.history):
            if event is self.mark:
                break
            new.append(event)
        if new:
            self.mark = new[0]
        return new[::-1]

    def _fired_at(self, event: AlertEvent) -> float | None:
        """When the alert of a ``resolved`` event last started firing."""
        for earlier in reversed(self.book.history):
            if earlier.at >= event.at or earlier.fingerprint != event.fingerprint:
                continue
            if earlier.source == event.source and earlier.state == "firing":
                return earlier.at
        return None

    def entries(self, alerts: Sequence[Alert], now: float, make: Maker) -> list[Entry]:
        entries = [self._history_entry(event, make) for event in self._new_events()]
        for alert in alerts:
            before = self.shown.get(alert.key)
            link = Link("alerts", alert.key)
            if alert.silenced_by and not (before and before.silenced_by):
                text = f"{alert.name} silenced in {alert.source} ({', '.join(alert.silenced_by)})"
                entries.append(
                    make(now, "alert", alert.name, "info", "alert.silenced", text, link=link)
                )
            ack = (alert.acknowledged_by, alert.acknowledged_at)
            if alert.acknowledged_by and (
                before is None or ack != (before.acknowledged_by, before.acknowledged_at)
            ):
                comment = f": {alert.ack_comment}" if alert.ack_comment else ""
                entries.append(
                    make(
                        alert.acknowledged_at or now,
                        "alert",
                        alert.name,
                        "info",
                        "alert.acknowledged",
                        f"{alert.name} acknowledged{comment}",
                        who=alert.acknowledged_by,
                        link=link,
                    )
                )
        self.shown = {alert.key: alert for alert in alerts}
        return entries

    def _history_entry(self, event: AlertEvent, make: Maker) -> Entry:
        name = event.name
        severity: Severity
        if event.state == "firing":
            severity = STATUS_SEVERITY.get(event.severity, "warning")
            text = f"{name} firing ({event.severity}): {event.summary}"
        elif event.state == "pending":
            severity = "info"
            text = f"{name} pending ({event.severity}): {event.summary}"
        elif event.state == "resolved":
            severity = "ok"
            fired = self._fired_at(event)
            after = f" after {format_duration(event.at - fired)} firing" if fired else ""
            text = f"{name} resolved{after}: {event.summary}"
        else:
            severity = "ok"
            text = f"{name} cleared before firing: {event.summary}"
        state = event.state if event.state in ("firing", "pending", "resolved") else "inactive"
        link = Link("alerts", _key(event.source, event.fingerprint, name))
        return make(event.at, "alert", name, severity, f"alert.{state}", text, link=link)
