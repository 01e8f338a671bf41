"""The Alerts pane with Pilot: order and row keys, groups, external source problems, the
detail screen, acknowledge / silence / expire through the engine (journaled, refused under
read-only), ``o`` to the runbook, and the bell and toast on a new critical alert.

Silences go to a real HTTP server on 127.0.0.1 answering as Alertmanager's API does, and end
to end to the real Alertmanager binary when it is installed."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from rich.text import Text
from test_alert_sources import FIXTURES, FixtureServer
from test_alertmanager import (  # noqa: F401
    INJECTION,
    TERMINAL_CONTROLS,
    _config_text,
    _post_alert,
    alertmanager,
)
from textual.pilot import Pilot
from textual.widgets import Button, Input, Markdown
from ui_fixtures import (
    ALERTS,
    NOW,
    RUNBOOKS,
    alerts_app,
    clock,
    feed,
    feed_alerts,
    make_alerts_config,
    make_app,
    make_config,
    make_engine,
    settle,
    utc,
)

from tui.app import WatchdeckApp
from tui.engine.alert_actions import actor
from tui.engine.alert_sources import format_time
from tui.engine.config import Settings
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, SourceUpdated
from tui.engine.journal import Journal
from tui.engine.loader import load_config_text
from tui.engine.samples import Alert, CheckSample
from tui.screens.alert_detail import AlertDetailScreen
from tui.screens.alert_dialogs import AcknowledgeScreen, SilenceScreen, silence_seconds
from tui.screens.confirm import ConfirmScreen
from widgets.alerts import COLUMNS, AlertsPane, since_text

BIG = (120, 40)
SMALL = (80, 24)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def pane(app: WatchdeckApp) -> AlertsPane:
    return app.deck.alerts


def keys(app: WatchdeckApp) -> list[str]:
    return [row.key.value or "" for row in pane(app).focus_target.ordered_rows]


def names(app: WatchdeckApp) -> list[str]:
    return [cell(app, key, "alert") for key in keys(app)]


def cell(app: WatchdeckApp, key: str, column: str) -> str:
    value = pane(app).focus_target.get_cell(key, column)
    return value.plain if isinstance(value, Text) else str(value)


def key_of(app: WatchdeckApp, name: str) -> str:
    return next(key for key in keys(app) if cell(app, key, "alert").startswith(name))


def footer(app: WatchdeckApp) -> dict[str, bool]:
    """Key -> enabled, for the bindings the footer shows (hidden ones are absent)."""
    return {binding.key: enabled for _, binding, enabled, _ in app.active_bindings.values()}


def messages(app: WatchdeckApp) -> str:
    return "\n".join(str(note.message) for note in app._notifications)


async def select(pilot: Pilot[int], key: str) -> None:
    """Focus the pane and move the cursor down to the row ``key``, as an operator does."""
    app = pilot.app
    assert isinstance(app, WatchdeckApp)
    await pilot.press("4", "home")
    for _ in range(len(keys(app))):
        if pane(app).focus_target.highlighted_key == key:
            return
        await pilot.press("down")
    assert pane(app).focus_target.highlighted_key == key


async def wait_for(pilot: Pilot[int], predicate: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if predicate():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"never: {what}")


async def type_text(pilot: Pilot[int], text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))


# --- the table ----------------------------------------------------------------------------
async def test_engine_order_one_row_per_alert_and_groups_that_fold() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        assert names(app) == [
            "CheckoutDown",
            "DiskFull",
            "HighLatency service=api",
            "▸ TargetDown ×5",  # noqa: RUF001
            "ReplicationLag",
            "EmailBacklog",
            "HighLatency service=search",
            "DbConnectionsHigh",
        ]
        high = [key for key in keys(app) if cell(app, key, "alert").startswith("HighLatency")]
        assert len(set(high)) == 2 and all(key.startswith("prom/") for key in high)
        assert [cell(app, key, "state") for key in high] == ["firing", "pending"]
        assert cell(app, high[0], "severity") == "▲ warning"
        assert cell(app, key_of(app, "CheckoutDown"), "severity") == "✖ critical"
        assert cell(app, key_of(app, "CheckoutDown"), "since") == "22:08 (5m)"
        assert cell(app, key_of(app, "DbConnectionsHigh"), "state") == "resolved"
        group = "group:TargetDown"
        assert cell(app, group, "summary") == "5 firing · ⊘ 1 suppressed"

        await select(pilot, group)
        await pilot.press("enter")
        await pilot.pause()
        members = names(app)[4:9]
        assert members == [f"  └ instance=web{n}:9100" for n in (5, 4, 3, 2, 1)]
        assert cell(app, group, "alert").startswith("▾")
        await pilot.press("down", "down")
        assert "web4" in cell(app, pane(app).focus_target.highlighted_key or "", "alert")
        assert cell(app, pane(app).focus_target.highlighted_key or "", "summary").startswith(
            "⊘ inhibited · "
        )
        await pilot.press("left")  # closes the group from one of its alerts
        await pilot.pause()
        assert len(keys(app)) == 8 and pane(app).focus_target.highlighted_key == group
        await pilot.press("right")
        await pilot.pause()
        assert len(keys(app)) == 13


def recorded_redraws(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pane's clock at each redraw of the Alerts pane from now on."""
    drawn: list[float] = []
    redraw = AlertsPane.redraw
    monkeypatch.setattr(
        AlertsPane, "redraw", lambda self: (drawn.append(self.now), redraw(self))[1]
    )
    return drawn


