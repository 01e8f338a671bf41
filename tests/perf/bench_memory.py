"""Memory after 10,000 poll cycles beside after 100 (DESIGN.md section 8).

    uv run python tests/perf/bench_memory.py [--cycles 10000] [--console-cycles 2000]

The demo's backends start once (``watchdeck demo --no-ui``: PostgreSQL, Redis and their
workload). The demo's HTTP service sleeps on purpose (``/slow`` takes 1.5 s every 8th
request), which would make 10,000 cycles last most of an hour, so the checks go to a copy of
that service with the sleeps set to zero and Nagle off (same endpoints, bodies, headers and
certificates), in a process of its own.

One cycle is one pass over every source of the demo config (``Scheduler.poll_once``: 8
checks, 1 database, 4 queues), then one rule evaluation. Each run is a fresh process:

- engine: the ``Engine`` the console uses (scheduler, sources, state, rules, alert book, its
  log), ``--cycles`` cycles (about 10 ms each);
- console: the same engine under ``WatchdeckApp`` headless (``App.run_test`` at 120x40,
  notifications on); after each cycle the app handles every event the cycle sent (its panes
  redraw, its screen repaints on its own timer). About 75 ms a cycle on 2 cores, so 10,000
  would take 12 minutes: ``--console-cycles`` defaults to 2,000.

VmRSS is read from ``/proc/self/status`` after a garbage collection at cycle 100 and at the
end (and in between, for the trend). Goal: growth under 10 MB. The bounded histories (720
samples per series) fill up during the first 720 cycles; growth over the second half of a
run is what would keep growing for days.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from demo_backends import demo_backends
from perfkit import ENV, Row, environment, print_rows, rss_mb, stop_by_stdin

if TYPE_CHECKING:
    from textual.app import App

BASELINE = 100
GOAL_MB = 10.0
SIZE = (120, 40)
SERVICE_LIMIT = 30.0
RUN_LIMIT = 3600.0


@dataclass(frozen=True)
class Memory:
    face: str
    """``engine``: the engine alone; ``console``: the app on top, headless."""
    cycles: int
    rss_mb: dict[int, float]
    """VmRSS after that many cycles."""
    seconds: float
    sources: int

    @property
    def growth_mb(self) -> float:
        return self.rss_mb[self.cycles] - self.rss_mb[BASELINE]

    @property
    def late_growth_mb(self) -> float:
        """Over the second half of the run, when every bounded history is full."""
        half = max(at for at in self.rss_mb if at <= self.cycles // 2)
        return self.rss_mb[self.cycles] - self.rss_mb[half]


# --- the HTTP service without its sleeps (its own process) ---------------------------------
def serve_http() -> None:
    from tui.demo import certs
    from tui.demo.service import DemoService

    # Back-to-back requests on a kept-alive connection otherwise wait 40 ms each: the handler
    # writes headers and body apart, and Nagle holds the body for the client's delayed ACK.
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    with tempfile.TemporaryDirectory(prefix="watchdeck-bench-http-") as tmp:
        tls = certs.generate(Path(tmp))
        service = DemoService(slow_seconds=0.0, fast_seconds=(0.0, 0.0), certificates=tls)
        service.start()
        exports = {
            "WATCHDECK_DEMO_HTTP": service.base_url,
            "WATCHDECK_DEMO_HTTP_PORT": str(service.port),
            "WATCHDECK_DEMO_HTTPS": service.tls_base_url,
            "WATCHDECK_DEMO_HTTPS_PORT": str(service.tls_port),
            "WATCHDECK_DEMO_CA_FILE": str(tls.ca_file),
        }
        print(json.dumps(exports), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)
        service.stop()


@contextlib.contextmanager
def fast_http() -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-http"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line.startswith("{"):
            raise RuntimeError(f"the bench HTTP service did not start: {line!r}")
        yield json.loads(line)
    finally:
        stop_by_stdin(process, SERVICE_LIMIT)


# --- the console (or the engine alone), driven cycle by cycle (a fresh process) -------------
FACES = ("engine", "console")


def checkpoints(cycles: int) -> list[int]:
    steps = sorted({BASELINE, *range(0, cycles + 1, max(1, cycles // 10)), cycles})
    return [step for step in steps if step >= BASELINE]


async def drive(config: Path, state_dir: Path, cycles: int, face: str) -> Memory:
    from tui.engine import logs
    from tui.engine.engine import Engine
    from tui.engine.loader import load_config

    logs.setup(state_dir, "info")
    engine = Engine(load_config(config), base_dir=config.parent, state_dir=state_dir)
    marks = checkpoints(cycles)
    rss: dict[int, float] = {}

    async def run(after_cycle: Callable[[], Awaitable[None]]) -> float:
        began = time.monotonic()
        for cycle in range(1, cycles + 1):
            await engine.scheduler.poll_once()
            engine.evaluate_rules()
            await after_cycle()
            if cycle in marks:
                gc.collect()
                rss[cycle] = rss_mb()
        return time.monotonic() - began

    if face == "console":
        from tui.app import WatchdeckApp

        app = WatchdeckApp(engine, start_engine=False)
        async with app.run_test(size=SIZE, notifications=True):
            seconds = await run(lambda: handled(app))
    else:
        seconds = await run(lambda: asyncio.sleep(0))
    await engine.stop()
    return Memory(face, cycles, rss, seconds, len(engine.scheduler.sources))


async def handled(app: App[object]) -> None:
    """Until the app has handled every message posted so far (the cycle's events)."""
    done = asyncio.Event()
    app.call_later(done.set)
    await done.wait()


def measure_here(cycles: int, face: str) -> Memory:
    with tempfile.TemporaryDirectory(prefix="watchdeck-bench-memory-") as tmp:
        config = Path(os.environ["WATCHDECK_CONFIG"])
        return asyncio.run(drive(config, Path(tmp), cycles, face))


def measure(exports: dict[str, str], cycles: int, face: str) -> Memory:
    """In a fresh process, so nothing else this run did sits in the figures."""
    if cycles <= BASELINE:
        raise ValueError(f"cycles must be above {BASELINE}")
    with fast_http() as http:
        done = subprocess.run(
            [sys.executable, __file__, "--measure", face, "--cycles", str(cycles)],
            env={**ENV, **exports, **http},
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT,
            check=False,
        )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the memory run ({face}) failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["rss_mb"] = {int(at): mb for at, mb in figures["rss_mb"].items()}
    return Memory(**figures)


def rows(memory: Memory) -> list[Row]:
    last = memory.rss_mb[memory.cycles]
    how = "engine alone" if memory.face == "engine" else "whole console headless"
    return [
        Row(
            f"RSS after {memory.cycles:,} poll cycles, {how} ({memory.sources} sources)",
            f"{last:.1f} MB (+{memory.growth_mb:.1f}; +{memory.late_growth_mb:.1f} in 2nd half)",
            f"{memory.rss_mb[BASELINE]:.1f} MB",
            f"same process after {BASELINE} cycles",
            f"growth < {GOAL_MB:g} MB",
            memory.growth_mb < GOAL_MB,
        )
    ]


def bench(exports: dict[str, str], engine_cycles: int, console_cycles: int) -> list[Row]:
    found = []
    for face, cycles in zip(FACES, (engine_cycles, console_cycles), strict=True):
        if cycles:
            found += rows(measure(exports, cycles, face))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=10_000, help="of the engine alone")
    parser.add_argument(
        "--console-cycles", type=int, default=2_000, help="of the whole console (0: skip)"
    )
    parser.add_argument("--serve-http", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=FACES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_http:
        serve_http()
        return 0
    if args.measure:
        print(json.dumps(asdict(measure_here(args.cycles, args.measure))))
        return 0
    print(environment())
    found = []
    with demo_backends() as exports:
        for face, cycles in zip(FACES, (args.cycles, args.console_cycles), strict=True):
            if not cycles:
                continue
            print(f"{face}: {cycles:,} cycles...", flush=True)
            memory = measure(exports, cycles, face)
            print(f"{memory.cycles:,} cycles in {memory.seconds:.0f} s; VmRSS by cycle:")
            for at, mb in memory.rss_mb.items():
                print(f"  {at:>7,}  {mb:7.1f} MB")
            found += rows(memory)
    print_rows(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
