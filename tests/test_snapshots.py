"""How the console looks, with fixed data at a fixed time (pytest-textual-snapshot).

Regenerate after an intended change with ``uv run pytest tests/test_snapshots.py
--snapshot-update`` and look at the SVGs under ``tests/__snapshots__/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runbook_ui import BROKEN, STEPS, WINDOW, highlight, until, viewer_app
from textual.widgets import Button, Markdown
from ui_fixtures import (
    NOW,
    alerts_app,
    feed,
    feed_alerts,
    make_app,
    make_engine,
    make_health_config,
    make_queues_config,
    settle,
    utc,
)

from tui.app import WatchdeckApp
from tui.engine.sources.pg_ondemand import DatabaseSize, TopStatement, Unavailable
from tui.engine.units import format_duration
from tui.screens.runbook_dialogs import VariablesScreen
from tui.screens.runbook_run import RunbookRunScreen

BIG = (120, 40)
SMALL = (80, 24)
Compare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def compare(
    snap_compare: Compare,
    size: tuple[int, int],
    *press: str,
    app: WatchdeckApp | None = None,
    **options: Any,
) -> bool:
    return snap_compare(
        app or make_app(), press=press, terminal_size=size, run_before=feed, **options
    )


def health_app() -> WatchdeckApp:
    """Checks in every state: critical, warning, stale, waiting, flapping, ok."""
    return make_app(make_engine(make_health_config()))


def test_console_at_120x40(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG)


def test_console_compact_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL)


def test_database_zoomed(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG, "3", "z")


def test_database_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "3")


def test_database_terminate_dialog(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG, "3", "down", "space", "space", "K")


def test_database_session_detail(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "3", "enter")


def test_database_info(snap_compare: Compare) -> None:
    """With fixed sizes, and top statements unavailable (as without pg_stat_statements)."""
    engine = make_engine()

    async def sizes(database: str) -> tuple[DatabaseSize, ...]:
        return (DatabaseSize("app", 7_340_032_000), DatabaseSize("postgres", 7_700_000))

    async def statements(database: str) -> tuple[TopStatement, ...]:
        raise Unavailable("pg_stat_statements is not installed in database app")

    engine.database_sizes = sizes  # type: ignore[method-assign]
    engine.top_statements = statements  # type: ignore[method-assign]

    async def open_info(pilot: Any) -> None:
        await feed(pilot)
        await pilot.press("3", "i")
        for _ in range(100):
            if "fetching" not in str(pilot.app.screen.query_one("#statements").render()):
                break
            await pilot.pause(0.02)

    assert snap_compare(make_app(engine), terminal_size=BIG, run_before=open_info)


def test_help_screen(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "question_mark")


def test_health_zoomed(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG, "z", app=health_app())


def test_health_filtered_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "slash", "c", "h", app=health_app())


def test_check_detail(snap_compare: Compare) -> None:
    """The failing check: conditions, headers, a JSON body and a two-certificate chain."""
    assert compare(snap_compare, BIG, "enter", app=health_app())


def test_check_detail_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "enter", app=health_app())


def compare_alerts(snap_compare: Compare, size: tuple[int, int], *press: str) -> bool:
    """Rules' alerts and an Alertmanager's (one stale Prometheus), through the alert book."""
    app = alerts_app()
    app.user = "alice@ops-1"  # who the dialogs say acts: the same on every machine
    return snap_compare(app, press=press, terminal_size=size, run_before=feed_alerts)


def test_alerts_zoomed(snap_compare: Compare) -> None:
    """Severity glyph and word, badges, a stale source, and an open group."""
    assert compare_alerts(snap_compare, BIG, "4", "z", "down", "down", "down", "right")


def test_alerts_at_80x24(snap_compare: Compare) -> None:
    assert compare_alerts(snap_compare, SMALL, "4")


def test_alert_detail(snap_compare: Compare) -> None:
    """Acknowledged, with links, labels and its history (fired, resolved, fired again)."""
    assert compare_alerts(snap_compare, BIG, "4", "down", "enter")


def test_alert_silence_dialog(snap_compare: Compare) -> None:
    assert compare_alerts(snap_compare, SMALL, "4", "down", "s", "d", "i", "s", "k")


# --- queues ------------------------------------------------------------------------------
def queues_app() -> WatchdeckApp:
    """Queues of several kinds: past thresholds, stale, draining, discovered, unrecorded."""
    return make_app(make_engine(make_queues_config()))


def test_queues_zoomed(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG, "2", "z", app=queues_app())


def test_queues_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "2", app=queues_app())


def test_queue_detail(snap_compare: Compare) -> None:
    """The worst queue: a Sidekiq failure count shared across queues, its breakdown, notes."""
    assert compare(snap_compare, BIG, "2", "enter", app=queues_app())


# --- runbooks ----------------------------------------------------------------------------
RUN_ID = "20231114-220115-7f3a"
"""The id of the snapshots' run (a run's id is its start time and a random part)."""


def test_runbooks_pane_without_front_matter(snap_compare: Compare, tmp_path: Path) -> None:
    """The list with steps, attached alerts, a broken runbook and a run in progress; the
    preview renders the document without its YAML front matter."""
    app = viewer_app(tmp_path, runbooks={"drain": WINDOW, "deploy": STEPS, "broken": BROKEN})
    entry = next(entry for entry in app.engine.runbooks if entry.name == "deploy")
    app.engine.runbook_executor().start(entry.load(), {})

    async def read_drain(pilot: Any) -> None:
        await pilot.press("5", "z")
        await highlight(pilot, "drain")
        markdown = app.deck.runbooks.query_one(Markdown)
        await until(pilot, lambda: markdown.source.startswith("# Drain a queue"), "preview")
        await settle(pilot)

    assert snap_compare(app, terminal_size=BIG, run_before=read_drain)


def test_runbook_variables_form(snap_compare: Compare, tmp_path: Path) -> None:
    app = viewer_app(tmp_path, runbooks={"drain": WINDOW})

    async def open_form(pilot: Any) -> None:
        await highlight(pilot, "drain")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        # Pressed without the mouse: a pointer left over the button is hovered or not
        # depending on timing. TOKEN is required: its error shows under it.
        # press() flashes the button ("-active") for 0.2 s: wait the flash out too.
        start = app.screen.query_one("#start", Button).press()
        error = app.screen.query_one("#error-TOKEN")
        await until(pilot, lambda: "required" in str(error.render()), "the error")
        await until(pilot, lambda: not start.has_class("-active"), "the button at rest")
        await pilot.pause()

    assert snap_compare(app, terminal_size=BIG, run_before=open_form)


def test_runbook_run_mid_run(
    snap_compare: Compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started 12 minutes ago (fixed clock), recorded through the engine's API: a step
    ticked, one passed, one failed with its output shown, one skipped, the rest pending.
    (A step running live is in test_runbook_viewer: its duration is the wall clock's.)"""
    monkeypatch.setattr("tui.engine.runbooks.run.new_id", lambda now: RUN_ID)
    app = viewer_app(tmp_path, runbooks={"drain": WINDOW})
    engine = app.engine
    entry = engine.runbooks[0]
    executor = engine.runbook_executor()
    executor.clock = lambda: NOW - 725
    run = executor.start(entry.load(), {"TOKEN": "hunter2-admin-token"})
    run.clock = executor.clock = engine.clock
    executor.tick(run, 1)
    for index, status, took, said in (
        (2, "ok", 1.2, "producers paused for emails\n"),
        (3, "failed", 0.4, "consumer-1 up\nconsumer-2 down\nconsumer-3 down\n2 of 3 down\n"),
    ):
        run.started(index, executor.plan(run, index).command, None)
        code = 0 if status == "ok" else 1
        message = f"exit {code} in {format_duration(took)}"
        run.ended(index, status, duration=took, message=message, exit_code=code, excerpt=said)
    executor.skip(run, 4, "counted by hand: 1240")

    async def show(pilot: Any) -> None:
        await settle(pilot)
        screen = RunbookRunScreen(run, executor, engine, entry)
        app.push_screen(screen)
        await until(pilot, lambda: app.screen is screen and screen.is_mounted, "the run screen")
        await until(pilot, lambda: "2 of 3 down" in screen.log_panel.lines, "its output")

    assert snap_compare(app, terminal_size=BIG, run_before=show)