async def test_a_tick_redraws_the_pane_only_when_an_age_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ages show minutes, so most ticks would redraw the same text: the pane waits for the
    first age due to change, then shows it with the next figures."""
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        alerts = pane(app)
        drawn = recorded_redraws(monkeypatch)
        for failing in alerts.failing():  # back: a failing source's countdown ticks too
            state = app.engine.state.record_sample(failing.id, failing.sample, NOW)
            app.engine.scheduler.emit(SourceUpdated(state))
        await settle(pilot)
        assert not alerts.failing()
        due = alerts.ages_change_at
        assert NOW < due <= NOW + 60
        alerts.tick(due - 2, False)  # draws what the feed left for the tick
        drawn.clear()
        key = keys(app)[0]
        before = cell(app, key, "since")
        alerts.tick(due - 1, False)
        assert drawn == [], "no age changes before its minute"
        alerts.tick(due, False, figures=False)
        assert drawn == [], "a due age is a figure: it waits for the figures tick"
        alerts.tick(due, False)
        await pilot.pause()
        assert drawn == [due]
        changed = [k for k in keys(app) if cell(app, k, "since") != before]
        assert changed and alerts.ages_change_at > due


async def drawn_from_a_figures_tick(
    app: WatchdeckApp, pilot: Pilot[int], monkeypatch: pytest.MonkeyPatch
) -> tuple[AlertsPane, list[float]]:
    """The pane with its alerts drawn by a figures tick, and its redraws recorded from then."""
    await feed_alerts(pilot)
    alerts = pane(app)
    alerts.tick(NOW, False, figures=True)
    return alerts, recorded_redraws(monkeypatch)


async def test_a_sources_poll_without_news_waits_for_the_figures_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A poll of a healthy source brings the alerts' newest values: they wait for the figures
    tick like every figure (drawing each poll repainted the pane between two ticks)."""
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        alerts, drawn = await drawn_from_a_figures_tick(app, pilot, monkeypatch)
        state = app.engine.state
        source = next(s for s in alerts.sources.values() if s.error is None)
        polled = state.record_sample(source.id, source.sample, NOW + 1)  # type: ignore[arg-type]
        app.engine.scheduler.emit(SourceUpdated(polled))
        await settle(pilot)
        assert drawn == [], "not news: drawn by the figures tick"
        alerts.tick(NOW + 2, False, figures=True)
        assert drawn and not alerts.undrawn


