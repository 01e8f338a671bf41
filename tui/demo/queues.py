"""The demo's queues, written the way each library writes them (no library needed at run time):

- ``emails`` (RQ): producers outpace the one worker, so it grows past its threshold;
- ``webhooks`` (Celery on Redis, with a priority sub-list): starts at 400 and drains;
- ``reports`` (Sidekiq 8): steady around 25, but a job fails every few seconds into
  ``retry`` (some give up into ``dead``): the failures threshold trips;
- ``events`` (a Redis stream read by the consumer group ``indexer``): keeping up, one entry
  pending at a time.

The keys match the layouts of RQ 2, kombu 5 and Sidekiq 8 (see
``tui/engine/sources/queue_layouts.py``, whose tests fill them with the real libraries).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime

import redis

EMAILS_START, WEBHOOKS_START, REPORTS_TARGET = 170, 400, 25
CELERY_SEP = "\x06\x16"
RQ_WORKER = "rq:worker:demo-mailer.1"
SIDEKIQ_PROCESS = "demo-host:1:5f2c0a"
STREAM, GROUP = "events", "indexer"
TTL = 60
"""Seconds a worker's heartbeat key lives: refreshed every tick, gone soon after a stop."""


class DemoQueues:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self.rng = random.Random()
        self.tick_count = 0
        self.indexing: list[bytes] = []

    # --- seeding -----------------------------------------------------------------------
    def seed(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.flushdb()
        pipe.sadd("rq:queues", "rq:queue:emails")
        self._rq_enqueue(pipe, EMAILS_START, age=90.0)
        self._celery_publish(pipe, WEBHOOKS_START)
        pipe.sadd("queues", "reports")
        self._sidekiq_push(pipe, REPORTS_TARGET, age=20.0)
        for number in range(5):
            pipe.zadd("retry", {json.dumps(self._sidekiq_job("retry")): time.time() + 60 + number})
        pipe.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
        self._heartbeats(pipe)
        pipe.execute()

    # --- one second of traffic ---------------------------------------------------------
    def tick(self) -> dict[str, int]:
        """Produce and consume one second's worth; returns the ready depths."""
        self.tick_count += 1
        rng = self.rng
        pipe = self.redis.pipeline(transaction=False)
        self._rq_enqueue(pipe, 3 + (rng.random() < 0.5))
        self._celery_publish(pipe, int(rng.random() < 0.5))
        self._sidekiq_push(pipe, rng.randint(2, 4))
        pipe.xadd(STREAM, {"kind": "page_view", "user": str(rng.randrange(1000))})
        pipe.xadd(STREAM, {"kind": "click", "user": str(rng.randrange(1000))})
        self._heartbeats(pipe)
        pipe.execute()
        self._rq_work(2)
        self._celery_work(5)
        self._sidekiq_work()
        self._stream_work()
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen("rq:queue:emails")
        pipe.llen("webhooks")
        pipe.llen("queue:reports")
        emails, webhooks, reports = pipe.execute()
        return {"emails": emails, "webhooks": webhooks, "reports": reports}

    # --- RQ ----------------------------------------------------------------------------
    def _rq_enqueue(self, pipe: redis.client.Pipeline, count: int, age: float = 0.0) -> None:
        now = time.time()
        for index in range(count):
            job = uuid.uuid4().hex
            at = now - age + index * age / max(count, 1)
            pipe.hset(
                f"rq:job:{job}",
                mapping={
                    "status": "queued",
                    "origin": "emails",
                    "description": "mailer.send_receipt()",
                    "created_at": _rq_time(at),
                    "enqueued_at": _rq_time(at),
                },
            )
            pipe.rpush("rq:queue:emails", job)

    def _rq_work(self, count: int) -> None:
        """The worker takes the oldest jobs; one in twenty fails into the failed registry."""
        jobs = self.redis.lpop("rq:queue:emails", count) or []
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete("rq:wip:emails")
        now = time.time()
        for raw in jobs:
            job = raw.decode()
            if self.rng.random() < 0.05:
                pipe.zadd("rq:failed:emails", {job: now + 365 * 86400})
                pipe.hset(f"rq:job:{job}", "status", "failed")
            else:
                pipe.zadd("rq:finished:emails", {job: now + 500})
                pipe.expire(f"rq:job:{job}", 500)
        if jobs:  # the one it is working on now
            pipe.zadd("rq:wip:emails", {jobs[-1].decode(): now + 180})
        pipe.zremrangebyscore("rq:finished:emails", 0, now)
        pipe.execute()

    # --- Celery (kombu's Redis transport) ----------------------------------------------
    def _celery_publish(self, pipe: redis.client.Pipeline, count: int) -> None:
        for index in range(count):
            message = {
                "body": "W1tdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsfV0=",
                "headers": {"task": "hooks.deliver", "id": str(uuid.uuid4())},
                "properties": {"delivery_tag": str(uuid.uuid4()), "priority": 3},
            }
            key = f"webhooks{CELERY_SEP}3" if index % 10 == 0 else "webhooks"
            pipe.lpush(key, json.dumps(message))

    def _celery_work(self, count: int) -> None:
        """A consumer BRPOPs (priority lists first), keeps one unacked, acks the others."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpop(f"webhooks{CELERY_SEP}3", 1)
        pipe.rpop("webhooks", count)
        taken = [message for part in pipe.execute() for message in part or []]
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete("unacked", "unacked_index")
        if taken:
            tag = json.loads(taken[-1])["properties"]["delivery_tag"]
            pipe.hset("unacked", tag, json.dumps([json.loads(taken[-1]), "", "webhooks"]))
            pipe.zadd("unacked_index", {tag: time.time()})
        pipe.execute()

    # --- Sidekiq -----------------------------------------------------------------------
    def _sidekiq_job(self, queue: str, at: float | None = None) -> dict[str, object]:
        at = time.time() if at is None else at
        return {
            "class": "ReportJob",
            "args": [self.rng.randrange(10_000)],
            "queue": queue,
            "jid": uuid.uuid4().hex[:24],
            "created_at": int(at * 1000),
            "enqueued_at": int(at * 1000),  # Sidekiq 8: integer milliseconds
            "retry": True,
        }

    def _sidekiq_push(self, pipe: redis.client.Pipeline, count: int, age: float = 0.0) -> None:
        now = time.time()
        for index in range(count):
            at = now - age + index * age / max(count, 1)
            pipe.lpush("queue:reports", json.dumps(self._sidekiq_job("reports", at)))

    def _sidekiq_work(self) -> None:
        depth = self.redis.llen("queue:reports")
        take = max(0, 3 + round((depth - REPORTS_TARGET) * 0.3) + self.rng.randint(-1, 1))
        jobs = self.redis.rpop("queue:reports", take) if take else None
        if not jobs or self.tick_count % 4:
            return
        failed = json.loads(jobs[0])
        pipe = self.redis.pipeline(transaction=False)
        if self.tick_count % 20 == 0:
            pipe.zadd("dead", {json.dumps(failed): time.time()})
        else:
            pipe.zadd("retry", {json.dumps(failed): time.time() + 300})
            pipe.zremrangebyrank("retry", 0, -41)  # Sidekiq would retry the oldest by now
        pipe.execute()

    # --- Redis Streams -----------------------------------------------------------------
    def _stream_work(self) -> None:
        """The indexer reads everything new; the newest entry stays pending until the next
        tick (it is being indexed), so the group has a small pending list and no lag."""
        entries = self.redis.xreadgroup(GROUP, "indexer-1", {STREAM: ">"})
        ids = [entry_id for _, batch in entries or [] for entry_id, _ in batch]
        done = [*self.indexing, *ids[:-1]]
        if done:
            self.redis.xack(STREAM, GROUP, *done)
        self.indexing = ids[-1:]
        self.redis.xtrim(STREAM, maxlen=5_000, approximate=True)

    # --- workers alive -----------------------------------------------------------------
    def _heartbeats(self, pipe: redis.client.Pipeline) -> None:
        pipe.sadd("rq:workers", RQ_WORKER)
        pipe.sadd("rq:workers:emails", RQ_WORKER)
        pipe.hset(RQ_WORKER, mapping={"queues": "emails", "state": "busy"})
        pipe.expire(RQ_WORKER, TTL)
        pipe.sadd("processes", SIDEKIQ_PROCESS)
        info = {"hostname": "demo-host", "pid": 1, "queues": ["reports"], "concurrency": 5}
        pipe.hset(
            SIDEKIQ_PROCESS,
            mapping={"info": json.dumps(info), "busy": "2", "quiet": "false", "beat": time.time()},
        )
        pipe.expire(SIDEKIQ_PROCESS, TTL)


def _rq_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
