"""What the benchmarks share: the subprocess environment, a table row, process figures.

Every ``bench_*.py`` exposes a function returning ``Row``s, so ``run.py`` prints them all in
one table; run alone, each script prints its own detail as well.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""For subprocesses: as on a user's machine, modules load from cached bytecode (this sandbox
sets PYTHONDONTWRITEBYTECODE, which would charge every run for compiling every module)."""


@dataclass(frozen=True)
class Row:
    """One line of the table: watchdeck's figure beside its peer's, measured in one run."""

    what: str
    watchdeck: str
    peer: str
    peer_name: str
    goal: str
    met: bool | None
    """None when there is nothing to judge (a figure shown for context)."""


HEADERS = ("what", "watchdeck", "peer", "peer name", "goal", "met?")


def verdict(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "NO"


def format_table(rows: list[Row]) -> str:
    cells = [HEADERS] + [
        (r.what, r.watchdeck, r.peer, r.peer_name, r.goal, verdict(r.met)) for r in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(HEADERS))]
    right = {1, 2}  # the figures
    lines = []
    for index, line in enumerate(cells):
        text = " | ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        lines.append(text.rstrip())
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def print_rows(rows: list[Row]) -> None:
    print()
    print(format_table(rows))


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"


def environment() -> str:
    """CPU count, load, Python and the versions of the peers' packages."""
    packages = ("textual", "httpx", "pg_activity", "psycopg", "redis")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), load average {load};"
        f" Python {platform.python_version()} ({Path(sys.executable).name});"
        f" {', '.join(f'{name} {_version(name)}' for name in packages)}"
    )


def cpu_seconds(pid: int) -> float:
    """The process's own user + system time (its children excluded), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | str = "self") -> float:
    """VmRSS from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def stop_by_stdin(process: subprocess.Popen[bytes] | subprocess.Popen[str], limit: float) -> None:
    """Stop a helper that serves until its stdin closes; killed if it takes over ``limit`` s."""
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
