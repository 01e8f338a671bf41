"""The Queues pane: one row per queue, the worst first, answering "is work piling up, since
when, and is anyone consuming it?": depth, change per minute, trend, age of the oldest job,
active, failed, workers, time to drain, and why a queue is not ok.

A value past one of its queue's thresholds carries the threshold's glyph as well as its colour
(``▲ 1,240``). Queues found by discovery are sources of their own that appear while running:
each gets a row when it first reports and loses it when the system stops listing it. ``s``
cycles the sort, ``/`` narrows the rows by name, kind or reason, ``enter`` asks for the queue's
detail screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.text import Text

from tui.engine.config import Queue
from tui.engine.queues_derived import QueueReading, queue_status
from tui.engine.samples import QueueSample, Status
from tui.engine.state import SourceState, State
from tui.engine.units import format_duration
from widgets.pane import news
from widgets.sorted_pane import STATUS_RANK, Entry, SortedPane
from widgets.status import GLYPHS, NO_DATA, Palette, number, problem, sparkline
from widgets.table import ColumnSpec

TREND_WIDTH = 10
SHARED = "*"
"""After a value the system counts across all its queues (Sidekiq's retry set, Celery's
unacked index): never divided up between them."""
PAUSED = "⏸ paused"
SORT_FIELDS = {"depth": "depth", "growth": "rate_net", "oldest": "oldest_age_s"}
"""The field each sort but ``status`` and ``name`` orders by, largest first."""
THRESHOLD_FIELDS = ("depth", "oldest_age_s", "failed", "workers")
"""The fields a queue's thresholds judge (``warn_depth``, ``crit_age``, ``min_workers``...)."""


class QueuesPane(SortedPane):
    SORTS = ("status", "name", "depth", "growth", "oldest")
    COLUMNS = (
        ColumnSpec("status", "status"),
        ColumnSpec("queue", "queue"),
        ColumnSpec("depth", "depth"),
        ColumnSpec("change", "change"),
        ColumnSpec("trend", "trend", TREND_WIDTH),
        ColumnSpec("oldest", "oldest"),
        ColumnSpec("active", "active"),
        ColumnSpec("failed", "failed"),
        ColumnSpec("workers", "workers"),
        ColumnSpec("eta", "drain"),
        ColumnSpec("kind", "kind"),
        ColumnSpec("error", "reason"),
    )
    FILTER_HINT = "filter: name, kind or reason · enter keeps · esc clears"
    NOT_CONFIGURED = (
        "No queues in this config. Add Celery, RQ, BullMQ, Sidekiq, Redis stream, RabbitMQ, "
        "SQL or Prometheus queues under `queues:` (README: Queues)."
    )

    class DetailWanted(SortedPane.DetailWanted):
        """``enter`` on a queue: show its detail screen."""

    def __init__(self, states: Sequence[SourceState], history: State) -> None:
        super().__init__(2, "Queues", id="queues", states=states, history=history)
        self.queues: dict[str, Queue] = {}
        """Configured queues by name: their thresholds mark the values that crossed one."""
        self.cells: dict[str, tuple[SourceState, Palette, tuple[Any, ...]]] = {}
        """Each queue's row as last drawn, from which state and in which theme."""
        self.pending = False

    # --- data ------------------------------------------------------------------------
    def configure(self, queues: Iterable[Queue]) -> None:
        self.queues = {queue.name: queue for queue in queues}
        self.cells = {}
        self.refresh_view()

    def update_source(self, state: SourceState, now: float) -> None:
        """Store the update; when it is news (``widgets.pane.news``), draw once the burst it
        came in is over: discovery reports every queue it found at once, and each redraw goes
        over every row. Other updates are drawn by the next tick.

        A queue the store no longer holds (discovery stopped listing it) loses its row.
        """
        gone = [name for name, known in self.states.items() if known.id not in self.history.sources]
        for name in gone:
            del self.states[name]
            self.cells.pop(name, None)
        previous = self.states.get(state.name)
        self.states[state.name] = state
        self.now = now
        self.undrawn = True
        if self.is_mounted and not self.pending and (gone or news(previous, state)):
            self.pending = True
            self.call_later(self.draw_pending)

    def draw_pending(self) -> None:
        self.pending = False
        self.refresh_view()

    def entry(self, state: SourceState) -> Entry:
        palette = self.palette
        cached = self.cells.get(state.name)
        if cached and cached[0] is state and cached[1] is palette and state.error is None:
            cells = cached[2]
        else:  # a failing queue's reason counts down to its retry
            cells = self.row(state)
            self.cells[state.name] = (state, palette, cells)
        sample = state.sample if isinstance(state.sample, QueueSample) else None
        field = SORT_FIELDS.get(self.sort)
        value = getattr(sample, field) if sample and field else None
        return Entry(cells, (state.kind, cells[-1].plain), value)

    def row(self, state: SourceState) -> tuple[Any, ...]:
        palette = self.palette
        sample = state.sample if isinstance(state.sample, QueueSample) else None
        if sample is None:
            return (
                palette.source(state),
                state.name,
                *(Text(NO_DATA),) * (len(self.COLUMNS) - 4),
                state.kind,
                self.reason(state, None),
            )
        crossed = crossed_thresholds(sample, config_of(self.queues, state.name))

        def count(field: str) -> Text:
            text = number(getattr(sample, field))
            if field in sample.shared and getattr(sample, field) is not None:
                text += SHARED
            return marked(text, crossed.get(field), palette)

        return (
            palette.source(state),
            state.name,
            count("depth"),
            Text(per_minute(sample.rate_net)),
            Text(sparkline(self.history.history_of(f"queue.{state.name}.depth"), TREND_WIDTH)),
            marked(format_duration(sample.oldest_age_s), crossed.get("oldest_age_s"), palette),
            count("active"),
            count("failed"),
            count("workers"),
            Text(drain(sample)),
            state.kind,
            self.reason(state, sample),
        )

    def reason(self, state: SourceState, sample: QueueSample | None) -> Text:
        """Why the queue is not ok: the poll error, the thresholds crossed, else its notes."""
        palette = self.palette
        if state.error is not None:
            return Text(problem(state, self.now, self.paused), style=palette.style("critical"))
        if sample is None:
            return palette.muted("waiting for first poll")
        text = Text()
        if sample.paused:
            text.append(PAUSED, palette.style("warning"))
        if sample.reasons:
            if text:
                text.append(" · ")
            text.append(" · ".join(sample.reasons), palette.style(sample.status))
        elif sample.notes:
            if text:
                text.append(" · ")
            text.append_text(palette.muted(" · ".join(sample.notes)))
        return text

    def worst(self) -> tuple[Status, str, str] | None:
        worst = worst_queue(self.states.values())
        return None if worst is None else (worst.status, worst.name, worst.reasons[0])


