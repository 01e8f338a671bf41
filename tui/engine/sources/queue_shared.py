"""Queue sources that share one read of their backend per pass.

Queues on the same backend (a Redis, a RabbitMQ vhost, a database) with the same cadence
form a batch whose members are still separate sources: each keeps its own state, status,
error and backoff under ``queue:NAME``. The scheduler polls them one by one; the first member
to poll in a pass starts one read for the whole batch (``SharedPass``) and the others take
its result. They stay in step on their own: all members of a batch finish a pass together,
so they re-arm together and wake within moments of each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any, Generic, TypeVar

import msgspec

from tui.engine.config import Queue, Settings
from tui.engine.errors import describe
from tui.engine.events import Event, SourceUpdated
from tui.engine.printable import printable
from tui.engine.queues_derived import QueueHistory, QueueReading
from tui.engine.samples import QueueSample
from tui.engine.state import State

T = TypeVar("T")

Outcomes = tuple[float, Mapping[str, Any]]
"""When the batch was read (epoch seconds) and each member's outcome by source id: a
``QueueReading``, a discovery's ``{queue: QueueReading}``, or the exception that member got."""

SKIPPED = ("*.pidbox", "celeryev.*")
"""Celery's broadcast (remote control) and event queues: plumbing, not work."""


TIMER_SLACK = 0.01
"""Seconds by which a pass cancelled by its timeout may seem short of it: the scheduler starts
the timeout a moment before the pass."""


def reuse_window(interval: float) -> float:
    """How long a finished batch read still serves members that have not had it yet."""
    return interval / 2


class SharedPass(Generic[T]):
    """One read of a backend, handed to every member that asks while it runs or soon after.

    A member gets each read at most once: asking again (a refresh right after a pass) starts
    a new read, which the others then join. The read runs in its own task under its own
    timeout, shielded from the members' timeouts so that one member giving up does not cancel
    the others' read.
    """

    def __init__(
        self, read: Callable[[], Awaitable[T]], *, timeout: float, reuse_for: float
    ) -> None:
        self._read = read
        self.timeout = timeout
        self.reuse_for = reuse_for
        self._task: asyncio.Task[T] | None = None
        self._finished = 0.0
        self._served: set[str] = set()
        """Members that had the current read."""

    async def get(self, member: str) -> T:
        task = self._task
        if task is None or (task.done() and self._spent(task, member)):
            task = self._task = asyncio.ensure_future(self._run())
            task.add_done_callback(_retrieve)
            self._served = set()
        self._served.add(member)
        return await asyncio.shield(task)

    def _spent(self, task: asyncio.Task[T], member: str) -> bool:
        stale = time.monotonic() - self._finished > self.reuse_for
        return task.cancelled() or stale or member in self._served

    async def _run(self) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read()
        finally:
            self._finished = time.monotonic()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a failed read's exception as seen even if every member gave up waiting."""
    if not task.cancelled():
        task.exception()


class QueueSource:
    """One configured queue, read as part of its batch."""

    section = "queue"
    admission = None

    def __init__(
        self, queue: Queue, settings: Settings, read: Callable[[str], Awaitable[Outcomes]]
    ) -> None:
        self.queue = queue
        self.id = f"queue:{queue.name}"
        self.name = queue.name
        self.kind = queue.kind
        self.interval = float(queue.interval or settings.interval)
        self.timeout = float(queue.timeout or settings.timeout)
        self.history = QueueHistory(
            queue, history=settings.history, window=float(queue.window or settings.window)
        )
        self._read = read

    async def outcome(self) -> tuple[float, Any]:
        at, outcomes = await self._read(self.id)
        outcome = outcomes[self.id]
        if isinstance(outcome, Exception):
            raise outcome
        return at, outcome

    async def poll(self) -> QueueSample:
        at, reading = await self.outcome()
        return self.history.sample(self.name, self.kind, at, reading)

    async def aclose(self) -> None:
        """Batches own the connections; whoever built them closes them."""


