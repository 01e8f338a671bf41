"""The timeline view (``t``): rows from the state dir's timeline and live from the engine,
filters by source, severity and text, ``enter`` jumping to the entry's pane row or runbook
run, and how it looks (snapshots at a fixed clock, on fixed entries in a temporary state dir).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from runbook_ui import screen_text, until
from textual.widgets import Static
from ui_fixtures import NOW, RUNBOOKS, clock, feed, make_config, utc

from tui.app import WatchdeckApp
from tui.demo.service import DemoService
from tui.engine.config import Check, Config
from tui.engine.engine import Engine
from tui.engine.timeline import Entry, Link, TimelineStore
from tui.screens.help import HelpScreen
from tui.screens.runbook_dialogs import ResumeScreen
from tui.screens.runbook_run import RunbookRunScreen
from tui.screens.timeline import WHAT_WIDTH, TimelineScreen, when
from widgets.status import single_line

BIG = (120, 40)
SMALL = (80, 24)
ALICE = "alice@ops-1"
RUN = "20231114-211320-7f3a"
SESSION = f"main/4242/{NOW - 7200!r}"
"""The root blocker's row in the Database pane of the fixed data."""
Compare = Callable[..., bool]


def entry(ago: float, source: str, subject: str, severity: str, event: str, text: str, **kw: Any):
    at = NOW - ago
    return Entry(f"{at:017.6f}-0000", at, source, subject, severity, event, text, **kw)  # type: ignore[arg-type]


ENTRIES = [
    entry(
        3600,
        "check",
        "checkout",
        "critical",
        "check.state",
        "checkout critical (was ok): status (500) == 200",
        link=Link("health", "checkout"),
    ),
    entry(
        3540,
        "alert",
        "CheckoutDown",
        "info",
        "alert.pending",
        "CheckoutDown pending (critical): checkout answers 500",
        link=Link("alerts", "watchdeck/CheckoutDown"),
    ),
    entry(
        3300,
        "alert",
        "CheckoutDown",
        "critical",
        "alert.firing",
        "CheckoutDown firing (critical): checkout answers 500",
        link=Link("alerts", "watchdeck/CheckoutDown"),
    ),
    entry(
        3200,
        "check",
        "search",
        "warning",
        "check.state",
        "search warning (was ok): latency (1.24s) < 1s",
        link=Link("health", "search"),
    ),
    entry(
        3100,
        "alert",
        "EmailBacklog",
        "info",
        "alert.pending",
        "EmailBacklog pending (warning): emails backlog 1240",
        link=Link("alerts", "watchdeck/EmailBacklog"),
    ),
    entry(
        3000,
        "queue",
        "emails",
        "warning",
        "queue.state",
        "emails warning (was ok): depth 1,240 >= 1,000",
        link=Link("queues", "emails"),
    ),
    entry(
        2400,
        "database",
        "main",
        "warning",
        "database.blocker",
        "main: pid 4242 (active, app · billing-worker) blocks 2 sessions: "
        "SELECT customer_id, sum(amount) FROM invoices GROUP BY 1",
        link=Link("database", SESSION),
    ),
    entry(
        1800,
        "alert",
        "CheckoutDown",
        "info",
        "alert.acknowledged",
        "CheckoutDown acknowledged: on it, OPS-4711",
        who=ALICE,
        link=Link("alerts", "watchdeck/CheckoutDown"),
    ),
    entry(
        1500,
        "action",
        "main",
        "info",
        "action.done",
        "cancel the query of pid 5100 on main → query cancelled",
        who=ALICE,
        link=Link("database", f"main/5100/{NOW - 7200!r}"),
    ),
    entry(
        1200,
        "runbook",
        f"queue-backlog run {RUN}",
        "info",
        "runbook.started",
        "Queue backlog: run started",
        who=ALICE,
        link=Link("runbooks", RUN),
    ),
    entry(
        1150,
        "runbook",
        f"queue-backlog run {RUN}",
        "info",
        "runbook.step",
        "step 3: redis-cli llen emails → exit 0",
        who=ALICE,
        link=Link("runbooks", RUN),
    ),
    entry(
        600,
        "queue",
        "emails",
        "ok",
        "queue.state",
        "emails ok (was warning): depth 12",
        link=Link("queues", "emails"),
    ),
    entry(
        300,
        "check",
        "checkout",
        "ok",
        "check.state",
        "checkout ok (was critical)",
        link=Link("health", "checkout"),
    ),
    entry(
        240,
        "alert",
        "CheckoutDown",
        "ok",
        "alert.resolved",
        "CheckoutDown resolved after 51m firing: checkout answers 200",
        link=Link("alerts", "watchdeck/CheckoutDown"),
    ),
    entry(
        60,
        "database",
        "main",
        "critical",
        "database.lost",
        "main: connection lost: connection refused",
        link=Link("database", "main"),
    ),
    entry(
        30,
        "database",
        "main",
        "ok",
        "database.regained",
        "main: connection regained",
        link=Link("database", "main"),
    ),
    entry(9000, "check", "api", "critical", "check.state", "older than the window"),
]


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def fixed_app(state: Path, *, read_only: bool = False, entries=ENTRIES) -> WatchdeckApp:
    """The console on the fixed data, its state dir holding ``entries``."""
    TimelineStore(state).append(entries)
    engine = Engine(
        make_config(), base_dir=RUNBOOKS, clock=clock, state_dir=state, read_only=read_only
    )
    return WatchdeckApp(engine, clock=clock, start_engine=False)


