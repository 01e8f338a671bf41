"""The one path every write action takes: read-only check, journal, perform, journal.

Confirmation belongs to the face (the console's dialog defaults to Cancel; headless callers
pass ``--yes``); this module guarantees the rest: under ``--read-only`` nothing runs, and no
action runs unless the journal took the request first, so a crash mid-action still leaves
its trace.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from tui.engine.errors import describe
from tui.engine.journal import Journal, JournalError
from tui.engine.logs import log

INTERRUPTED = "interrupted: the console stopped before it ended"
"""The outcome journaled for an action whose task was cancelled (the console quit)."""


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    """What it does, e.g. ``pg.cancel``, ``pg.terminate``, ``alert.silence``."""
    target: str
    """What it does it to, e.g. ``database main pid 4242``."""
    summary: str
    """One line for the confirm dialog and the journal (secrets already masked)."""
    details: Mapping[str, object] = field(default_factory=dict)
    danger: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


class ActionRefused(Exception):
    """The action did not run: read-only mode, or the journal cannot record it."""


@dataclass(frozen=True, slots=True)
class Finished:
    """What a listener hears of each action: how it ended, or why it was refused."""

    action: Action
    outcome: Outcome | None
    """``None`` when the action was refused and did not run."""
    refused: str = ""


ActionListener = Callable[[Finished], None]


class ActionRunner:
    def __init__(self, journal: Journal | None, *, read_only: bool) -> None:
        self.journal = journal
        self.read_only = read_only
        self.listeners: list[ActionListener] = []
        """Told of every action once it ended or was refused (the timeline's recorder)."""

    def _tell(self, finished: Finished) -> None:
        for listener in self.listeners:
            try:
                listener(finished)
            except Exception as exc:  # a listener never changes what the action did
                log(
                    "action.listener.failed", "warning", action=finished.action.kind, error=str(exc)
                )

    def _record(self, event: str, action: Action, **fields: object) -> None:
        if self.journal is None:
            raise ActionRefused("no state directory: write actions need the audit journal")
        try:
            self.journal.append(
                event,
                action=action.kind,
                target=action.target,
                summary=action.summary,
                details=dict(action.details),
                **fields,
            )
        except JournalError as exc:
            raise ActionRefused(str(exc)) from None

    async def run(self, action: Action, perform: Callable[[], Awaitable[str]]) -> Outcome:
        """Run a confirmed action. Raises ActionRefused when it must not run at all."""
        trace = uuid.uuid4().hex[:12]
        try:
            if self.read_only:
                log("action.refused", "info", action=action.kind, target=action.target, trace=trace)
                raise ActionRefused(f"read-only mode: {action.kind} on {action.target} not run")
            self._record("action.requested", action)
        except ActionRefused as exc:
            self._tell(Finished(action, None, str(exc)))
            raise
        log("action.requested", "info", action=action.kind, target=action.target, trace=trace)
        began = time.perf_counter()
        try:
            message = await perform()
        except asyncio.CancelledError:  # the console quit (SIGHUP, q) while it ran
            self._finish(action, Outcome(ok=False, message=INTERRUPTED), trace, began)
            raise
        except Exception as exc:
            outcome = Outcome(ok=False, message=describe(exc))
        else:
            outcome = Outcome(ok=True, message=message)
        return self._finish(action, outcome, trace, began)

    def _finish(self, action: Action, outcome: Outcome, trace: str, began: float) -> Outcome:
        """Log and journal how a requested action ended, and tell the listeners."""
        log(
            "action.done" if outcome.ok else "action.failed",
            "info" if outcome.ok else "warning",
            action=action.kind,
            target=action.target,
            trace=trace,
            latency_ms=round((time.perf_counter() - began) * 1000, 1),
            result=outcome.message,
        )
        try:
            self._record(
                "action.done" if outcome.ok else "action.failed",
                action,
                ok=outcome.ok,
                result=outcome.message,
            )
        except ActionRefused as exc:  # it ran; say so, and that the journal missed the end
            outcome = Outcome(outcome.ok, f"{outcome.message} (journal: {exc})")
        self._tell(Finished(action, outcome))
        return outcome
