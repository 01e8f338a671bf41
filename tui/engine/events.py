"""What the engine tells its faces. Plain dataclasses: the TUI wraps them in Textual messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tui.engine.samples import Alert
from tui.engine.state import SourceState
from tui.engine.timeline.entry import Entry


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


@dataclass(frozen=True, slots=True)
class StateProblems:
    """Writes to the state directory that fail now (the alert state file, the log), one line
    each; empty when they work again. Sent when the set changes. Actions that cannot be
    journaled are refused on their own (``ActionRefused``, ``RunError``)."""

    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimelineAppended:
    """Entries just written to the timeline, oldest first, for the console's timeline view.
    They may be older than some told before (a runbook run found in its file, entries held
    back by a failed write): place them by ``id``, which sorts by time."""

    entries: tuple[Entry, ...]


Event = SourceUpdated | AlertsUpdated | PollingChanged | StateProblems | TimelineAppended
Listener = Callable[[Event], None]