def timeline(app: WatchdeckApp) -> TimelineScreen:
    assert isinstance(app.screen, TimelineScreen), app.screen
    return app.screen


def shown(app: WatchdeckApp) -> list[str]:
    """The ``what`` cells of the rows, top to bottom."""
    table = timeline(app).pane.focus_target
    return [str(table.get_row_at(index)[3]) for index in range(table.row_count)]


async def open_timeline(pilot) -> TimelineScreen:
    await pilot.press("t")
    await until(pilot, lambda: isinstance(pilot.app.screen, TimelineScreen), "the timeline")
    await pilot.pause()
    return timeline(pilot.app)


async def select(pilot, text: str) -> None:
    """Put the cursor on the row whose text starts with ``text`` and press enter."""
    table = timeline(pilot.app).pane.focus_target
    row = next(i for i, what in enumerate(shown(pilot.app)) if what.startswith(text))
    table.move_cursor(row=row)
    await pilot.pause()
    await pilot.press("enter")


def said(app: WatchdeckApp) -> str:
    return "\n".join(str(note.message) for note in app._notifications)


# --- live, from a real check ---------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def flaky() -> Iterator[tuple[DemoService, FakeClock]]:
    """The demo's HTTP service: ``/flaky`` answers 200 for 3 s of its clock, then 500."""
    service_clock = FakeClock()
    service = DemoService(clock=service_clock)
    service.start()
    yield service, service_clock
    service.stop()


async def test_a_check_going_critical_is_a_new_row_at_the_top(tmp_path: Path, flaky):
    service, service_clock = flaky
    config = Config(checks=[Check(name="flaky", url=f"{service.base_url}/flaky", timeout=3.0)])
    engine = Engine(config, base_dir=tmp_path, state_dir=tmp_path / "state")
    app = WatchdeckApp(engine, start_engine=False)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_timeline(pilot)
        assert shown(app) == []
        assert "nothing recorded in the last 2h" in screen_text(app)
        await engine.check_once()  # ok: the first sight is where the timeline starts
        await pilot.pause(0.2)
        assert shown(app) == []

        service_clock.now = 3.5  # /flaky answers 500 now
        await engine.check_once()
        await until(pilot, lambda: shown(app), "a row for the change")
        assert shown(app)[0].startswith("flaky critical (was ok)")
        table = screen.pane.focus_target
        at, source, severity, _what, who = table.get_row_at(0)
        assert (str(source), str(severity), str(who)) == ("check", "✖ critical", "")
        assert re.fullmatch(r"\d\d:\d\d:\d\d", str(at)), "today's: the time, no date"

        service_clock.now = 6.5  # up again: the newest row on top
        await engine.check_once()
        await until(pilot, lambda: len(shown(app)) == 2, "a row for the recovery")
        assert shown(app)[0].startswith("flaky ok (was critical)")
    await engine.stop()


