"""The Health pane and the check detail screen with Pilot: order, sort, filter, detail, toasts."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.containers import VerticalScroll
from textual.notifications import SeverityLevel
from textual.widgets import Input, Static
from ui_fixtures import (
    CHECKOUT_BODY,
    NOW,
    checkout_sample,
    clock,
    feed,
    make_config,
    make_engine,
    make_health_config,
    utc,
)

import tui.app
from tui.app import WatchdeckApp
from tui.engine.config import Check, Config, Settings
from tui.engine.derived import CheckResult
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.engine.samples import CheckSample
from tui.screens.check_detail import CheckDetailScreen, body_section, pretty_body, target
from tui.screens.console import FIGURES_EVERY, ConsoleScreen
from tui.screens.help import KEYS
from widgets.health import (
    DOWN,
    HISTORY_WIDTH,
    HealthPane,
    cert_days,
    first_failure,
    history_strip,
)
from widgets.status import Palette
from widgets.table import SortedTable as HealthTable

BIG = (120, 40)
SMALL = (80, 24)
BY_STATUS = ["checkout", "search", "login", "db-port", "api", "payments", "site-cert"]
BY_NAME = sorted(BY_STATUS)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


class ToastApp(WatchdeckApp):
    """The console, remembering every toast it raised (they expire from the screen)."""

    CSS_PATH = Path(tui.app.__file__).with_name("app.tcss")  # relative paths follow the class

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, clock=clock, start_engine=False)
        self.toasts: list[tuple[str, SeverityLevel]] = []

    def notify(
        self, message: str, *, severity: SeverityLevel = "information", **kw: object
    ) -> None:
        self.toasts.append((message, severity))
        super().notify(message, severity=severity, **kw)  # type: ignore[arg-type]


def health_app() -> ToastApp:
    return ToastApp(make_engine(make_health_config()))


def table(app: WatchdeckApp) -> HealthTable:
    return app.deck.query_one(HealthTable)


def order(app: WatchdeckApp) -> list[str]:
    return [row.key.value or "" for row in table(app).ordered_rows]


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def cell(app: WatchdeckApp, name: str, column: str) -> str:
    return plain(table(app).get_cell(name, column))


def title(app: WatchdeckApp) -> str:
    return Text.from_markup(app.deck.query_one(HealthPane).border_title or "").plain


def rendered(widget: Static, width: int = 200) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(widget.content)
    return "\n".join(line.rstrip() for line in capture.get().splitlines())


def section(app: WatchdeckApp, name: str) -> str:
    static = app.screen.query_one(f"#section-{name}", Static)
    return f"{static.border_title}\n{rendered(static)}"


def emit(app: WatchdeckApp, name: str, sample: CheckSample | None, at: float) -> None:
    """Record a poll of check ``name`` through the real State and deliver its event."""
    state = app.engine.state
    source = f"check:{name}"
    if sample is None:
        recorded = state.record_error(source, "connection refused", at)
    else:
        recorded = state.record_sample(source, sample, at)
    app.engine.scheduler.emit(SourceUpdated(recorded))


def api(at: float, *, up: bool) -> CheckSample:
    if up:
        return CheckSample(
            "api", "http", at, up=True, status="ok", latency_ms=40.0, http_status=200
        )
    return CheckSample(
        "api",
        "http",
        at,
        up=False,
        status="critical",
        latency_ms=40.0,
        http_status=503,
        failed_conditions=("status (503) == 2xx",),
    )


# --- the table -------------------------------------------------------------------------


async def test_unhealthy_first_even_while_the_table_has_focus() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert app.focused is table(app)
        assert order(app) == BY_STATUS
        assert "by status" in title(app)
        assert cell(app, "checkout", "status") == "✖ critical"
        assert cell(app, "search", "status") == "▲ warning"
        assert cell(app, "login", "status") == "◌ stale"
        assert cell(app, "db-port", "status") == "… waiting"
        assert cell(app, "payments", "status") == "✔ ok ≈ flapping"


async def test_cells_show_code_latency_p95_history_cert_and_detail() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert cell(app, "checkout", "code") == "500"
        assert cell(app, "checkout", "latency") == "812ms"
        stats = app.engine.state.check_stats("checkout")
        assert stats is not None and stats.p95_ms == 131.0
        assert cell(app, "checkout", "p95") == "131ms"
        strip = cell(app, "checkout", "history")
        assert len(strip) == HISTORY_WIDTH
        assert strip.endswith(DOWN * 3)
        assert cell(app, "payments", "history").count(DOWN) == 5
        assert cell(app, "checkout", "cert") == "▲ 17d"
        assert cell(app, "api", "cert") == "—"
        assert cell(app, "checkout", "detail") == "status (500) == 200"
        assert cell(app, "search", "detail") == "latency (1.24s) < 1s"
        assert cell(app, "login", "detail").startswith("stale · connection refused")
        assert cell(app, "db-port", "detail") == "waiting for first poll"


async def test_s_cycles_the_sort_and_keeps_the_cursor_on_its_check() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("down", "down")  # on login
        await pilot.press("s")
        assert "by name" in title(app)
        assert order(app) == BY_NAME
        assert table(app).cursor_key() == "login"

        await pilot.press("s")
        assert "by latency" in title(app)
        by_latency = ["search", "checkout", "payments", "login", "api", "site-cert", "db-port"]
        assert order(app) == by_latency

        await pilot.press("s")
        assert "by p95" in title(app)
        p95 = {name: app.engine.state.check_stats(name) for name in BY_STATUS}
        values = [stats.p95_ms if stats else None for stats in (p95[n] for n in order(app))]
        known = [value for value in values if value is not None]
        assert known == sorted(known, reverse=True)
        assert values[-1] is None  # db-port: no data sorts last

        await pilot.press("s")
        assert order(app) == BY_STATUS
        assert table(app).cursor_key() == "login"


async def test_rows_stay_put_under_a_moved_cursor_until_focus_leaves() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("down")
        emit(app, "api", api(NOW, up=False), NOW)
        await pilot.pause()
        assert cell(app, "api", "status") == "✖ critical"
        assert order(app) == BY_STATUS  # the operator is aiming: nothing moves
        await pilot.press("tab")
        await pilot.pause()
        assert order(app)[:3] == ["api", "checkout", "search"]


async def test_the_cursor_stays_on_its_check_when_rows_are_sorted_behind_it() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("down", "down")
        assert table(app).cursor_key() == "login"
        emit(app, "api", api(NOW, up=False), NOW)
        await pilot.pause()
        await pilot.press("tab")  # leaving sorts api to the top
        await pilot.pause()
        assert order(app)[:4] == ["api", "checkout", "search", "login"]
        assert table(app).cursor_key() == "login"
        emit(app, "api", api(NOW + 1, up=True), NOW + 1)  # a poll while away sorts it back
        await pilot.pause()
        assert order(app) == BY_STATUS
        assert table(app).cursor_key() == "login"
        await pilot.press("1")
        emit(app, "api", api(NOW + 2, up=False), NOW + 2)  # back and aiming: nothing moves
        await pilot.pause()
        assert order(app) == BY_STATUS
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CheckDetailScreen)
        assert app.screen.state.name == "login"


async def test_slash_filters_by_name_or_detail_and_esc_clears() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        field = app.deck.query_one("#health-filter", Input)
        assert not field.display
        await pilot.press("slash")
        assert app.focused is field and field.display
        await pilot.press(*"PAY")
        assert order(app) == ["payments"]
        assert "/PAY (1 of 7)" in title(app)

        field.value = "[b]x"  # shown as typed, never read as markup
        await pilot.pause()
        assert order(app) == []
        assert "/[b]x (0 of 7)" in title(app)

        field.value = ""
        await pilot.press(*"refused")  # matches the detail of the stale check
        assert order(app) == ["login"]
        await pilot.press("enter")
        assert app.focused is table(app)
        assert not field.display
        assert order(app) == ["login"]
        assert "/refused (1 of 7)" in title(app)

        await pilot.press("escape")
        assert order(app) == BY_STATUS
        assert "/" not in title(app)

        await pilot.press("slash", "s", "e", "escape")  # esc while typing clears too
        assert order(app) == BY_STATUS
        assert app.focused is table(app)


async def test_esc_without_a_filter_still_unzooms() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("z")
        assert app.deck.zoomed
        await pilot.press("escape")
        assert not app.deck.zoomed


# --- the detail screen -----------------------------------------------------------------


async def test_enter_opens_the_detail_of_the_highlighted_check() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert table(app).cursor_key() == "checkout"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CheckDetailScreen)

        header = rendered(app.screen.query_one("#check-header", Static))
        assert "✖ critical  checkout · http · GET https://127.0.0.1:9/checkout" in header
        assert "last poll 22:13:17 (3s ago) · 812ms · HTTP 500" in header

        stats = section(app, "stats")
        assert "stats · last 5m · 9 polls" in stats
        assert "last 812ms · p50 120ms · p95 131ms" in stats
        assert "33.3% · uptime 66.7%" in stats
        assert "consecutive failures  3" in stats

        conditions = section(app, "conditions")
        assert "✖  status == 200" in conditions and "500" in conditions
        assert "✔  latency < 1s" in conditions and "812ms" in conditions
        assert "?  header X-Content-Type-Options exists" in conditions

        headers = section(app, "headers")
        assert "content-type" in headers and "application/json" in headers
        assert "set-cookie                 ***" in headers

        body = section(app, "body")
        assert f"body · {len(CHECKOUT_BODY)} B · JSON" in body
        assert '\n  "status": "degraded",\n' in body
        assert '      "status": "timeout",' in body

        chain = section(app, "chain")
        assert "certificate chain · 2 certificates" in chain
        leaf, intermediate = (line for line in chain.splitlines() if "CN=Internal" in line)
        assert "CN=checkout.internal" in leaf and "17d  ◀ earliest" in leaf
        assert "2023-12-02" in leaf
        assert "CN=Internal Root CA" in intermediate and "412d" in intermediate
        assert "earliest" not in intermediate
        assert "leaf names: checkout.internal, checkout.svc.cluster.local" in chain

        results = section(app, "results").splitlines()
        assert "last results · 9, newest first" in results[0]
        assert results[2].split() == ["22:13:17", "✖", "down", "500", "812ms"]
        assert results[-1].split() == ["22:12:00", "✔", "up", "200", "120ms"]

        await pilot.press("escape")
        assert isinstance(app.screen, ConsoleScreen)
        assert app.focused is table(app)
        await pilot.press("enter")
        await pilot.press("q")
        assert isinstance(app.screen, ConsoleScreen)
        assert app.is_running


async def test_the_detail_of_a_stale_check_says_so() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CheckDetailScreen)
        header = rendered(app.screen.query_one("#check-header", Static))
        assert "stale · connection refused · retry in 6s" in header
        assert "last good poll 22:13:10" in header
        assert "as of the last good poll at 22:13:10" in section(app, "conditions")
        assert "none (no TLS)" in section(app, "chain")


async def test_the_detail_follows_new_polls_without_moving_the_scroll() -> None:
    app = health_app()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CheckDetailScreen)
        scroll = screen.query_one(VerticalScroll)
        await pilot.press("down", "down", "down", "down", "down")
        await pilot.pause()
        offset = scroll.scroll_y
        assert offset > 0

        body = '{"status": "down", "checks": {}}'
        update = replace(checkout_sample(NOW, code=503, body=body), latency_ms=903.0)
        emit(app, "checkout", update, NOW)
        emit(app, "api", api(NOW, up=False), NOW)  # another check: not this screen's
        await pilot.pause()

        assert screen.state.sample is update
        assert "HTTP 503" in rendered(screen.query_one("#check-header", Static))
        assert "status (503) == 200" not in section(app, "conditions")  # actual, not message
        assert "503" in section(app, "conditions")
        assert '"status": "down"' in section(app, "body")
        assert "10, newest first" in section(app, "results")
        assert "4" in section(app, "stats")  # four consecutive failures now
        assert scroll.scroll_y == offset


async def test_the_detail_is_usable_at_80x24() -> None:
    app = health_app()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CheckDetailScreen)
        scroll = screen.query_one(VerticalScroll)
        assert app.focused is scroll
        assert scroll.max_scroll_y > 0
        results = screen.query_one("#section-results", Static)
        assert results.region.y >= screen.size.height  # below the fold, reached by keys
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        visible = scroll.content_region
        assert results.region.y < visible.bottom
        assert results.region.x + results.region.width <= SMALL[0]
        await pilot.press("home")
        await pilot.pause()
        assert scroll.scroll_y == 0
        await pilot.press("escape")
        assert isinstance(app.screen, ConsoleScreen)


async def test_at_80x24_the_reason_is_in_the_subtitle_and_the_detail_a_key_away() -> None:
    app = ToastApp(make_engine(make_config()))
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        pane = app.deck.query_one(HealthPane)
        subtitle = Text.from_markup(pane.border_subtitle or "").plain
        assert subtitle.startswith("✖ checkout: status (500) == 200 · ✖ 1 critical")
        health = table(app)
        assert health.region.right <= SMALL[0]
        assert health.max_scroll_x > 0
        for _ in range(health.max_scroll_x):  # → scrolls a cell at a time
            await pilot.press("right")
        await pilot.pause()
        assert health.scroll_x == health.max_scroll_x


# --- toasts ----------------------------------------------------------------------------


async def test_five_failed_polls_raise_one_toast_and_recovery_one_more() -> None:
    app = ToastApp(make_engine(make_config()))
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert app.toasts == []  # first samples are not changes
        for poll in range(5):
            emit(app, "api", api(NOW + poll, up=False), NOW + poll)
            await pilot.pause()
        assert app.toasts == [("✖ api is critical (was ok): status (503) == 2xx", "error")]

        emit(app, "api", None, NOW + 6)  # a poll that raised: still critical, no toast
        await pilot.pause()
        assert len(app.toasts) == 1

        emit(app, "api", api(NOW + 7, up=True), NOW + 7)
        await pilot.pause()
        assert app.toasts[1:] == [("✔ api recovered (was critical)", "information")]


async def test_warning_toast_and_none_for_the_first_poll() -> None:
    engine = make_engine(make_config())
    app = ToastApp(engine)
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        emit(app, "search", None, NOW)  # first result ever, even a failure: no toast
        await pilot.pause()
        assert app.toasts == []
        ok = CheckSample("search", "http", NOW + 1, up=True, status="ok", latency_ms=90.0)
        emit(app, "search", ok, NOW + 1)
        slow = replace(ok, at=NOW + 2, up=False, status="warning", failed_conditions=("x",))
        emit(app, "search", slow, NOW + 2)
        await pilot.pause()
        assert app.toasts == [
            ("✔ search recovered (was critical)", "information"),
            ("▲ search is warning (was ok): x", "warning"),
        ]


async def test_a_flapping_check_is_announced_once_then_quiet_until_it_settles() -> None:
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        at = NOW
        for poll in range(4):
            at += 1
            up = poll % 2 == 1
            status = "ok" if up else "critical"
            sample = CheckSample("payments", "http", at, up=up, status=status, latency_ms=9.0)
            emit(app, "payments", sample, at)
            await pilot.pause()
        assert app.toasts == [
            ("≈ flapping: payments keeps changing state; quiet until it settles", "warning")
        ]
        for _ in range(40):
            stats = app.engine.state.check_stats("payments", at)
            if stats is None or not stats.flapping:
                break
            at += 1
            sample = CheckSample("payments", "http", at, up=True, status="ok", latency_ms=9.0)
            emit(app, "payments", sample, at)
            await pilot.pause()
        assert app.toasts[1:] == [("✔ payments stopped flapping: ok", "information")]
        assert cell(app, "payments", "status") == "✔ ok"


async def test_a_flapping_checks_status_changes_wait_for_the_figures_tick() -> None:
    """Once a check flaps, each flip is a figure, not news: drawing (and re-sorting) the pane
    at every flip cost a repaint every poll for a state the pane already shows as flapping."""
    app = health_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        at, up = NOW, True
        while not app.engine.state.check_stats("payments", at).flapping:
            at, up = at + 1, not up
            status = "ok" if up else "critical"
            sample = CheckSample("payments", "http", at, up=up, status=status, latency_ms=9.0)
            emit(app, "payments", sample, at)
            await pilot.pause()
        shown = cell(app, "payments", "status")
        up = not up
        status = "ok" if up else "critical"
        emit(app, "payments", CheckSample("payments", "http", at + 1, up=up, status=status), at + 1)
        await pilot.pause()
        assert cell(app, "payments", "status") == shown, "a flip while flapping waits"
        app.deck.ticks = FIGURES_EVERY - 1  # the next tick draws figures
        app.tick()
        await pilot.pause()
        assert cell(app, "payments", "status") != shown


# --- pieces ----------------------------------------------------------------------------


def test_history_strip_scales_latency_and_marks_down_polls_with_a_glyph() -> None:
    palette = Palette(["green", "yellow", "red", "blue"])
    recent = [CheckResult(float(n), True, n * 10.0) for n in range(8)]
    recent.append(CheckResult(8.0, False, None))
    strip = history_strip(recent, palette)
    assert strip.plain == " ▁▂▃▄▅▆▇█" + DOWN  # from 0 to the highest, newest on the right
    assert strip.spans[-1].style == palette.style("critical")
    older = [CheckResult(float(n), True, 5.0) for n in range(HISTORY_WIDTH + 5)]
    assert history_strip(older, palette).plain == "█" * HISTORY_WIDTH
    assert history_strip([], palette).plain == " " * HISTORY_WIDTH


def test_cert_days_warn_under_thirty_days() -> None:
    palette = Palette(["green", "yellow", "red", "blue"])
    assert cert_days(None, palette).plain == "—"
    assert cert_days(74.9, palette).plain == "74d"
    assert str(cert_days(74.9, palette).style) == ""
    assert cert_days(12.6, palette).style == palette.style("warning")
    assert cert_days(12.6, palette).plain == "▲ 12d"  # seen without colour too (NO_COLOR)
    assert cert_days(-0.5, palette).plain == "expired"


def test_the_target_of_an_ipv6_host_is_bracketed_before_its_port() -> None:
    v6 = Check(name="db", kind="tcp", host="2001:db8::5", port=5432)
    assert target(v6) == "[2001:db8::5]:5432"
    assert target(Check(name="db", kind="tcp", host="[::1]", port=5432)) == "[::1]:5432"
    v4 = Check(name="site", kind="tls", host="127.0.0.1", port=443, server_name="example.test")
    assert target(v4) == "127.0.0.1:443 (SNI example.test)"


def test_first_failure_counts_the_others() -> None:
    sample = CheckSample(
        "x", "http", NOW, up=False, status="critical", failed_conditions=("a (1) == 2", "b")
    )
    assert first_failure(sample) == "a (1) == 2 (+1 more)"
    assert first_failure(replace(sample, failed_conditions=(), error="timed out")) == "timed out"


def test_bodies_are_pretty_printed_when_json_and_capped() -> None:
    text, is_json = pretty_body('{"a": [1, 2]}')
    assert is_json and text.plain == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    text, is_json = pretty_body("line\n" * 100)
    assert not is_json
    assert text.plain.endswith("… 60 more lines")


def test_a_truncated_body_says_where_it_was_cut() -> None:
    sample = replace(
        checkout_sample(), body_excerpt='{"items": [1, 2', body_bytes=65536, body_truncated=True
    )
    section = body_section(sample, Palette.of({}))
    assert section.title == "body · 64 KiB"  # cut JSON does not parse: shown as it came
    (text,) = section.rows[0]
    assert text.plain == '{"items": [1, 2\n(truncated at 64 KiB)'


def test_help_lists_the_health_keys() -> None:
    listed = {key for key, _ in KEYS}
    names = {"slash": "/", "escape": "esc"}
    for binding in HealthPane.BINDINGS:
        assert not isinstance(binding, tuple)
        assert names.get(binding.key, binding.key) in listed
    assert "enter" in listed


async def test_the_detail_of_a_real_check_polled_by_a_real_engine(http_server: str) -> None:
    config = Config(
        settings=Settings(interval=30.0, timeout=2.0),
        checks=[Check(name="local", url=f"{http_server}/ok", expect=["status == 200"])],
    )
    app = WatchdeckApp(Engine(config))
    async with app.run_test(size=SMALL) as pilot:
        deadline = time.monotonic() + 10
        while cell(app, "local", "status") != "✔ ok":
            assert time.monotonic() < deadline, "the check never showed as ok"
            await pilot.pause(0.05)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CheckDetailScreen)
        conditions = section(app, "conditions")
        assert "✔  status == 200" in conditions and "200" in conditions
        assert "content-type" in section(app, "headers").lower()
        assert '"status": "ok"' in section(app, "body")

        await pilot.press("r")  # a second poll, while the detail is open
        while "last results · 2" not in section(app, "results"):
            assert time.monotonic() < deadline, section(app, "results")
            await pilot.pause(0.05)
        assert isinstance(app.screen, CheckDetailScreen)


async def test_a_tick_redraws_the_pane_only_for_new_figures_or_a_countdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the pane shows was sampled by the checks: the clock alone changes nothing but a
    failing check's retry countdown, so ticks without new figures draw nothing."""
    app = health_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await feed(pilot)
        pane = app.deck.query_one(HealthPane)
        drawn: list[float] = []
        redraw = HealthPane.redraw
        monkeypatch.setattr(
            HealthPane, "redraw", lambda self: (drawn.append(self.now), redraw(self))[1]
        )
        failing = [state.name for state in pane.states.values() if state.error is not None]
        for name in failing:  # the fixture's failing checks come back
            emit(app, name, replace(api(NOW, up=True), name=name), NOW)
        await pilot.pause()
        pane.tick(NOW + 1, False)  # draws what arrived
        drawn.clear()
        pane.tick(NOW + 2, False)
        pane.tick(NOW + 3, False)
        assert drawn == [], "nothing new, no countdown: the ticks draw nothing"
        emit(app, "api", api(NOW + 3, up=True), NOW + 3)  # same status: figures wait
        await pilot.pause()
        pane.tick(NOW + 4, False)
        assert drawn == [NOW + 4]
        emit(app, "api", None, NOW + 4)  # an error is news, and its countdown ticks
        await pilot.pause()
        drawn.clear()
        pane.tick(NOW + 5, False)
        pane.tick(NOW + 6, False)
        assert drawn == [NOW + 5, NOW + 6]
        assert "retry" in cell(app, "api", "detail") or "connection refused" in cell(
            app, "api", "detail"
        )
