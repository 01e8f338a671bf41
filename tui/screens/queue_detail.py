"""One queue in full: its counts, rates and time to drain, its thresholds and which were
crossed, the system's own counts behind the fields, what is unknown and why, and the depth
history. Live: the app hands it every update of its queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from rich.text import Text

from tui.engine.config import REDIS_KINDS, Queue
from tui.engine.samples import QueueSample, Status
from tui.engine.state import SourceState, State
from tui.engine.units import format_duration
from tui.screens.detail import Section, SourceDetailScreen
from widgets.queues import SHARED, crossed_thresholds, drain, marked, per_minute
from widgets.status import GLYPHS, NO_DATA, Palette, clock_time, number, sparkline

TREND_WIDTH = 60
"""Cells of the depth sparkline; a longer history is shown as the highest read of each run."""
READS_SHOWN = 12
SHARED_NOTE = "shared across queues"
FIELDS: tuple[tuple[str, str], ...] = (
    ("depth", "ready jobs"),
    ("active", "being worked on"),
    ("failed", "failed or dead"),
    ("delayed", "scheduled or delayed"),
    ("oldest_age_s", "oldest ready job"),
    ("workers", "live workers or consumers"),
)


class QueueDetailScreen(SourceDetailScreen):
    SECTIONS = ("counts", "rates", "thresholds", "breakdown", "notes", "trend", "reads")
    HEADER_ID = "queue-header"

    def __init__(
        self,
        state: SourceState,
        history: State,
        *,
        queue: Queue | None,
        window: float,
        now: float,
        paused: bool = False,
    ) -> None:
        super().__init__(state, history, now=now, paused=paused)
        self.queue = queue
        """The configured entry (a discovered queue's ``discover`` entry), for its thresholds."""
        self.window = window

    def content(self, palette: Palette) -> tuple[Text, dict[str, Section]]:
        sample = self.state.sample if isinstance(self.state.sample, QueueSample) else None
        points = self.depth_points()
        return self.header(sample, palette), {
            "counts": counts_section(self.state, sample, self.queue, palette),
            "rates": rates_section(sample, self.window, palette),
            "thresholds": thresholds_section(sample, self.queue, palette),
            "breakdown": breakdown_section(sample, palette),
            "notes": notes_section(sample, palette),
            "trend": trend_section(points, palette),
            "reads": reads_section(points, palette),
        }

    def header(self, sample: QueueSample | None, palette: Palette) -> Text:
        state = self.state
        text = Text.assemble(palette.source(state), "  ", (state.name, "bold"))
        text.append(f" · {state.kind}")
        where = target(self.queue, sample)
        if where:
            text.append(f" · {where}")
        if sample is not None and sample.parent:
            text.append(f" · found by discovery under {sample.parent}")
        reading = Text()
        if sample is not None:
            reading.append(f" · depth {number(sample.depth)}")
            if sample.trend is not None:
                reading.append(f" · {sample.trend}")
            if sample.paused:
                reading.append(" · ")
                reading.append("⏸ paused", palette.style("warning"))
        text.append("\n")
        return text.append_text(self.last_poll(reading, palette))

    def depth_points(self) -> list[tuple[float, float]]:
        series = self.history.series.get(f"queue.{self.state.name}.depth")
        return list(series.points) if series is not None else []


def target(queue: Queue | None, sample: QueueSample | None) -> str:
    """Where the queue is read, without credentials, and the system's own name for it."""
    if queue is None:
        return ""
    if queue.kind == "sql":
        where = f"database {queue.database}"
    elif queue.kind == "prometheus":
        where = f"{location(queue.endpoint)} {queue.query or ''}".strip()
    else:
        where = location(queue.endpoint)
        if queue.kind == "rabbitmq":
            where += f" vhost {queue.vhost}"
    name = sample.queue if sample is not None and sample.queue else None
    if name is None and not queue.discover:
        name = queue.key
    if name is not None and queue.kind in (*REDIS_KINDS, "rabbitmq"):
        where += f" · queue {name}"
    return where


def location(url: str) -> str:
    """The URL without user, password or query (``?password=`` is a Redis URL's too); a Redis
    socket's database is kept."""
    parts = urlsplit(url)
    db = parse_qs(parts.query).get("db") if parts.scheme == "unix" else None
    where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return f"{where}?db={db[0]}" if db else where


def counts_section(
    state: SourceState, sample: QueueSample | None, queue: Queue | None, palette: Palette
) -> Section:
    title = "counts"
    if sample is None:
        return Section(title, note=palette.muted("no read yet"))
    title += f" · as of {clock_time(sample.at)}"
    if state.error is not None:
        title += " (the last good poll)"
    crossed = crossed_thresholds(sample, queue)
    rows: list[tuple[Text, ...]] = []
    for field, meaning in FIELDS:
        value = getattr(sample, field)
        shown = format_duration(value) if field == "oldest_age_s" else number(value)
        about = Text(meaning)
        if value is None:
            about = palette.muted(f"{meaning} · unknown")
        elif field in sample.shared:
            shown += SHARED
            about.append(f" · {SHARED_NOTE}", "bold")
        rows.append((Text(label(field)), marked(shown, crossed.get(field), palette), about))
    if sample.paused is not None:
        paused = Text("⏸ yes", palette.style("warning")) if sample.paused else Text("no")
        rows.append((Text("paused"), paused, Text("")))
    return Section(title, tuple(rows))


def label(field: str) -> str:
    return "oldest" if field == "oldest_age_s" else field


def rates_section(sample: QueueSample | None, window: float, palette: Palette) -> Section:
    title = f"rates · per minute over the last {format_duration(window)}"
    if sample is None:
        return Section(title, note=palette.muted("no read yet"))

    def rate(value: float | None) -> Text:
        return palette.muted("unknown") if value is None else Text(f"{number(round(value, 1))}/m")

    net = Text(per_minute(sample.rate_net))
    if sample.rate_net is None:
        net = palette.muted("needs two reads some time apart")
    eta = Text(drain(sample))
    if sample.eta_s:
        eta.append(f" (empty at about {clock_time(sample.at + sample.eta_s)})")
    rows = (
        (Text("in"), rate(sample.rate_in)),
        (Text("out"), rate(sample.rate_out)),
        (Text("depth change"), net),
        (Text("trend"), Text(sample.trend or NO_DATA)),
        (Text("time to drain"), eta),
    )
    return Section(title, rows)


THRESHOLDS: tuple[tuple[str, str, str, str], ...] = (
    ("depth", "depth", "warn_depth", "crit_depth"),
    ("oldest", "oldest_age_s", "warn_age", "crit_age"),
    ("failed", "failed", "warn_failed", "crit_failed"),
)


def thresholds_section(
    sample: QueueSample | None, queue: Queue | None, palette: Palette
) -> Section:
    title = "thresholds"
    rows: list[tuple[Text, ...]] = []
    crossed = crossed_thresholds(sample, queue) if sample is not None else {}
    if queue is not None:
        for name, field, warn_key, crit_key in THRESHOLDS:
            warn, crit = getattr(queue, warn_key), getattr(queue, crit_key)
            if warn is None and crit is None:
                continue
            shown = format_duration if field == "oldest_age_s" else number
            rows.append(
                threshold_row(
                    name,
                    crossed.get(field),
                    shown(getattr(sample, field) if sample is not None else None),
                    (f"≥ {shown(warn)}" if warn is not None else NO_DATA),
                    (f"≥ {shown(crit)}" if crit is not None else NO_DATA),
                    palette,
                )
            )
        if queue.min_workers is not None:
            rows.append(
                threshold_row(
                    "workers",
                    crossed.get("workers"),
                    number(sample.workers if sample is not None else None),
                    NO_DATA,
                    f"< {queue.min_workers}",
                    palette,
                )
            )
    reasons = sample.reasons if sample is not None else ()
    note = None
    if reasons:
        status = sample.status if sample is not None else "ok"
        note = Text(f"crossed: {' · '.join(reasons)}", palette.style(status))
    if not rows:
        return Section(
            title,
            note=note
            or palette.muted(
                "none configured: warn_depth, crit_depth, warn_age, crit_age, warn_failed,"
                " crit_failed, min_workers"
            ),
        )
    return Section(title, tuple(rows), ("", "field", "now", "warning", "critical"), note)


def threshold_row(
    name: str, status: Status | None, now: str, warn: str, crit: str, palette: Palette
) -> tuple[Text, ...]:
    style = palette.style(status or "ok")
    return (Text(GLYPHS[status or "ok"], style), Text(name), Text(now), Text(warn), Text(crit))


def breakdown_section(sample: QueueSample | None, palette: Palette) -> Section:
    title = "breakdown · the system's own counts"
    if sample is None or not sample.breakdown:
        return Section(title, note=palette.muted("none beyond the counts above"))
    rows = tuple(
        (Text(name), Text(number(value) + (SHARED if name in sample.shared else "")))
        for name, value in sample.breakdown
    )
    note = None
    if sample.shared:
        fields = ", ".join(label(field) for field in sample.shared)
        note = Text(f"{SHARED} {SHARED_NOTE}: {fields} (the system counts them for all its queues)")
    return Section(title, rows, note=note)


def notes_section(sample: QueueSample | None, palette: Palette) -> Section:
    title = "notes · what is unknown and why"
    if sample is None or not sample.notes:
        return Section(title, note=palette.muted("none"))
    return Section(title, tuple((Text("·"), Text(note)) for note in sample.notes))


def trend_section(points: Sequence[tuple[float, float]], palette: Palette) -> Section:
    title = "depth history"
    if not points:
        return Section(title, note=palette.muted("no reads yet"))
    values = [value for _, value in points]
    first, last = points[0][0], points[-1][0]
    title += f" · {len(points)} reads over {format_duration(last - first)}"
    line = Text(sparkline(peaks(values, TREND_WIDTH), TREND_WIDTH))
    line.append(f"\nlow {number(min(values))} · high {number(max(values))}", "dim")
    line.append(f" · {clock_time(first)} to {clock_time(last)}", "dim")
    return Section(title, ((line,),))


def peaks(values: Sequence[float], width: int) -> list[float]:
    """At most ``width`` values: the highest of each run of reads, so a spike stays visible."""
    if len(values) <= width:
        return list(values)
    size = len(values) / width
    return [max(values[int(index * size) : int((index + 1) * size)]) for index in range(width)]


def reads_section(points: Sequence[tuple[float, float]], palette: Palette) -> Section:
    title = f"last reads · newest first (of {len(points)} kept)"
    if not points:
        return Section(title, note=palette.muted("no reads yet"))
    tail = list(points)[-(READS_SHOWN + 1) :]
    rows: list[tuple[Text, ...]] = []
    for index in range(len(tail) - 1, max(len(tail) - 1 - READS_SHOWN, -1), -1):
        at, depth = tail[index]
        change = rate = NO_DATA
        if index > 0:
            before_at, before = tail[index - 1]
            delta = depth - before
            change = f"{delta:+,.0f}" if delta else "0"
            if at > before_at:
                rate = per_minute(delta / (at - before_at) * 60.0)
        rows.append((Text(clock_time(at)), Text(number(depth)), Text(change), Text(rate)))
    return Section(title, tuple(rows), ("time", "depth", "change", "per minute"))
