"""What a queue's reads say over time: rates in and out, depth trend, ETA to drain, status.

What depth alone can tell: its change per minute (``rate_net``), whether the queue is growing
or draining and, while it drains, when it will be empty. It cannot tell how much arrives and
how much leaves: 100 in and 100 out looks exactly like nothing moving. ``rate_in`` and
``rate_out`` are therefore only given where the system itself records one of them: a counter
of jobs added or finished (a stream's ``entries-added`` and its group's ``entries-read``,
BullMQ's job id counter and metrics) or rates it computes (RabbitMQ's message stats). When only
one side is recorded the other follows from the backlog, since every job that arrived is still
waiting, delayed or active unless it left: ``in = out + change of (depth + delayed + active)``
over the fields the system records (clamped at 0: jobs deleted by hand would make it negative).

Rates and trend compare the newest read with the oldest inside the window (default
``settings.window``); they need two reads some time apart, so the first read has none. A
counter's rate adds up its rises between consecutive reads, like Prometheus ``increase()``:
after a reset (a stream recreated, a Redis restarted without persistence) the new value is the
rise, so one reset costs at most the jobs counted between two reads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from tui.engine.config import Queue
from tui.engine.samples import QueueSample, QueueTrend, Status
from tui.engine.units import format_duration

STEADY_SHARE = 0.05
"""Depth changing by less than this share of itself (or less than one job) over the window
counts as steady, so a busy queue hovering around a level is not called growing."""


@dataclass(frozen=True, slots=True)
class QueueReading:
    """What one read of a queue system found, before history and thresholds are applied."""

    depth: int | None
    active: int | None = None
    failed: int | None = None
    delayed: int | None = None
    oldest_age_s: float | None = None
    workers: int | None = None
    paused: bool | None = None
    breakdown: tuple[tuple[str, float | None], ...] = ()
    shared: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    added_total: float | None = None
    """A counter of jobs ever added, where the system keeps one."""
    done_total: float | None = None
    """A counter of jobs ever finished or delivered, where the system keeps one."""
    rate_in: float | None = None
    """Per minute, when the system computes it itself (RabbitMQ)."""
    rate_out: float | None = None


class _Point(NamedTuple):
    at: float
    depth: int | None
    backlog: tuple[int | None, int | None, int | None]
    """``(depth, delayed, active)`` as read."""
    added: float | None
    done: float | None


class QueueHistory:
    """The reads of one queue inside its window (at most ``history``), turned into samples."""

    __slots__ = ("config", "points", "window")

    def __init__(self, config: Queue, *, history: int, window: float) -> None:
        self.config = config
        self.window = window
        self.points: deque[_Point] = deque(maxlen=max(history, 2))

    def sample(
        self, name: str, kind: str, at: float, reading: QueueReading, parent: str | None = None
    ) -> QueueSample:
        """The sample for a read taken at ``at`` (a read seen again is not counted twice)."""
        point = _Point(
            at,
            reading.depth,
            (reading.depth, reading.delayed, reading.active),
            reading.added_total,
            reading.done_total,
        )
        if not self.points or at > self.points[-1].at:
            self.points.append(point)
            while self.points[0].at < at - self.window:
                self.points.popleft()
        rate_in, rate_out, rate_net, trend = self._rates(point, reading)
        eta = _eta(reading.depth, rate_net)
        status, reasons = queue_status(reading, self.config)
        return QueueSample(
            name=name,
            kind=kind,
            at=at,
            depth=reading.depth,
            active=reading.active,
            failed=reading.failed,
            delayed=reading.delayed,
            oldest_age_s=reading.oldest_age_s,
            workers=reading.workers,
            paused=reading.paused,
            rate_in=rate_in,
            rate_out=rate_out,
            rate_net=rate_net,
            eta_s=eta,
            trend=trend,
            breakdown=reading.breakdown,
            shared=reading.shared,
            notes=reading.notes,
            queue=self.config.key if not self.config.discover else None,
            parent=parent,
            status=status,
            reasons=reasons,
        )

    def _first_in_window(self, at: float) -> _Point | None:
        first = self.points[0] if self.points else None
        return first if first is not None and first.at < at else None

    def _rates(
        self, now: _Point, reading: QueueReading
    ) -> tuple[float | None, float | None, float | None, QueueTrend | None]:
        then = self._first_in_window(now.at)
        if then is None:
            trend: QueueTrend | None = "empty" if now.depth == 0 else None
            return reading.rate_in, reading.rate_out, None, trend
        minutes = (now.at - then.at) / 60.0
        rate_net = None
        if now.depth is not None and then.depth is not None:
            rate_net = (now.depth - then.depth) / minutes
        reads = [*(point for point in self.points if point.at < now.at), now]
        rate_in = reading.rate_in
        if rate_in is None:
            rate_in = _counter_rate([point.added for point in reads], minutes)
        rate_out = reading.rate_out
        if rate_out is None:
            rate_out = _counter_rate([point.done for point in reads], minutes)
        grown = _backlog_change(then.backlog, now.backlog)
        if grown is not None:
            if rate_in is None and rate_out is not None:
                rate_in = max(0.0, rate_out + grown / minutes)
            elif rate_out is None and rate_in is not None:
                rate_out = max(0.0, rate_in - grown / minutes)
        return rate_in, rate_out, rate_net, _trend(then.depth, now.depth)


def _counter_rate(values: list[float | None], minutes: float) -> float | None:
    """Per minute from a counter's reads, oldest first; ``None`` when missing at either end.

    A read lower than the one before it follows a reset: the counter started again from 0.
    """
    if values[0] is None or values[-1] is None:
        return None
    known = [value for value in values if value is not None]
    rise = sum(after - before if after >= before else after for before, after in pairwise(known))
    return rise / minutes


def _backlog_change(before: tuple[int | None, ...], after: tuple[int | None, ...]) -> float | None:
    """Change of depth + delayed + active, over the fields known at both reads."""
    if before[0] is None or after[0] is None:
        return None
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if b is not None and a is not None]
    return float(sum(a for _, a in pairs) - sum(b for b, _ in pairs))


def _trend(before: int | None, after: int | None) -> QueueTrend | None:
    if after is None:
        return None
    if after == 0:
        return "empty"
    if before is None:
        return None
    change = after - before
    if abs(change) < max(1.0, STEADY_SHARE * max(after, before)):
        return "steady"
    return "growing" if change > 0 else "draining"


def _eta(depth: int | None, rate_net: float | None) -> float | None:
    """Seconds to empty at the net drain rate; 0 when empty; ``None`` when not draining."""
    if depth == 0:
        return 0.0
    if depth is None or rate_net is None or rate_net >= 0:
        return None
    return depth / -rate_net * 60.0


def queue_status(
    sample: QueueSample | QueueReading, config: Queue
) -> tuple[Status, tuple[str, ...]]:
    """The status the queue's thresholds give a read, and which thresholds were crossed.

    Thresholds hold "at or above" (``warn_depth: 1000`` warns at 1000). A value the system does
    not record never crosses one. ``min_workers`` is critical: work with nobody to do it.
    """
    status: Status = "ok"
    reasons: list[str] = []
    checks = (
        ("depth", sample.depth, config.warn_depth, config.crit_depth, _count),
        ("oldest", sample.oldest_age_s, config.warn_age, config.crit_age, _age),
        ("failed", sample.failed, config.warn_failed, config.crit_failed, _count),
    )
    for label, value, warn, crit, shown in checks:
        if value is None:
            continue
        if crit is not None and value >= crit:
            status = "critical"
            reasons.append(f"{label} {shown(value)} >= {shown(crit)}")
        elif warn is not None and value >= warn:
            status = "warning" if status == "ok" else status
            reasons.append(f"{label} {shown(value)} >= {shown(warn)}")
    workers, needed = sample.workers, config.min_workers
    if workers is not None and needed is not None and workers < needed:
        status = "critical"
        reasons.append(f"workers {workers} < {needed}")
    return status, tuple(reasons)


def _count(value: float) -> str:
    return f"{value:.0f}"


def _age(value: float) -> str:
    return format_duration(value)
