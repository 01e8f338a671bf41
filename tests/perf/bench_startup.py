"""Start-up figures beside their peers, measured in one run (DESIGN.md section 8).

    uv run python tests/perf/bench_startup.py [--runs 5]

- `watchdeck check` on a config with one HTTP check against a local server, beside a bare
  `python -c "import httpx"` (target: within 2x).
- The console's first data on screen (the health row turning ok) beside a bare Textual app
  reaching its first frame (target: within 1.5x of the bare app plus one poll).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


# As on a user's machine, modules load from cached bytecode (this sandbox sets
# PYTHONDONTWRITEBYTECODE, which would charge every run for compiling every module).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=False, capture_output=True, env=ENV)
    return time.perf_counter() - started


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "watchdeck.yaml"
        config.write_text(
            f"checks:\n  - {{name: local, url: 'http://127.0.0.1:{server.server_port}/'}}\n"
        )
        py = sys.executable
        rows = {
            "python -c 'import httpx'": [py, "-c", "import httpx"],
            "watchdeck check (1 http check)": [py, "-m", "tui.cli", "check", "-c", str(config)],
            "bare Textual app, first frame": [py, "-c", BARE_APP],
            "watchdeck console, first data": [py, "-c", CONSOLE, str(config)],
        }
        print(f"{'what':<34} {'median s':>9} {'min s':>7}   ({runs} runs each, interleaved)")
        results: dict[str, list[float]] = {name: [] for name in rows}
        for command in rows.values():  # warm-up: writes the bytecode caches
            timed(command)
        for _ in range(runs):
            for name, command in rows.items():
                results[name].append(timed(command))
        for name, values in results.items():
            print(f"{name:<34} {statistics.median(values):>9.3f} {min(values):>7.3f}")
    server.shutdown()
    httpx, check = (statistics.median(results[k]) for k in list(rows)[:2])
    bare, console = (statistics.median(results[k]) for k in list(rows)[2:])
    print(f"check / import httpx: {check / httpx:.2f}x (target <= 2x)")
    print(f"console first data / bare first frame: {console / bare:.2f}x (target <= 1.5x + a poll)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
