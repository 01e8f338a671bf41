"""The state store: the latest sample and status of every source, and bounded history per series."""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from tui.engine.derived import DERIVED_METRICS, CheckHistory, CheckStats
from tui.engine.samples import CheckSample, Sample

Section = Literal["check", "database", "queue", "alertsource"]
METRIC_PREFIX: dict[str, str] = {
    "check": "check",
    "database": "db",
    "queue": "queue",
    "alertsource": "alertsource",
}


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the UI and ``check`` know about one source, replaced (never mutated) on each pass."""

    id: str
    section: Section
    name: str
    kind: str
    sample: Sample | None = None
    """The last good sample; kept (and shown as stale) when later passes fail."""
    error: str | None = None
    failures: int = 0
    """Consecutive failed passes."""
    last_attempt: float | None = None
    last_success: float | None = None
    next_poll_at: float | None = None
    stats: CheckStats | None = None
    """A check's derived metrics as of this pass (``None`` for other sources)."""

    @property
    def stale(self) -> bool:
        return self.error is not None and self.sample is not None


class Series:
    """A bounded ring of ``(time, value)`` points kept in two arrays of doubles: 16 bytes a
    point where a deque of tuples took about 110, so a day of polling stays small and flat."""

    __slots__ = ("_start", "_times", "_values", "maxlen")

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._times = array("d")
        self._values = array("d")
        self._start = 0
        """Index of the oldest point once the ring is full (then the next one overwritten)."""

    def append(self, at: float, value: float) -> None:
        if self.maxlen <= 0:
            return
        if len(self._values) < self.maxlen:
            self._times.append(at)
            self._values.append(value)
            return
        self._times[self._start] = at
        self._values[self._start] = value
        self._start = (self._start + 1) % self.maxlen

    @property
    def points(self) -> list[tuple[float, float]]:
        """Oldest first."""
        return list(zip(self._in_order(self._times), self._in_order(self._values), strict=True))

    def values(self) -> list[float]:
        return self._in_order(self._values)

    def last(self) -> float | None:
        return self._values[self._start - 1] if self._values else None

    def _in_order(self, ring: array[float]) -> list[float]:
        return ring[self._start :].tolist() + ring[: self._start].tolist()


class State:
    """Sources, their series and, per check, the results behind the derived metrics.

    ``window`` is the default window of the derived metrics (``settings.window``); ``windows``
    overrides it by check name. A window longer than ``history`` results is cut to them.
    """

    def __init__(
        self,
        history: int = 720,
        *,
        window: float = 300.0,
        windows: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.history = history
        self.window = window
        self.windows = dict(windows or {})
        self.clock = clock
        self.sources: dict[str, SourceState] = {}
        self.series: dict[str, Series] = {}
        self.checks: dict[str, CheckHistory] = {}

    def register(self, source_id: str, section: Section, name: str, kind: str) -> SourceState:
        state = SourceState(id=source_id, section=section, name=name, kind=kind)
        self.sources[source_id] = state
        return state

    def record_sample(self, source_id: str, sample: Sample, at: float) -> SourceState:
        state = replace(
            self.sources[source_id],
            sample=sample,
            error=None,
            failures=0,
            last_attempt=at,
            last_success=at,
        )
        if isinstance(sample, CheckSample):
            state = replace(state, stats=self._record_check(state.name, at, sample))
        self.sources[source_id] = state
        prefix = f"{METRIC_PREFIX[state.section]}.{state.name}."
        for metric, value in sample.metrics().items():
            if value is None:
                continue
            series = self.series.get(prefix + metric)
            if series is None:
                series = self.series[prefix + metric] = Series(self.history)
            series.append(at, value)
        return state

    def record_error(self, source_id: str, message: str, at: float) -> SourceState:
        previous = self.sources[source_id]
        state = replace(previous, error=message, failures=previous.failures + 1, last_attempt=at)
        if state.section == "check":
            state = replace(state, stats=self._record_check(state.name, at, None))
        self.sources[source_id] = state
        return state

    def _record_check(self, name: str, at: float, sample: CheckSample | None) -> CheckStats:
        """A pass that raised counts as a down result without latency: the poll failed."""
        history = self.checks.get(name)
        if history is None:
            history = self.checks[name] = CheckHistory(self.history)
        if sample is None:
            history.record(at, False, None)
        else:
            history.record(at, sample.up, sample.latency_ms)
        return history.stats(at, self.window_of(name))

    def window_of(self, check: str) -> float:
        return self.windows.get(check, self.window)

    def check_stats(self, name: str, now: float | None = None) -> CheckStats | None:
        """A check's derived metrics at ``now`` (the clock's), or ``None`` before its first poll."""
        history = self.checks.get(name)
        if history is None:
            return None
        return history.stats(self.clock() if now is None else now, self.window_of(name))

    def schedule(self, source_id: str, next_poll_at: float | None) -> SourceState:
        state = replace(self.sources[source_id], next_poll_at=next_poll_at)
        self.sources[source_id] = state
        return state

    def metric(self, path: str) -> float | None:
        """The current value of a metric path, or ``None`` (no data) when unknown or stale."""
        section, _, rest = path.partition(".")
        name, _, metric = rest.rpartition(".")
        kind = {"check": "check", "db": "database", "queue": "queue"}.get(section)
        for state in self.sources.values():
            if state.section == kind and state.name == name:
                if state.sample is None or state.error is not None:
                    return None
                if kind == "check" and metric in DERIVED_METRICS:
                    now = self.clock()
                    stats = self.check_stats(name, now)
                    return stats.metrics(now)[metric] if stats else None
                return state.sample.metrics().get(metric)
        return None

    def history_of(self, path: str) -> list[float]:
        series = self.series.get(path)
        return series.values() if series else []
