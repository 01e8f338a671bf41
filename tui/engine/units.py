"""Durations and percentages as users write them in config and rules."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_PERCENT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*%\s*$")


class Duration(float):
    """Seconds, written in config as ``250ms``, ``5s``, ``5m``, ``1h``, ``30d`` or a bare number."""


class Percent(float):
    """A fraction, written in config as ``5%`` (0.05) or a bare number."""


def parse_duration(value: object) -> Duration:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5s, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return Duration(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return Duration(float(match.group(1)) * _FACTORS[match.group(2)])
    raise ValueError(f"expected a duration like 250ms, 5s, 5m, 1h or 30d, got {value!r}")


def parse_percent(value: object) -> Percent:
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage like 5%, got {value!r}")
    if isinstance(value, int | float):
        return Percent(value)
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            return Percent(float(match.group(1)) / 100.0)
    raise ValueError(f"expected a percentage like 5%, got {value!r}")


def format_duration(seconds: float | None) -> str:
    """Compact human duration: ``850ms``, ``42s``, ``3m12s``, ``2h05m``, ``3d04h``."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