async def test_a_new_value_of_the_same_alerts_waits_for_the_figures_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rule renders its value into the summary and the annotations: each evaluation brings
    new ones, which are figures (drawing them at once repainted the table a frame after
    every figures tick)."""
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        alerts, drawn = await drawn_from_a_figures_tick(app, pilot, monkeypatch)
        first, *others = alerts.alerts
        summary = "Disk on db1 is 97% full"
        moved = dataclasses.replace(
            first, value=97.0, summary=summary, annotations={**first.annotations, "x": summary}
        )
        app.engine.scheduler.emit(AlertsUpdated((moved, *others), NOW + 1))
        await settle(pilot)
        assert drawn == [], "not news: drawn by the figures tick"
        alerts.tick(NOW + 2, False, figures=True)
        assert drawn and summary in cell(app, moved.key, "summary")


async def test_badges_say_suppressed_acknowledged_and_flapping_in_words() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        summary = {name: cell(app, key_of(app, name), "summary") for name in ("DiskFull",)}
        assert summary["DiskFull"] == "✓ ack alice · Disk on db1 is 92% full"
        assert cell(app, key_of(app, "ReplicationLag"), "summary").startswith("⊘ silenced · ")
        assert cell(app, key_of(app, "EmailBacklog"), "summary").startswith("≈ flapping · ")
        search = cell(app, key_of(app, "HighLatency service=search"), "summary")
        assert search.startswith("⊘ maintenance search-reindex · ")
        # The strip's badge counts what notifies (as check does): 9 firing, 2 of them suppressed.
        assert pane(app).badge().plain == "✖ 7"
        quiet = AlertsPane([], read_only=True)
        quiet.update_alerts(tuple(a for a in app.engine.alerts if a.suppressed), NOW)
        assert quiet.badge().plain == "⊘ 2"


async def test_an_unreachable_source_is_a_status_and_its_last_alerts_stay() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        subtitle = Text.from_markup(str(pane(app).border_subtitle))
        assert subtitle.plain == ("✖ 9 firing · ▲ 2 pending · 1 resolved · ◌ prom unreachable")
        line = pane(app).query_one("#alerts-sources").render()
        assert str(line).startswith("◌ prom (prometheus): stale · connection refused · retry in")
        assert pane(app).has_class("-problem")
        assert cell(app, key_of(app, "HighLatency service=api"), "source") == "◌ prom"
        assert cell(app, key_of(app, "DiskFull"), "source") == "am"

        state = app.engine.state
        prom = "alertsource:prom"
        state.record_sample(prom, state.sources[prom].sample, NOW)  # type: ignore[arg-type]
        app.engine.scheduler.emit(SourceUpdated(state.schedule(prom, NOW + 5)))
        await settle(pilot)
        assert not pane(app).has_class("-problem")
        assert not pane(app).query_one("#alerts-sources").display
        assert cell(app, key_of(app, "HighLatency service=api"), "source") == "prom"


async def test_new_rows_keep_the_cursor_on_its_alert() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await select(pilot, "watchdeck/EmailBacklog")
        new = Alert("NewOne", "watchdeck", "firing", "warning", NOW - 5, "a new warning")
        app.engine.scheduler.emit(AlertsUpdated((new, *ALERTS), NOW))
        await pilot.pause()
        assert keys(app)[:2] == ["watchdeck/CheckoutDown", "watchdeck/NewOne"]
        assert pane(app).focus_target.highlighted_key == "watchdeck/EmailBacklog"


# --- the detail screen ----------------------------------------------------------------------
async def test_enter_shows_labels_annotations_links_quiet_reasons_and_history() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        await select(pilot, key_of(app, "DiskFull"))
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AlertDetailScreen)
        texts = {name: text.plain for name, text in screen.texts.items()}
        assert texts["header"].startswith("✖ critical · firing · DiskFull · am  ✓ ack alice")
        assert "fell below 8%" in texts["alert"] and "am (Alertmanager)" in texts["alert"]
        assert "by alice@ops-1 at 22:11:20" in texts["quiet"]
        assert "on it, ticket OPS-4711" in texts["quiet"]
        assert "https://wiki.example.internal/runbooks/disk-full" in texts["links"]
        assert "prometheus.example.internal:9090/graph" in texts["links"]
        assert "mountpoint  /var/lib/postgresql" in texts["labels"]
        assert texts["annotations"].startswith("runbook_url")
        history = texts["history"].splitlines()
        assert [line.split()[:2] for line in history] == [
            ["22:01:40", "firing"],
            ["21:53:20", "resolved"],
            ["21:48:20", "firing"],
        ]
        assert set(footer(app)) >= {"a", "s", "x", "o", "y", "escape"}
        assert footer(app)["x"] is False, "not silenced: nothing to expire"

        app.engine.scheduler.emit(AlertsUpdated(ALERTS, NOW + 60))  # DiskFull gone
        await pilot.pause()
        assert "no longer listed" in screen.texts["header"].plain
        assert footer(app)["a"] is False
        await pilot.press("escape")
        assert app.screen is app.deck

        await select(pilot, "watchdeck/CheckoutDown")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        assert app.screen.texts["quiet"].plain.startswith("not suppressed, not acknowledged")


async def test_detail_names_inhibitors_silences_and_maintenance_windows() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        await select(pilot, "group:TargetDown")
        await pilot.press("right", "down", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        assert "inhibited by  DiskFull (" in app.screen.texts["quiet"].plain
        await pilot.press("escape")
        await select(pilot, key_of(app, "HighLatency service=search"))
        await pilot.press("enter")
        await pilot.pause()
        quiet = app.screen.texts["quiet"].plain  # type: ignore[attr-defined]
        assert quiet == "maintenance  search-reindex until 23:00:00 · planned reindex, OPS-4702"


# --- o: the runbook ---------------------------------------------------------------------
async def test_o_opens_the_local_runbook_or_shows_the_url() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        await select(pilot, key_of(app, "CheckoutDown"))
        assert footer(app)["o"] is False, "no runbook"
        await select(pilot, key_of(app, "EmailBacklog"))
        await pilot.press("o")
        markdown = app.deck.runbooks.query_one(Markdown)
        await wait_for(pilot, lambda: markdown.source.startswith("# Queue backlog"), "it shows")
        assert app.deck.zoomed and app.deck.active == 5
        assert app.focused is app.deck.runbooks.preview
        await pilot.press("escape", "escape")  # back to the list, unzoom

        await select(pilot, key_of(app, "DiskFull"))
        await pilot.press("enter", "o")  # from the detail screen too
        await pilot.pause()
        assert "https://wiki.example.internal/runbooks/disk-full (copied" in messages(app)
        await pilot.press("escape")
        await select(pilot, key_of(app, "ReplicationLag"))
        await pilot.press("o")
        await pilot.pause()
        assert "no runbook named 'replication-lag' under runbooks.paths" in messages(app)


async def test_o_from_the_detail_screen_closes_it_and_opens_the_runbook() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await select(pilot, "watchdeck/EmailBacklog")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        assert "Queue backlog (queue-backlog.md)" in app.screen.texts["links"].plain
        await pilot.press("o")
        markdown = app.deck.runbooks.query_one(Markdown)
        await wait_for(pilot, lambda: markdown.source.startswith("# Queue backlog"), "it shows")
        assert app.screen is app.deck


# --- read-only ----------------------------------------------------------------------------
async def test_read_only_hides_acknowledge_silence_and_expire() -> None:
    engine = Engine(make_alerts_config(), base_dir=RUNBOOKS, clock=clock, read_only=True)
    app = make_app(engine)
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        await select(pilot, key_of(app, "ReplicationLag"))
        shown = footer(app)
        assert not {"a", "s", "x"} & set(shown) and shown["o"] is True
        await pilot.press("a", "s", "x")
        await pilot.pause()
        assert app.screen is app.deck
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        assert not {"a", "s", "x"} & set(footer(app))
        await pilot.press("a", "s", "x")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        assert app.engine.actions.journal is None


async def test_keys_are_enabled_only_where_they_apply() -> None:
    app = alerts_app()
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        expected = {
            "DiskFull": {"a": True, "s": True, "x": False, "o": True},
            "ReplicationLag": {"a": True, "s": True, "x": True, "o": True},
            "CheckoutDown": {"a": True, "s": False, "x": False, "o": False},
            "DbConnectionsHigh": {"a": False, "s": False, "x": False, "o": False},
            "▸ TargetDown": {"a": False, "s": False, "x": False, "o": False},
        }
        for name, enabled in expected.items():
            await select(pilot, key_of(app, name))
            assert {key: footer(app)[key] for key in enabled} == enabled, name


# --- acknowledge, through the engine, journaled and saved -------------------------------------
RULE_CONFIG = """
checks:
  - {name: api, url: "http://127.0.0.1:9/health"}
