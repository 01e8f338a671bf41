"""Orphan protection: ``python -m tui.demo.guardian``, started by the demo before any server.

The demo keeps the write end of this process's stdin. The first line is the demo directory;
then the guardian blocks until end of file, which comes when the demo closes the pipe after
its own clean stop, or when the demo died for any reason (even SIGKILL: the kernel closes
its descriptors). Either way it tears down whatever is left under the directory and exits.
It runs in its own session, so Ctrl-C or a hang-up aimed at the demo's terminal never
reaches it before it has done its job.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tui.demo.teardown import teardown

PREFIX = "watchdeck-demo-"
"""Every demo directory's name starts with this; the guardian removes nothing else."""


def spawn(root: Path) -> subprocess.Popen[bytes]:
    """Start the guardian for ``root``; close its ``stdin`` to release it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.demo.guardian"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write(f"{root}\n".encode())
    process.stdin.flush()
    return process


def main() -> int:
    stream = sys.stdin.buffer
    line = stream.readline().decode().strip()
    if not line:
        return 0
    root = Path(line)
    while stream.read(4096):
        pass
    if root.name.startswith(PREFIX) and root.is_dir():
        teardown(root, immediate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
