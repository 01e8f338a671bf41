"""What the engine tells its faces. Plain dataclasses: the TUI wraps them in Textual messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tui.engine.samples import Alert
from tui.engine.state import SourceState


@dataclass(frozen=True, slots=True)
class SourceUpdated:
    """A source finished a pass (or failed one)."""

    state: SourceState


@dataclass(frozen=True, slots=True)
class AlertsUpdated:
    """Rules were evaluated; ``alerts`` is every pending, firing or recently resolved alert."""

    alerts: tuple[Alert, ...]
    evaluated_at: float


@dataclass(frozen=True, slots=True)
class PollingChanged:
    paused: bool


Event = SourceUpdated | AlertsUpdated | PollingChanged
Listener = Callable[[Event], None]
