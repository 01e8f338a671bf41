"""Runs every source as its own asyncio task.

A task re-arms only after its pass has finished, so a pass never overlaps the previous one
and a slow backend slows only its own cadence. Every pass has a timeout; failures back off
exponentially up to ``max_backoff`` while the last good sample stays (marked stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

from tui.engine.errors import describe
from tui.engine.events import Event, Listener, PollingChanged, SourceUpdated
from tui.engine.logs import log
from tui.engine.sources import Source
from tui.engine.state import SourceState, State

TIMER, REFRESH = "timer", "refresh"
"""Why a source's wait ended."""


def _wake(wakeup: asyncio.Future[str], reason: str) -> None:
    if not wakeup.done():
        wakeup.set_result(reason)


class Scheduler:
    def __init__(
        self,
        sources: Iterable[Source],
        state: State,
        *,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = {source.id: source for source in sources}
        self.state = state
        self.max_backoff = max_backoff
        self.clock = clock
        self._listeners: list[Listener] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Future[str]] = {}
        """Per source, resolved to end its wait: by its timer or by ``refresh_now``."""
        self._paused = False
        self.passes: dict[str, int] = dict.fromkeys(self.sources, 0)
        for source in self.sources.values():
            state.register(source.id, source.section, source.name, source.kind)

    # --- listeners -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    # --- one pass --------------------------------------------------------------------
    async def run_pass(self, source: Source) -> None:
        """Poll a source once, within its timeout, and tell the listeners."""
        self.emit(SourceUpdated(await self._poll(source)))

    async def _poll(self, source: Source) -> SourceState:
        """Poll a source once, within its timeout, and record the outcome."""
        async with source.admission or contextlib.nullcontext():
            started = self.clock()
            began = time.perf_counter()
            failures = self.state.sources[source.id].failures
            try:
                async with asyncio.timeout(source.timeout):
                    sample = await source.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = describe(exc, source.timeout)
                state = self.state.record_error(source.id, message, started)
            else:
                state = self.state.record_sample(source.id, sample, started)
        self.passes[source.id] += 1
        _log_pass(source.id, self.passes[source.id], began, failures, state.error)
        return state

    async def poll_once(self) -> None:
        """One pass of every source, concurrently (``watchdeck check``)."""
        await asyncio.gather(*(self.run_pass(source) for source in self.sources.values()))

    def delay_after(self, source: Source) -> float:
        failures = self.state.sources[source.id].failures
        if failures == 0:
            return source.interval
        return min(source.interval * 2**failures, max(self.max_backoff, source.interval))

    # --- the loops -------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for source_id, source in self.sources.items():
            self._wakeups[source_id] = loop.create_future()
            self._tasks[source_id] = asyncio.create_task(
                self._loop(source), name=f"watchdeck-poll-{source_id}"
            )

    async def _loop(self, source: Source) -> None:
        """Poll, tell the listeners the outcome and the next poll's time in one event, wait.

        The wait is a future resolved by a timer or by ``refresh_now``: no task and no
        cancellation per pass, which ``asyncio.wait_for`` costs on every source every interval.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._poll(source)
            delay = self.delay_after(source)
            self.emit(SourceUpdated(self.state.schedule(source.id, self.clock() + delay)))
            deadline = loop.time() + delay
            while True:
                wakeup = self._wakeups[source.id]
                timer = None if self._paused else loop.call_at(deadline, _wake, wakeup, TIMER)
                try:
                    reason = await wakeup
                finally:
                    if timer is not None:
                        timer.cancel()
                self._wakeups[source.id] = loop.create_future()
                if reason != TIMER or not self._paused:
                    break

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for source in self.sources.values():
            with contextlib.suppress(Exception):
                await source.aclose()

    # --- controls --------------------------------------------------------------------
    def refresh_now(self, source_id: str | None = None) -> None:
        """Start a pass now (even while paused); a pass in progress is followed by another."""
        targets = [source_id] if source_id else list(self._wakeups)
        for target in targets:
            _wake(self._wakeups[target], REFRESH)

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True
        self.emit(PollingChanged(paused=True))

    def resume(self) -> None:
        self._paused = False
        self.refresh_now()
        self.emit(PollingChanged(paused=False))


def _log_pass(
    source: str, number: int, began: float, failures_before: int, error: str | None
) -> None:
    fields = {
        "source": source,
        "trace": f"{source}#{number}",
        "latency_ms": round((time.perf_counter() - began) * 1000, 1),
    }
    if error is not None:
        log("poll.failed", "warning", error=error, failures=failures_before + 1, **fields)
    elif failures_before:
        log("poll.recovered", "info", after_failures=failures_before, **fields)
    else:
        log("poll.ok", "debug", **fields)
