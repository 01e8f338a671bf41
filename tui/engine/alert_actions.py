"""Write actions on alerts: acknowledge locally, silence in Alertmanager, expire a silence.

Each goes through the engine's ``ActionRunner``: refused under ``--read-only``, journaled
before and after. Confirmation is the face's job (the console's dialog defaults to Cancel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.engine.actions import Action, ActionRunner, Outcome
from tui.engine.alert_book import AlertBook
from tui.engine.errors import redact
from tui.engine.journal import identity
from tui.engine.report import iso
from tui.engine.samples import Alert
from tui.engine.units import format_duration

if TYPE_CHECKING:  # the HTTP side loads only with alert sources configured
    from tui.engine.alert_sources import AlertmanagerSource, Silence


SHORTEST_SILENCE = 60.0
LONGEST_SILENCE = 365 * 86400.0
"""A year: beyond, a silence is a config change in disguise (and far beyond, no date at all)."""


def silence_problem(seconds: float) -> str | None:
    """Why a silence cannot last ``seconds``, in one line; ``None`` when it can."""
    if seconds <= 0:
        return "a silence must last longer than 0"
    if seconds < SHORTEST_SILENCE:
        return "a silence must last at least 1m"
    if seconds > LONGEST_SILENCE:
        return "a silence can last at most 365d"
    return None


@dataclass(frozen=True, slots=True)
class SilenceOutcome(Outcome):
    silence_id: str | None = None
    """The new silence's id (``None`` when it was not created)."""


def actor() -> str:
    """``user@host``: who acknowledges or silences, as Alertmanager's ``createdBy``."""
    who = identity()
    return f"{who['user']}@{who['host']}"


def _target(alert: Alert) -> str:
    return f"alert {alert.name} ({alert.source} {alert.fingerprint})"


class AlertActions:
    def __init__(
        self,
        runner: ActionRunner,
        book: AlertBook,
        alertmanagers: Mapping[str, AlertmanagerSource],
        *,
        clock: Callable[[], float],
        changed: Callable[[], None],
        refresh: Callable[[str], None],
    ) -> None:
        self.runner = runner
        self.book = book
        self.alertmanagers = alertmanagers
        self.clock = clock
        self.changed = changed
        """Called after an acknowledgement changed: republish and save."""
        self.refresh = refresh
        """Called with a source id after a silence changed: poll it now."""

    async def acknowledge(self, alert: Alert, comment: str = "") -> Outcome:
        by = actor()
        action = Action(
            kind="alert.acknowledge",
            target=_target(alert),
            summary=f"acknowledge {alert.name}" + (f": {comment}" if comment else ""),
            details={"source": alert.source, "labels": dict(alert.labels), "comment": comment},
        )

        async def perform() -> str:
            self.book.acknowledge(alert, by, comment, self.clock())
            self.changed()
            return f"{alert.name} acknowledged by {by}"

        return await self.runner.run(action, perform)

    async def unacknowledge(self, alert: Alert) -> Outcome:
        action = Action(
            kind="alert.unacknowledge",
            target=_target(alert),
            summary=f"remove the acknowledgement of {alert.name}",
            details={"source": alert.source, "labels": dict(alert.labels)},
        )

        async def perform() -> str:
            if not self.book.unacknowledge(alert):
                raise ValueError(f"{alert.name} is not acknowledged")
            self.changed()
            return f"{alert.name} no longer acknowledged"

        return await self.runner.run(action, perform)

    def silencer(self, alert: Alert) -> AlertmanagerSource | None:
        """The Alertmanager that can silence ``alert`` (the one it came from), or ``None``."""
        return self.alertmanagers.get(alert.source) if alert.source_kind == "alertmanager" else None

    async def silence(self, alert: Alert, duration: float, comment: str) -> SilenceOutcome:
        """Silence ``alert`` in its Alertmanager for ``duration`` seconds, matching all its labels
        exactly. Raises ``ValueError`` (nothing journaled) when it cannot be silenced at all."""
        source = self.silencer(alert)
        if source is None:
            raise ValueError(f"{alert.name} does not come from an Alertmanager: nothing to silence")
        problem = silence_problem(duration)
        if problem is not None:
            raise ValueError(problem)
        by = actor()
        comment = comment.strip() or f"silenced from watchdeck by {by}"
        starts = self.clock()
        ends = starts + duration
        action = Action(
            kind="alert.silence",
            target=_target(alert),
            summary=f"silence {alert.name} in {alert.source} for {format_duration(duration)}: "
            f"{comment}",
            details={
                "source": alert.source,
                "url": redact(source.config.url),
                "matchers": dict(alert.labels),
                "starts_at": iso(starts),
                "ends_at": iso(ends),
                "created_by": by,
                "comment": comment,
            },
        )
        created: list[str] = []

        async def perform() -> str:
            silence_id = await source.create_silence(alert.labels, starts, ends, by, comment)
            created.append(silence_id)
            self.refresh(source.id)
            return f"silence {silence_id} until {iso(ends)}"

        outcome = await self.runner.run(action, perform)
        return SilenceOutcome(outcome.ok, outcome.message, created[0] if created else None)

    async def silences(self, source_name: str, ids: Sequence[str]) -> list[Silence | str]:
        """Each silence as its Alertmanager has it, fetched at once (nothing is written, nothing
        journaled), or why it could not be, in one line."""
        source = self.alertmanagers.get(source_name)
        if source is None:
            return [f"{source_name!r} is not an Alertmanager source"] * len(ids)
        from tui.engine.alert_sources import ApiError

        async def fetch(silence_id: str) -> Silence | str:
            try:
                return await source.silence(silence_id)
            except ApiError as exc:
                return str(exc)

        return list(await asyncio.gather(*(fetch(silence_id) for silence_id in ids)))

    async def expire_silence(self, source_name: str, silence_id: str) -> Outcome:
        source = self.alertmanagers.get(source_name)
        if source is None:
            raise ValueError(f"{source_name!r} is not an Alertmanager source")
        action = Action(
            kind="alert.expire_silence",
            target=f"silence {silence_id} ({source_name})",
            summary=f"expire silence {silence_id} in {source_name}",
            details={"source": source_name, "url": redact(source.config.url), "id": silence_id},
        )

        async def perform() -> str:
            await source.expire_silence(silence_id)
            self.refresh(source.id)
            return f"silence {silence_id} expired"

        return await self.runner.run(action, perform)
