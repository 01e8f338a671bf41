"""Stop every server process living in a demo directory, then remove the directory.

Used by the demo itself on a normal stop and by the guardian when the demo died. Processes
are found from their pid files and, on Linux, by scanning ``/proc`` for the demo's own
server binaries whose command line names the directory: that also catches a server that was
still starting (no pid file yet) when the demo died. Standard library only, so the guardian
starts fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

PG_DIR = "pg"
REDIS_DIR = "redis"
SERVER_NAMES = frozenset({"postgres", "pg_ctl", "initdb", "redis-server"})
_PROC = Path("/proc")


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    stat = _PROC / str(pid) / "stat"
    if _PROC.is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    """The pid on the first line of a pid file (``postmaster.pid``, ``redis.pid``)."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() and int(first) > 0 else None


def postgres_pid(root: Path) -> int | None:
    return read_pid(root / PG_DIR / "postmaster.pid")


def redis_pid(root: Path) -> int | None:
    return read_pid(root / REDIS_DIR / "redis.pid")


def _command(pid: int) -> tuple[str, str] | None:
    """(executable name, command line) of a process, or None when it cannot be read."""
    try:
        comm = (_PROC / str(pid) / "comm").read_text().strip()
        cmdline = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    return comm, cmdline.decode(errors="replace")


def _is_server(pid: int) -> bool:
    """Guards against a recycled pid from a stale pid file."""
    if not _PROC.is_dir():
        return alive(pid)
    command = _command(pid)
    return command is not None and command[0] in SERVER_NAMES


def _servers_under(root: Path) -> set[int]:
    if not _PROC.is_dir():
        return set()
    marker = str(root)
    found = set()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        command = _command(int(entry.name))
        if command is not None and command[0] in SERVER_NAMES and marker in command[1]:
            found.add(int(entry.name))
    return found


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    remaining = {pid for pid in pids if alive(pid)}
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = {pid for pid in remaining if alive(pid)}
    return remaining


def teardown(root: Path, *, immediate: bool = False, timeout: float = 8.0) -> None:
    """Stop PostgreSQL and Redis started under ``root``, then delete ``root``.

    PostgreSQL gets SIGINT (fast shutdown: ends sessions, checkpoints) or, with
    ``immediate``, SIGQUIT; the postmaster waits for its children before it exits. Redis
    and helper processes get SIGTERM. Whatever survives ``timeout`` gets SIGKILL.
    """
    postmaster = postgres_pid(root)
    redis = redis_pid(root)
    pids = {pid for pid in (postmaster, redis) if pid is not None and _is_server(pid)}
    pids |= _servers_under(root)
    for pid in pids:
        command = _command(pid)
        is_postmaster = pid == postmaster or (
            command is not None and command[0] == "postgres" and " -D " in command[1]
        )
        if is_postmaster:
            _signal(pid, signal.SIGQUIT if immediate else signal.SIGINT)
        else:
            _signal(pid, signal.SIGTERM)
    survivors = _wait_gone(pids, timeout)
    for pid in survivors:
        _signal(pid, signal.SIGKILL)
    _wait_gone(survivors, 2.0)
    shutil.rmtree(root, ignore_errors=True)
