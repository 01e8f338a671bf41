"""How each queue system lays a queue out in Redis, read with plain read commands only.

Every layout mirrors the library's own source (the key names, which end of a list is the
oldest, where the enqueue time lives) and never calls the library: RQ's registry counts clean
up, BullMQ counts through Lua, Sidekiq's ProcessSet prunes; all of those write. A layout
remembers which job was the oldest and reads its enqueue time again in the first round of the
next pass (a retried job keeps its id but not its enqueue time), so that a second, dependent
round trip is needed only when a queue's oldest job changed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from redis import exceptions

from tui.engine.printable import printable
from tui.engine.queues_derived import QueueReading
from tui.engine.sources.queue_lockstep import Command, Plan, count, reply, text


class Layout(Protocol):
    def plan(self, now: float) -> Plan[QueueReading]:
        """The reads of one pass at wall-clock time ``now``."""
        ...


def _age(now: float, since: float | None) -> float | None:
    """Seconds since ``since``; never negative (clocks of other hosts run a little ahead)."""
    return None if since is None else max(0.0, now - since)


def _optional_int(value: Any) -> int | None:
    value = reply(value)
    return None if value is None else int(value)


class ListLayout:
    """A plain Redis list: only its length is recorded."""

    def __init__(self, key: str) -> None:
        self.key = key

    def plan(self, now: float) -> Plan[QueueReading]:
        (depth,) = yield [("llen", self.key)]
        return QueueReading(depth=count(depth))


class CeleryLayout:
    """Celery's Redis transport (kombu): a list per priority step, one global unacked index.

    kombu writes a message of priority ``p`` to ``queue + sep + step`` (the bare name for step
    0) and consumes steps in order; ``global_keyprefix`` prefixes every key. Messages carry no
    enqueue time and workers leave no trace per queue, so age and workers are unknown.
    """

    NOTE = (
        "active counts reserved, unacknowledged messages of every queue on this broker "
        "(Celery keeps one unacked index)"
    )

    def __init__(
        self,
        queue: str,
        *,
        prefix: str = "",
        steps: Sequence[int] = (0, 3, 6, 9),
        sep: str = "\x06\x16",
    ) -> None:
        self.steps = tuple(steps)
        self.keys = [prefix + (f"{queue}{sep}{step}" if step else queue) for step in self.steps]
        self.unacked = prefix + "unacked_index"

    def plan(self, now: float) -> Plan[QueueReading]:
        *lengths, unacked = yield [*(("llen", key) for key in self.keys), ("zcard", self.unacked)]
        sizes = [count(length) for length in lengths]
        steps = zip(self.steps, sizes, strict=True)
        return QueueReading(
            depth=sum(sizes),
            active=count(unacked),
            breakdown=tuple((f"priority {step}", size) for step, size in steps),
            shared=("active",),
            notes=(self.NOTE,),
        )


def _rq_time(value: Any) -> float | None:
    """RQ's ``enqueued_at``: UTC text such as ``2024-05-01T12:00:00.123456Z``."""
    value = reply(value)
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(text(value))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


