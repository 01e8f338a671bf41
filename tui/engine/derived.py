"""Derived health-check metrics: latency percentiles, error rate and uptime over a window,
consecutive failures, the last up/down change and a Nagios-style flapping badge.

Window metrics are computed on demand from a bounded buffer of results (sorting a few hundred
floats at most); the flapping state is kept as results arrive because its hysteresis depends
on the past.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice, pairwise
from typing import NamedTuple

FLAP_RESULTS = 21
"""Results the percent state change looks at (Nagios: 21 results, 20 possible changes)."""
FLAP_OLDEST_WEIGHT = 0.8
FLAP_NEWEST_WEIGHT = 1.2
"""A change weighs more the more recent it is, linearly between these two."""
FLAP_START_PCT = 50.0
"""Flapping starts when the weighted percent state change exceeds this."""
FLAP_STOP_PCT = 25.0
"""Flapping stops when it falls below this (hysteresis: between the two, nothing changes)."""
RECENT_RESULTS = 30
"""Results kept in ``CheckStats.recent`` for a strip or sparkline."""

DERIVED_METRICS = (
    "latency_p50_ms",
    "latency_p95_ms",
    "error_rate",
    "uptime",
    "consecutive_failures",
    "last_change_s",
    "flapping",
)
"""Metric names rules use under ``check.NAME.`` for the values below."""


class CheckResult(NamedTuple):
    at: float
    up: bool
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class CheckStats:
    """A check's derived metrics at one moment; ``None`` means no data, never zero."""

    window_s: float
    polls: int
    """Results inside the window (at most the history size)."""
    last_latency_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    """Nearest-rank percentiles of the successful responses in the window."""
    error_rate: float | None
    """Share of polls in the window that were down, 0..1."""
    uptime: float | None
    """Share of polls in the window that were up, 0..1."""
    consecutive_failures: int
    last_change_at: float | None
    """When the check last went up or down; ``None`` while it has not changed since this
    process began (its first result is not a change: what came before is not known)."""
    flapping: bool
    recent: tuple[CheckResult, ...]
    """The last results, oldest first, whatever the window."""

    def metrics(self, now: float) -> dict[str, float | None]:
        """Values under the names of ``DERIVED_METRICS``: all no data when the window is empty."""
        if self.polls == 0:
            return dict.fromkeys(DERIVED_METRICS)
        last_change = None if self.last_change_at is None else max(0.0, now - self.last_change_at)
        return {
            "latency_p50_ms": self.p50_ms,
            "latency_p95_ms": self.p95_ms,
            "error_rate": self.error_rate,
            "uptime": self.uptime,
            "consecutive_failures": float(self.consecutive_failures),
            "last_change_s": last_change,
            "flapping": 1.0 if self.flapping else 0.0,
        }


def percentile(ordered: Sequence[float], pct: int) -> float | None:
    """Nearest-rank percentile of sorted values: always an observed value, no interpolation."""
    if not ordered:
        return None
    rank = -(-pct * len(ordered) // 100)  # ceil without float error: p95 of 20 is the 19th
    return ordered[max(rank, 1) - 1]


def percent_state_change(states: Sequence[bool]) -> float:
    """Nagios' weighted percent state change over the last ``FLAP_RESULTS`` results.

    The 20 transitions between 21 results weigh 0.8 (oldest) rising linearly to 1.2 (newest);
    100 % is a change at every result. With fewer results, the missing older transitions count
    as no change, so a young check does not flap after one outage.
    """
    last = list(states)[-FLAP_RESULTS:]
    slots = FLAP_RESULTS - 1
    first = slots - (len(last) - 1)
    step = (FLAP_NEWEST_WEIGHT - FLAP_OLDEST_WEIGHT) / (slots - 1)
    weighted = sum(
        FLAP_OLDEST_WEIGHT + (first + index) * step
        for index, (before, after) in enumerate(pairwise(last))
        if before != after
    )
    return weighted * 100.0 / slots


def still_flapping(
    flapping: bool, change: float, start: float = FLAP_START_PCT, stop: float = FLAP_STOP_PCT
) -> bool:
    """Nagios' hysteresis: flapping starts above ``start`` percent and stops below ``stop``."""
    return change >= stop if flapping else change > start


class CheckHistory:
    """The bounded results of one check and what must be remembered between them."""

    __slots__ = ("consecutive_failures", "flapping", "last_change_at", "results")

    def __init__(self, history: int) -> None:
        self.results: deque[CheckResult] = deque(maxlen=max(history, FLAP_RESULTS, RECENT_RESULTS))
        self.consecutive_failures = 0
        self.last_change_at: float | None = None
        self.flapping = False

    def record(self, at: float, up: bool, latency_ms: float | None) -> None:
        if self.results and self.results[-1].up != up:
            self.last_change_at = at
        self.consecutive_failures = 0 if up else self.consecutive_failures + 1
        self.results.append(CheckResult(at, up, latency_ms))
        newest = [result.up for result in islice(reversed(self.results), FLAP_RESULTS)]
        self.flapping = still_flapping(self.flapping, percent_state_change(newest[::-1]))

    def stats(self, now: float, window: float) -> CheckStats:
        """Window metrics over the results newer than ``now - window``."""
        start = now - window
        polls = ups = 0
        latencies: list[float] = []
        for result in reversed(self.results):  # newest first, to the window's start
            if result.at <= start:
                break
            polls += 1
            if result.up:
                ups += 1
                if result.latency_ms is not None:
                    latencies.append(result.latency_ms)
        latencies.sort()
        recent = list(islice(reversed(self.results), RECENT_RESULTS))
        return CheckStats(
            window_s=window,
            polls=polls,
            last_latency_ms=self.results[-1].latency_ms if self.results else None,
            p50_ms=percentile(latencies, 50),
            p95_ms=percentile(latencies, 95),
            error_rate=(polls - ups) / polls if polls else None,
            uptime=ups / polls if polls else None,
            consecutive_failures=self.consecutive_failures,
            last_change_at=self.last_change_at,
            flapping=self.flapping,
            recent=tuple(reversed(recent)),
        )