alerts:
  rules:
    - {name: ApiDown, when: check.api.up < 1, severity: critical, summary: "api is down"}
runbooks:
  paths: [.]
"""


def rule_engine(state_dir: Path) -> Engine:
    config = load_config_text(RULE_CONFIG, "t.yaml", {})
    return Engine(config, base_dir=RUNBOOKS, state_dir=state_dir, clock=clock)


async def test_acknowledge_and_take_it_back_round_trip(tmp_path: Path) -> None:
    engine = rule_engine(tmp_path)
    down = CheckSample("api", "http", NOW - 1, up=False, status="critical", error="refused")
    engine.state.record_sample("check:api", down, NOW - 1)
    app = make_app(engine)
    me = actor()
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        engine.evaluate_rules()
        await settle(pilot)
        (key,) = keys(app)
        await select(pilot, key)
        await pilot.press("a")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, AcknowledgeScreen)
        assert isinstance(app.focused, Input), "typing goes to the comment"
        await type_text(pilot, "on it")
        await pilot.press("enter")  # leaves the field for the button, confirms nothing
        assert app.screen is dialog
        assert isinstance(app.focused, Button) and app.focused.id == "confirm"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "acknowledged by" in messages(app), "the outcome")
        assert cell(app, key, "summary") == f"✓ ack {me.partition('@')[0]} · api is down"

        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: "no longer acknowledged" in messages(app), "undone")
        assert cell(app, key, "summary") == "api is down"

        await pilot.press("a")
        await pilot.pause()
        await pilot.press("escape")  # cancelled: nothing journaled
        await pilot.pause()
        assert app.screen is app.deck

        await pilot.press("a")
        await pilot.pause()
        await pilot.press("tab", "tab", "enter")  # no comment: Cancel, then Acknowledge
        await wait_for(pilot, lambda: messages(app).count("acknowledged by") == 2, "acked again")
    await engine.stop()

    entries = list(Journal(tmp_path / "journal.jsonl").entries())
    done = [
        (e["action"], e["details"].get("comment"))
        for e in entries
        if e["event"] != "action.requested"
    ]
    assert done == [
        ("alert.acknowledge", "on it"),
        ("alert.unacknowledge", None),
        ("alert.acknowledge", ""),
    ]
    again = rule_engine(tmp_path)  # the acknowledgement survives a restart
    (alert,) = again.alerts
    assert (alert.acknowledged_by, alert.state) == (me, "firing")
    await again.stop()


async def test_actions_without_a_state_dir_are_refused_in_one_line() -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await select(pilot, "watchdeck/CheckoutDown")
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("tab", "tab", "enter")
        await wait_for(pilot, lambda: "no state directory" in messages(app), "refused")
        assert "\n" not in next(
            str(n.message) for n in app._notifications if "no state directory" in str(n.message)
        )


async def test_escape_sequences_from_a_source_are_drawn_as_symbols(tmp_path: Path) -> None:
    server = FixtureServer()
    server.start()
    alert = {
        "labels": {"alertname": "Inject", "team": INJECTION},
        "annotations": {"summary": INJECTION, "description": INJECTION},
        "generatorURL": "http://prometheus:9090/graph" + INJECTION,
    }
    server.serve("GET", "/api/v2/alerts", json.dumps([alert]))
    engine = am_engine(server.url, tmp_path)
    app = WatchdeckApp(engine, start_engine=False)
    try:
        async with app.run_test(size=BIG) as pilot:
            await engine.check_once()
            await settle(pilot)
            (key,) = keys(app)
            drawn = [cell(app, key, column.key) for column in COLUMNS]
            assert "E␛]2;PWNED␛" in drawn[-1]
            await select(pilot, key)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, AlertDetailScreen)
            drawn += [text.plain for text in app.screen.texts.values()]
            assert [text for text in drawn if TERMINAL_CONTROLS.search(text)] == []
    finally:
        await engine.stop()
        server.stop()


# --- the bell and the toast --------------------------------------------------------------------
def counting_bell(app: WatchdeckApp) -> list[int]:
    """Count the app's bells (the terminal would beep; the headless driver has none)."""
    rings: list[int] = []
    ring = app.bell

    def bell() -> None:
        rings.append(1)
        ring()

    app.bell = bell  # type: ignore[method-assign]
    return rings


