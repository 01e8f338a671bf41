"""Replaying a recording through an engine that never polls.

``ReplayEngine`` is an ``Engine`` built from the recorded config whose sources are the
recorded ones: its scheduler is never started and its rules never evaluated. Its ``Player``
feeds the recorded events, at the recorded pace times ``speed``, to the engine's ``State``
(so histories, sparklines and derived metrics are rebuilt as they were) and to the engine's
listeners, the console's included. Its ``clock`` is the replayed time.

Jumping back resets the state and applies every event from the start up to the target
without telling anyone, then tells the latest state of every source and the alerts: the
console shows that moment as if it had been there all along.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, Event, SourceUpdated
from tui.engine.recording import Moment, Recording, RecordingError
from tui.engine.samples import Sample
from tui.engine.sources import Source
from tui.engine.state import Section, SourceState, State

if TYPE_CHECKING:
    from tui.engine.sources.pg_ondemand import DatabaseSize, TopStatement

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
"""What ``-`` and ``+`` step through."""
JUMP = 30.0
"""Seconds ``[`` and ``]`` move."""


class NotRecorded(Exception):
    """What a replay cannot show: figures fetched on demand were never recorded."""


@dataclass(slots=True)
class RecordedSource:
    """A source as the recording names it: registered in the state, never polled."""

    id: str
    section: Section
    kind: str
    name: str
    interval: float = 0.0
    timeout: float = 0.0
    admission: asyncio.Semaphore | None = None

    async def poll(self) -> Sample:
        raise NotRecorded(f"{self.id} is replayed from a recording, not polled")

    async def aclose(self) -> None:
        return None


def apply(state: State, recorded: SourceState) -> None:
    """Bring ``state`` to ``recorded`` the way the pass that produced it did: a new attempt
    goes through ``record_sample`` or ``record_error`` (series and check history grow), then
    the recorded state is taken as it is (the next poll time included)."""
    current = state.sources.get(recorded.id)
    if current is None:  # a queue found by discovery after the start
        state.register(recorded.id, recorded.section, recorded.name, recorded.kind)
        current = state.sources[recorded.id]
    if recorded.last_attempt is not None and recorded.last_attempt != current.last_attempt:
        if recorded.error is not None:
            state.record_error(recorded.id, recorded.error, recorded.last_attempt)
        elif recorded.sample is not None:
            state.record_sample(recorded.id, recorded.sample, recorded.last_attempt)
    state.sources[recorded.id] = recorded


class Player:
    """The replay position, its pace, and the moves the scrubber keys make.

    ``index`` events have been applied; ``clock()`` is the replayed time (moving while
    playing, at ``speed`` times the wall clock). ``run()`` delivers the events as the clock
    reaches them, and pauses at the end.
    """

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float = 1.0,
        playing: bool = True,
    ) -> None:
        self.moments = recording.moments
        self.times = [moment.at for moment in self.moments]
        self.start = recording.started
        self.end = recording.ended
        self.speed = speed
        self.playing = playing
        self.index = 0
        self._position = self.start
        self._anchor = time.monotonic()
        self._wake: asyncio.Event | None = None
        self._state: State | None = None
        self._emit: Callable[[Event], None] = lambda event: None
        self._blank: dict[str, SourceState] = {}
        """The sources registered at the start, before their first poll."""
        self._known: dict[str, SourceState] = {}
        """Every source seen so far, before its first poll: going back to before a queue
        was discovered shows it waiting."""
        self._alerts: AlertsUpdated | None = None

    def attach(self, state: State, emit: Callable[[Event], None]) -> None:
        """Feed ``state`` and ``emit``; the sources registered now are the blank start."""
        self._state = state
        self._emit = emit
        self._blank = dict(state.sources)
        self._known = dict(self._blank)

    # --- time --------------------------------------------------------------------------
    def clock(self) -> float:
        if not self.playing:
            return self._position
        moved = (time.monotonic() - self._anchor) * self.speed
        return min(self.end, self._position + moved)

    def _hold(self, position: float) -> None:
        """Continue from ``position`` (at the current speed if playing)."""
        self._position = min(max(position, self.start), self.end)
        self._anchor = time.monotonic()
        if self._wake is not None:
            self._wake.set()

    @property
    def ended(self) -> bool:
        return not self.playing and self.clock() >= self.end

    # --- running -----------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver events as the clock reaches them, until cancelled."""
        self._wake = asyncio.Event()
        self._hold(self._position)  # the pace starts now, not when the player was made
        while True:
            timeout: float | None = None
            if self.playing:
                due = self.times[self.index] if self.index < len(self.times) else self.end
                timeout = (due - self.clock()) / self.speed
                if timeout <= 0:
                    if self.index < len(self.times):
                        self._deliver(self.moments[self.index])
                        self.index += 1
                    else:
                        self.pause()
                    await asyncio.sleep(0)  # let the console draw between bursts
                    continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _deliver(self, moment: Moment) -> None:
        self._apply(moment)
        self._emit(moment.event)

    def _apply(self, moment: Moment) -> None:
        event = moment.event
        if isinstance(event, SourceUpdated):
            assert self._state is not None, "attach() the player first"
            recorded = event.state
            apply(self._state, recorded)
            if recorded.id not in self._known:
                blank = SourceState(recorded.id, recorded.section, recorded.name, recorded.kind)
                self._known[recorded.id] = blank
        else:
            self._alerts = event

    # --- moves -------------------------------------------------------------------------
    def play(self) -> None:
        if self.clock() >= self.end:  # play at the end starts again
            self.seek(self.start)
        position = self.clock()
        self.playing = True
        self._hold(position)

    def pause(self) -> None:
        position = self.clock()
        self.playing = False
        self._hold(position)

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def step(self, events: int) -> None:
        """Pause, then apply one more event or take the last one back."""
        self.pause()
        index = min(max(self.index + events, 0), len(self.moments))
        self.go(index, self.times[index - 1] if index else self.start)

    def jump(self, seconds: float) -> None:
        self.seek(self.clock() + seconds)

    def seek(self, position: float) -> None:
        """Go to ``position``: every event at or before it applied, none after."""
        position = min(max(position, self.start), self.end)
        self.go(bisect.bisect_right(self.times, position), position)

    def change_speed(self, steps: int) -> None:
        """The next speed up (``steps`` 1) or down (-1) in ``SPEEDS``."""
        position = self.clock()
        if steps > 0:
            faster = [speed for speed in SPEEDS if speed > self.speed]
            self.speed = faster[0] if faster else self.speed
        else:
            slower = [speed for speed in SPEEDS if speed < self.speed]
            self.speed = slower[-1] if slower else self.speed
        self._hold(position)

    def go(self, index: int, position: float) -> None:
        """Apply events until ``index`` of them are (from the start when going back), then
        tell the latest state of what changed (of everything, going back)."""
        assert self._state is not None, "attach() the player first"
        back = index < self.index
        if back:
            self._reset()
        changed: dict[str, None] = {}
        alerts = back
        while self.index < index:
            moment = self.moments[self.index]
            self._apply(moment)
            if isinstance(moment.event, SourceUpdated):
                changed[moment.event.state.id] = None
            else:
                alerts = True
            self.index += 1
        self._hold(position)
        self._tell(self._known if back else changed, alerts)

    def _reset(self) -> None:
        assert self._state is not None
        state = self._state
        state.sources.clear()
        state.sources.update(self._blank)
        state.series.clear()
        state.checks.clear()
        self._alerts = None
        self.index = 0

    def _tell(self, ids: Iterable[str], alerts: bool) -> None:
        assert self._state is not None
        sources = self._state.sources
        for source_id in sorted(ids):
            self._emit(SourceUpdated(sources.get(source_id) or self._known[source_id]))
        if alerts:
            self._emit(self._alerts or AlertsUpdated((), self.clock()))


