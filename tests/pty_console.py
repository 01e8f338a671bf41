"""A real ``watchdeck`` console on a pseudo-terminal of a given size, for the tests that need
a terminal (what reaches it, how it ends)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

WAIT = 20.0


class Terminal:
    """A real console on a pseudo-terminal, its output kept for the emulator."""

    def __init__(self, config: Path, state: Path, size: tuple[int, int]) -> None:
        width, height = size
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": ""}
        env.pop("TEXTUAL_DRIVER", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--config", str(config), "--state-dir", str(state)],
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()

    def read_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            assert self.process.poll() is None, self.output.decode(errors="replace")[-2000:]
            ready, _, _ = select.select([self.master], [], [], min(left, 0.1))
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 1 << 16)

    def wait_for(self, text: bytes) -> None:
        deadline = time.monotonic() + WAIT
        while text not in self.output:
            assert time.monotonic() < deadline, f"never showed {text!r}: {self.output[-3000:]!r}"
            self.read_for(0.1)

    def wait_exit(self) -> int:
        """Read on until the console exits; its exit code."""
        deadline = time.monotonic() + WAIT
        while self.process.poll() is None:
            assert time.monotonic() < deadline, "the console did not quit"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 1 << 16)
        return self.process.returncode

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.process.poll() is None:
            self.press(b"q")
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        os.close(self.master)
