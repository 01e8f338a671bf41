"""Fan-out of health checks beside bare httpx, measured in one run (DESIGN.md section 8).

    uv run python tests/perf/bench_checks.py [--checks 1000] [--cycles 3]

A local HTTP server in another process (so it does not share the event loop being measured)
answers ``/fast`` at once and never answers ``/hang``. One cycle is 999 checks of ``/fast`` and
one of ``/hang``, all with a 2 s timeout, run three ways, interleaved:

- engine: the real ``Engine`` on a ``Config`` built in code, ``scheduler.poll_once()``;
- bare gather: an ``httpx.AsyncClient`` made by ``CheckClients`` as the engine's are (same
  limits, same timeout, the same ``AsyncioTransport``), so the comparison is of the engine's
  own work; ``asyncio.gather`` of all requests at once;
- bare bounded: the same on a client of its own, with an ``asyncio.Semaphore`` of the pool
  size in front, because httpcore 1.0's pool scans every queued request against every
  connection on each change (O(queued x connections), encode/httpcore#1035): a thousand
  requests queued at once starve the event loop.

Targets: the engine within 1.5x of the bare loop; the hanging check costs its own timeout
and nothing else: every fast check is up, and no fast check's request takes anywhere near
the hang's timeout (the time to the last fast result is throughput, compared with the
bounded bare loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
from perfkit import Row, print_rows, stop_by_stdin

from tui.engine.config import Check, Config, Settings
from tui.engine.engine import Engine
from tui.engine.events import Event, SourceUpdated
from tui.engine.samples import CheckSample
from tui.engine.sources.http import MAX_IN_FLIGHT, CheckClients

TIMEOUT = 2.0
MAX_CONNECTIONS = MAX_IN_FLIGHT
"""The engine's admission (``CheckClients``); the bounded bare loop runs this many at once."""
HANG_NAME = "hang"
FAST_BODY = b'{"status": "ok"}'
FAST_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(FAST_BODY), FAST_BODY)
)
SERVER_START_LIMIT = 10.0