def config_of(queues: Mapping[str, Queue], name: str) -> Queue | None:
    """A queue's entry; a discovered queue (``ENTRY/QUEUE``) has its ``discover`` entry's."""
    if name in queues:
        return queues[name]
    return next(
        (
            queue
            for queue in queues.values()
            if queue.discover and name.startswith(f"{queue.name}/")
        ),
        None,
    )


def crossed_thresholds(sample: QueueSample, config: Queue | None) -> dict[str, Status]:
    """The status each field's own thresholds give it, for the fields past one."""
    if config is None:
        return {}
    crossed: dict[str, Status] = {}
    for field in THRESHOLD_FIELDS:
        alone = QueueReading(**{"depth": None, field: getattr(sample, field)})
        status, _ = queue_status(alone, config)
        if status != "ok":
            crossed[field] = status
    return crossed


def marked(text: str, status: Status | None, palette: Palette) -> Text:
    """A value, with the glyph and colour of the threshold it crossed (if any)."""
    if status is None:
        return Text(text)
    return Text(f"{GLYPHS[status]} {text}", palette.style(status))


def per_minute(rate: float | None) -> str:
    """``+12/m``, ``-0.5/m``, ``0/m``; ``—`` before two reads some time apart."""
    if rate is None:
        return NO_DATA
    if abs(rate) < 0.05:
        return "0/m"
    if abs(rate) < 10:
        return f"{rate:+.1f}/m"
    return f"{rate:+,.0f}/m"


def drain(sample: QueueSample) -> str:
    """Time to empty at the current drain rate; ``growing`` or ``steady`` when not draining."""
    if sample.eta_s is not None:
        return "empty" if sample.eta_s == 0 else format_duration(sample.eta_s)
    if sample.trend in ("growing", "steady"):
        return sample.trend
    return NO_DATA


def worst_queue(states: Iterable[SourceState]) -> QueueSample | None:
    """The sample of the worst queue past a threshold (by status, then name), if any."""
    samples = [
        state.sample
        for state in states
        if isinstance(state.sample, QueueSample) and state.sample.reasons
    ]
    return min(samples, key=lambda sample: (STATUS_RANK[sample.status], sample.name), default=None)
