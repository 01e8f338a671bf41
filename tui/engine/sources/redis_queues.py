"""Queues kept in Redis. A plain list records only its length: depth is ``LLEN``.

The engine imports this module only when queues are configured, so redis loads only then.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from redis import exceptions
from redis.asyncio import Redis, from_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tui.engine.config import Queue, Settings
from tui.engine.errors import describe
from tui.engine.samples import QueueSample


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


class RedisListSource:
    section = "queue"
    kind = "redis_list"
    admission = None

    def __init__(self, queue: Queue, settings: Settings, client: Redis) -> None:
        self.queue = queue
        self.id = f"queue:{queue.name}"
        self.name = queue.name
        self.interval = float(queue.interval or settings.interval)
        self.timeout = float(queue.timeout or settings.timeout)
        self.client = client
        self.where = _location(queue.url)

    async def poll(self) -> QueueSample:
        at = time.time()
        try:
            depth = await self.client.llen(self.queue.key)
        except (exceptions.ConnectionError, exceptions.TimeoutError) as exc:
            reason = describe(exc.__cause__ or exc.__context__ or exc, self.timeout)
            raise RedisUnavailable(f"redis at {self.where}: {reason}") from exc
        return QueueSample(name=self.name, kind="redis_list", at=at, depth=int(depth))

    async def aclose(self) -> None:
        """The client is shared; ``RedisClients.aclose`` closes it."""


def _location(url: str) -> str:
    """``host:port`` or the socket path of a Redis URL, without credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