async def test_entries_told_out_of_order_are_placed_by_id(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=BIG) as pilot:
        screen = await open_timeline(pilot)
        late = entry(2000, "database", "main", "warning", "database.long_query", "x[/b] [red]")
        screen.appended([late, ENTRIES[-2]])  # one of them shown already: still one row
        await pilot.pause()
        newest_first = sorted([*ENTRIES[:-1], late], key=lambda e: e.id, reverse=True)
        assert shown(app) == [single_line(e.text, WHAT_WIDTH) for e in newest_first]
        assert "x[/b] [red]" in shown(app), "text is never read as markup"


async def test_the_cursor_stays_on_its_entry_when_a_filter_hides_many_rows(tmp_path: Path):
    many = [
        entry(7000 - 10 * n, "queue", f"q{n}", ("critical", "ok")[n % 2], "queue.state", f"e{n}")
        for n in range(400)
    ]
    app = fixed_app(tmp_path / "state", entries=many)
    async with app.run_test(size=BIG) as pilot:
        screen = await open_timeline(pilot)
        table = screen.pane.focus_target
        table.move_cursor(row=shown(app).index("e300"))
        await pilot.press("v", "v")  # critical: 200 of the 400 rows go
        assert len(shown(app)) == 200 and screen.pane.highlighted == many[300]
        assert table.cursor_row == shown(app).index("e300")
        await pilot.press("v")
        assert len(shown(app)) == 400 and screen.pane.highlighted == many[300]


# --- filters -------------------------------------------------------------------------------
def subtitle(app: WatchdeckApp) -> str:
    return Text.from_markup(str(timeline(app).pane.border_subtitle)).plain


async def test_filters_by_source_severity_and_text(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=BIG) as pilot:
        screen = await open_timeline(pilot)
        entries = screen.pane.entries
        assert len(shown(app)) == len(ENTRIES) - 1, "the last 2h only"
        assert subtitle(app) == f"source: all · severity: all · {len(ENTRIES) - 1} entries"

        def sources() -> set[str]:
            table = screen.pane.focus_target
            return {str(table.get_row_at(row)[1]) for row in range(table.row_count)}

        for source in ("check", "queue", "database", "alert", "action", "runbook"):
            await pilot.press("s")
            assert sources() == {source}
            count = sum(1 for e in entries.values() if e.source == source)
            assert subtitle(app).startswith(f"source: {source} · severity: all · {count} of ")
        await pilot.press("s")
        assert subtitle(app).startswith("source: all ·")

        await pilot.press("v")
        assert "severity: warning and worse" in subtitle(app)
        assert {e.severity for e in entries.values() if e.text in shown(app)} == {
            "critical",
            "warning",
        }
        await pilot.press("v")
        assert "severity: critical" in subtitle(app)
        under = screen.pane.highlighted
        assert under is not None and under.severity == "critical"
        detail = str(screen.query_one("#timeline-detail", Static).render())
        assert f"{under.event} · {under.subject}" in detail, "the line under follows the cursor"
        assert shown(app) == [
            "main: connection lost: connection refused",
            "CheckoutDown firing (critical): checkout answers 500",
            "checkout critical (was ok): status (500) == 200",
        ]
        await pilot.press("s")  # check and critical
        assert shown(app) == ["checkout critical (was ok): status (500) == 200"]
        await pilot.press("s", "s", "s", "s", "s", "s", "v")
        assert subtitle(app).startswith("source: all · severity: all ·")

        await pilot.press("slash", *"alice", "enter")
        assert subtitle(app) == (
            f"source: all · severity: all · filter: alice · 4 of {len(ENTRIES) - 1} entries"
        )
        assert all(e.who == ALICE for e in entries.values() if e.text in shown(app))
        assert app.focused is screen.pane.focus_target, "enter keeps the filter, back on the rows"
        await pilot.press("v", "v")  # the text filter and severity: nothing
        assert shown(app) == []
        assert "no entry matches source: all · severity: critical · filter: alice" in (
            screen_text(app)
        )
        await pilot.press("escape")  # clears the text filter first
        assert "filter:" not in subtitle(app)
        assert len(shown(app)) == 3
        await pilot.press("escape")  # then goes back
        assert app.screen is app.deck


