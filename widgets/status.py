"""How a status reads on screen: a glyph and a word first, colour only as a second channel.

Colours come from the running Textual theme (``$text-success`` and friends), so every
theme and ``NO_COLOR`` (Textual strips colour itself) keep the same meaning.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

from tui.engine.report import source_status
from tui.engine.samples import Status, worst
from tui.engine.state import SourceState
from tui.engine.units import format_duration

GLYPHS: dict[str, str] = {
    "ok": "✔",
    "warning": "▲",
    "critical": "✖",
    "unknown": "?",
    "info": "○",
}
STALE = "◌"
WAITING = "…"
NO_DATA = "—"
SPARKS = "▁▂▃▄▅▆▇█"
THEME_COLOURS: dict[str, str] = {
    "ok": "text-success",
    "warning": "text-warning",
    "critical": "text-error",
    "info": "text-primary",
}


class Palette:
    """Rich styles for statuses, taken from the current theme's variables."""

    @classmethod
    def of(cls, variables: Mapping[str, str]) -> Palette:
        return _palette(tuple(variables.get(name, "") for name in THEME_COLOURS.values()))

    def __init__(self, colours: Sequence[str]) -> None:
        self.styles: dict[str, Style] = {}
        for status, value in zip(THEME_COLOURS, colours, strict=True):
            try:
                colour = Color.parse(value).rich_color
            except ColorParseError:
                colour = None
            self.styles[status] = Style(color=colour, bold=status == "critical")
        self.styles["unknown"] = Style(dim=True)
        self.styles["muted"] = Style(dim=True)

    def style(self, status: str) -> Style:
        return self.styles.get(status, Style())

    def status(self, status: str, word: str | None = None) -> Text:
        """``✔ ok``, ``▲ warning``, ``✖ critical``, ``? unknown``."""
        return Text(f"{GLYPHS.get(status, '?')} {word or status}", style=self.style(status))

    def stale(self) -> Text:
        return Text(f"{STALE} stale", style=self.style("critical"))

    def waiting(self) -> Text:
        return Text(f"{WAITING} waiting", style=self.style("muted"))

    def muted(self, text: str) -> Text:
        return Text(text, style=self.style("muted"))

    def source(self, state: SourceState) -> Text:
        """The status cell of a source: waiting, stale, error or its own status."""
        if state.sample is None and state.error is None:
            return self.waiting()
        if state.stale:
            return self.stale()
        if state.error is not None:
            return self.status("critical", "error")
        return self.status(source_status(state))

    def tally(self, statuses: Iterable[str]) -> Text:
        """``✖ 1 critical · ✔ 2 ok``: worst first."""
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status] = counts.get(status, 0) + 1
        text = Text()
        for status in ("critical", "warning", "unknown", "ok"):
            if counts.get(status):
                if text:
                    text.append(" · ")
                text.append(f"{GLYPHS[status]} {counts[status]} {status}", self.style(status))
        return text


RANKS: dict[str, int] = {"✖": 0, STALE: 1, "▲": 2, "?": 3, "○": 4, WAITING: 5, "✔": 6}


def rank(cell: Text | str) -> int:
    """Sort rank of a status cell by its glyph: the worst first."""
    plain = cell.plain if isinstance(cell, Text) else cell
    return RANKS.get(plain[:1], len(RANKS))


@functools.lru_cache(maxsize=8)
def _palette(colours: tuple[str, ...]) -> Palette:
    return Palette(colours)


def problem(
    state: SourceState, now: float, paused: bool = False, *, retrying: str = "retrying"
) -> str:
    """``stale · connection refused · retry in 8s`` for a source whose last pass failed.

    ``retrying`` names the next attempt another way: a database is ``reconnecting in 8s``.
    """
    parts = ["stale" if state.stale else "error", state.error or "failed"]
    if paused:
        parts.append("paused")
    elif state.next_poll_at is not None:
        wait = state.next_poll_at - now
        soon = "retry" if retrying == "retrying" else retrying
        parts.append(f"{soon} in {countdown(wait)}" if wait >= 0.5 else retrying)
    return " · ".join(parts)


def countdown(seconds: float) -> str:
    if seconds < 60:
        return f"{round(seconds)}s"
    return format_duration(seconds)


def age(seconds: float | None) -> str:
    """A coarse age (``<1m``, ``12m``, ``2h05m``) that changes at most once a minute."""
    if seconds is None:
        return NO_DATA
    if seconds < 60:
        return "<1m"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def clock_time(at: float | None) -> str:
    if at is None:
        return NO_DATA
    return time.strftime("%H:%M:%S", time.localtime(at))


def number(value: float | None) -> str:
    """A count, or ``—`` when there is no data (never a made-up 0)."""
    if value is None:
        return NO_DATA
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def sparkline(values: Sequence[float], width: int = 12) -> str:
    """The last ``width`` values as ``▁▂▃▄▅▆▇█`` scaled between their own min and max."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    low, high = min(tail), max(tail)
    if high == low:
        return SPARKS[0 if high == 0 else 3] * len(tail)
    scale = (len(SPARKS) - 1) / (high - low)
    return "".join(SPARKS[round((value - low) * scale)] for value in tail)


def gauge(fraction: float, width: int = 10) -> str:
    """``███▌░░░░░░`` for a fraction between 0 and 1 (clamped), in eighths of a cell."""
    eighths = round(max(0.0, min(fraction, 1.0)) * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])
    return bar + "░" * (width - len(bar))


def worst_of(states: Iterable[SourceState]) -> Status | None:
    """The pane-level status of some sources, or ``None`` while none has reported."""
    statuses = [
        source_status(state)
        for state in states
        if state.sample is not None or state.error is not None
    ]
    return worst(statuses) if statuses else None


def single_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def same(a: object, b: object) -> bool:
    """Equality that also sees styles (``Text.__eq__`` ignores a text's own style)."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and str(a.style) == str(b.style) and a.spans == b.spans
    return a == b
