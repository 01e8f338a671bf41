"""Start-up figures beside their peers, measured in one run (DESIGN.md section 8).

    uv run python tests/perf/bench_startup.py [--runs 5]

- `watchdeck check` on a config with one HTTP check against a local server, beside a bare
  `python -c "import httpx"` (target: within 2x).
- The console's first data on screen (the health row turning ok) beside a bare Textual app
  reaching its first frame (target: within 1.5x of the bare app plus one poll; the poll is
  timed here, a fresh engine polling the same check once, connection included).

Every command runs as in a user's install (``AS_INSTALLED``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from perfkit import ENV, Row, environment, print_rows


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


AS_INSTALLED = "import sys; sys.modules['httpx._main'] = None\n"
"""Starts every command, so each runs as in a user's install. Here celery and rq, test-only
dependencies, bring click, and with click importable ``import httpx`` also imports httpx's
command-line client (click, pygments, rich's syntax and progress: about 40 ms); an install of
watchdeck has no click, so httpx skips it. Carried by the peer and by watchdeck alike, those
40 ms would flatter the ratio: ``watchdeck check`` read 2.0x ``import httpx`` here and 2.7x in
a virtualenv holding only the built wheel (0.21 vs 0.08 s)."""


def timed(command: list[str]) -> float:
    """Wall time of a run; a run that fails is an error, never a (fast) figure."""
    started = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=ENV)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited {done.returncode}: {done.stderr[-2000:]}")
    return took


BARE_APP = """
from textual.app import App
from textual.widgets import Label
class Bare(App):
    def compose(self):
        yield Label("hello")
    def on_mount(self):
        self.call_after_refresh(self.exit)
Bare().run(headless=True)
"""

CHECK = "from tui.cli import main\nsys.exit(main())\n"

CONSOLE = """
import sys
from pathlib import Path
from tui.app import WatchdeckApp
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.engine.loader import load_config

path = Path(sys.argv[1])
engine = Engine(load_config(path), base_dir=path.parent)
app = WatchdeckApp(engine)

def first_data(event):
    if isinstance(event, SourceUpdated) and event.state.sample is not None:
        app.call_after_refresh(app.exit)

engine.subscribe(first_data)
app.run(headless=True, size=(120, 40))
"""


ROWS = {
    "httpx": "python -c 'import httpx'",
    "check": "watchdeck check (1 http check)",
    "bare": "bare Textual app, first frame",
    "console": "watchdeck console, first data",
}


@dataclass(frozen=True)
class Startup:
    runs: int
    seconds: dict[str, list[float]]
    """Wall time of each run, by ``ROWS`` key."""
    poll_s: list[float]
    """One poll of the config's check by a fresh engine in this process (connect included)."""

    def median(self, key: str) -> float:
        return statistics.median(self.seconds[key])


def poll_once(config: Path) -> float:
    from tui.engine.engine import Engine
    from tui.engine.loader import load_config

    async def run() -> float:
        engine = Engine(load_config(config), base_dir=config.parent)
        started = time.perf_counter()
        await engine.scheduler.poll_once()
        took = time.perf_counter() - started
        await engine.stop()
        return took

    return asyncio.run(run())


def measure(runs: int) -> Startup:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "watchdeck.yaml"
            config.write_text(
                f"checks:\n  - {{name: local, url: 'http://127.0.0.1:{server.server_port}/'}}\n"
            )
            py = sys.executable
            commands = {
                "httpx": [py, "-c", AS_INSTALLED + "import httpx"],
                "check": [py, "-c", AS_INSTALLED + CHECK, "check", "-c", str(config)],
                "bare": [py, "-c", AS_INSTALLED + BARE_APP],
                "console": [py, "-c", AS_INSTALLED + CONSOLE, str(config)],
            }
            seconds: dict[str, list[float]] = {key: [] for key in commands}
            for command in commands.values():  # warm-up: writes the bytecode caches
                timed(command)
            polls = []
            for _ in range(runs):  # interleaved, so drift on a noisy machine hits all alike
                for key, command in commands.items():
                    seconds[key].append(timed(command))
                polls.append(poll_once(config))
    finally:
        server.shutdown()
    return Startup(runs, seconds, polls)


def rows(startup: Startup) -> list[Row]:
    httpx, check = startup.median("httpx"), startup.median("check")
    bare, console = startup.median("bare"), startup.median("console")
    poll = statistics.median(startup.poll_s)
    limit = 1.5 * bare + poll
    each = f"median of {startup.runs}"
    return [
        Row(
            f"startup to first data on screen, 1 http check ({each})",
            f"{console:.3f} s",
            f"{bare:.3f} s",
            "bare Textual app, first frame",
            f"<= 1.5x peer + 1 poll ({poll * 1000:.0f} ms) = {limit:.3f} s",
            console <= limit,
        ),
        Row(
            f"`watchdeck check` start to exit, 1 http check ({each})",
            f"{check:.3f} s",
            f"{httpx:.3f} s",
            "python -c 'import httpx'",
            f"<= 2x peer = {2 * httpx:.3f} s",
            check <= 2 * httpx,
        ),
    ]


def bench(runs: int) -> list[Row]:
    return rows(measure(runs))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(environment())
    startup = measure(runs)
    print(f"{'what':<34} {'median s':>9} {'min s':>7}   ({runs} runs each, interleaved)")
    for key, name in ROWS.items():
        values = startup.seconds[key]
        print(f"{name:<34} {statistics.median(values):>9.3f} {min(values):>7.3f}")
    poll_ms = statistics.median(startup.poll_s) * 1000
    print(f"one poll of the check (fresh engine): {poll_ms:.1f} ms")
    print_rows(rows(startup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