class RqLayout:
    """RQ: list ``rq:queue:NAME`` (head = oldest), a zset per registry, a set of workers.

    Workers register their key in ``rq:workers:NAME`` and keep a hash ``rq:worker:ID`` alive
    with a TTL; a member whose hash is gone is a worker that died, so only live ones count.
    A job that returns to the queue (a retry, a requeue) keeps its id and gets a new
    ``enqueued_at``, so the head's is read again on every pass, in the first round.

    RQ 3's rate limits hold jobs back in ``rq:rl:KEY:rate_limited`` (the keys listed in
    ``rq:rl-keys``) before they reach any queue; a key serves jobs of any queue and knowing a
    held job's queue takes reading its hash, so they are a breakdown entry shared by all
    queues, counted in no field.
    """

    REGISTRIES = ("wip", "failed", "scheduled", "deferred", "finished", "canceled")
    RATE_LIMITED = "rate limited"
    NOTE_RATE_LIMITED = (
        "rate limited counts the jobs RQ's rate limits hold back for every queue on this Redis "
        "(a limit key is not per queue); they are in no other count until released"
    )

    def __init__(self, queue: str, *, prefix: str = "rq") -> None:
        self.list = f"{prefix}:queue:{queue}"
        self.intermediate = f"{self.list}:intermediate"
        self.registries = [f"{prefix}:{name}:{queue}" for name in self.REGISTRIES]
        self.workers = f"{prefix}:workers:{queue}"
        self.job_prefix = f"{prefix}:job:"
        self.prefix = prefix.encode()
        self._head: bytes | None = None
        self._members: tuple[bytes, ...] = ()
        self._limits: tuple[bytes, ...] = ()

    def _held(self, limits: Sequence[bytes]) -> list[Command]:
        return [("zcard", b"%s:rl:%s:rate_limited" % (self.prefix, key)) for key in limits]

    def plan(self, now: float) -> Plan[QueueReading]:
        reads: list[Command] = [
            ("llen", self.list),
            ("lindex", self.list, 0),
            ("llen", self.intermediate),
            *(("zcard", key) for key in self.registries),
            ("smembers", self.workers),
            ("smembers", self.prefix + b":rl-keys"),
            *self._held(self._limits),
        ]
        # Likely the same as last pass: the head job and the workers.
        if self._head is not None:
            reads.append(("hget", self.job_prefix + text(self._head), "enqueued_at"))
        if self._members:
            reads.append(("exists", *self._members))
        replies = yield reads
        depth, head, intermediate = count(replies[0]), reply(replies[1]), count(replies[2])
        wip, failed, scheduled, deferred, finished, canceled = map(count, replies[3:9])
        members = tuple(sorted(reply(replies[9])))
        limits = tuple(sorted(reply(replies[10])))
        rest = iter(replies[11:])
        held_replies = [next(rest) for _ in self._limits]
        enqueued = next(rest) if self._head is not None else None
        follow: list[Command] = []
        new_head = head is not None and head != self._head
        if new_head:
            follow.append(("hget", self.job_prefix + text(head), "enqueued_at"))
        workers = 0 if not members else None
        if members and members == self._members:
            workers = count(next(rest))
        elif members:
            follow.append(("exists", *members))
        if limits != self._limits:
            follow.extend(self._held(limits))
        if follow:
            answers = iter((yield follow))
            if new_head:
                enqueued = next(answers)
            if workers is None:
                workers = count(next(answers))
            if limits != self._limits:
                held_replies = list(answers)
        self._head, self._members, self._limits = head, members, limits
        breakdown: tuple[tuple[str, float | None], ...] = (
            ("scheduled", scheduled),
            ("deferred", deferred),
            ("intermediate", intermediate),
            ("finished", finished),
            ("canceled", canceled),
        )
        shared: tuple[str, ...] = ()
        if limits:
            breakdown += ((self.RATE_LIMITED, sum(map(count, held_replies))),)
            shared = (self.RATE_LIMITED,)
        return QueueReading(
            depth=depth,
            active=wip,
            failed=failed,
            delayed=scheduled,
            oldest_age_s=_age(now, _rq_time(enqueued)) if head is not None else None,
            workers=workers,
            breakdown=breakdown,
            shared=shared,
            notes=(self.NOTE_RATE_LIMITED,) if limits else (),
        )


