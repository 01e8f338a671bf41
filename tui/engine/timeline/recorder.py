"""Writes the timeline while the engine runs: it listens to the engine's events and to the
actions taken, derives entries, appends them, and tells the listeners (``TimelineAppended``).

The console and ``watchdeck check`` record alike: a check run from cron compares its polls
with the last states the previous run saved, so changes between runs are entries too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine.actions import Finished
from tui.engine.events import AlertsUpdated, Event, SourceUpdated, TimelineAppended
from tui.engine.journal import identity
from tui.engine.samples import Sample
from tui.engine.state import SourceState
from tui.engine.timeline.actions import action_entry, scan_runs
from tui.engine.timeline.alerts import AlertWatch
from tui.engine.timeline.entry import Entry
from tui.engine.timeline.maker import Maker
from tui.engine.timeline.sources import observe
from tui.engine.timeline.store import TimelineStore

if TYPE_CHECKING:
    from tui.engine.engine import Engine

WATCHED = frozenset({"check", "queue", "database"})


class Recorder:
    def __init__(
        self,
        store: TimelineStore,
        watch: AlertWatch,
        *,
        state_dir: Path,
        clock: Callable[[], float],
        emit: Callable[[Event], None],
        problem_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.last = store.last
        self.watch = watch
        self.state_dir = state_dir
        self.clock = clock
        self.emit = emit
        self.problem_changed = problem_changed
        """Called when ``store.problem`` changed (the engine tells its listeners)."""
        self.make = Maker()
        who = identity()
        self.who = f"{who['user']}@{who['host']}"
        self._passes: dict[str, tuple[Sample | None, str | None, float | None]] = {}
        """The pass each source was last looked at (a pass is announced twice)."""
        self._unsaved = False

    # --- listening ----------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, SourceUpdated) and event.state.section in WATCHED:
            self._source(event.state)
        elif isinstance(event, AlertsUpdated):
            entries = self.watch.entries(event.alerts, event.evaluated_at, self.make)
            self._write([*entries, *self._runs()])

    def on_action(self, finished: Finished) -> None:
        runs = self._runs() if finished.action.kind == "runbook.step" else []
        self._write([*runs, action_entry(finished, self.clock(), self.who, self.make)])

    # --- deriving -----------------------------------------------------------------------
    def _source(self, state: SourceState) -> None:
        if state.sample is None and state.error is None:
            return  # not polled yet
        seen = self._passes.get(state.id)
        if seen and seen[0] is state.sample and seen[1:] == (state.error, state.last_attempt):
            return
        self._passes[state.id] = (state.sample, state.error, state.last_attempt)
        self.last.refresh()
        known = self.last.sources.get(state.id)
        entries, record = observe(state, known, self.make, self.clock())
        if record != known:
            self.last.sources[state.id] = record
            self._unsaved = True
        if entries or record != known:  # else nothing to write: retries wait for the rules
            self._write(entries)

    def _runs(self) -> list[Entry]:
        self.last.refresh()
        entries, seen = scan_runs(self.state_dir, self.last.runs, self.make)
        if seen != self.last.runs:
            self.last.runs = seen
            self._unsaved = True
        return entries

    def _write(self, entries: Iterable[Entry]) -> None:
        """Append (with any entries held back), save the last states when they changed, and
        tell the listeners what was written and whether writing works.

        The states are saved only once their entries are on disk: saved first, a failed
        append would be lost for good when the process exits (``watchdeck check`` from cron),
        as the next run would see no change. A failed save repeats a change instead.
        """
        before = self.store.problem
        written = self.store.append(entries)
        if self._unsaved and not self.store.holding:
            self._unsaved = not self.last.save()
        if written:
            self.emit(TimelineAppended(tuple(written)))
        if self.store.problem != before:
            self.problem_changed()


def attach(engine: Engine, store: TimelineStore, problem_changed: Callable[[], None]) -> None:
    """Record ``engine``'s timeline into ``store``: a recorder listening to its events and
    actions, starting from the alerts it restored."""
    assert engine.state_dir is not None
    recorder = Recorder(
        store,
        AlertWatch(engine.alert_book, engine.alerts),
        state_dir=engine.state_dir,
        clock=engine.clock,
        emit=engine.scheduler.emit,
        problem_changed=problem_changed,
    )
    engine.subscribe(recorder.on_event)
    engine.actions.listeners.append(recorder.on_action)