def firing(name: str, severity: str = "critical", **fields: object) -> Alert:
    return Alert(name, "watchdeck", "firing", severity, NOW, f"{name} fired", **fields)  # type: ignore[arg-type]


async def test_a_new_critical_alert_rings_and_toasts_once() -> None:
    app = make_app()
    rings = counting_bell(app)
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert rings == [] and "firing" not in messages(app), "CheckoutDown fired before start"
        emit = app.engine.scheduler.emit
        emit(AlertsUpdated((firing("DiskFull"), *ALERTS), NOW))
        await pilot.pause()
        assert len(rings) == 1
        assert "✖ DiskFull firing: DiskFull fired" in messages(app)
        emit(AlertsUpdated((firing("DiskFull"), *ALERTS), NOW + 5))  # still firing: quiet
        await pilot.pause()
        assert len(rings) == 1
        quiet = (
            firing("Silenced", suppressed=True, silenced_by=("s-1",)),
            firing("Warned", "warning"),
            dataclasses.replace(firing("Pending"), state="pending"),
        )
        emit(AlertsUpdated((*quiet, firing("DiskFull"), *ALERTS), NOW + 10))
        await pilot.pause()
        assert len(rings) == 1
        assert not any(name in messages(app) for name in ("Silenced", "Warned", "Pending"))
        many = tuple(firing(f"Burst{n}") for n in range(5))
        emit(AlertsUpdated((*many, *ALERTS), NOW + 15))
        await pilot.pause()
        assert len(rings) == 2, "one bell for the burst"
        assert "2 more critical alerts firing" in messages(app)


