"""Builds the queue sources of a config, grouping queues that share a backend into batches.

A batch is one backend (a Redis URL, a RabbitMQ vhost, a database) and one cadence (interval
and timeout): its members are read together each pass. Backends are imported only for the
kinds configured: redis for the Redis kinds, httpx for rabbitmq and prometheus, psycopg for
sql.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui.engine.config import REDIS_KINDS, Config, Queue
from tui.engine.events import Event
from tui.engine.sources import Source
from tui.engine.sources.queue_shared import DiscoverySource, QueueSource
from tui.engine.state import State


class QueueSources:
    """The sources, their batches, and what must be closed when the engine stops."""

    def __init__(self, config: Config, state: State, emit: Callable[[Event], None]) -> None:
        self.config = config
        self.state = state
        self.emit = emit
        self.sources: list[Source] = []
        self.batches: dict[tuple[Any, ...], Any] = {}
        """By ``(backend, where, interval, timeout)``; benchmarks and tests read them."""
        self._closers: list[Callable[[], Any]] = []
        self._redis_clients: Any = None
        self._http: Any = None
        for queue in config.queues:
            self.sources.append(self._build(queue))

    def _build(self, queue: Queue) -> Source:
        settings = self.config.settings
        interval = float(queue.interval or settings.interval)
        timeout = float(queue.timeout or settings.timeout)
        if queue.kind in REDIS_KINDS:
            read = self._redis(queue, interval, timeout)
        elif queue.kind == "rabbitmq":
            from tui.engine.sources.queue_http import RABBITMQ_MIN_INTERVAL

            interval = max(interval, RABBITMQ_MIN_INTERVAL)
            read = self._rabbitmq(queue, interval, timeout)
        elif queue.kind == "prometheus":
            from tui.engine.sources.queue_http import PrometheusReader

            read = PrometheusReader(self._http_client(), queue).read
        else:
            read, timeout = self._sql(queue, interval, timeout)
        if queue.discover:
            source: QueueSource = DiscoverySource(
                queue, settings, read, state=self.state, emit=self.emit
            )
        else:
            source = QueueSource(queue, settings, read)
        source.interval, source.timeout = interval, timeout
        return source

    def _batch(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = make()
            self._closers.append(batch.shared.aclose)
        return batch

    def _redis(self, queue: Queue, interval: float, timeout: float) -> Callable[[str], Any]:
        from tui.engine.sources.redis_queues import (
            RedisBatch,
            RedisClients,
            location,
            redis_layout,
        )

        if self._redis_clients is None:
            self._redis_clients = RedisClients(timeout=self.config.settings.timeout)
            self._closers.append(self._redis_clients.aclose)
        clients = self._redis_clients
        url = queue.endpoint
        batch = self._batch(
            ("redis", url, interval, timeout),
            lambda: RedisBatch(clients.get(url), location(url), interval=interval, timeout=timeout),
        )
        batch.add(f"queue:{queue.name}", redis_layout(queue))
        return batch.read  # type: ignore[no-any-return]

    def _http_client(self) -> Any:
        if self._http is None:
            from tui.engine.sources.queue_http import http_client

            self._http = http_client(self.config.settings.timeout)
            self._closers.append(self._http.aclose)
        return self._http

    def _rabbitmq(self, queue: Queue, interval: float, timeout: float) -> Callable[[str], Any]:
        from tui.engine.sources.queue_http import RabbitBatch

        client = self._http_client()
        url = queue.endpoint
        batch = self._batch(
            ("rabbitmq", url, queue.vhost, interval, timeout),
            lambda: RabbitBatch(client, url, queue.vhost, interval=interval, timeout=timeout),
        )
        batch.add(f"queue:{queue.name}", queue)
        return batch.read  # type: ignore[no-any-return]

    def _sql(
        self, queue: Queue, interval: float, timeout: float
    ) -> tuple[Callable[[str], Any], float]:
        from tui.engine.sources.queue_sql import SqlBatch

        database = next(db for db in self.config.databases if db.name == queue.database)
        batch = self._batch(
            ("sql", database.name, interval, timeout),
            lambda: SqlBatch(database.name, database.dsn, interval=interval, timeout=timeout),
        )
        if len(batch.members) == 0:
            self._closers.append(batch.aclose)
        batch.add(f"queue:{queue.name}", queue)
        return batch.read, batch.pass_timeout

    async def aclose(self) -> None:
        """Batches first (an in-flight read is cancelled), then the clients they used."""
        for close in reversed(self._closers):
            await close()