def excluded(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


class DiscoverySource(QueueSource):
    """A ``discover: true`` entry: the total of every queue it finds, and one state per queue.

    The queues found become sources of their own in the state store (``queue:NAME/QUEUE``),
    recorded and announced here on each pass since the scheduler only knows this entry. A
    queue that is no longer listed leaves the store. The total's ``workers`` is unknown:
    one worker often serves several queues, so summing would count it more than once. A found
    name is the system's (a key, a binding, a broker's listing): it names its state only once
    ``printable`` has made it safe to show, while its layout reads the queue by the raw name.
    """

    def __init__(
        self,
        queue: Queue,
        settings: Settings,
        read: Callable[[str], Awaitable[Outcomes]],
        *,
        state: State,
        emit: Callable[[Event], None],
    ) -> None:
        super().__init__(queue, settings, read)
        self.settings = settings
        self.state = state
        self.emit = emit
        self.children: dict[str, QueueHistory] = {}

    def child_id(self, queue: str) -> str:
        return f"{self.id}/{queue}"

    async def poll(self) -> QueueSample:
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            at, listed = await self.outcome()
        except asyncio.CancelledError:
            # The scheduler's timeout cancels the pass; so does stopping, which is no failure.
            if loop.time() - began >= self.timeout - TIMER_SLACK:
                self._fail_children(describe(TimeoutError(), self.timeout))
            raise
        except Exception as exc:
            self._fail_children(describe(exc, self.timeout))
            raise
        found = {printable(queue): outcome for queue, outcome in listed.items()}
        samples: list[QueueSample] = []
        for queue in sorted(found):
            outcome = found[queue]
            source_id = self.child_id(queue)
            history = self.children.get(queue)
            if history is None:
                history = self.children[queue] = self._child_history(queue)
                self.state.register(source_id, "queue", f"{self.name}/{queue}", self.kind)
            if isinstance(outcome, Exception):
                updated = self.state.record_error(source_id, printable(describe(outcome)), at)
            else:
                name = f"{self.name}/{queue}"
                sample = history.sample(name, self.kind, at, outcome, parent=self.name)
                samples.append(sample)
                updated = self.state.record_sample(source_id, sample, at)
            self.emit(SourceUpdated(updated))
        for queue in set(self.children) - set(found):
            del self.children[queue]
            self.state.sources.pop(self.child_id(queue), None)
        errors = len(found) - len(samples)
        return self.history.sample(self.name, self.kind, at, total(samples, errors))

    def _child_history(self, queue: str) -> QueueHistory:
        """A found queue keeps the entry's thresholds and window, under its own name."""
        child = msgspec.structs.replace(
            self.queue, name=f"{self.name}/{queue}", queue=queue, discover=False
        )
        return QueueHistory(child, history=self.settings.history, window=self.history.window)

    def _fail_children(self, message: str) -> None:
        now = time.time()
        for queue in self.children:
            updated = self.state.record_error(self.child_id(queue), printable(message), now)
            self.emit(SourceUpdated(updated))


def total(samples: list[QueueSample], errors: int) -> QueueReading:
    """The discovered queues added up; a field is unknown when any queue lacks it.

    Fields the system counts across all its queues (``shared``) are taken once, not summed.
    """
    notes = [f"total of {len(samples) + errors} queues"]
    if errors:
        notes.append(f"{errors} of them could not be read")
    shared = samples[0].shared if samples else ()

    def add(field: str) -> int | None:
        values = [getattr(sample, field) for sample in samples]
        if errors or any(value is None for value in values):
            return None
        if field in shared:
            return values[0] if values else None
        return sum(values)

    ages = [sample.oldest_age_s for sample in samples]
    known_ages = [age for age in ages if age is not None]
    return QueueReading(
        depth=add("depth"),
        active=add("active"),
        failed=add("failed"),
        delayed=add("delayed"),
        oldest_age_s=max(known_ages) if known_ages and not errors else None,
        shared=shared,
        notes=tuple(notes),
    )
