"""Finding every queue a Redis holds for one queue system, within the pass's round trips.

RQ and Sidekiq keep a set of their queues, read on every pass. BullMQ and Celery keep none:
BullMQ queues are found by their ``PREFIX:*:meta`` hash and Celery's by the binding sets
kombu writes (``_kombu.binding.EXCHANGE``, members ``routing_key SEP pattern SEP queue``), both
with SCAN. The first pass scans the whole keyspace (bounded); later passes advance the scan
one page each, in the same round trip as the reads, so a queue created later shows up within
one scan cycle and a queue whose keys are gone leaves at the end of one.

Queues already known are read in the same round as the listing; a queue the listing adds
is read in the next round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from tui.engine.queues_derived import QueueReading
from tui.engine.sources.queue_layouts import Layout
from tui.engine.sources.queue_lockstep import Command, Lockstep, Plan, reply, text
from tui.engine.sources.queue_shared import excluded

SCAN_PAGE = 1000
"""Keys SCAN looks at per call (its COUNT)."""
FIRST_SCAN_PAGES = 200
"""Round trips the first pass may spend scanning (200,000 keys); the rest follows a page a pass."""
_LISTING = object()


class Lister(Protocol):
    def plan(self) -> Plan[set[str]]:
        """The queue names known after this pass's share of listing."""
        ...


class SetLister:
    """A set whose members name the queues (``rq:queues``, Sidekiq's ``queues``)."""

    def __init__(self, key: str, *, strip: str = "") -> None:
        self.key = key
        self.strip = strip

    def plan(self) -> Plan[set[str]]:
        (members,) = yield [("smembers", self.key)]
        return {text(member).removeprefix(self.strip) for member in reply(members)}


class KeyScan:
    """An incremental SCAN for keys matching a pattern: complete after each full cycle.

    Only the first pass may take ``FIRST_SCAN_PAGES``; a keyspace too big for it is covered a
    page a pass from then on, like any later cycle.
    """

    def __init__(self, match: str) -> None:
        self.match = match
        self.cursor = 0
        self.complete = False
        self.first = True
        self.known: set[bytes] = set()
        self._cycle: set[bytes] = set()

    def plan(self) -> Plan[set[bytes]]:
        pages, self.first = (FIRST_SCAN_PAGES if self.first else 1), False
        for _ in range(pages):
            (page,) = yield [("scan", self.cursor, self.match, SCAN_PAGE)]
            self.cursor, keys = reply(page)
            self._cycle.update(keys)
            self.known.update(keys)
            if self.cursor == 0:
                self.known, self._cycle = self._cycle, set()
                self.complete = True
                break
        return set(self.known)


class BullmqLister:
    def __init__(self, prefix: str) -> None:
        self.head = f"{prefix}:"
        self.scan = KeyScan(f"{_glob_escape(prefix)}:*:meta")

    def plan(self) -> Plan[set[str]]:
        keys = yield from self.scan.plan()
        return {text(key)[len(self.head) : -len(":meta")] for key in keys}


class CeleryLister:
    """Queues bound to any exchange, from kombu's binding sets (read each pass)."""

    def __init__(self, prefix: str, sep: str) -> None:
        self.sep = sep
        self.scan = KeyScan(f"{_glob_escape(prefix)}_kombu.binding.*")

    def plan(self) -> Plan[set[str]]:
        known = sorted(self.scan.known)
        scanning = self.scan.plan()
        first = next(scanning)
        replies = yield [*first, *(("smembers", key) for key in known)]
        members = dict(zip(known, replies[len(first) :], strict=True))
        try:
            commands = scanning.send(replies[: len(first)])
            while True:
                commands = scanning.send((yield commands))
        except StopIteration as stop:
            keys: set[bytes] = stop.value
        new = sorted(keys - set(members))
        if new:
            members.update(zip(new, (yield [("smembers", key) for key in new]), strict=True))
        queues: set[str] = set()
        for key in keys:
            for member in reply(members[key]):
                queues.add(text(member).rsplit(self.sep, 2)[-1])
        return {queue for queue in queues if queue}


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


class DiscoveryLayout:
    """Every listed queue's layout, read side by side; the outcome is ``{queue: reading}``."""

    def __init__(
        self, lister: Lister, make: Callable[[str], Layout], exclude: Iterable[str]
    ) -> None:
        self.lister = lister
        self.make = make
        self.exclude = tuple(exclude)
        self.children: dict[str, Layout] = {}

    def plan(self, now: float) -> Plan[dict[str, QueueReading | Exception]]:
        lockstep: Lockstep[Any, QueueReading] = Lockstep()
        lockstep.add(_LISTING, self.lister.plan())
        for queue, layout in self.children.items():
            lockstep.add(queue, layout.plan(now))
        listed = False
        while lockstep.busy:
            commands: list[Command] = lockstep.commands()
            lockstep.feed(commands, (yield commands))
            if not listed and _LISTING in lockstep.outcomes:
                listed = True
                self._update(lockstep, now)
        outcomes = dict(lockstep.outcomes)
        outcomes.pop(_LISTING, None)
        return outcomes

    def _update(self, lockstep: Lockstep[Any, QueueReading], now: float) -> None:
        names = lockstep.outcomes[_LISTING]
        if isinstance(names, Exception):
            raise names
        wanted = {name for name in names if not excluded(name, self.exclude)}
        for gone in set(self.children) - wanted:
            del self.children[gone]
            lockstep.discard(gone)
        for name in sorted(wanted - set(self.children)):
            layout = self.children[name] = self.make(name)
            lockstep.add(name, layout.plan(now))
