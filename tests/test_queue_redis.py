"""Redis-backed queues against a real Redis, with data written by the queue libraries themselves.

RQ (with a real worker process), Celery (kombu's producer and consumer) and BullMQ (python,
with a real worker) enqueue and process real jobs; their own read-only views are the
reference. Sidekiq has no Python library: its keys are laid out exactly as its Ruby source
writes them (client push, heartbeat, retry/dead/schedule sets) in both ``enqueued_at``
formats. Streams use real XADD / XGROUP / XREADGROUP. Each test owns a Redis database (flushed
before and after), so the libraries' keys never meet other tests' keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import redis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection

from tui.engine.config import Queue, Settings
from tui.engine.samples import QueueSample
from tui.engine.sources.queue_layouts import BullmqLayout, _next_id, sidekiq_enqueued_at
from tui.engine.sources.queue_shared import DiscoverySource, QueueSource
from tui.engine.sources.redis_queues import READ_ONLY_ACL, RedisBatch, redis_layout
from tui.engine.state import State

SETTINGS = Settings(interval=5.0, timeout=5.0)
TESTS = Path(__file__).resolve().parent


def db_url(redis_url: str, db: int) -> str:
    """The same server, another database."""
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        query = urlencode({**parse_qs(parts.query), "db": [str(db)]}, doseq=True)
        return f"unix://{parts.path}?{query}"
    return urlunsplit(parts._replace(path=f"/{db}"))


class RoundTrips:
    """Requests written by redis-py: a pipeline is one write, its replies read back in one go."""

    def __init__(self) -> None:
        self.count = 0


def counting_client(url: str, trips: RoundTrips) -> Redis:
    """A client whose connections count their round trips into ``trips``."""
    base: type[Connection] = (
        UnixDomainSocketConnection if urlsplit(url).scheme == "unix" else Connection
    )

    class Counting(base):  # type: ignore[valid-type,misc]
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.count += 1
            await super().send_packed_command(command, check_health)

    kwargs = ConnectionPool.from_url(url).connection_kwargs
    return Redis(connection_pool=ConnectionPool(connection_class=Counting, **kwargs))


@pytest.fixture
def db(redis_url: str) -> Iterator[str]:
    """A URL to a Redis database of this test's own."""
    url = db_url(redis_url, 9)
    client = redis.Redis.from_url(url)
    client.flushdb()
    if "kombu.pools" in sys.modules:  # pooled connections remember declaring what we flushed
        sys.modules["kombu.pools"].reset()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def sync(db: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(db)
    yield client
    client.close()


@pytest.fixture
async def reader(db: str) -> AsyncIterator[tuple[Redis, RoundTrips]]:
    trips = RoundTrips()
    client = counting_client(db, trips)
    await client.ping()
    trips.count = 0
    yield client, trips
    await client.aclose()


def batch_of(client: Redis, *queues: Queue) -> tuple[RedisBatch, list[QueueSource]]:
    """The queues as one batch, the way the engine groups queues on one Redis."""
    batch = RedisBatch(client, "test", interval=5.0, timeout=5.0)
    sources = []
    for queue in queues:
        batch.add(f"queue:{queue.name}", redis_layout(queue))
        if queue.discover:
            source = DiscoverySource(
                queue, SETTINGS, batch.read, state=State(), emit=lambda event: None
            )
        else:
            source = QueueSource(queue, SETTINGS, batch.read)
        sources.append(source)
    return batch, sources


async def read(client: Redis, *queues: Queue) -> dict[str, QueueSample]:
    """One pass of every queue, as one batch."""
    _, sources = batch_of(client, *queues)
    return {source.name: await source.poll() for source in sources}


def wait_until(predicate: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- RQ ----------------------------------------------------------------------------------


def rq_block_until_released(key: str) -> str:
    """An RQ job that runs until the test pushes to ``key`` (so it is seen active)."""
    client = redis.Redis.from_url(os.environ["WATCHDECK_TEST_RQ_URL"])
    client.blpop([key], timeout=30)
    return "released"


def rq_fail() -> None:
    raise RuntimeError("boom")


RQ_WORKER = """
import sys
from redis import Redis
from rq import Queue, SimpleWorker
connection = Redis.from_url(sys.argv[1])
SimpleWorker([Queue("emails", connection=connection)], connection=connection, name="busy").work(
    burst=False, max_jobs=2, with_scheduler=False
)
"""


async def test_rq_counts_match_rqs_own_read_only_view(db, sync, reader):
    from rq import Queue as RqQueue
    from rq import Worker
    from rq.registry import (
        DeferredJobRegistry,
        FailedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    emails = RqQueue("emails", connection=sync)
    emails.enqueue("test_queue_redis.rq_fail")
    emails.enqueue("test_queue_redis.rq_block_until_released", "release")
    waiting = [emails.enqueue("builtins.print", n) for n in range(5)]
    emails.enqueue_in(timedelta(minutes=5), "builtins.print", "later")
    emails.enqueue_in(timedelta(minutes=9), "builtins.print", "much later")
    emails.enqueue("builtins.print", "after", depends_on=waiting[0])
    env = {**os.environ, "PYTHONPATH": str(TESTS), "WATCHDECK_TEST_RQ_URL": db}
    worker = subprocess.Popen([sys.executable, "-c", RQ_WORKER, db], env=env)
    started = StartedJobRegistry(queue=emails)
    failed = FailedJobRegistry(queue=emails)
    try:
        wait_until(
            lambda: (
                failed.get_job_count(cleanup=False) == 1
                and started.get_job_count(cleanup=False) == 1
            ),
            "the worker to fail one job and start the next",
        )
        dead = Worker([emails], connection=sync, name="gone")
        dead.register_birth()
        sync.delete(dead.key)  # its heartbeat TTL ran out; the member stays in the set

        sample = (await read(reader[0], Queue(name="emails", kind="rq", url=db)))["emails"]

        assert sample.depth == emails.count == 5
        assert sample.active == started.get_job_count(cleanup=False) == 1
        assert sample.failed == failed.get_job_count(cleanup=False) == 1
        scheduled = ScheduledJobRegistry(queue=emails).get_job_count(cleanup=False)
        assert sample.delayed == scheduled == 2
        deferred = DeferredJobRegistry(queue=emails).get_job_count(cleanup=False)
        assert dict(sample.breakdown)["deferred"] == deferred == 1
        assert sample.workers == 1, "the dead worker's stale member is not counted"
        assert len(Worker.all(queue=emails)) == 1  # RQ's view (it prunes the stale one)
        head = emails.get_jobs(0, 1)[0]
        expected = time.time() - head.enqueued_at.timestamp()
        assert sample.oldest_age_s is not None and abs(sample.oldest_age_s - expected) < 5
        assert (sample.shared, sample.paused, sample.kind) == ((), None, "rq")
    finally:
        sync.lpush("release", "go")
        worker.wait(timeout=30)


async def test_rq_job_back_at_the_head_under_its_id_is_aged_from_its_new_enqueue(db, sync):
    """A failed job RQ retries (or one requeued from the failed registry) keeps its id and
    gets a new ``enqueued_at``: the oldest age restarts even when it is the head again."""
    from rq import Queue as RqQueue
    from rq import Retry, SimpleWorker

    emails = RqQueue("emails", connection=sync)
    job = emails.enqueue("test_queue_redis.rq_fail", retry=Retry(max=1))
    job.enqueued_at = job.enqueued_at - timedelta(hours=1)  # it has waited an hour
    job.save()
    client = Redis.from_url(db)
    _, (source,) = batch_of(client, Queue(name="emails", kind="rq", url=db))
    try:
        first = await source.poll()
        assert first.oldest_age_s is not None and first.oldest_age_s >= 3600
        worker = SimpleWorker([emails], connection=sync)
        worker.execute_job(worker.dequeue_job_and_maintain_ttl(None)[0], emails)
        assert emails.job_ids == [job.id], "RQ put the failed job back, under its id"
        second = await source.poll()
        assert second.oldest_age_s is not None and second.oldest_age_s < 60
    finally:
        await client.aclose()


async def test_rq_rate_limited_jobs_are_a_breakdown_entry_shared_by_all_queues(db, sync, reader):
    """RQ 3's rate limits hold jobs before they reach a queue: the limit key serves jobs of
    any queue, so they are shown once per queue, marked shared, and added to no count."""
    from rq import Queue as RqQueue
    from rq.rate_limit import RateLimit, RateLimitRegistry

    emails, reports = RqQueue("emails", connection=sync), RqQueue("reports", connection=sync)
    for n in range(4):
        emails.enqueue("builtins.print", n, rate_limit=RateLimit("smtp", 1))
    reports.enqueue("builtins.print", 1, rate_limit=RateLimit("smtp", 1))
    reports.enqueue("builtins.print", 2, rate_limit=RateLimit("pdf", 1))
    reports.enqueue("builtins.print", 3, rate_limit=RateLimit("pdf", 1))
    held = sum(r.get_rate_limited_job_count() for r in RateLimitRegistry.all(sync))
    assert held == 3 + 1 + 1

    samples = await read(
        reader[0],
        Queue(name="emails", kind="rq", url=db),
        Queue(name="reports", kind="rq", url=db),
        Queue(name="other", kind="rq", url=db, queue="other"),
    )

    assert (samples["emails"].depth, samples["reports"].depth) == (emails.count, 1) == (1, 1)
    for sample in samples.values():
        assert dict(sample.breakdown)["rate limited"] == held
        assert sample.shared == ("rate limited",)
        assert sample.delayed == 0
    no_limits = await read(reader[0], Queue(name="x", kind="rq", url=db, prefix="jobs"))
    assert "rate limited" not in dict(no_limits["x"].breakdown)
    assert no_limits["x"].shared == ()


async def test_rq_custom_prefix_and_empty_queue(db, reader):
    client, _ = reader
    await client.rpush("jobs:queue:empty-ish", "a")
    await client.delete("jobs:queue:empty-ish")
    queue = Queue(name="e", kind="rq", url=db, queue="empty-ish", prefix="jobs")
    sample = (await read(client, queue))["e"]
    assert (sample.depth, sample.active, sample.failed, sample.delayed) == (0, 0, 0, 0)
    assert (sample.workers, sample.oldest_age_s, sample.eta_s, sample.trend) == (
        0,
        None,
        0,
        "empty",
    )


# --- Celery ------------------------------------------------------------------------------


def celery_url(db: str) -> str:
    parts = urlsplit(db)
    number = parse_qs(parts.query).get("db", ["0"])[0]
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}?virtual_host={number}"
    return db


async def test_celery_priorities_and_reserved_match_kombu(db, sync, reader):
    from celery import Celery
    from kombu import Queue as KombuQueue

    app = Celery(broker=celery_url(db))
    for priority in (0, 3, 5, 9, None, 9):
        app.send_task("tasks.send", args=[1], queue="mail", priority=priority)
    app.send_task("tasks.report", queue="reports")
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        reserved = KombuQueue("mail", channel=channel).get(no_ack=False)  # a worker's prefetch
        assert reserved is not None

        samples = await read(
            reader[0],
            Queue(name="mail", kind="celery", url=db),
            Queue(name="reports", kind="celery", url=db),
        )

        assert samples["mail"].depth == channel._size("mail") == 5
        assert samples["reports"].depth == channel._size("reports") == 1
        assert dict(samples["mail"].breakdown) == {
            "priority 0": 1,  # 0 and none; the reserved one came from here (consumed first)
            "priority 3": 2,  # 3 and 5
            "priority 6": 0,
            "priority 9": 2,
        }
        assert samples["mail"].active == len(channel.qos._delivered) == 1
        assert samples["reports"].active == 1, "Celery's unacked index is one for all queues"
        assert samples["mail"].shared == ("active",)
        assert (samples["mail"].oldest_age_s, samples["mail"].workers) == (None, None)
        reserved.ack()


async def test_celery_global_keyprefix_separator_and_steps(db, reader):
    from celery import Celery

    options = {"global_keyprefix": "pfx:", "sep": ":", "priority_steps": list(range(10))}
    app = Celery(broker=celery_url(db), broker_transport_options=options)
    for priority in (0, 4, 4, 7):
        app.send_task("tasks.send", queue="jobs", priority=priority)
    with app.connection_for_read() as connection:
        expected = connection.default_channel._size("jobs")
    queue = Queue(
        name="jobs", kind="celery", url=db, prefix="pfx:", sep=":", priority_steps=list(range(10))
    )
    sample = (await read(reader[0], queue))["jobs"]
    assert sample.depth == expected == 4
    assert dict(sample.breakdown)["priority 4"] == 2


# --- BullMQ ------------------------------------------------------------------------------


async def test_bullmq_counts_match_get_job_counts(db, reader):
    from bullmq import Queue as BullQueue
    from bullmq import Worker as BullWorker

    mail = BullQueue("mail", {"connection": db})
    failing = [await mail.add("send", {"n": n}) for n in range(3)]
    seen_failures = asyncio.Event()

    async def fail(job: Any, token: str) -> None:
        raise ValueError("boom")

    worker = BullWorker("mail", fail, {"connection": db, "autorun": False})
    running = asyncio.ensure_future(worker.run())
    try:
        deadline = time.monotonic() + 30
        while (await mail.getJobCounts("failed"))["failed"] < len(failing):
            assert time.monotonic() < deadline, "the worker never failed the jobs"
            await asyncio.sleep(0.05)
        seen_failures.set()
        await worker.pause()
        first = await mail.add("send", {"n": "oldest"})
        for n in range(3):
            await mail.add("send", {"n": n})
        await mail.add("later", {}, {"delay": 60_000})
        await mail.add("urgent", {}, {"priority": 5})
        while await mail.get_workers_count() != 1:  # paused: its blocking connection closed
            assert time.monotonic() < deadline, "the paused worker kept both connections"
            await asyncio.sleep(0.05)

        sample = (await read(reader[0], Queue(name="mail", kind="bullmq", url=db)))["mail"]
        workers = await mail.get_workers_count()

        counts = await mail.getJobCounts()
        assert sample.depth == counts["waiting"] + counts["prioritized"] == 5
        assert sample.failed == counts["failed"] == 3
        assert sample.delayed == counts["delayed"] == 1
        assert sample.active == counts["active"] == 0
        assert sample.workers == workers == 1  # BullMQ counts its named connections
        assert dict(sample.breakdown)["prioritized"] == 1
        assert sample.paused is False
        created = int((await reader[0].hget(f"bull:mail:{first.id}", "timestamp")).decode())
        expected = time.time() - created / 1000
        assert sample.oldest_age_s is not None and abs(sample.oldest_age_s - expected) < 5
    finally:
        await worker.close(force=True)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    await mail.pause()
    await mail.add("while-paused", {})
    sample = (await read(reader[0], Queue(name="mail", kind="bullmq", url=db)))["mail"]
    counts = await mail.getJobCounts()
    assert sample.paused is True
    assert sample.depth == counts["waiting"] + counts["prioritized"] == 6
    assert sample.workers == 0
    await mail.close()


async def test_bullmq_legacy_paused_list_and_marker(db, reader):
    """v5 and older moved a paused queue's jobs to ``paused``; v4 left ``0:`` markers."""
    client, _ = reader
    now_ms = int(time.time() * 1000)
    for job, age_s in (("7", 120), ("8", 60)):
        await client.hset(
            f"bull:old:{job}", mapping={"timestamp": now_ms - age_s * 1000, "delay": 0}
        )
    await client.lpush("bull:old:paused", "7", "8")
    await client.lpush("bull:old:wait", "0:1")
    await client.hset("bull:old:meta", "paused", 1)
    sample = (await read(client, Queue(name="old", kind="bullmq", url=db)))["old"]
    assert sample.depth == 2, "the marker is not a job"
    assert sample.paused is True
    assert sample.oldest_age_s is not None and 119 <= sample.oldest_age_s < 130


async def test_bullmq_delayed_job_is_aged_from_when_it_became_ready(db, reader):
    """A job created a day ago with a day's delay is due now. BullMQ's promotion (the same
    Lua a worker runs on due jobs) sets the hash's ``delay`` to 0: its age is from now."""
    from bullmq import Queue as BullQueue

    mail = BullQueue("mail", {"connection": db})
    day_ms = 86_400_000
    job = await mail.add(
        "send", {}, {"timestamp": int(time.time() * 1000) - day_ms, "delay": day_ms}
    )
    await job.promote()
    assert await reader[0].hget(f"bull:mail:{job.id}", "delay") == b"0"
    queue = Queue(name="mail", kind="bullmq", url=db, crit_age=3600)
    sample = (await read(reader[0], queue))["mail"]
    assert sample.depth == 1
    assert sample.oldest_age_s is not None and sample.oldest_age_s < 60
    assert sample.status == "ok"
    await mail.close()


async def test_bullmq_retried_job_is_aged_from_its_last_start(db, reader):
    """A job that waited an hour, ran and failed is back in wait under its id (retryJob):
    it has been ready again since its last start (``processedOn``), not for an hour."""
    from bullmq import Queue as BullQueue
    from bullmq import Worker as BullWorker

    mail = BullQueue("mail", {"connection": db})
    hour_ago = int(time.time() * 1000) - 3_600_000
    await mail.add("send", {}, {"timestamp": hour_ago, "attempts": 3})
    _, (source,) = batch_of(reader[0], Queue(name="mail", kind="bullmq", url=db))
    first = await source.poll()
    assert first.oldest_age_s is not None and first.oldest_age_s >= 3600
    worker = BullWorker("mail", lambda job, token: None, {"connection": db, "autorun": False})
    try:
        job = await worker.moveToActive("token")
        await job.moveToFailed(ValueError("boom"), "token")  # what the worker does on failure
    finally:
        await worker.close(force=True)
    assert (await mail.getJobCounts("wait"))["wait"] == 1
    second = await source.poll()
    assert second.oldest_age_s is not None and second.oldest_age_s < 60
    await mail.close()


async def test_bullmq_custom_prefix(db, reader):
    from bullmq import Queue as BullQueue

    queue = BullQueue("reports", {"connection": db, "prefix": "acme"})
    await queue.add("build", {})
    await queue.add("build", {}, {"delay": 30_000})
    sample = (
        await read(
            reader[0], Queue(name="r", kind="bullmq", url=db, queue="reports", prefix="acme")
        )
    )["r"]
    assert (sample.depth, sample.delayed) == (1, 1)
    await queue.close()


# --- Sidekiq -----------------------------------------------------------------------------


def sidekiq_job(queue: str, enqueued_at: float | int) -> str:
    """A job as Sidekiq::Client#push serializes it."""
    return json.dumps(
        {
            "retry": True,
            "queue": queue,
            "class": "HardJob",
            "args": [1, "x"],
            "jid": os.urandom(12).hex(),
            "created_at": enqueued_at,
            "enqueued_at": enqueued_at,
        }
    )


async def sidekiq_heartbeat(
    client: Redis, identity: str, queues: list[str], *, busy: int, quiet: bool = False
) -> None:
    """What Sidekiq's launcher writes each heartbeat (Launcher#heartbeat)."""
    info = {
        "hostname": "app-1",
        "started_at": time.time(),
        "pid": 4242,
        "tag": "app",
        "concurrency": 10,
        "queues": queues,
        "labels": [],
        "identity": identity,
    }
    await client.sadd("processes", identity)
    await client.hset(
        identity,
        mapping={
            "info": json.dumps(info),
            "busy": busy,
            "beat": time.time(),
            "rtt_us": 300,
            "quiet": "true" if quiet else "false",
            "rss": 120000,
        },
    )
    await client.expire(identity, 60)


@pytest.mark.parametrize("version", ["7 (float seconds)", "8 (integer ms)"])
async def test_sidekiq_layout_in_both_enqueued_at_formats(db, reader, version):
    client, _ = reader
    oldest = time.time() - 90
    stamp: float | int = oldest if version.startswith("7") else int(oldest * 1000)
    # Sidekiq::Client#raw_push: SADD queues, LPUSH queue:NAME; the oldest is at the tail.
    await client.sadd("queues", "default", "mailers")
    await client.lpush("queue:default", sidekiq_job("default", stamp))
    for _ in range(3):
        newer = time.time() if version.startswith("7") else int(time.time() * 1000)
        await client.lpush("queue:default", sidekiq_job("default", newer))
    await client.lpush("queue:mailers", sidekiq_job("mailers", stamp))
    await client.zadd("retry", {sidekiq_job("default", stamp): time.time() + 60})
    await client.zadd("dead", {sidekiq_job("mailers", stamp): time.time()})
    await client.zadd("dead", {sidekiq_job("default", stamp): time.time()})
    await client.zadd("schedule", {sidekiq_job("default", stamp): time.time() + 3600})
    await sidekiq_heartbeat(client, "app-1:4242:abc", ["default", "mailers"], busy=3)
    await sidekiq_heartbeat(client, "app-2:4243:def", ["mailers"], busy=1)
    await sidekiq_heartbeat(client, "app-3:4244:fed", ["default"], busy=0, quiet=True)
    await client.sadd("processes", "app-4:4245:gone")  # died: its hash expired

    samples = await read(
        client,
        Queue(name="default", kind="sidekiq", url=db),
        Queue(name="mailers", kind="sidekiq", url=db),
    )
    default = samples["default"]
    assert default.depth == 4
    assert default.oldest_age_s is not None and 89 <= default.oldest_age_s < 100
    # Sidekiq::Queue#latency reads the same tail job the same way.
    tail = json.loads(await client.lindex("queue:default", -1))
    assert abs(time.time() - sidekiq_enqueued_at(tail) - default.oldest_age_s) < 5
    assert (default.failed, default.delayed, default.active) == (3, 1, 4)
    assert dict(default.breakdown) == {"retry": 1, "dead": 2, "scheduled": 1}
    assert default.shared == ("active", "failed", "delayed")
    assert default.workers == 1, "quiet and dead processes fetch no work"
    assert samples["mailers"].workers == 2
    assert samples["mailers"].depth == 1


def test_sidekiq_enqueued_at_formats():
    assert sidekiq_enqueued_at({"enqueued_at": 1700000000.5}) == 1700000000.5
    assert sidekiq_enqueued_at({"enqueued_at": 1700000000500}) == 1700000000.5
    assert sidekiq_enqueued_at({"enqueued_at": 1700000000.0}) == 1700000000.0
    assert sidekiq_enqueued_at({"class": "X"}) is None
    assert sidekiq_enqueued_at(None) is None


async def test_sidekiq_namespace(db, reader):
    client, _ = reader
    await client.lpush("myapp:queue:default", sidekiq_job("default", time.time()))
    await client.zadd("myapp:retry", {sidekiq_job("default", time.time()): time.time()})
    queue = Queue(name="default", kind="sidekiq", url=db, prefix="myapp")
    sample = (await read(client, queue))["default"]
    assert (sample.depth, sample.failed, sample.workers) == (1, 1, 0)


# --- Streams -----------------------------------------------------------------------------


async def test_stream_group_lag_pending_consumers_and_oldest_undelivered(db, reader):
    client, _ = reader
    base = int(time.time() * 1000) - 60_000
    for n in range(5):
        await client.xadd("events", {"n": n}, id=f"{base + n * 1000}-0")
    await client.xgroup_create("events", "billing", id="0")
    await client.xgroup_create("events", "audit", id="$")
    await client.xreadgroup("billing", "c1", {"events": ">"}, count=2)
    await client.xreadgroup("billing", "c2", {"events": ">"}, count=1)
    await client.xack("events", "billing", f"{base}-0")

    samples = await read(
        client,
        Queue(name="billing", kind="redis_stream", url=db, queue="events", group="billing"),
        Queue(name="audit", kind="redis_stream", url=db, queue="events", group="audit"),
        Queue(name="furthest", kind="redis_stream", url=db, queue="events"),
        Queue(name="nobody", kind="redis_stream", url=db, queue="events", group="nope"),
    )

    info = {g["name"].decode(): g for g in await client.xinfo_groups("events")}
    billing = samples["billing"]
    assert billing.active == info["billing"]["pending"] == 2
    assert billing.workers == info["billing"]["consumers"] == 2
    assert billing.oldest_age_s is not None and 55 <= billing.oldest_age_s < 70
    if "lag" in info["billing"]:  # Redis 7+
        assert billing.depth == info["billing"]["lag"] == 2
        assert billing.rate_in is None  # one read: no rate yet
    else:
        assert billing.depth is None
        assert any("Redis 7" in note for note in billing.notes)
    audit = samples["audit"]
    assert (audit.depth, audit.oldest_age_s, audit.active, audit.workers) == (0, None, 0, 0)
    assert samples["furthest"].notes[0] == "group billing"
    assert samples["furthest"].active == 2
    assert samples["nobody"].depth is None
    assert samples["nobody"].notes == ("no consumer group 'nope' reads this stream",)


def test_the_entry_after_the_last_delivered_one_is_found_without_exclusive_ranges():
    """XRANGE's "(id" needs Redis 6.2; the next id works on every stream-capable Redis."""
    assert _next_id(b"1700000000000-7") == b"1700000000000-8"
    assert _next_id("5-18446744073709551615") == b"6-0"


async def test_missing_stream_is_an_error(db, reader):
    queue = Queue(name="s", kind="redis_stream", url=db, queue="absent")
    with pytest.raises(LookupError, match="no stream 'absent' in this database"):
        await read(reader[0], queue)


# --- plain lists, errors, round trips ---------------------------------------------------


async def test_plain_list_and_a_wrong_type_fails_only_its_own_queue(db, reader):
    client, _ = reader
    await client.rpush("plain", *range(7))
    await client.set("not-a-list", "x")
    _, (plain, wrong) = batch_of(
        client,
        Queue(name="plain", url=db),
        Queue(name="wrong", url=db, queue="not-a-list"),
    )
    assert (await plain.poll()).depth == 7
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await wrong.poll()


async def test_one_round_trip_per_pass_however_many_queues(db, sync, reader):
    """200 queues of every kind on one Redis: counts in one round trip; a second, shared one
    only when some queue's oldest job is new (its enqueue time is in a hash found by the
    first); a pass that changes nothing takes one."""
    from rq import Queue as RqQueue

    client, trips = reader
    kinds = ["redis_list", "celery", "rq", "bullmq", "sidekiq", "redis_stream"]
    queues = [
        Queue(name=f"q{n}", kind=kinds[n % len(kinds)], url=db, queue=f"q{n}") for n in range(200)
    ]
    for queue in queues:
        if queue.kind == "redis_stream":
            sync.xadd(queue.key, {"n": 1})
            sync.xgroup_create(queue.key, "g", id="0")
    for n in range(0, 200, 6 * 4):
        RqQueue(f"q{n + 2}", connection=sync).enqueue("builtins.print", n)
    batch, sources = batch_of(client, *queues)
    commands_before = _commands_processed(sync)

    samples = await asyncio.gather(*(source.poll() for source in sources))

    assert trips.count == batch.rounds == 2
    assert len({sample.at for sample in samples}) == 1, "one read served every queue"
    commands = _commands_processed(sync) - commands_before - 1  # INFO itself
    assert commands == batch.commands < 200 * 8, "identical commands went out once"
    trips.count = 0
    await asyncio.gather(*(source.poll() for source in sources))
    assert trips.count == batch.rounds == 2, "streams with undelivered entries read their age"
    sync.delete(*(q.key for q in queues if q.kind == "redis_stream"))
    for queue in queues:
        if queue.kind == "redis_stream":
            sync.xadd(queue.key, {"n": 1})
            sync.xgroup_create(queue.key, "g", id="$")
    trips.count = 0
    await asyncio.gather(*(source.poll() for source in sources))
    assert trips.count == batch.rounds == 1, "nothing new: one round trip"


def _commands_processed(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


async def test_members_polling_together_share_one_read_and_a_refresh_reads_again(db, reader):
    client, trips = reader
    _, sources = batch_of(client, *(Queue(name=f"l{n}", url=db) for n in range(20)))
    first = await sources[0].poll()
    rest = [await source.poll() for source in sources[1:]]
    assert trips.count == 1 and {sample.at for sample in rest} == {first.at}
    await client.rpush("l3", "job")
    trips.count = 0
    again = await sources[3].poll()  # a refresh right after the pass: fresh data
    assert (trips.count, again.depth) == (1, 1) and again.at > first.at
    others = [await source.poll() for source in sources if source is not sources[3]]
    assert trips.count == 1, "the others take the refresh's read"
    assert {sample.at for sample in others} == {again.at}


# --- least privilege ---------------------------------------------------------------------


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{user}:{password}@{parts.path}?{parts.query}"
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


async def test_every_kind_works_as_the_documented_read_only_acl_user(db, sync):
    """The README's ACL, applied for real: every kind and discovery read, no write allowed."""
    from bullmq import Queue as BullQueue
    from celery import Celery
    from rq import Queue as RqQueue

    RqQueue("emails", connection=sync).enqueue("builtins.print", 1)
    Celery(broker=celery_url(db)).send_task("tasks.send", queue="mail")
    bull = BullQueue("video", {"connection": db})
    await bull.add("encode", {})
    await bull.close()
    sync.sadd("queues", "default")
    sync.lpush("queue:default", sidekiq_job("default", time.time()))
    sync.xadd("events", {"n": 1})
    sync.xgroup_create("events", "g", id="0")
    sync.rpush("plain", 1, 2)
    sync.execute_command("ACL", "SETUSER", "wd-reader", "reset", "on", ">pw-4242", "~*")
    sync.execute_command("ACL", "SETUSER", "wd-reader", *READ_ONLY_ACL.split())
    url = with_user(db, "wd-reader", "pw-4242")
    client = Redis.from_url(url)
    try:
        queues = [
            Queue(name="rq", kind="rq", url=url, queue="emails"),
            Queue(name="celery", kind="celery", url=url, queue="mail"),
            Queue(name="bullmq", kind="bullmq", url=url, queue="video"),
            Queue(name="sidekiq", kind="sidekiq", url=url, queue="default"),
            Queue(name="stream", kind="redis_stream", url=url, queue="events"),
            Queue(name="plain", url=url),
            *(
                Queue(name=f"all-{kind}", kind=kind, url=url, discover=True)  # type: ignore[arg-type]
                for kind in ("rq", "celery", "bullmq", "sidekiq")
            ),
        ]
        _, sources = batch_of(client, *queues)
        samples = {source.name: await source.poll() for source in sources}
        depths = {name: sample.depth for name, sample in samples.items()}
        assert depths == {
            "rq": 1,
            "celery": 1,
            "bullmq": 1,
            "sidekiq": 1,
            "stream": None if "lag" not in sync.xinfo_groups("events")[0] else 1,
            "plain": 2,
            "all-rq": 1,
            "all-celery": 1,
            "all-bullmq": 1,
            "all-sidekiq": 1,
        }
        assert samples["bullmq"].workers == 0, "CLIENT LIST is allowed"
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.delete("plain")
    finally:
        await client.aclose()
        sync.execute_command("ACL", "DELUSER", "wd-reader")


async def test_without_client_list_bullmq_workers_are_unknown(db, sync):
    sync.execute_command("ACL", "SETUSER", "wd-narrow", "reset", "on", ">pw-4242", "~*")
    rules = READ_ONLY_ACL.replace(" +client|list", "").split()
    sync.execute_command("ACL", "SETUSER", "wd-narrow", *rules)
    client = Redis.from_url(with_user(db, "wd-narrow", "pw-4242"))
    try:
        sample = (await read(client, Queue(name="v", kind="bullmq", url=db, queue="video")))["v"]
        assert (sample.depth, sample.workers) == (0, None)
        assert sample.notes == (BullmqLayout.NOTE_NO_CLIENT_LIST,)
    finally:
        await client.aclose()
        sync.execute_command("ACL", "DELUSER", "wd-narrow")


def test_readme_documents_exactly_the_acl_tested_above():
    readme = (TESTS.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Queues\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(redis-cli ACL SETUSER.*?)```", section, re.S)
    assert match is not None
    tokens = (token.strip("'") for token in match.group(1).replace("\\\n", " ").split())
    assert {token for token in tokens if token[:1] in "+-"} == set(READ_ONLY_ACL.split())


async def test_bullmq_counters_give_rates_in_and_out(db, reader):
    """BullMQ's job id counter counts arrivals; a worker with metrics counts completions."""
    from bullmq import Queue as BullQueue
    from bullmq import Worker as BullWorker

    client, _ = reader
    mail = BullQueue("mail", {"connection": db})
    for n in range(5):
        await mail.add("send", {"n": n})
    _, (source,) = batch_of(client, Queue(name="mail", kind="bullmq", url=db))
    first = await source.poll()
    assert (first.depth, first.rate_in, first.rate_out) == (5, None, None)
    for n in range(10):
        await mail.add("send", {"n": n})

    async def work(job: Any, token: str) -> str:
        return "sent"

    worker = BullWorker("mail", work, {"connection": db, "metrics": {"maxDataPoints": 60}})
    try:
        deadline = time.monotonic() + 30
        while (await mail.getJobCounts("completed"))["completed"] < 15:
            assert time.monotonic() < deadline, "the worker never finished the jobs"
            await asyncio.sleep(0.05)
    finally:
        await worker.close()
    second = await source.poll()
    minutes = (second.at - first.at) / 60
    assert second.depth == 0
    assert second.rate_in == pytest.approx(10 / minutes)
    assert second.rate_out == pytest.approx(15 / minutes)
    assert second.rate_net == pytest.approx(-5 / minutes)
    assert (second.trend, second.eta_s) == ("empty", 0.0)
    await mail.close()
