"""The scheduler's contract: one task per source, never overlapping, timeouts, capped backoff."""

from __future__ import annotations

import asyncio
import time

from tui.engine.events import SourceUpdated
from tui.engine.samples import QueueSample
from tui.engine.scheduler import Scheduler
from tui.engine.state import State


class CountingSource:
    """A source whose pass takes ``duration`` seconds and records how many run at once."""

    section = "queue"
    kind = "redis_list"
    admission = None

    def __init__(self, name: str, *, interval: float, duration: float = 0.0, timeout: float = 5.0):
        self.id = f"queue:{name}"
        self.name = name
        self.interval = interval
        self.timeout = timeout
        self.duration = duration
        self.running = 0
        self.max_running = 0
        self.calls = 0
        self.fail_with: Exception | None = None
        self.closed = False

    async def poll(self) -> QueueSample:
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.duration)
            if self.fail_with is not None:
                raise self.fail_with
            return QueueSample(name=self.name, kind="redis_list", at=time.time(), depth=self.calls)
        finally:
            self.running -= 1

    async def aclose(self) -> None:
        self.closed = True


async def _wait_for(predicate, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_passes_never_overlap_even_when_slower_than_the_interval():
    slow = CountingSource("slow", interval=0.01, duration=0.05)
    scheduler = Scheduler([slow], State())
    scheduler.start()
    await _wait_for(lambda: slow.calls >= 4)
    scheduler.refresh_now()
    scheduler.refresh_now()
    await _wait_for(lambda: slow.calls >= 6)
    await scheduler.stop()
    assert slow.max_running == 1
    assert slow.closed


async def test_a_slow_source_does_not_slow_a_fast_one():
    slow = CountingSource("slow", interval=0.01, duration=10.0, timeout=30.0)
    fast = CountingSource("fast", interval=0.01)
    scheduler = Scheduler([slow, fast], State())
    scheduler.start()
    await _wait_for(lambda: fast.calls >= 10)
    assert slow.calls == 1
    await scheduler.stop()


async def test_timeout_becomes_an_error_status_and_keeps_last_sample():
    source = CountingSource("q", interval=60, duration=0.0, timeout=0.05)
    state = State()
    scheduler = Scheduler([source], state)
    await scheduler.run_pass(source)
    assert state.sources["queue:q"].sample is not None
    source.duration = 1.0
    await scheduler.run_pass(source)
    current = state.sources["queue:q"]
    assert current.error == "timed out after 50ms"
    assert current.stale and current.sample.depth == 1
    assert state.metric("queue.q.depth") is None  # stale data is no data for rules


async def test_backoff_grows_and_is_capped_and_resets_on_success():
    source = CountingSource("q", interval=2.0)
    source.fail_with = ConnectionRefusedError()
    state = State()
    scheduler = Scheduler([source], state, max_backoff=10.0)
    delays = []
    for _ in range(5):
        await scheduler.run_pass(source)
        delays.append(scheduler.delay_after(source))
    assert delays == [4.0, 8.0, 10.0, 10.0, 10.0]
    assert state.sources["queue:q"].error == "connection refused"
    assert state.sources["queue:q"].failures == 5
    source.fail_with = None
    await scheduler.run_pass(source)
    assert scheduler.delay_after(source) == 2.0
    assert state.sources["queue:q"].error is None


async def test_pause_stops_polling_refresh_still_polls_once_and_resume_restarts():
    source = CountingSource("q", interval=0.01)
    events = []
    scheduler = Scheduler([source], State())
    scheduler.subscribe(events.append)
    scheduler.start()
    await _wait_for(lambda: source.calls >= 2)
    scheduler.pause()
    await asyncio.sleep(0.05)
    frozen = source.calls
    await asyncio.sleep(0.1)
    assert source.calls == frozen
    scheduler.refresh_now()
    await _wait_for(lambda: source.calls == frozen + 1)
    await asyncio.sleep(0.05)
    assert source.calls == frozen + 1
    scheduler.resume()
    await _wait_for(lambda: source.calls >= frozen + 3)
    await scheduler.stop()
    assert any(isinstance(event, SourceUpdated) for event in events)


async def test_history_is_bounded():
    source = CountingSource("q", interval=60)
    state = State(history=10)
    scheduler = Scheduler([source], state)
    for _ in range(25):
        await scheduler.run_pass(source)
    assert state.history_of("queue.q.depth") == [float(n) for n in range(16, 26)]


async def test_admission_bounds_concurrency_and_waiting_is_not_part_of_the_timeout():
    slots = asyncio.Semaphore(2)
    sources = [CountingSource(f"q{n}", interval=60, duration=0.05, timeout=0.08) for n in range(8)]
    running = 0
    peak = 0

    def track(source: CountingSource) -> None:
        original = source.poll

        async def poll() -> QueueSample:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            try:
                return await original()
            finally:
                running -= 1

        source.poll = poll
        source.admission = slots

    for source in sources:
        track(source)
    state = State()
    scheduler = Scheduler(sources, state)
    await scheduler.poll_once()  # 8 passes of 50 ms through 2 slots: ~200 ms in all
    assert peak == 2
    assert all(state.sources[source.id].error is None for source in sources)
