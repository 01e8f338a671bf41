"""Commands of shell steps: each in its own process group, stopped as a whole.

A step's shell and everything it starts share a new session (``start_new_session``), so a
timeout or a cancel reaches the children too: SIGTERM to the group, then SIGKILL after a
grace. A process that leaves the group on purpose (``setsid``, a daemon) is not followed.
The step ends when its shell exits; children still holding the output open are then read
for ``DRAIN`` seconds more and left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tui.engine.runbooks.output import StepOutput

DRAIN = 1.0
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProcessResult:
    exit_code: int | None
    """The shell's exit status; None when it was stopped (``stopped`` says why)."""
    stopped: str | None = None
    """``timeout`` or ``cancelled``."""
    signal: int | None = None


def shell_argv(language: str, code: str) -> list[str]:
    """Like GitHub Actions: stop at the first failing command (and pipe, for bash)."""
    if language == "bash":
        bash = shutil.which("bash")
        if bash is None:
            raise FileNotFoundError("bash is not installed; use an sh block")
        return [bash, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", code]
    return ["/bin/sh", "-e", "-c", code]


async def _pump(stream: asyncio.StreamReader, output: StepOutput, name: str) -> None:
    while chunk := await stream.read(CHUNK):
        output.write(chunk, name)


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def stop_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM to the whole group; SIGKILL to what is left after ``grace`` seconds."""
    pgid = process.pid
    _killpg(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), grace)
    while group_alive(pgid) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    _killpg(pgid, signal.SIGKILL)
    await process.wait()


async def run_process(
    argv: list[str],
    env: Mapping[str, str],
    output: StepOutput,
    *,
    cwd: Path | None,
    timeout: float | None,
    cancel: asyncio.Event,
    grace: float,
    started: Callable[[int], None] = lambda pid: None,
) -> ProcessResult:
    """Run ``argv`` with no stdin; raises OSError when it cannot start. Cancelling the task
    stops the group before the cancellation goes on."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    started(process.pid)
    assert process.stdout is not None and process.stderr is not None
    pumps = [
        asyncio.create_task(_pump(process.stdout, output, "stdout")),
        asyncio.create_task(_pump(process.stderr, output, "stderr")),
    ]
    exited = asyncio.create_task(process.wait())
    cancelled = asyncio.create_task(cancel.wait())
    stopped: str | None = None
    try:
        done, _ = await asyncio.wait(
            {exited, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if exited not in done:
            stopped = "cancelled" if cancelled in done else "timeout"
            await stop_group(process, grace)
    except asyncio.CancelledError:
        await stop_group(process, grace)
        raise
    finally:
        cancelled.cancel()
        _, reading = await asyncio.wait(pumps, timeout=DRAIN)
        for pump in reading:
            pump.cancel()
        transport = getattr(process, "_transport", None)  # pipes a leftover child holds open
        if reading and transport is not None:
            transport.close()
    code = process.returncode
    if stopped is not None:
        return ProcessResult(None, stopped, -code if code is not None and code < 0 else None)
    if code is not None and code < 0:
        return ProcessResult(None, "signal", -code)
    return ProcessResult(code)
