"""Every benchmark in one run and one table, each figure beside its peer's (DESIGN.md section 8).

    uv run python tests/perf/run.py [--quick]

Rows, in order:

1. startup to first data on screen vs a bare Textual app's first frame (bench_startup.py);
2. ``watchdeck check`` start to exit vs ``python -c "import httpx"`` (bench_startup.py);
3. CPU of the console left running on the demo vs pg_activity on the demo's PostgreSQL, both
   in tmux at 120x40 at the same time, in the steady state with the demo's first minute
   beside it (bench_idle.py);
4. bytes each wrote to its terminal per minute in that run (bench_idle.py);
5. RSS after 10,000 poll cycles vs after 100: the engine alone, and the whole console
   headless for fewer cycles (bench_memory.py);
6. 1,000 health checks with one hanging vs bare httpx gathers (bench_checks.py);
7. the PostgreSQL poll vs pg_activity on 300 sessions, and the Database pane's table vs a bare
   DataTable (bench_database.py);
8. 200 Redis queues: one pass vs a bare replay of its pipelines (bench_queues.py).

The demo's backends start once, for rows 3 to 5. ``--quick`` runs everything smaller (about
three minutes); the default is the full measurement (about ten). Progress goes to stderr;
stdout is the environment and the table. A benchmark that fails becomes a row saying so;
the exit status is 1 when a goal is missed or a benchmark failed. Each script also runs
alone, with more detail.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import bench_checks
import bench_database
import bench_idle
import bench_memory
import bench_queues
import bench_startup
from demo_backends import demo_backends
from perfkit import Row, environment, print_rows


@dataclass(frozen=True)
class Plan:
    startup_runs: int
    idle_window: float
    idle_warmup: float
    engine_cycles: int
    console_cycles: int
    checks: int
    check_cycles: int
    database: bench_database.Sizes
    queues: int
    queue_jobs: int
    queue_passes: int


FULL = Plan(
    startup_runs=5,
    idle_window=60.0,
    idle_warmup=10.0,
    engine_cycles=10_000,
    console_cycles=2_000,
    checks=1_000,
    check_cycles=3,
    database=bench_database.Sizes(),
    queues=200,
    queue_jobs=20,
    queue_passes=30,
)
QUICK = Plan(
    startup_runs=3,
    idle_window=15.0,
    idle_warmup=10.0,
    engine_cycles=2_000,
    console_cycles=300,
    checks=300,
    check_cycles=2,
    database=bench_database.Sizes(connections=100, refreshes=5, rows=500, repeats=3),
    queues=60,
    queue_jobs=10,
    queue_passes=10,
)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def step(name: str, measure: Callable[[], list[Row]]) -> list[Row]:
    """Run one benchmark; a failure is a row of the table, with its traceback on stderr."""
    say(f"--- {name}")
    started = time.monotonic()
    try:
        found = measure()
    except Exception as exc:
        traceback.print_exc()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        found = [Row(name, f"failed: {first}"[:60], "-", "-", "-", False)]
    say(f"    {time.monotonic() - started:.0f} s")
    return found


def run(plan: Plan) -> list[Row]:
    rows = step("start-up", lambda: bench_startup.bench(plan.startup_runs))
    say("--- starting the demo backends (watchdeck demo --no-ui)")
    with demo_backends() as exports:
        rows += step(
            f"idle: console and pg_activity in tmux, {plan.idle_warmup:g} s + 2 x "
            f"{plan.idle_window:g} s",
            lambda: bench_idle.bench(exports, plan.idle_window, plan.idle_warmup),
        )
        rows += step(
            f"memory: {plan.engine_cycles:,} engine cycles, {plan.console_cycles:,} console cycles",
            lambda: bench_memory.bench(exports, plan.engine_cycles, plan.console_cycles),
        )
    rows += step(
        f"checks: {plan.checks:,} checks x {plan.check_cycles} cycles",
        lambda: bench_checks.bench(plan.checks, plan.check_cycles),
    )
    rows += step("database", lambda: bench_database.bench(plan.database))
    rows += step(
        f"queues: {plan.queues} queues",
        lambda: bench_queues.bench(plan.queues, plan.queue_jobs, plan.queue_passes),
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so servers, clusters and tmux are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(environment())
    started = time.monotonic()
    rows = run(QUICK if args.quick else FULL)
    print_rows(rows)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    minutes = (time.monotonic() - started) / 60
    print(
        f"\n{'quick' if args.quick else 'full'} run in {minutes:.1f} min; load average at the"
        f" end {load}. Figures beside each other were measured in the same run; on a shared"
        " machine compare within a run, not across runs."
    )
    met = [row.met for row in rows if row.met is not None]
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
