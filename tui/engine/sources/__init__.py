"""Sources: one async ``poll()`` per pass, returning an immutable sample.

A source raises on failure (the scheduler turns that into a status and a backoff); a
health check instead returns a sample that says the target is down, since a down target is
data, not a failure to collect it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from tui.engine.samples import Sample
from tui.engine.state import Section


class Source(Protocol):
    id: str
    section: Section
    kind: str
    name: str
    interval: float
    timeout: float
    admission: asyncio.Semaphore | None
    """Shared slots a pass waits for before its ``timeout`` starts (None: no limit).

    Health checks share one: 1,000 checks polled at once would otherwise queue inside the
    HTTP client and each would spend its time budget waiting for a connection."""

    async def poll(self) -> Sample: ...

    async def aclose(self) -> None: ...
