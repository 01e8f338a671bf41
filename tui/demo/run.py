"""``watchdeck demo``: start the environment, open the console on it, always clean up.

Quitting, Ctrl-C, SIGTERM and SIGHUP (an SSH disconnect) all unwind through ``finally`` into
``DemoEnvironment.stop()``. SIGKILL cannot be caught: the guardian process covers it.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn, TextIO

from tui.demo.environment import DemoEnvironment

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
HANDLED = (*STOP_SIGNALS, signal.SIGINT)


class _Stop(Exception):
    """Raised by the signal handler to unwind into the cleanup."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _ignore_signals()
    raise _Stop(signum)


def _ignore_signals() -> None:
    """During cleanup a second Ctrl-C or SIGTERM must not cut it short."""
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


def _say(out: TextIO, message: str) -> None:
    # After an SSH disconnect the terminal is gone and writing to it fails: cleanup goes on.
    with contextlib.suppress(OSError, ValueError):
        print(f"watchdeck demo: {message}", file=out, flush=True)


def run_demo(open_console: Callable[[Path], int] | None, *, out: TextIO = sys.stderr) -> int:
    """Run the demo; with ``open_console`` None, print the exports and wait for a signal."""
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_signal)
    # With the console open, Ctrl-C stays a KeyboardInterrupt so asyncio can shut the app down.
    signal.signal(signal.SIGINT, _on_signal if open_console is None else signal.default_int_handler)
    env = DemoEnvironment()
    try:
        _say(out, "starting PostgreSQL, Redis and the demo HTTP service...")
        env.start()
        assert env.config_path is not None
        _say(out, f"ready in {env.startup_seconds:.1f}s, config {env.config_path}")
        if open_console is None:
            _serve(env, env.config_path, out)
        return open_console(env.config_path)
    except _Stop:
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        _ignore_signals()
        _say(out, "stopping...")
        env.stop()
        _say(out, "stopped")
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(env: DemoEnvironment, config_path: Path, out: TextIO) -> NoReturn:
    """Print what another shell needs, then wait for a signal (raises ``_Stop``)."""
    exports = {**env.exports, "WATCHDECK_CONFIG": str(config_path), "PATH": env.path}
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}", flush=True)
    print("ready", flush=True)
    _say(out, "paste the export lines in another shell, then run `watchdeck check`;")
    _say(out, "Ctrl-C stops everything")
    while True:
        signal.pause()
