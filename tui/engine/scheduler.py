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
from tui.engine.state import State


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
        self._wakeups: dict[str, asyncio.Event] = {}
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
        self.emit(SourceUpdated(state))

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
        for source_id, source in self.sources.items():
            self._wakeups[source_id] = asyncio.Event()
            self._tasks[source_id] = asyncio.create_task(
                self._loop(source), name=f"watchdeck-poll-{source_id}"
            )

    async def _loop(self, source: Source) -> None:
        wakeup = self._wakeups[source.id]
        while True:
            wakeup.clear()
            await self.run_pass(source)
            delay = self.delay_after(source)
            deadline = time.monotonic() + delay
            self.emit(SourceUpdated(self.state.schedule(source.id, self.clock() + delay)))
            while True:
                timeout = None if self._paused else max(0.0, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(wakeup.wait(), timeout)
                    break
                except TimeoutError:
                    if not self._paused:
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
            self._wakeups[target].set()

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
