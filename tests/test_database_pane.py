"""The Database pane with Pilot: the session rows and their order, marks, the refresh hold,
the confirm dialog, read-only, and cancel/terminate against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from rich.text import Text
from ui_fixtures import (
    NOW,
    RUNBOOKS,
    clock,
    database_sample,
    feed,
    figures_tick,
    make_app,
    make_config,
    utc,
)

from tui.app import WatchdeckApp
from tui.engine.config import Config, Database, Settings
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.screens.confirm import ConfirmScreen
from tui.screens.database_info import DatabaseInfoScreen
from tui.screens.session_detail import SessionDetailScreen
from widgets.database import DatabasePane

BIG = (120, 40)
MAIN = "database:main"


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def pane(app: WatchdeckApp) -> DatabasePane:
    return app.deck.query_one(DatabasePane)


def column(app: WatchdeckApp, key: str) -> list[str]:
    table = pane(app).focus_target
    return [_plain(table.get_cell(row.key.value or "", key)) for row in table.ordered_rows]


def _plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def footer_keys(app: WatchdeckApp) -> set[str]:
    return {binding.key for _, binding, enabled, _ in app.active_bindings.values() if enabled}


async def test_lock_tree_first_then_long_then_idle_transactions() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert column(app, "pid") == ["4242", "4317", "4401", "5100", "4500", "4501"]
        assert column(app, "what") == [
            "◆ blocks 2",
            "└ waiting",
            "  └ waiting",
            "▲ long query",
            "▲ idle in tx",
            "▲ aborted tx",
        ]
        assert column(app, "age")[4] == "7m00s", "idle in transaction: time in that state"
        assert column(app, "xact")[5] == "—", "an aborted transaction has no xact_start"
        keys = [row.key.value for row in pane(app).focus_target.ordered_rows]
        assert keys[0] == f"main/4242/{NOW - 7200!r}", "rows are keyed by pid and backend start"
        summary = _plain(pane(app).lines["main"].text)
        assert "conns 38/97" in summary and "39% of usable" in summary
        assert "idle in tx 3 (1 aborted)" in summary
        assert "2 not visible" in summary and "lacks pg_read_all_stats" in summary
        assert "blocked 2 behind 1 root blocker" in summary
        assert "standby replica-1 streaming" in summary and "orders_1h 1,234" in summary


async def test_a_refresh_updates_cells_in_place_and_keeps_the_cursor_on_its_row() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3", "down", "down")
        table = pane(app).focus_target
        assert table.highlighted_key and "/4401/" in table.highlighted_key
        table.moved_at = 0.0  # the hold has passed
        sample = database_sample()
        gone = dataclasses.replace(
            sample, long_queries=sample.long_queries[:1], blocked=sample.blocked[1:]
        )
        deliver(app, gone)
        await pilot.pause()
        figures_tick(app)  # new figures of an unchanged status are drawn by the tick
        await pilot.pause()
        assert column(app, "pid") == ["4242", "4401", "4500", "4501"]
        assert table.highlighted_key and "/4401/" in table.highlighted_key, "cursor follows its row"


async def test_refresh_is_held_while_the_cursor_moves() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3", "down")
        sample = database_sample()
        deliver(app, dataclasses.replace(sample, long_queries=(), idle_transactions=()))
        await pilot.pause()
        assert column(app, "pid") == ["4242", "4317", "4401", "5100", "4500", "4501"]
        assert "refresh held" in _plain(pane(app).border_subtitle)
        pane(app).focus_target.moved_at = 0.0  # as if HOLD_SECONDS had passed
        app.tick()
        await pilot.pause()
        assert column(app, "pid") == ["4242", "4317", "4401"]
        assert "refresh held" not in _plain(pane(app).border_subtitle)


def deliver(app: WatchdeckApp, sample: object) -> None:
    state = app.engine.state
    state.record_sample(MAIN, sample, NOW)  # type: ignore[arg-type]
    app.engine.scheduler.emit(SourceUpdated(state.schedule(MAIN, NOW + 4)))


async def test_cancel_asks_first_with_pid_user_and_query_and_defaults_to_no() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3", "c")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        text = "\n".join(dialog.lines)
        assert "pid 4242 · app · main" in text and "FROM invoices GROUP BY 1" in text
        sample = database_sample()
        deliver(app, dataclasses.replace(sample, long_queries=()))
        await pilot.pause()
        assert column(app, "pid")[3] == "5100", "held under a dialog"
        await pilot.press("enter")  # Cancel has the focus
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.engine.actions.journal is None or not list(app.engine.actions.journal.entries())


async def test_marked_rows_go_together_and_a_prepared_transaction_is_refused() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3", "down", "space", "space")
        assert column(app, "mark")[:4] == [" ", "●", "●", " "]
        await pilot.press("K")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.title_text == "Terminate 2 sessions?"
        assert "pid 4317" in dialog.lines[0] and "pid 4401" in dialog.lines[2]
        await pilot.press("escape")
        sample = database_sample()
        prepared = dataclasses.replace(
            sample,
            blocked=(dataclasses.replace(sample.blocked[0], blocked_by=(0,)),),
            blockers=(),
            root_blockers=(0,),
        )
        pane(app).focus_target.moved_at = 0.0
        deliver(app, prepared)
        await pilot.pause()
        figures_tick(app)  # new figures of an unchanged status are drawn by the tick
        await pilot.pause()
        assert column(app, "pid")[:2] == ["0", "4317"]
        assert column(app, "mark")[:2] == [" ", "●"], "marks survive a refresh by row key"
        await pilot.press("home", "down", "space", "home", "c")
        await pilot.pause()
        assert column(app, "mark")[:2] == [" ", " "]
        assert not isinstance(app.screen, ConfirmScreen)
        assert "prepared transaction" in " ".join(str(n.message) for n in app._notifications)


async def test_read_only_hides_cancel_and_terminate() -> None:
    engine = Engine(make_config(), base_dir=RUNBOOKS, clock=clock, read_only=True)
    app = WatchdeckApp(engine, clock=clock, start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3")
        assert "c" not in footer_keys(app) and "K" not in footer_keys(app)
        await pilot.press("c", "K")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert {"space", "i"} <= footer_keys(app)


async def test_enter_shows_the_whole_session_and_i_the_database() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SessionDetailScreen)
        assert app.screen.row.session.query.endswith("FROM invoices GROUP BY 1")
        await pilot.press("escape", "i")
        await pilot.pause()
        assert isinstance(app.screen, DatabaseInfoScreen)
        await pilot.pause(0.2)
        sizes = _plain(app.screen.query_one("#sizes").render())
        assert "unavailable" in sizes, "the fixed engine's server does not exist"


# --- against a real PostgreSQL --------------------------------------------------------


async def wait_for(predicate, pilot, what: str, tries: int = 200) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


async def test_cancel_and_terminate_a_real_session(pg_dsn: str, tmp_path: Path) -> None:
    config = Config(
        settings=Settings(interval=0.5, timeout=3.0),
        databases=[Database(name="main", dsn=pg_dsn, long_query=0.5)],
    )
    engine = Engine(config, base_dir=RUNBOOKS, state_dir=tmp_path)
    app = WatchdeckApp(engine)
    victim = await psycopg.AsyncConnection.connect(
        pg_dsn, autocommit=True, application_name="wd-victim"
    )
    running = asyncio.ensure_future(victim.execute("SELECT pg_sleep(60)"))
    try:
        async with app.run_test(size=BIG) as pilot:
            await pilot.press("3")
            table = pane(app).focus_target
            await wait_for(
                lambda: "wd-victim" in column(app, "app"), pilot, "the long query listed"
            )
            row = column(app, "app").index("wd-victim")
            table.move_cursor(row=row)
            await pilot.press("c")
            await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot, "the dialog")
            await pilot.press("tab", "enter")  # Cancel → Stop query
            with pytest.raises(psycopg.errors.QueryCanceled):
                await asyncio.wait_for(running, 10)
            pid = victim.info.backend_pid
            await wait_for(lambda: str(pid) not in column(app, "pid"), pilot, "the row gone")

            running = asyncio.ensure_future(victim.execute("SELECT pg_sleep(60)"))
            await wait_for(lambda: str(pid) in column(app, "pid"), pilot, "listed again")
            table.moved_at = 0.0
            table.move_cursor(row=column(app, "pid").index(str(pid)))
            await pilot.press("K")
            await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot, "the dialog")
            await pilot.press("tab", "enter")
            with pytest.raises(psycopg.OperationalError):
                await asyncio.wait_for(running, 10)
    finally:
        running.cancel()
        await victim.close()
    entries = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    done = [
        (e["event"], e["action"], e["details"]["pid"])
        for e in entries
        if e["event"] != "action.requested"
    ]
    assert done == [("action.done", "pg.cancel", pid), ("action.done", "pg.terminate", pid)]
    assert all(e["details"]["application"] == "wd-victim" for e in entries)


async def test_cancel_is_refused_for_a_session_running_nothing() -> None:
    """Idle in a transaction, a session runs no query: a cancel would do nothing."""
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3")
        pane(app).focus_target.move_cursor(row=column(app, "pid").index("4500"))
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        said = [str(n.message) for n in app._notifications]
        assert said == [
            "pid 4500: nothing running to cancel (idle in transaction): terminate it with K"
        ]
        await pilot.press("K")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen), "terminate is what ends it"


async def test_lists_cut_short_say_how_many_there_are() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        note = pane(app).query_one("#db-cut")
        assert not note.display
        sample = dataclasses.replace(database_sample(), blocked_total=73, long_queries_total=2)
        deliver(app, sample)
        await pilot.pause()
        figures_tick(app)
        await pilot.pause()
        assert note.display
        assert _plain(note.render()) == "showing 2 of 73 blocked sessions"
