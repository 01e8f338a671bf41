"""Check steps: a configured health check, polled now, passes the step when it is healthy.

With a ``timeout`` the check is polled again at its interval until it is healthy or the time
is up (after a restart, "wait until the API answers"); without, one poll decides.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine.config import Config
from tui.engine.runbooks.output import StepOutput
from tui.engine.samples import CheckSample
from tui.engine.units import format_duration

if TYPE_CHECKING:
    from tui.engine.sources.http import CheckClients


def _verdict(sample: CheckSample) -> str:
    if sample.status == "ok":
        latency = f", {format_duration(sample.latency_ms / 1000)}" if sample.latency_ms else ""
        status = f"HTTP {sample.http_status}" if sample.http_status else "up"
        return f"healthy ({status}{latency})"
    problem = sample.error or "; ".join(sample.failed_conditions) or sample.status
    return f"{sample.status}: {problem}"


class CheckRunner:
    def __init__(self, config: Config, base_dir: Path, clients: Callable[[], CheckClients]) -> None:
        self.config = config
        self.base_dir = base_dir
        self.clients = clients

    def names(self) -> list[str]:
        return [check.name for check in self.config.checks]

    async def until_healthy(
        self, name: str, output: StepOutput, timeout: float | None, cancel: asyncio.Event
    ) -> tuple[bool, str]:
        from tui.engine.sources.http import check_source

        check = next((check for check in self.config.checks if check.name == name), None)
        if check is None:
            known = ", ".join(self.names()) or "none configured"
            return False, f"no health check named {name!r} (checks: {known})"
        try:
            source = check_source(check, self.config.settings, self.clients(), self.base_dir)
        except ValueError as exc:
            return False, str(exc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or 0)
        polls = 0
        said = ""
        while True:
            sample = await source.poll()
            polls += 1
            verdict = _verdict(sample)
            if verdict != said:  # a line per change, not per poll
                output.write(f"check {name}: {verdict}\n".encode())
                said = verdict
            if sample.status == "ok":
                return True, f"{name} {verdict}"
            left = deadline - loop.time()
            if left <= 0:
                waited = f" after {polls} polls over {format_duration(timeout)}" if timeout else ""
                return False, f"{name} {verdict}{waited}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel.wait(), min(source.interval, left))
            if cancel.is_set():
                return False, "cancelled"