def sidekiq_enqueued_at(job: Any) -> float | None:
    """Epoch seconds of a Sidekiq job's ``enqueued_at``, as Sidekiq reads it.

    Before Sidekiq 8 it is a float of seconds; from 8 on an integer of milliseconds.
    """
    value = job.get("enqueued_at") if isinstance(job, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if isinstance(value, float) else value / 1000.0


class SidekiqLayout:
    """Sidekiq: list ``queue:NAME`` (LPUSH, BRPOP: the tail is the oldest job, as JSON).

    ``retry``, ``dead`` and ``schedule`` are zsets shared by all queues, and ``busy`` is per
    process, not per queue: those fields are marked shared. A process lives in the set
    ``processes`` and keeps its hash (``info`` with its queues, ``busy``, ``quiet``) alive with
    a 60 s TTL; members without a hash died, quiet ones fetch no more work.
    """

    NOTE = (
        "failed (retry + dead), delayed (schedule) and active (busy threads) are counted "
        "across all queues: Sidekiq keeps them that way"
    )

    def __init__(self, queue: str, *, namespace: str = "") -> None:
        self.ns = f"{namespace}:" if namespace else ""
        self.queue = queue
        self.list = f"{self.ns}queue:{queue}"
        self._members: tuple[bytes, ...] = ()

    def _process_reads(self, members: Sequence[bytes]) -> list[Command]:
        return [("hmget", self.ns + text(member), "info", "busy", "quiet") for member in members]

    def plan(self, now: float) -> Plan[QueueReading]:
        ns = self.ns
        reads: list[Command] = [
            ("llen", self.list),
            ("lindex", self.list, -1),
            ("zcard", f"{ns}retry"),
            ("zcard", f"{ns}dead"),
            ("zcard", f"{ns}schedule"),
            ("smembers", f"{ns}processes"),
            *self._process_reads(self._members),
        ]
        replies = yield reads
        depth, tail = count(replies[0]), reply(replies[1])
        retry, dead, scheduled = count(replies[2]), count(replies[3]), count(replies[4])
        members = tuple(sorted(reply(replies[5])))
        processes = replies[6:]
        if members != self._members:
            processes = (yield self._process_reads(members)) if members else []
        self._members = members
        workers = busy = 0
        for info, threads, quiet in (reply(process) for process in processes):
            if info is None:
                continue
            busy += int(threads or 0)
            if quiet != b"true" and self.queue in _sidekiq_queues(info):
                workers += 1
        return QueueReading(
            depth=depth,
            active=busy,
            failed=retry + dead,
            delayed=scheduled,
            oldest_age_s=_age(now, sidekiq_enqueued_at(_json(tail))) if tail else None,
            workers=workers,
            breakdown=(("retry", retry), ("dead", dead), ("scheduled", scheduled)),
            shared=("active", "failed", "delayed"),
            notes=(self.NOTE,),
        )


def _sidekiq_queues(info: bytes) -> list[str]:
    data = _json(info)
    queues = data.get("queues") if isinstance(data, dict) else None
    return [str(queue) for queue in queues] if isinstance(queues, list) else []


def _json(raw: Any) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


class BullmqLayout:
    """BullMQ: ``PREFIX:Q:wait`` list + ``prioritized`` zset (+ the ``paused`` list of v5 and
    older, where a paused queue's jobs moved), ``active`` list, ``delayed``, ``failed``,
    ``completed`` and ``waiting-children`` zsets; a job is the hash ``PREFIX:Q:ID`` with
    ``timestamp`` (ms), ``opts`` (JSON) and, once a worker took it, ``processedOn`` (ms).

    Workers take from the wait list's tail, so the tail is the oldest FIFO job; a delay
    marker (``0:...``, older layouts) at the tail is not a job. Prioritized jobs run by
    priority, so the oldest of them is not known without reading them all: the next one to
    run is taken as the oldest candidate. Workers are the connections BullMQ names after the
    queue (``CLIENT LIST``, as ``Queue.getWorkers`` does; it needs ``+client|list``). A job
    that returns to wait (a retry, a stall) keeps its id, so the candidates of the last pass
    are read again in the first round of the next.
    """

    NOTE_NO_CLIENT_LIST = "workers need CLIENT LIST, which this Redis user may not run"
    JOB_FIELDS = ("timestamp", "opts", "processedOn")

    def __init__(self, queue: str, *, prefix: str = "bull") -> None:
        base = f"{prefix}:{queue}"
        self.base = base
        self.names = {base, f"{prefix}:{base64.b64encode(queue.encode()).decode()}"}
        self._candidates: tuple[bytes, ...] = ()

    def _job_reads(self, jobs: Sequence[bytes]) -> list[Command]:
        return [("hmget", f"{self.base}:{text(job)}", *self.JOB_FIELDS) for job in jobs]

    def plan(self, now: float) -> Plan[QueueReading]:
        b = self.base
        replies = yield [
            ("llen", f"{b}:wait"),
            ("lrange", f"{b}:wait", -2, -1),
            ("llen", f"{b}:paused"),
            ("lrange", f"{b}:paused", -2, -1),
            ("zcard", f"{b}:prioritized"),
            ("zrange", f"{b}:prioritized", 0, 0),
            ("llen", f"{b}:active"),
            ("zcard", f"{b}:delayed"),
            ("zcard", f"{b}:failed"),
            ("zcard", f"{b}:completed"),
            ("zcard", f"{b}:waiting-children"),
            ("hget", f"{b}:meta", "paused"),
            ("get", f"{b}:id"),
            ("hget", f"{b}:metrics:completed", "count"),
            ("hget", f"{b}:metrics:failed", "count"),
            ("client_list",),
            *self._job_reads(self._candidates),
        ]
        wait, wait_tail = _without_marker(count(replies[0]), reply(replies[1]))
        paused_list, paused_tail = _without_marker(count(replies[2]), reply(replies[3]))
        prioritized, next_prioritized = count(replies[4]), reply(replies[5])
        active, delayed, failed, completed, children = map(count, replies[6:11])
        jobs = dict(zip(self._candidates, replies[16:], strict=True))
        candidates = tuple(job for job in (wait_tail, paused_tail, *next_prioritized) if job)
        unknown = [job for job in candidates if job not in jobs]
        if unknown:
            jobs.update(zip(unknown, (yield self._job_reads(unknown)), strict=True))
        self._candidates = candidates
        ready = [at for job in candidates if (at := _bullmq_ready_at(jobs[job])) is not None]
        done = [_optional_int(replies[13]), _optional_int(replies[14])]
        workers, notes = self._workers(replies[15])
        return QueueReading(
            depth=wait + prioritized + paused_list,
            active=active,
            failed=failed,
            delayed=delayed,
            oldest_age_s=_age(now, min(ready)) if ready else None,
            workers=workers,
            paused=reply(replies[11]) is not None,
            breakdown=(
                ("wait", wait),
                ("prioritized", prioritized),
                ("paused", paused_list),
                ("completed", completed),
                ("waiting-children", children),
            ),
            notes=notes,
            added_total=_optional_int(replies[12]),
            done_total=None if done == [None, None] else float(sum(n or 0 for n in done)),
        )

    def _workers(self, clients: Any) -> tuple[int | None, tuple[str, ...]]:
        if isinstance(clients, Exception):
            return None, (self.NOTE_NO_CLIENT_LIST,)
        workers = 0
        for client in clients:
            name = client.get("name", "")
            if name in self.names or any(name.startswith(f"{n}:w:") for n in self.names):
                workers += 1
        return workers, ()


def _without_marker(length: int, tail: list[bytes]) -> tuple[int, bytes | None]:
    """A list's length and oldest job, leaving out a delay marker (``0:...``) at the tail."""
    if tail and tail[-1].startswith(b"0:"):
        return max(0, length - 1), (tail[0] if len(tail) == 2 else None)
    return length, (tail[-1] if tail else None)


def _bullmq_ready_at(fields: Any) -> float | None:
    """When a BullMQ job became ready (epoch seconds): created plus the delay it asked for.

    The delay comes from ``opts``: BullMQ sets the hash's ``delay`` to 0 when it promotes a
    delayed job to wait. A job that ran already (retried, back from a stall) became ready
    again no earlier than its last start, ``processedOn``.
    """
    timestamp, opts, processed_on = reply(fields)
    options = _json(opts)
    delay = options.get("delay") if isinstance(options, dict) else None
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        delay = 0
    try:
        return max(float(timestamp) + delay, float(processed_on or 0)) / 1000.0
    except (TypeError, ValueError):
        return None


def _stream_id(value: Any) -> tuple[int, int]:
    ms, _, seq = text(value).partition("-")
    return int(ms), int(seq or 0)


class StreamLayout:
    """A Redis stream read by a consumer group.

    Depth is the group's ``lag`` (Redis 7+); before 7 it is known only when the group has
    read everything (last delivered id = last generated id: 0). Active is the group's pending
    (delivered, unacknowledged) entries, workers its consumers. The oldest undelivered entry's
    age comes from its id (ms since the epoch, for ids Redis generated). Without a configured
    group the one furthest behind is shown.
    """

    def __init__(self, key: str, *, group: str | None = None) -> None:
        self.key = key
        self.group = group

    def plan(self, now: float) -> Plan[QueueReading]:
        groups_reply, stream_reply = yield [("xinfo_groups", self.key), ("xinfo_stream", self.key)]
        if isinstance(stream_reply, exceptions.ResponseError) and "no such key" in str(
            stream_reply
        ):
            raise LookupError(f"no stream {self.key!r} in this database")
        groups = reply(groups_reply)
        stream = reply(stream_reply)
        chosen = self._choose(groups)
        if chosen is None:
            missing = f"no consumer group {self.group!r}" if self.group else "no consumer group"
            return QueueReading(depth=None, notes=(f"{missing} reads this stream",))
        name = printable(text(chosen["name"]))
        delivered = chosen.get("last-delivered-id") or b"0-0"
        lag = chosen.get("lag")
        notes = [f"group {name}"]
        caught_up = _stream_id(delivered) >= _stream_id(stream.get("last-generated-id") or b"0-0")
        oldest = None
        if not caught_up:
            (after,) = yield [("xrange", self.key, _next_id(delivered), "+", 1)]
            entries = reply(after)
            if entries:
                oldest = _age(now, _stream_id(entries[0][0])[0] / 1000.0)
            else:
                caught_up = True
        if lag is None and caught_up:
            lag = 0
        if "lag" not in chosen:
            notes.append("lag is known before Redis 7 only when the group has read everything")
        added = stream.get("entries-added")
        read = chosen.get("entries-read")
        return QueueReading(
            depth=None if lag is None else int(lag),
            active=int(chosen.get("pending", 0)),
            oldest_age_s=oldest,
            workers=int(chosen.get("consumers", 0)),
            breakdown=(("length", int(stream.get("length", 0))), ("groups", len(groups))),
            notes=tuple(notes),
            added_total=None if added is None else float(added),
            done_total=None if read is None else float(read),
        )

    def _choose(self, groups: list[dict[str, Any]]) -> dict[str, Any] | None:
        if self.group is not None:
            return next((g for g in groups if text(g["name"]) == self.group), None)
        if not groups:
            return None
        return min(groups, key=lambda g: _stream_id(g.get("last-delivered-id") or b"0-0"))


def _next_id(stream_id: Any) -> bytes:
    """The smallest id after ``stream_id``: XRANGE's exclusive ``(id`` needs Redis 6.2."""
    ms, seq = _stream_id(stream_id)
    return f"{ms}-{seq + 1}".encode() if seq < 2**64 - 1 else f"{ms + 1}-0".encode()


def layout_for(
    kind: str, queue: str, *, prefix: str, steps: Sequence[int], sep: str, group: str | None
) -> Layout:
    """The layout of one named queue of a Redis-backed kind."""
    if kind == "rq":
        return RqLayout(queue, prefix=prefix)
    if kind == "celery":
        return CeleryLayout(queue, prefix=prefix, steps=steps, sep=sep)
    if kind == "sidekiq":
        return SidekiqLayout(queue, namespace=prefix)
    if kind == "bullmq":
        return BullmqLayout(queue, prefix=prefix)
    if kind == "redis_stream":
        return StreamLayout(queue, group=group)
    return ListLayout(queue)
