"""Queues kept in Redis: every queue on one Redis read in one round trip per pass.

A batch gathers the queues (and discovery entries) of one Redis URL with one cadence; each
pass runs all their layouts in lockstep, one non-transactional pipeline per round
(``queue_lockstep``). The counts take one round trip however many queues; a second one,
shared by all of them, is needed only when some queue's oldest job changed since the last pass
(its enqueue time lives in a job hash whose key the first round reveals) or when a discovery
listing names a queue not read before. Only read commands are sent.

The engine imports this module only when Redis queues are configured, so redis loads only then.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from redis import exceptions
from redis.asyncio import Redis, from_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tui.engine.config import Queue
from tui.engine.errors import describe
from tui.engine.sources.queue_discovery import (
    BullmqLister,
    CeleryLister,
    DiscoveryLayout,
    Lister,
    SetLister,
)
from tui.engine.sources.queue_layouts import Layout, layout_for
from tui.engine.sources.queue_lockstep import Lockstep, Plan, execute
from tui.engine.sources.queue_shared import SKIPPED, Outcomes, SharedPass, reuse_window

READ_ONLY_ACL = (
    "-@all +llen +lindex +lrange +zcard +zrange +smembers +exists +get +hget +hmget"
    " +xinfo|groups +xinfo|stream +xrange +scan +select +client|list"
)
"""Every command the Redis kinds send (``+client|list`` only for BullMQ's workers, ``+scan``
only for BullMQ and Celery discovery): the rules of a least-privilege ACL user."""


class RedisUnavailable(Exception):
    """Redis could not be reached; the message names where and why, without credentials."""


class RedisClients:
    """One client (and connection pool) per Redis URL, shared by the queues on it."""

    def __init__(self, *, timeout: float = 3.0) -> None:
        self.timeout = timeout
        self._clients: dict[str, Redis] = {}

    def get(self, url: str) -> Redis:
        client = self._clients.get(url)
        if client is None:
            # One immediate retry replaces a pooled connection the server has dropped;
            # redis-py's default (3 retries, backoff up to 10 s) would outlast a poll's timeout.
            client = from_url(
                url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 1),
            )
            self._clients[url] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


class RedisBatch:
    """The queues of one Redis with one cadence, read together.

    ``rounds`` and ``commands`` describe the latest pass (round trips, commands sent).
    """

    def __init__(self, client: Redis, where: str, *, interval: float, timeout: float) -> None:
        self.client = client
        self.where = where
        self.layouts: dict[str, Layout | DiscoveryLayout] = {}
        self.rounds = 0
        self.commands = 0
        self.shared: SharedPass[Outcomes] = SharedPass(
            self._read, timeout=timeout, reuse_for=reuse_window(interval)
        )

    def add(self, source_id: str, layout: Layout | DiscoveryLayout) -> None:
        self.layouts[source_id] = layout

    async def read(self, member: str) -> Outcomes:
        return await self.shared.get(member)

    async def _read(self) -> Outcomes:
        at = time.time()
        lockstep: Lockstep[str, Any] = Lockstep()
        for source_id, layout in self.layouts.items():
            lockstep.add(source_id, layout.plan(at))
        try:
            outcomes, self.rounds = await execute(self.client, self._counted(lockstep.run()))
        except (exceptions.ConnectionError, exceptions.TimeoutError) as exc:
            reason = describe(exc.__cause__ or exc.__context__ or exc, self.shared.timeout)
            raise RedisUnavailable(f"redis at {self.where}: {reason}") from exc
        return at, outcomes

    def _counted(self, plan: Plan[Any]) -> Plan[Any]:
        self.commands = 0
        commands = next(plan)
        try:
            while True:
                self.commands += len(commands)
                commands = plan.send((yield commands))
        except StopIteration as stop:
            return stop.value


def redis_layout(queue: Queue) -> Layout | DiscoveryLayout:
    """The layout of a configured Redis queue, or of everything it discovers."""
    prefix = queue.key_prefix

    def make(name: str) -> Layout:
        return layout_for(
            queue.kind,
            name,
            prefix=prefix,
            steps=queue.priority_steps,
            sep=queue.sep,
            group=queue.group,
        )

    if not queue.discover:
        return make(queue.key)
    lister: Lister
    exclude = list(queue.exclude)
    if queue.kind == "rq":
        lister = SetLister(f"{prefix}:queues", strip=f"{prefix}:queue:")
    elif queue.kind == "sidekiq":
        lister = SetLister(f"{prefix}:queues" if prefix else "queues")
    elif queue.kind == "bullmq":
        lister = BullmqLister(prefix)
    elif queue.kind == "celery":
        lister = CeleryLister(prefix, queue.sep)
        exclude.extend(SKIPPED)
    else:
        raise ValueError(f"{queue.kind} queues cannot be discovered")
    return DiscoveryLayout(lister, make, exclude)


def location(url: str) -> str:
    """``host:port`` or the socket path of a Redis URL, without credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
