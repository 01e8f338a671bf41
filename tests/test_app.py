"""The console's behaviour with Pilot: keys, routing of engine events, compact mode, and one
run against a real engine polling a real HTTP server."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest
from rich.text import Text
from textual.widgets import Footer, Markdown, OptionList
from ui_fixtures import (
    NOW,
    feed,
    feed_alerts,
    make_alerts_config,
    make_app,
    make_config,
    make_engine,
    utc,
)

from tui.app import YOUNG_OBJECTS, EngineEvent, WatchdeckApp, settle_heap
from tui.engine.config import Alerts, Check, Config, Database, Queue, Rule, Settings
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.engine.samples import CheckSample
from tui.screens.console import FIGURES_EVERY, ConsoleScreen
from tui.screens.help import KEYS, HelpScreen
from widgets.pane import Pane
from widgets.pane_strip import PaneStrip
from widgets.status_line import StatusLine
from widgets.table import KeyedTable

PANE_IDS = ("health", "queues", "database", "alerts", "runbooks")
BIG = (120, 40)
SMALL = (80, 24)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def focused_pane(app: WatchdeckApp) -> str | None:
    node = app.focused
    while node is not None and not isinstance(node, Pane):
        node = node.parent  # type: ignore[assignment]
    return node.id if node is not None else None


def shown_panes(app: WatchdeckApp) -> list[str]:
    return [
        pane.id or ""
        for pane in app.deck.panes
        if pane.display and pane.region.width > 0 and pane.region.height > 0
    ]


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def health_status(app: WatchdeckApp, name: str = "api") -> object:
    return app.deck.query_one("#health-table", KeyedTable).get_cell(name, "status")


def status_text(app: WatchdeckApp) -> str:
    return app.deck.query_one(StatusLine).text.plain


async def test_number_keys_focus_their_pane() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        for number in (3, 5, 1, 4, 2):
            await pilot.press(str(number))
            assert focused_pane(app) == PANE_IDS[number - 1]
            assert app.deck.active == number
        assert shown_panes(app) == list(PANE_IDS)


async def test_tab_cycles_through_the_panes_and_wraps() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert focused_pane(app) == "health"
        seen = []
        for _ in range(5):
            await pilot.press("tab")
            seen.append(focused_pane(app))
        assert seen == ["queues", "database", "alerts", "runbooks", "health"]
        await pilot.press("shift+tab")
        assert focused_pane(app) == "runbooks"


async def test_z_zooms_the_focused_pane_and_restores() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("3", "z")
        assert shown_panes(app) == ["database"]
        database = app.deck.query_one("#database", Pane)
        assert database.region.width == BIG[0]
        assert focused_pane(app) == "database"
        await pilot.press("z")
        assert shown_panes(app) == list(PANE_IDS)
        await pilot.press("4", "z", "escape")
        assert shown_panes(app) == list(PANE_IDS)


async def test_help_opens_on_question_mark_and_closes() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        for close in ("escape", "question_mark", "q"):
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press(close)
            assert isinstance(app.screen, ConsoleScreen)
        assert app.is_running


def test_help_lists_every_key() -> None:
    listed = " ".join(key for key, _ in KEYS)
    bindings = [*ConsoleScreen.BINDINGS, *WatchdeckApp.BINDINGS]
    names = {"question_mark": "?", "colon": ":", "escape": "esc"}
    for binding in bindings:
        assert not isinstance(binding, tuple)
        for key in binding.key.split(","):
            assert names.get(key, key) in listed, key


async def test_help_and_quit_are_in_the_footer_on_every_pane_at_80x24() -> None:
    app = make_app(make_engine(make_alerts_config()))
    async with app.run_test(size=SMALL) as pilot:
        await feed_alerts(pilot)
        for number in range(1, 6):
            await pilot.press(str(number))
            await pilot.pause()
            footer = app.screen.query_one(Footer)
            drawn = [
                f"{key.key_display} {key.description}"
                for key in footer.query("FooterKey")
                if key.region.width and key.region.right <= SMALL[0]
            ]
            assert "? help" in drawn and "q quit" in drawn, (number, drawn)


async def test_p_toggles_pause_in_engine_and_status_line() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert "PAUSED" not in status_text(app)
        await pilot.press("p")
        await pilot.pause()
        assert app.engine.paused
        assert "PAUSED" in status_text(app)
        await pilot.press("p")
        await pilot.pause()
        assert not app.engine.paused
        assert "PAUSED" not in status_text(app)


class RecordingEngine(Engine):
    """A real engine that also counts refresh requests."""

    refreshes = 0

    def refresh_now(self) -> None:
        self.refreshes += 1
        super().refresh_now()


async def test_r_asks_the_engine_to_refresh() -> None:
    engine = RecordingEngine(make_config())
    app = make_app(engine)
    async with app.run_test(size=BIG) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert engine.refreshes == 1


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_q_and_ctrl_c_quit_with_exit_code_zero(key: str) -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await pilot.press(key)
        await pilot.pause()
    assert app.return_value == 0
    assert app.return_code == 0


async def test_source_update_changes_one_cell_by_row_key() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        table = app.deck.query_one("#health-table", KeyedTable)
        keys = [row.key.value for row in table.ordered_rows]
        untouched = table.get_cell("checkout", "detail")
        assert plain(table.get_cell("api", "latency")) == "42ms"

        sample = CheckSample("api", "http", NOW, up=True, status="ok", latency_ms=97.0)
        state = app.engine.state.record_sample("check:api", sample, NOW)
        app.engine.scheduler.emit(SourceUpdated(state))
        await pilot.pause()
        assert plain(table.get_cell("api", "latency")) == "42ms", "new figures wait for a tick"
        app.deck.ticks = FIGURES_EVERY - 2  # the next tick is not a figures tick
        app.tick()
        await pilot.pause()
        assert plain(table.get_cell("api", "latency")) == "42ms", "not a figures tick"
        app.tick()
        await pilot.pause()

        assert table.row_count == 3
        assert [row.key.value for row in table.ordered_rows] == keys
        assert plain(table.get_cell("api", "latency")) == "97ms"
        assert table.get_cell("checkout", "detail") is untouched


async def test_a_status_change_is_drawn_at_once() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        table = app.deck.query_one("#health-table", KeyedTable)
        sample = CheckSample("api", "http", NOW, up=False, status="critical", error="refused")
        state = app.engine.state.record_sample("check:api", sample, NOW)
        app.engine.scheduler.emit(SourceUpdated(state))
        await pilot.pause()
        assert plain(table.get_cell("api", "status")).endswith("critical")


async def test_updates_after_shutdown_began_are_ignored() -> None:
    """The engine and the clock keep ticking while Textual tears the screens down."""
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
    sample = CheckSample("api", "http", NOW, up=True, status="ok", latency_ms=97.0)
    state = app.engine.state.record_sample("check:api", sample, NOW)
    app.on_engine_event(EngineEvent(SourceUpdated(state)))
    app.tick()


async def test_rows_exist_per_configured_source_before_the_first_poll() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        health = app.deck.query_one("#health-table", KeyedTable)
        queues = app.deck.query_one("#queues-table", KeyedTable)
        assert {row.value for row in health.rows} == {"api", "checkout", "search"}
        assert {row.value for row in queues.rows} == {"emails", "webhooks", "reports"}
        assert plain(health.get_cell("api", "status")) == "… waiting"
        assert plain(health.get_cell("api", "detail")) == "waiting for first poll"
        assert plain(queues.get_cell("emails", "depth")) == "—"
        assert "waiting for first poll" in status_text(app)


async def test_stale_and_error_states_are_spelled_out() -> None:
    ticks = [NOW]
    app = WatchdeckApp(make_engine(), clock=lambda: ticks[0], start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        queues = app.deck.query_one("#queues", Pane)
        table = app.deck.query_one("#queues-table", KeyedTable)
        assert plain(table.get_cell("webhooks", "status")) == "◌ stale"
        assert plain(table.get_cell("webhooks", "depth")) == "17"
        expected = "stale · connection refused · retry in 8s"
        assert plain(table.get_cell("webhooks", "error")) == expected
        assert expected in (queues.border_subtitle or "")
        assert queues.has_class("-problem")
        assert not app.deck.query_one("#health", Pane).has_class("-problem")
        assert "1 error (webhooks: connection refused)" in status_text(app)
        health = app.deck.query_one("#health-table", KeyedTable)
        assert plain(health.get_cell("checkout", "status")) == "✖ critical"
        assert plain(health.get_cell("checkout", "detail")) == "status (500) == 200"

        ticks[0] = NOW + 5
        app.tick()
        assert plain(table.get_cell("webhooks", "error")).endswith("retry in 3s")
        await pilot.press("p")
        await pilot.pause()
        assert plain(table.get_cell("webhooks", "error")).endswith("· paused")


async def test_alerts_are_ordered_firing_pending_resolved() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        table = app.deck.query_one("#alerts-table", KeyedTable)
        order = [row.key.value for row in table.ordered_rows]
        assert order == [
            "watchdeck/CheckoutDown",
            "watchdeck/EmailBacklog",
            "watchdeck/DbConnectionsHigh",
        ]
        assert plain(table.get_cell("watchdeck/CheckoutDown", "severity")) == "✖ critical"
        assert not app.deck.query_one("#alerts-empty").display


async def test_compact_mode_shows_one_pane_and_the_strip() -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        strip = app.deck.query_one(PaneStrip)
        assert strip.display
        assert strip.text.plain.startswith("▸1 Health ✖ │ 2 Queues ✖ │ 3 Database ✔")
        assert "4 Alerts ✖ 1 │ 5 Runbooks" in strip.text.plain
        assert shown_panes(app) == ["health"]
        await pilot.press("2")
        assert shown_panes(app) == ["queues"]
        assert focused_pane(app) == "queues"
        assert "▸2 Queues" in strip.text.plain
        await pilot.press("tab")
        assert shown_panes(app) == ["database"]
        await pilot.resize_terminal(*BIG)
        await pilot.pause()
        assert shown_panes(app) == list(PANE_IDS)
        assert not strip.display


async def test_a_config_of_one_database_opens_on_it_and_the_empty_panes_say_what_to_add() -> None:
    config = Config(databases=[Database(name="main", dsn="postgresql://app@127.0.0.1:9/app")])
    app = make_app(make_engine(config))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert shown_panes(app) == ["database"]
        assert focused_pane(app) == "database"
        strip = app.deck.query_one(PaneStrip).text.plain
        assert strip.startswith("1 Health — │ 2 Queues — │ ▸3 Database")
        await pilot.press("1")
        hints = [str(hint.render()) for hint in app.deck.query(".not-configured")]
        assert len(hints) == 2
        assert "No checks in this config" in hints[0] and "`checks:`" in hints[0]
        assert "No queues in this config" in hints[1] and "`queues:`" in hints[1]
        assert not app.deck.query_one("#health-table", KeyedTable).show_header
        assert focused_pane(app) == "health"  # the empty table still takes the keys
        alerts = str(app.deck.query_one("#alerts-empty").render())
        assert "no alerts" in alerts and "No alert rules or alert sources" in alerts


async def test_with_a_rule_the_empty_alerts_pane_only_says_no_alerts() -> None:
    config = Config(
        databases=[Database(name="main", dsn="postgresql://app@127.0.0.1:9/app")],
        alerts=Alerts(rules=[Rule(name="Busy", when="db.main.pct_of_usable > 80%")]),
    )
    app = make_app(make_engine(config))
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        assert str(app.deck.query_one("#alerts-empty").render()) == "✔ no alerts"


async def test_a_config_without_databases_says_so_not_that_no_session_is_long() -> None:
    config = Config(checks=[Check(name="api", url="http://127.0.0.1:9/health")])
    app = make_app(make_engine(config))
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        assert focused_pane(app) == "health"
        database = app.deck.query_one("#database")
        assert "No databases in this config" in str(database.query_one(".not-configured").render())
        assert not database.query_one("#db-empty").display


async def test_enter_on_a_runbook_zooms_to_read_it() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("5", "down", "enter")
        await pilot.pause()
        assert shown_panes(app) == ["runbooks"]
        assert app.focused is app.deck.runbooks.preview
        markdown = app.deck.runbooks.query_one(Markdown)
        assert markdown.source.startswith("# Queue backlog")
        await pilot.press("escape")
        assert isinstance(app.focused, OptionList)
        await pilot.press("escape")
        assert shown_panes(app) == list(PANE_IDS)


async def test_theme_from_constructor_and_fallback_for_unknown() -> None:
    app = make_app(theme="nord")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert app.theme == "nord"
    app = make_app(theme="no-such-theme")
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        assert any("no-such-theme" in str(note.message) for note in app._notifications)


async def test_console_with_a_real_engine_shows_a_real_check(http_server: str) -> None:
    config = Config(
        settings=Settings(interval=1.0, timeout=2.0),
        checks=[Check(name="local", url=f"{http_server}/ok")],
    )
    engine = Engine(config)
    app = WatchdeckApp(engine)
    async with app.run_test(size=BIG) as pilot:
        table = app.deck.query_one("#health-table", KeyedTable)
        deadline = time.monotonic() + 10
        while plain(table.get_cell("local", "status")) != "✔ ok":
            assert time.monotonic() < deadline, "the check never showed as ok"
            await pilot.pause(0.05)
        assert plain(table.get_cell("local", "code")) == "200"
        assert "last refresh" in status_text(app)
        await pilot.press("q")
    assert app.return_value == 0
    assert engine.scheduler.passes["check:local"] >= 1


async def test_a_tick_with_nothing_changed_touches_no_cell() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        tables = list(app.deck.query(KeyedTable))

        def cells() -> list[object]:
            rows = [table.get_row(key) for table in tables for key in table.rows]
            return [cell for row in rows for cell in row]

        before = cells()
        app.tick()
        await pilot.pause()
        after = cells()
        assert len(after) == len(before)
        assert all(new is old for new, old in zip(after, before, strict=True))


async def test_switching_theme_recolours_the_status_cells() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        table = app.deck.query_one("#health-table", KeyedTable)
        before = table.get_cell("checkout", "status").style
        app.theme = "solarized-light"
        await pilot.pause()
        await pilot.pause()
        after = table.get_cell("checkout", "status")
        assert after.plain == "✖ critical"
        assert str(after.style) != str(before)


async def test_read_only_shows_in_the_status_line() -> None:
    engine = Engine(make_config(), read_only=True)
    app = make_app(engine)
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        assert status_text(app).startswith("read-only · ")


async def test_the_modes_stay_on_the_status_line_at_80_columns_and_an_error_is_cut() -> None:
    app = make_app(Engine(make_config(), read_only=True))
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        await pilot.press("p")
        await pilot.pause()
        line = app.deck.query_one(StatusLine)
        drawn = line.render_line(0).text
        assert "PAUSED" in drawn and "read-only" in drawn and "✖ 1 error (webho" in drawn
        assert drawn.rstrip().endswith("…")
        assert status_text(app).endswith("✖ 1 error (webhooks: connection refused)")


async def test_unreachable_real_sources_show_errors_and_no_secret(refused_url: str) -> None:
    port = refused_url.rsplit(":", 1)[1]
    config = Config(
        settings=Settings(interval=30.0, timeout=2.0),
        checks=[Check(name="api", url=f"{refused_url}/health")],
        databases=[Database(name="main", dsn=f"postgresql://app:hunter2@127.0.0.1:{port}/app")],
        queues=[Queue(name="emails", url=f"redis://:hunter2@127.0.0.1:{port}/0")],
    )
    app = WatchdeckApp(Engine(config))
    async with app.run_test(size=BIG) as pilot:
        deadline = time.monotonic() + 10
        while "2 errors" not in status_text(app) or plain(health_status(app)) == "… waiting":
            assert time.monotonic() < deadline, status_text(app)
            await pilot.pause(0.05)
        health = app.deck.query_one("#health-table", KeyedTable)
        queues = app.deck.query_one("#queues-table", KeyedTable)
        assert plain(health.get_cell("api", "status")) == "✖ critical"
        assert "refused" in plain(health.get_cell("api", "detail"))
        assert plain(queues.get_cell("emails", "status")) == "✖ error"
        assert plain(queues.get_cell("emails", "depth")) == "—"
        assert app.deck.query_one("#database", Pane).has_class("-problem")
        assert "hunter2" not in app.export_screenshot()


def test_settling_the_heap_freezes_it_and_collects_the_young_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_OBJECTS, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
