"""Regenerate the SVG screenshots in this folder from the live demo environment.

    uv run python screenshots/generate.py

Starts the embedded demo (PostgreSQL, Redis, HTTP service), lets the sources poll and the
rules go pending/firing, then drives the real console headless and saves each view.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tui.app import WatchdeckApp
from tui.demo.environment import DemoEnvironment
from tui.engine.engine import Engine
from tui.engine.loader import load_config

HERE = Path(__file__).resolve().parent

WARMUP_S = 35.0
"""Long enough for the demo's 30 s rules to go from pending to firing."""

VIEWS: list[tuple[str, tuple[int, int], tuple[str, ...]]] = [
    ("console-120x40", (120, 40), ()),
    ("console-80x24", (80, 24), ()),
    ("health-zoomed", (120, 40), ("1", "z")),
    ("check-detail", (120, 40), ("1", "enter")),
    ("queues-zoomed", (120, 40), ("2", "z")),
    ("queue-detail", (120, 40), ("2", "enter")),
    ("database-zoomed", (120, 40), ("3", "z")),
    ("database-80x24", (80, 24), ("3",)),
    ("database-session", (120, 40), ("3", "enter")),
    ("database-terminate", (120, 40), ("3", "K")),
    ("database-info", (120, 40), ("3", "i")),
    ("alerts-zoomed", (120, 40), ("4", "z")),
    ("alert-detail", (120, 40), ("4", "enter")),
    ("alert-acknowledge", (120, 40), ("4", "a")),
    ("runbooks", (120, 40), ("5", "z", "down", "enter")),
    # The maintenance window: its ticket typed in the form (tab to Run), the first step ticked,
    # the health-check step run through its confirm (tab to Run again).
    (
        "runbook-run",
        (120, 40),
        (
            "5",
            "down",
            "down",
            "down",
            "down",
            "r",
            *"CHG-1234",
            "tab",
            "tab",
            "tab",
            "enter",
            "space",
            "enter",
            "tab",
            "enter",
        ),
    ),
    # After the run above: its steps are on the timeline with the demo's changes and alerts.
    ("timeline", (120, 40), ("t",)),
    ("help", (120, 40), ("question_mark",)),
]


async def capture(config_path: Path) -> None:
    # Runbook runs are recorded in a state directory: the demo's own, as `watchdeck demo` does.
    engine = Engine(
        load_config(config_path),
        base_dir=config_path.parent,
        state_dir=config_path.parent / "state",
    )
    await engine.start()
    try:
        await asyncio.sleep(WARMUP_S)
        for name, size, keys in VIEWS:
            app = WatchdeckApp(engine, start_engine=False)
            async with app.run_test(size=size) as pilot:
                await pilot.pause(0.5)
                for key in keys:
                    await pilot.press(key)
                    await pilot.pause(0.2)
                await pilot.pause(0.5)
                svg = app.export_screenshot(title=f"watchdeck — {name}")
            (HERE / f"{name}.svg").write_text(svg, encoding="utf-8")
            print(f"wrote screenshots/{name}.svg")
    finally:
        await engine.stop()


def main() -> int:
    with DemoEnvironment() as env:
        asyncio.run(capture(env.config_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