# --- enter ---------------------------------------------------------------------------------
async def test_enter_on_a_check_goes_to_its_row_in_health(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        health = app.deck.panes[0].focus_target
        assert health.highlighted_key != "search"
        await open_timeline(pilot)
        await select(pilot, "search warning (was ok)")
        await until(pilot, lambda: app.focused is health, "the Health table focused")
        assert app.screen is app.deck
        assert health.highlighted_key == "search"
        assert said(app) == ""


async def test_enter_on_an_alert_goes_to_its_row_in_alerts(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        alerts = app.deck.alerts.focus_target
        assert alerts.highlighted_key != "watchdeck/EmailBacklog"
        await open_timeline(pilot)
        await select(pilot, "EmailBacklog pending")
        await until(pilot, lambda: app.focused is alerts, "the Alerts table focused")
        assert (app.deck.active, alerts.highlighted_key) == (4, "watchdeck/EmailBacklog")


async def test_enter_on_a_session_and_on_a_database(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        sessions = app.deck.database.focus_target
        await open_timeline(pilot)
        await select(pilot, "cancel the query of pid 5100")
        await until(pilot, lambda: app.focused is sessions, "the sessions focused")
        assert sessions.highlighted_key == f"main/5100/{NOW - 7200!r}"

        await pilot.press("1")
        await open_timeline(pilot)
        await select(pilot, "main: connection regained")  # the database: the pane, no row
        await until(pilot, lambda: app.focused is sessions, "the Database pane focused")
        assert said(app) == ""


async def test_a_row_that_is_gone_is_said_in_one_line_and_the_pane_still_focused(
    tmp_path: Path,
):
    gone = entry(
        100,
        "alert",
        "DiskFull",
        "critical",
        "alert.firing",
        "DiskFull firing (critical): disk 92% full",
        link=Link("alerts", "am/0f1c3a4e"),
    )
    app = fixed_app(tmp_path / "state", entries=[*ENTRIES, gone])
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        await open_timeline(pilot)
        await select(pilot, "DiskFull firing")
        alerts = app.deck.alerts.focus_target
        await until(pilot, lambda: app.focused is alerts, "the Alerts table focused")
        assert app.deck.active == 4
        assert said(app) == "DiskFull is no longer in Alerts"


async def test_enter_on_a_runbook_run_opens_it(tmp_path: Path):
    """The runs are real (started and closed through the executor, in the state dir); their
    entries come from the recorder, live."""
    app = fixed_app(tmp_path / "state", entries=[])
    engine = app.engine
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)  # the recorder's first look at the runs: where it starts from
        await open_timeline(pilot)
        executor = engine.runbook_executor()
        books = {book.name: book for book in engine.runbooks}
        closed = executor.start(books["queue-backlog"].load(), {})
        executor.close(closed)
        still_open = executor.start(books["db-connections"].load(), {})
        await executor.aclose()
        engine.evaluate_rules()  # the recorder looks at the runs again
        await until(pilot, lambda: len(shown(app)) == 3, "the runs' rows")
        assert sorted(shown(app)) == sorted(
            [
                "Queue backlog: run started",
                "Queue backlog: run finished (3 not done)",
                f"{books['db-connections'].title}: run started",
            ]
        ), shown(app)

        await select(pilot, "Queue backlog: run finished")
        await until(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "the run")
        assert app.screen.run.id == closed.id
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen), "back to the timeline")

        await select(pilot, f"{books['db-connections'].title}: run started")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "resume or new run")
        assert still_open.id in screen_text(app)