async def test_an_alert_whose_silence_ends_rings_and_toasts_once() -> None:
    app = make_app()
    rings = counting_bell(app)
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        emit = app.engine.scheduler.emit
        silenced = firing("DiskFull", suppressed=True, silenced_by=("s-1",))
        emit(AlertsUpdated((silenced, *ALERTS), NOW + 5))  # fired silenced: quiet
        await pilot.pause()
        assert rings == [] and "DiskFull" not in messages(app)
        for at in (NOW + 10, NOW + 15):  # the silence expired: it notifies, once
            emit(AlertsUpdated((firing("DiskFull"), *ALERTS), at))
            await pilot.pause()
        assert len(rings) == 1 and messages(app).count("✖ DiskFull firing") == 1


async def test_an_alert_firing_through_a_maintenance_window_rings_when_it_ends() -> None:
    """It fired before the console opened, inside the window; the window ends while the
    console runs: now it notifies, and nobody was told."""
    window = "maintenance:\n  - {name: deploy, start: 2023-11-14 22:00, duration: 20m}\n"
    config = RULE_CONFIG + window
    now = [NOW - 300]
    engine = Engine(load_config_text(config, "t.yaml", {}), clock=lambda: now[0])

    def evaluate_at(at: float) -> None:
        now[0] = at
        down = CheckSample("api", "http", at, up=False, status="critical", error="refused")
        engine.state.record_sample("check:api", down, at)
        engine.evaluate_rules()

    evaluate_at(NOW - 300)
    now[0] = NOW
    app = WatchdeckApp(engine, clock=lambda: now[0], start_engine=False)
    rings = counting_bell(app)
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        evaluate_at(NOW + 60)  # 22:14:20, in the window
        await settle(pilot)
        (alert,) = engine.alerts
        assert (alert.state, alert.suppressed, alert.since) == ("firing", True, NOW - 300)
        assert rings == []
        evaluate_at(NOW + 480)  # 22:21:20, the window is over
        evaluate_at(NOW + 490)
        await settle(pilot)
        assert not engine.alerts[0].suppressed
        assert len(rings) == 1 and messages(app).count("ApiDown firing: api is down") == 1
    await engine.stop()


async def test_the_bell_can_be_turned_off_and_the_toast_stays() -> None:
    config = msgspec.structs.replace(make_config(), settings=Settings(bell=False))
    engine = make_engine(config)
    app = make_app(engine)
    rings = counting_bell(app)
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        app.engine.scheduler.emit(AlertsUpdated((firing("DiskFull"), *ALERTS), NOW))
        await pilot.pause()
        assert rings == [] and "DiskFull firing" in messages(app)


# --- silence and expire ---------------------------------------------------------------------------
def test_silence_durations_need_a_unit_and_a_length() -> None:
    assert silence_seconds(" 90m ") == 5400.0 and silence_seconds("1d") == 86400.0
    assert silence_seconds("1m") == 60.0 and silence_seconds("365d") == 365 * 86400.0
    for typed, why in (
        ("2", "give a unit, e.g. 2m or 2h"),
        ("0h", "longer than 0"),
        ("soon", "expected a duration"),
        ("1ms", r"^a silence must last at least 1m$"),
        ("99999999d", r"^a silence can last at most 365d$"),  # was: year out of range, later
    ):
        with pytest.raises(ValueError, match=why):
            silence_seconds(typed)


def test_times_on_a_later_day_show_their_date() -> None:
    """22:13:20 now: a silence until 01:13 is tomorrow's (and says so), as is one until 22:00
    tomorrow; past times keep their rule (the date from 20 hours ago)."""
    assert since_text(NOW + 600, NOW) == "22:23:20"
    assert since_text(NOW + 3 * 3600, NOW) == "Nov 15 01:13"
    assert since_text(NOW + 86400 - 900, NOW) == "Nov 15 21:58"
    assert since_text(NOW - 3600, NOW) == "21:13:20"
    assert since_text(NOW - 21 * 3600, NOW) == "Nov 14 01:13"