# --- the server (its own process) ----------------------------------------------------------
class _Server:
    """Keep-alive HTTP/1.1: ``/hang`` is read and never answered until the client hangs up."""

    def __init__(self) -> None:
        self.writers: set[asyncio.StreamWriter] = set()
        self.handlers: set[asyncio.Task[None]] = set()

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.writers.add(writer)
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if b" /hang " in head.split(b"\r\n", 1)[0]:
                    await reader.read()
                    return
                writer.write(FAST_RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)
            self.handlers.discard(task)

    async def serve(self) -> None:
        server = await asyncio.start_server(self.answer, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        # Serves until the parent closes our stdin (or dies): the server stops by itself.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
        server.close()
        for writer in list(self.writers):
            writer.close()  # the handlers see end of file and return
        await asyncio.gather(*self.handlers, return_exceptions=True)


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError(f"the bench server did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line)}"


# --- one cycle, three ways -----------------------------------------------------------------
@dataclass(frozen=True)
class Cycle:
    total_s: float
    """Until the last result, the hanging one included."""
    fast_done_s: float
    """When the last fast result came in."""
    fast_up: int
    hang_error: str
    fast_latency_max_s: float | None = None
    """The engine's slowest fast check, its own request time (after getting a slot)."""


def build_engine(base: str, checks: int) -> Engine:
    fast = [
        Check(name=f"fast-{i:04d}", url=f"{base}/fast", expect=["status == 200"])
        for i in range(checks - 1)
    ]
    hang = Check(name=HANG_NAME, url=f"{base}/hang", expect=["status == 200"])
    settings = Settings(interval=60.0, timeout=TIMEOUT)
    return Engine(Config(settings=settings, checks=[*fast, hang]))


async def engine_cycle(engine: Engine) -> Cycle:
    done: dict[str, float] = {}
    started = time.perf_counter()

    def on_event(event: Event) -> None:
        if isinstance(event, SourceUpdated):
            done[event.state.name] = time.perf_counter() - started

    engine.subscribe(on_event)
    try:
        await engine.scheduler.poll_once()
    finally:
        engine.unsubscribe(on_event)
    total = time.perf_counter() - started
    states = {state.name: state for state in engine.state.sources.values()}
    hang = states.pop(HANG_NAME)
    hang_sample = hang.sample if isinstance(hang.sample, CheckSample) else None
    hang_error = hang.error or (hang_sample.error if hang_sample else None) or "no error"
    # A pass cut by the scheduler's timeout keeps the previous sample (stale): not up now.
    fast_up = sum(
        s.error is None and isinstance(s.sample, CheckSample) and s.sample.up
        for s in states.values()
    )
    fast_done = max(at for name, at in done.items() if name != HANG_NAME)
    latencies = [
        s.sample.latency_ms / 1000.0
        for s in states.values()
        if isinstance(s.sample, CheckSample) and s.sample.latency_ms is not None
    ]
    return Cycle(total, fast_done, fast_up, hang_error, max(latencies, default=None))


async def bare_cycle(
    client: httpx.AsyncClient, base: str, checks: int, slots: asyncio.Semaphore | None
) -> Cycle:
    """``asyncio.gather`` of plain ``client.get``; with ``slots``, at most that many at once."""
    started = time.perf_counter()

    async def one(path: str) -> tuple[str, float, bool, str]:
        try:
            async with slots or contextlib.nullcontext():
                response = await client.get(f"{base}{path}")
        except httpx.HTTPError as exc:
            return path, time.perf_counter() - started, False, type(exc).__name__
        return path, time.perf_counter() - started, response.status_code == 200, ""

    paths = ["/fast"] * (checks - 1) + ["/hang"]
    results = await asyncio.gather(*(one(path) for path in paths))
    total = time.perf_counter() - started
    fast = [result for result in results if result[0] == "/fast"]
    hang = next(result for result in results if result[0] == "/hang")
    return Cycle(
        total_s=total,
        fast_done_s=max(result[1] for result in fast),
        fast_up=sum(result[2] for result in fast),
        hang_error=hang[3],
    )


# --- the run -------------------------------------------------------------------------------
RUNNERS = ("engine", "bare gather", "bare bounded")
ROWS = (
    ("full cycle (incl. the hang)", "total_s"),
    ("last fast result in", "fast_done_s"),
)


async def measure(base: str, checks: int, cycles: int) -> dict[str, list[Cycle]]:
    engine = build_engine(base, checks)
    # httpx.AsyncClients made as the engine makes its own (same limits, timeout, transport),
    # one per bare runner, so that each runner's pool waits through the other two runs, as
    # the engine's does. httpcore's pool rescans every idle connection (a socket poll each)
    # whenever a request comes or goes, so the CPU a request costs depends on the pool's
    # recent past: the same client took 1.0 or 2.5 ms a request from one cycle to the next.
    # Shared, the bounded loop always ran right after the gather on the same pool, in the
    # cheap state, and the engine in the dear one (1.11 vs 2.72 s; with a client each, the
    # two are within 10 %).
    clients = [CheckClients(Settings(timeout=TIMEOUT)) for _ in RUNNERS[1:]]
    gather, bounded = (own.client(True) for own in clients)
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    run = {
        "engine": lambda: engine_cycle(engine),
        "bare gather": lambda: bare_cycle(gather, base, checks, None),
        "bare bounded": lambda: bare_cycle(bounded, base, checks, slots),
    }
    runs: dict[str, list[Cycle]] = {name: [] for name in RUNNERS}
    try:
        for name in RUNNERS:  # warm-up: connections, imports, first allocations
            await run[name]()
        for _ in range(cycles):  # interleaved, so drift on a noisy machine hits all alike
            for name in RUNNERS:
                runs[name].append(await run[name]())
    finally:
        await engine.stop()
        for own in clients:
            await own.aclose()
    return runs


def median(runs: dict[str, list[Cycle]], name: str, field: str) -> float:
    return statistics.median(getattr(cycle, field) for cycle in runs[name])


def report(runs: dict[str, list[Cycle]], checks: int, cycles: int) -> None:
    fast = checks - 1
    print(f"{checks} http checks ({fast} fast + 1 hanging), timeout {TIMEOUT:g}s, ", end="")
    print(f"{MAX_CONNECTIONS} connections, median of {cycles} cycles\n")
    print(f"{'':28}" + "".join(f"{name:>14}" for name in RUNNERS))
    for label, field in ROWS:
        values = [statistics.median(getattr(c, field) for c in runs[name]) for name in RUNNERS]
        print(f"{label:28}" + "".join(f"{value:13.3f}s" for value in values))
    ups = [f"{min(c.fast_up for c in runs[name])}/{fast}" for name in RUNNERS]
    print(f"{'fast checks up (worst)':28}" + "".join(f"{up:>14}" for up in ups))

    print()
    for name in RUNNERS:
        print(f"{name}: the hanging check ended with {runs[name][-1].hang_error!r}")
    for peer in RUNNERS[1:]:
        cycle = median(runs, "engine", "total_s") / median(runs, peer, "total_s")
        fan_out = median(runs, "engine", "fast_done_s") / median(runs, peer, "fast_done_s")
        print(
            f"engine / {peer}: {cycle:.2f}x per full cycle, {fan_out:.2f}x until the last "
            "fast result (target <= 1.5x)"
        )
    # Isolation: the hang holds one of the pool's slots for its timeout; no fast check may
    # wait on it. Each fast check's own request time stays far below the hang's timeout, and
    # the time to the last fast result tracks the bounded bare loop (pure throughput).
    worst = max(cycle.fast_latency_max_s or 0.0 for cycle in runs["engine"])
    lost = fast - min(cycle.fast_up for cycle in runs["engine"])
    verdict = (
        "delays no other result"
        if worst < TIMEOUT and lost == 0
        else f"is not isolated ({lost} fast checks failed in the worst cycle)"
    )
    print(
        f"slowest fast check's own request in any engine cycle: {worst * 1000:.0f}ms vs the "
        f"hang timeout {TIMEOUT:g}s: the hanging endpoint {verdict}"
    )


def rows(runs: dict[str, list[Cycle]], checks: int, cycles: int) -> list[Row]:
    fast = checks - 1
    engine = median(runs, "engine", "fast_done_s")
    found = [
        Row(
            f"{checks:,} http checks (1 hanging), last fast result (median of {cycles})",
            f"{engine:.3f} s",
            f"{median(runs, peer, 'fast_done_s'):.3f} s",
            f"{peer}: httpx{' + semaphore' if peer == 'bare bounded' else ''} asyncio.gather",
            "<= 1.5x peer",
            engine <= 1.5 * median(runs, peer, "fast_done_s"),
        )
        for peer in RUNNERS[1:]
    ]
    worst = max(cycle.fast_latency_max_s or 0.0 for cycle in runs["engine"])
    up = min(cycle.fast_up for cycle in runs["engine"])
    found.append(
        Row(
            "hanging check isolated: slowest fast check's own request",
            f"{worst * 1000:.0f} ms, {up}/{fast} up",
            f"{TIMEOUT:g} s",
            "the hang's timeout",
            "< the timeout, every fast check up",
            worst < TIMEOUT and up == fast,
        )
    )
    return found


def run(checks: int, cycles: int) -> dict[str, list[Cycle]]:
    process, base = start_server()
    try:
        return asyncio.run(measure(base, checks, cycles))
    finally:
        stop_by_stdin(process, SERVER_START_LIMIT)


def bench(checks: int, cycles: int) -> list[Row]:
    return rows(run(checks, cycles), checks, cycles)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_Server().serve())
        return 0
    runs = run(args.checks, args.cycles)
    report(runs, args.checks, args.cycles)
    print_rows(rows(runs, args.checks, args.cycles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