# --- sizes, read-only, no state dir, problems ----------------------------------------------
async def test_usable_at_80x24(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        screen = await open_timeline(pilot)
        text = screen_text(app)
        for word in ("time", "source", "severity", "what", "✔ ok", "✖ critical"):
            assert word in text, word
        for key in ("⏎ jump", "s source", "v severity", "/ filter", "esc back"):
            assert key in " ".join(text.split()), key
        table = screen.pane.focus_target
        assert table.region.bottom <= 24 and table.size.height >= 8
        newest = ENTRIES[-2]
        assert newest.text in text, "the line under the table shows the highlighted entry"
        assert "2023-11-14 22:12:50 · database.regained · main" in text
        await select(pilot, "search warning")
        health = app.deck.panes[0].focus_target
        await until(pilot, lambda: app.focused is health, "Health focused")
        assert (app.deck.compact, app.deck.active, health.highlighted_key) == (True, 1, "search")


async def test_read_only_shows_the_timeline(tmp_path: Path):
    app = fixed_app(tmp_path / "state", read_only=True)
    async with app.run_test(size=BIG) as pilot:
        await open_timeline(pilot)
        assert len(shown(app)) == len(ENTRIES) - 1


async def test_without_a_state_dir_one_line_says_so(tmp_path: Path):
    engine = Engine(make_config(), base_dir=RUNBOOKS, clock=clock)
    app = WatchdeckApp(engine, clock=clock, start_engine=False)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_timeline(pilot)
        lines = [line for line in screen_text(app).splitlines() if "state directory" in line]
        assert len(lines) == 1
        assert "The timeline needs a state directory" in lines[0]
        assert not screen.pane.display
        await pilot.press("escape")
        assert app.screen is app.deck


async def test_a_file_that_cannot_be_read_is_one_line_and_the_rest_is_shown(tmp_path: Path):
    state = tmp_path / "state"
    (state / "timeline.1.jsonl").mkdir(parents=True)  # not a file: cannot be read
    (state / "timeline.jsonl").write_text("{torn line\n")
    app = fixed_app(state)
    async with app.run_test(size=BIG) as pilot:
        await open_timeline(pilot)
        assert len(shown(app)) == len(ENTRIES) - 1
        said = str(app.screen.query_one("#timeline-problems", Static).render())
        assert said.count("cannot read") == 1 and "timeline.1.jsonl: is a directory" in said
        assert "\n" not in said, "one line (the screen wraps a long path)"


async def test_t_opens_it_from_every_pane_and_closes_it(tmp_path: Path):
    app = fixed_app(tmp_path / "state")
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        for number in "12345":
            await pilot.press(number)
            await open_timeline(pilot)
            await pilot.press("t")
            await until(pilot, lambda: app.screen is app.deck, "back on the console")
            assert app.deck.active == int(number)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("end")
        assert "the timeline: what changed" in screen_text(app)
        await pilot.press("t")  # not from a dialog
        assert isinstance(app.screen, HelpScreen)


def test_times_carry_the_date_when_not_today():
    assert when(NOW - 30, NOW) == "22:12:50"
    assert when(NOW - 23 * 3600, NOW) == "Nov 13 23:13:20"
    assert when(NOW - 400 * 86400, NOW) == "2022-10-10 22:13:20"


# --- snapshots -----------------------------------------------------------------------------
def snapshot(snap_compare: Compare, state: Path, size: tuple[int, int], *press: str) -> bool:
    async def ready(pilot) -> None:
        await open_timeline(pilot)
        for key in press:
            await pilot.press(key)
        await pilot.pause()

    return snap_compare(fixed_app(state), terminal_size=size, run_before=ready)


def test_timeline_at_120x40(snap_compare: Compare, tmp_path: Path) -> None:
    assert snapshot(snap_compare, tmp_path / "state", BIG)


def test_timeline_filtered_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    assert snapshot(snap_compare, tmp_path / "state", SMALL, "v")