@pytest.fixture
def am_server() -> Iterator[FixtureServer]:
    server = FixtureServer()
    server.start()
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    server.serve("POST", "/api/v2/silences", '{"silenceID": "7d2f-silence"}')
    server.serve("DELETE", "/api/v2/silence/0f1c3a4e-6b2d-4f0a-9c1e-7d8e9fa0b1c2", "")
    yield server
    server.stop()


def am_engine(url: str, state_dir: Path) -> Engine:
    text = f'alerts:\n  sources:\n    - {{name: am, kind: alertmanager, url: "{url}"}}\n'
    return Engine(load_config_text(text, "t.yaml", {}), state_dir=state_dir)


async def test_silence_posts_the_matchers_after_the_dialog(am_server, tmp_path) -> None:
    engine = am_engine(am_server.url, tmp_path)
    app = WatchdeckApp(engine, start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        await engine.check_once()
        await settle(pilot)
        disk = "am/4f1ba8b5cc6e4c07"
        await select(pilot, disk)
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SilenceScreen)
        body = str(dialog.query_one(".body").render())
        assert 'mountpoint="/var/lib/postgresql"' in body and app.user in body
        confirm = dialog.query_one("#confirm", Button)
        assert confirm.disabled, "a comment is required"
        await pilot.press("enter")  # in the empty comment: nothing happens
        assert app.screen is dialog and confirm.disabled
        await pilot.press("shift+tab", "backspace", "backspace", "2")
        assert "give a unit" in str(dialog.query_one("#until").render())
        await pilot.press("h", "tab")
        await type_text(pilot, "disk grows, OPS-12")
        assert "(2h00m)" in str(dialog.query_one("#until").render()) and not confirm.disabled
        await pilot.press("enter", "enter")  # to the Silence button, then press it
        await wait_for(pilot, lambda: "silence 7d2f-silence until" in messages(app), "done")
        posted = json.loads(next(r.body for r in am_server.requests if r.method == "POST"))
        labels = json.loads((FIXTURES / "alertmanager_v2_alerts.json").read_text())[0]["labels"]
        assert posted["matchers"] == [
            {"name": name, "value": value, "isRegex": False, "isEqual": True}
            for name, value in sorted(labels.items())
        ]
        assert posted["comment"] == "disk grows, OPS-12"
        assert posted["createdBy"] == actor()

        lag = "am/a81cc5f2d9e0b313"  # silenced already: x expires its silence
        await select(pilot, lag)
        await pilot.press("x")
        await pilot.pause()
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        assert "silence 0f1c3a4e-6b2d-4f0a-9c1e-7d8e9fa0b1c2" in question.lines
        assert "  cannot read it: HTTP 404: not found" in question.lines  # still up to you
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: "expired" in messages(app), "expired")
        assert am_server.requests[-1].method == "DELETE"

        am_server.serve("POST", "/api/v2/silences", '"bad matcher"', status=400)
        await select(pilot, disk)
        await pilot.press("s")
        await pilot.pause()
        await type_text(pilot, "again")
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: "HTTP 400: bad matcher" in messages(app), "the error")
    await engine.stop()
    journal = [(e["event"], e["action"]) for e in Journal(tmp_path / "journal.jsonl").entries()]
    assert journal == [
        ("action.requested", "alert.silence"),
        ("action.done", "alert.silence"),
        ("action.requested", "alert.expire_silence"),
        ("action.done", "alert.expire_silence"),
        ("action.requested", "alert.silence"),
        ("action.failed", "alert.silence"),
    ]


