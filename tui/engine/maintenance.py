"""Maintenance windows: weekly ones in a time zone, and one-off ranges.

A weekly window starts at a wall-clock time in its zone (so ``02:00 Europe/Paris`` stays
02:00 across daylight saving changes) and lasts ``duration`` of real time. Alerts covered by
an active window still show, marked suppressed, and notify nobody.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tui.engine.config import Maintenance
from tui.engine.samples import Alert

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_DAY = 86400.0


class WindowError(ValueError):
    """A window that cannot be understood; ``key`` is the config key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    zone: ZoneInfo
    duration: float
    at: time | None = None
    """Weekly: the wall-clock start; ``None`` for a one-off window."""
    days: frozenset[int] = frozenset(range(7))
    """Weekly: the weekdays it starts on (0 is Monday)."""
    start: float | None = None
    """One-off: the start (epoch seconds)."""
    alerts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    labels: Mapping[str, str] | None = None
    comment: str = ""

    def occurrence(self, now: float) -> tuple[float, float] | None:
        """``(start, end)`` of the occurrence covering ``now``, or ``None`` outside."""
        if self.at is None:
            assert self.start is not None
            end = self.start + self.duration
            return (self.start, end) if self.start <= now < end else None
        today = datetime.fromtimestamp(now, self.zone).date()
        for back in range(int(self.duration // _DAY) + 2):
            day = today - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            begin = _local(day, self.at, self.zone)
            if begin <= now < begin + self.duration:
                return begin, begin + self.duration
        return None

    def covers(self, alert: Alert) -> bool:
        if self.alerts and not any(fnmatchcase(alert.name, pattern) for pattern in self.alerts):
            return False
        if self.sources and alert.source not in self.sources:
            return False
        return all(alert.labels.get(key) == value for key, value in (self.labels or {}).items())


@dataclass(frozen=True, slots=True)
class ActiveWindow:
    name: str
    start: float
    end: float
    comment: str


def _local(day: date, at: time, zone: ZoneInfo) -> float:
    return datetime.combine(day, at, tzinfo=zone).timestamp()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            "timezone", f"unknown time zone {name!r}: use an IANA name such as Europe/Paris"
        ) from None


def compile_window(config: Maintenance) -> Window:
    """The window a config entry describes; raises ``WindowError`` naming the bad key."""
    zone = _zone(config.timezone)
    common = {
        "name": config.name,
        "zone": zone,
        "alerts": tuple(config.alerts),
        "sources": tuple(config.sources),
        "labels": dict(config.labels),
        "comment": config.comment,
    }
    if config.duration is not None and config.duration <= 0:
        raise WindowError("duration", "must be greater than 0")
    weekly = _TIME.match(config.start.strip())
    if weekly:
        if config.end is not None:
            raise WindowError("end", "a weekly window (start HH:MM) takes duration, not end")
        if config.duration is None:
            raise WindowError("start", 'a weekly window needs "duration", e.g. 2h')
        hour, minute, second = (int(part or 0) for part in weekly.groups())
        return Window(
            duration=float(config.duration),
            at=time(hour, minute, second),
            days=frozenset(DAYS.index(day) for day in config.days or DAYS),
            **common,
        )
    if config.days:
        raise WindowError("days", 'days apply to a weekly window (start: "HH:MM")')
    start = _moment(config.start, zone, "start")
    if (config.end is None) == (config.duration is None):
        raise WindowError("start", 'a one-off window needs either "end" or "duration"')
    if config.end is not None:
        end = _moment(config.end, zone, "end")
        if end <= start:
            raise WindowError("end", "the window ends before it starts")
        duration = end - start
    else:
        duration = float(config.duration or 0.0)
    return Window(duration=duration, start=start, **common)


def _moment(text: str, zone: ZoneInfo, key: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WindowError(
            key,
            f'expected "HH:MM" (weekly) or a date-time such as 2025-03-01 22:00, got {text!r}',
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def active(windows: list[Window], now: float) -> list[ActiveWindow]:
    """The windows open at ``now``."""
    found = []
    for window in windows:
        occurrence = window.occurrence(now)
        if occurrence is not None:
            found.append(ActiveWindow(window.name, *occurrence, window.comment))
    return found
