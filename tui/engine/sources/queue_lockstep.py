"""Reads of many queues on one Redis in lockstep: one pipeline per round for all of them.

A queue's reads are a *plan*: a generator that yields the commands it needs next and gets
their replies back, as often as its reads depend on earlier replies (the head job's id, then
its hash). Plans never talk to Redis themselves, so any number of them share each round trip:
``Lockstep`` runs many plans side by side and ``execute`` sends each round as one
non-transactional pipeline. Identical commands within a round (Celery's one unacked index,
Sidekiq's shared sets, ``CLIENT LIST``) go out once and every plan that asked gets the reply.
"""

from __future__ import annotations

from collections.abc import Generator, Hashable
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

Command = tuple[Any, ...]
"""A redis-py pipeline method and its arguments: ``("llen", "rq:queue:emails")``."""
Plan = Generator[list[Command], list[Any], T]
"""Yields non-empty lists of commands, receives their replies in order, returns its result.
An error reply arrives as the exception instance; ``reply`` raises it."""


def reply(value: Any) -> Any:
    """A reply, raising it if Redis answered with an error (e.g. WRONGTYPE)."""
    if isinstance(value, Exception):
        raise value
    return value


def count(value: Any) -> int:
    return int(reply(value))


def text(value: Any) -> str:
    value = reply(value)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Lockstep(Generic[K, T]):
    """Many plans advanced round by round; a plan that raises has that exception as result."""

    def __init__(self) -> None:
        self.outcomes: dict[K, T | Exception] = {}
        self._waiting: dict[K, tuple[Plan[T], list[Command]]] = {}

    def add(self, key: K, plan: Plan[T]) -> None:
        """Start a plan; its first commands go out with the next round."""
        self._advance(key, plan, None)

    def _advance(self, key: K, plan: Plan[T], replies: list[Any] | None) -> None:
        try:
            commands = next(plan) if replies is None else plan.send(replies)
        except StopIteration as stop:
            self.outcomes[key] = stop.value
            return
        except Exception as exc:
            self.outcomes[key] = exc
            return
        self._waiting[key] = (plan, commands)

    def discard(self, key: K) -> None:
        """Forget a plan and its outcome."""
        waiting = self._waiting.pop(key, None)
        if waiting is not None:
            waiting[0].close()
        self.outcomes.pop(key, None)

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def commands(self) -> list[Command]:
        """This round's commands, each distinct command once."""
        unique: dict[Command, None] = {}
        for _, commands in self._waiting.values():
            unique.update(dict.fromkeys(commands))
        return list(unique)

    def feed(self, commands: list[Command], replies: list[Any]) -> None:
        """Hand each plan the replies to its commands of this round."""
        by_command = dict(zip(commands, replies, strict=True))
        waiting, self._waiting = self._waiting, {}
        for key, (plan, asked) in waiting.items():
            self._advance(key, plan, [by_command[command] for command in asked])

    def run(self) -> Plan[dict[K, T | Exception]]:
        """All the plans as one plan whose result is every plan's outcome."""
        while self._waiting:
            commands = self.commands()
            self.feed(commands, (yield commands))
        return self.outcomes


async def execute(client: Redis, plan: Plan[T]) -> tuple[T, int]:
    """Run a plan against Redis: its result and the round trips it took."""
    rounds = 0
    try:
        commands = next(plan)
        while True:
            async with client.pipeline(transaction=False) as pipe:
                for method, *args in commands:
                    getattr(pipe, method)(*args)
                replies = await pipe.execute(raise_on_error=False)
            rounds += 1
            commands = plan.send(replies)
    except StopIteration as stop:
        return stop.value, rounds