async def test_x_again_while_the_silences_are_read_asks_once(
    silent_server: tuple[str, int], tmp_path: Path
) -> None:
    host, port = silent_server
    config = make_alerts_config()
    sources = [
        msgspec.structs.replace(source, url=f"http://{host}:{port}", timeout=1.0)
        if source.name == "am"
        else source
        for source in config.alerts.sources
    ]
    config = msgspec.structs.replace(
        config, alerts=msgspec.structs.replace(config.alerts, sources=sources)
    )
    engine = Engine(config, base_dir=RUNBOOKS, clock=clock, state_dir=tmp_path)
    app = WatchdeckApp(engine, clock=clock, start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        await feed_alerts(pilot)
        await select(pilot, key_of(app, "ReplicationLag"))
        await pilot.press("x")
        await pilot.pause(0.1)
        assert "reading the silences of ReplicationLag in am…" in messages(app)
        await pilot.press("x")  # the Alertmanager has not answered yet
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = app.screen
        assert any("cannot read it" in line for line in question.lines)
        await pilot.pause(0.3)
        assert sum(isinstance(screen, ConfirmScreen) for screen in app.screen_stack) == 1
        assert messages(app).count("reading the silences") == 1
        await pilot.press("escape")
        await pilot.press("x")  # answered: x asks again
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("escape")


async def test_s_on_an_alert_from_no_alertmanager_says_why(tmp_path) -> None:
    app = make_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await select(pilot, "watchdeck/CheckoutDown")
        assert footer(app)["s"] is False
        pane(app).post_message(AlertsPane.SilenceWanted(ALERTS[2]))  # as the palette could
        await wait_for(pilot, lambda: "cannot be silenced" in messages(app), "refused")
        assert app.screen is app.deck


async def test_silence_and_expire_end_to_end_against_alertmanager(
    alertmanager: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    labels = _post_alert(alertmanager, run)
    engine = Engine(
        load_config_text(_config_text(alertmanager, run), "t.yaml", {}), state_dir=tmp_path
    )
    app = WatchdeckApp(engine, start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        await engine.check_once()
        await settle(pilot)
        (key,) = keys(app)
        assert cell(app, key, "severity") == "✖ critical"
        await select(pilot, key)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen)
        await type_text(pilot, "end to end")
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: "until" in messages(app), "the silence")
        await engine.check_once()
        await settle(pilot)
        assert cell(app, key, "summary").startswith("⊘ silenced · ")
        (alert,) = engine.alerts
        assert footer(app)["x"] is True

        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: "expired" in messages(app), "the expiry")
        await engine.check_once()
        await settle(pilot)
        assert not cell(app, key, "summary").startswith("⊘")
    await engine.stop()
    (silence,) = alert.silenced_by
    entries = list(Journal(tmp_path / "journal.jsonl").entries())
    done = [e for e in entries if e["event"] == "action.done"]
    assert [e["action"] for e in done] == ["alert.silence", "alert.expire_silence"]
    assert done[0]["details"]["matchers"] == labels
    assert done[1]["details"]["id"] == silence


async def test_x_shows_whose_silence_it_is_and_what_else_it_silences(
    alertmanager: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A colleague's broad silence covers this alert and four more: expiring it for one alert
    would wake them all, so the question says so before anything is sent."""
    run = uuid.uuid4().hex[:8]
    now = time.time()
    cluster = {"cluster": f"prod-eu-{run}", "run": run}
    alerts = [
        {
            "labels": {"alertname": f"B{n}", **cluster},
            "startsAt": format_time(now - 5),
            "endsAt": format_time(now + 600),
        }
        for n in range(5)
    ]
    httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
    silence = {
        "matchers": [
            {"name": "cluster", "value": cluster["cluster"], "isRegex": False, "isEqual": True}
        ],
        "startsAt": format_time(now),
        "endsAt": format_time(now + 7200),
        "createdBy": "alice",
        "comment": "DB migration CHG-42",
    }
    answer = httpx.post(f"{alertmanager}/api/v2/silences", json=silence, timeout=5)
    silence_id = answer.json()["silenceID"]
    engine = Engine(
        load_config_text(_config_text(alertmanager, run), "t.yaml", {}), state_dir=tmp_path
    )
    app = WatchdeckApp(engine, start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        await engine.check_once()
        await settle(pilot)
        await select(pilot, key_of(app, "B0"))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        lines = app.screen.lines
        at = lines.index(f"silence {silence_id}")
        assert lines[at + 1] == f'  matches   cluster="prod-eu-{run}"'
        assert lines[at + 2].startswith("  by        alice · active until ")
        assert lines[at + 3 : at + 5] == (
            "  comment   DB migration CHG-42",
            "  covers    5 alerts shown: this one and 4 more",
        )
        await pilot.press("escape")  # the operator thinks better of it
        await pilot.pause()
    await engine.stop()
    stored = httpx.get(f"{alertmanager}/api/v2/silence/{silence_id}", timeout=5).json()
    assert stored["status"]["state"] == "active"