class ReplayEngine(Engine):
    """An engine on a recording: the recorded config and sources, read-only, never polling
    nor evaluating rules (the recorded alerts are replayed); ``start()`` plays."""

    def __init__(self, recording: Recording, *, speed: float = 1.0, playing: bool = True) -> None:
        self.recording = recording
        self.player = Player(recording, speed=speed, playing=playing)
        try:
            super().__init__(
                recording.config,
                base_dir=recording.base_dir,
                read_only=True,
                state_dir=None,
                clock=self.player.clock,
            )
        except ValueError as exc:  # a rule that does not compile (RuleError), say
            raise RecordingError(
                f"{recording.path}: the recorded config cannot be replayed: {exc}"
            ) from None
        self.scheduler.unsubscribe(self._alert_source_updated)  # no merging: alerts replayed
        self.scheduler.subscribe(self._follow_alerts)
        self.player.attach(self.state, self.scheduler.emit)
        self._task: asyncio.Task[None] | None = None

    def _follow_alerts(self, event: Event) -> None:
        """``alerts`` is what was shown at the replayed time (runbooks name their alerts)."""
        if isinstance(event, AlertsUpdated):
            self.alerts = event.alerts

    def _build_sources(self) -> list[Source]:
        self.alertmanagers = {}
        return [
            RecordedSource(state.id, state.section, state.kind, state.name)
            for state in self.recording.sources
        ]

    async def start(self) -> None:
        self._task = asyncio.create_task(self.player.run(), name="watchdeck-replay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def database_sizes(self, database: str) -> tuple[DatabaseSize, ...]:
        raise NotRecorded("database sizes are fetched on demand, never recorded")

    async def top_statements(self, database: str) -> tuple[TopStatement, ...]:
        raise NotRecorded("top statements are fetched on demand, never recorded")
