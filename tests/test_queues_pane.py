"""The Queues pane and the queue detail screen with Pilot: cells, order, sort, filter, queues
found while running, the live detail; and one run against a real Redis filled by RQ."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import redis
from rich.console import Console
from rich.text import Text
from textual.widgets import Input, Static
from ui_fixtures import (
    NOW,
    discovered,
    feed,
    make_app,
    make_engine,
    make_queues_config,
    utc,
)

from tui.app import WatchdeckApp
from tui.engine.config import Config, Queue, Settings
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated
from tui.engine.samples import QueueSample
from tui.screens.console import ConsoleScreen
from tui.screens.help import KEYS
from tui.screens.queue_detail import QueueDetailScreen, breakdown_section, peaks, target
from widgets.queues import QueuesPane, drain, per_minute
from widgets.status import Palette
from widgets.table import SortedTable as HealthTable

BIG = (120, 40)
SMALL = (80, 24)
BY_STATUS = [
    "invoices",
    "mailer",
    "video/transcode",
    "emails",
    "thumbnails",
    "webhooks",
    "events",
    "orders",
    "reports",
    "video",
    "video/thumbs",
]
UNRECORDED = ("change", "oldest", "active", "failed", "workers", "eta")
"""The columns of ``orders`` (SQL returning only a depth, read once): no data, never 0."""


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def queues_app() -> WatchdeckApp:
    return make_app(make_engine(make_queues_config()))


def table(app: WatchdeckApp) -> HealthTable:
    return app.deck.query_one("#queues-table", HealthTable)


def order(app: WatchdeckApp) -> list[str]:
    return [row.key.value or "" for row in table(app).ordered_rows]


def cell(app: WatchdeckApp, name: str, column: str) -> str:
    value = table(app).get_cell(name, column)
    return value.plain if isinstance(value, Text) else str(value)


def title(app: WatchdeckApp) -> str:
    return Text.from_markup(app.deck.query_one(QueuesPane).border_title or "").plain


def section(app: WatchdeckApp, name: str) -> str:
    static = app.screen.query_one(f"#section-{name}", Static)
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(static.content)
    lines = [line.rstrip() for line in capture.get().splitlines()]
    return "\n".join([static.border_title or "", *lines])


def emit(app: WatchdeckApp, sample: QueueSample, source: str | None = None) -> None:
    """Record a read through the real State and deliver its event."""
    state = app.engine.state.record_sample(source or f"queue:{sample.name}", sample, sample.at)
    app.engine.scheduler.emit(SourceUpdated(state))


# --- the table -------------------------------------------------------------------------


async def test_worst_first_with_thresholds_glyphed_and_no_data_as_a_dash() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        assert order(app) == BY_STATUS
        assert cell(app, "emails", "status") == "▲ warning"
        assert cell(app, "emails", "depth") == "▲ 1,240"  # warn_depth 1000: glyph, not colour only
        assert cell(app, "emails", "change") == "+611/m"
        assert cell(app, "emails", "eta") == "growing"
        assert cell(app, "mailer", "oldest") == "▲ 6m00s"
        assert cell(app, "mailer", "workers") == "✖ 0"  # min_workers 1
        assert cell(app, "mailer", "error") == "oldest 6m00s >= 5m00s · workers 0 < 1"
        assert cell(app, "invoices", "failed") == "✖ 57*"  # Sidekiq's retry + dead, all queues
        assert cell(app, "invoices", "active") == "5*"
        assert cell(app, "thumbnails", "change") == "-120/m"
        assert cell(app, "thumbnails", "eta") == "5m40s"
        assert cell(app, "reports", "eta") == "empty"
        assert cell(app, "events", "eta") == "steady"
        assert cell(app, "webhooks", "status") == "◌ stale"
        assert cell(app, "webhooks", "error") == "stale · connection refused · retry in 8s"
        assert cell(app, "video/thumbs", "error").startswith("⏸ paused")
        assert cell(app, "video", "error") == "total of 2 queues"
        for column in UNRECORDED:
            assert cell(app, "orders", column) == "—", column
        assert cell(app, "orders", "depth") == "42"
        assert cell(app, "orders", "kind") == "sql"
        assert len(cell(app, "emails", "trend")) == 10


async def test_the_subtitle_names_the_worst_queue_once_no_poll_fails() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        pane = app.deck.query_one(QueuesPane)
        subtitle = Text.from_markup(str(pane.border_subtitle)).plain
        assert "webhooks: stale · connection refused" in subtitle
        webhooks = app.engine.state.sources["queue:webhooks"].sample
        assert isinstance(webhooks, QueueSample)
        emit(app, replace(webhooks, at=NOW + 1))
        await pilot.pause()
        subtitle = Text.from_markup(str(pane.border_subtitle)).plain
        assert subtitle.startswith("✖ invoices: failed 57 >= 50 · ✖ 3 critical · ▲ 2 warning")
        assert not pane.has_class("-problem")


async def test_the_cursor_stays_on_its_queue_when_rows_are_sorted_behind_it() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("2", "down")
        assert table(app).cursor_key() == "mailer"
        await pilot.press("1")
        emails = app.engine.state.sources["queue:emails"].sample
        assert isinstance(emails, QueueSample)
        emit(app, replace(emails, depth=9000, status="critical", at=NOW + 1))
        await pilot.pause()
        assert order(app)[:2] == ["emails", "invoices"]
        await pilot.press("2")
        assert table(app).cursor_key() == "mailer"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, QueueDetailScreen)
        assert app.screen.state.name == "mailer"


async def test_s_cycles_the_sort_and_keeps_the_cursor_on_its_queue() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("2", "down", "down", "down")
        assert table(app).cursor_key() == "emails"
        await pilot.press("s")
        assert order(app) == sorted(BY_STATUS)
        assert "by name" in title(app)
        assert table(app).cursor_key() == "emails"
        await pilot.press("s")
        assert order(app)[:4] == ["emails", "thumbnails", "orders", "mailer"]
        assert order(app)[-1] == "reports"
        await pilot.press("s")  # growth: fastest growing first, no data last
        assert order(app)[:2] == ["emails", "video/transcode"]
        assert order(app)[-2:] == ["orders", "video"]
        await pilot.press("s")  # oldest job first
        assert order(app)[:4] == ["mailer", "video", "video/transcode", "invoices"]  # video: total
        await pilot.press("s")
        assert order(app) == BY_STATUS
        assert "by status" in title(app)


async def test_slash_filters_by_name_kind_or_reason_and_esc_clears() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        field = app.deck.query_one("#queues-filter", Input)
        await pilot.press("2", "slash")
        assert app.focused is field and field.display
        await pilot.press(*"bullmq")
        assert order(app) == ["video/transcode", "video", "video/thumbs"]
        assert "/bullmq (3 of 11)" in title(app)
        field.value = ""
        await pilot.press(*"workers")  # the reason of two queues
        assert order(app) == ["mailer", "video/transcode"]
        await pilot.press("enter")
        assert app.focused is table(app) and not field.display
        assert order(app) == ["mailer", "video/transcode"]
        await pilot.press("escape")
        assert order(app) == BY_STATUS
        assert "/" not in title(app)
        await pilot.press("z", "escape")  # esc without a filter still unzooms
        assert not app.deck.zoomed


async def test_queues_found_while_running_get_rows_and_leave_with_discovery() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        for sample in discovered(app.engine, "video", "captions"):
            emit(app, sample, "queue:video/captions")
        await pilot.pause()
        assert "video/captions" in order(app)
        assert cell(app, "video/captions", "workers") == "1"
        assert cell(app, "video/captions", "kind") == "bullmq"

        del app.engine.state.sources["queue:video/captions"]  # no longer listed
        video = app.engine.state.sources["queue:video"].sample
        assert isinstance(video, QueueSample)
        emit(app, replace(video, at=NOW + 10))
        await pilot.pause()
        assert "video/captions" not in order(app)
        assert len(order(app)) == len(BY_STATUS)


async def test_rows_exist_before_the_first_poll_with_no_data() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await pilot.pause()
        assert cell(app, "mailer", "status") == "… waiting"
        assert cell(app, "mailer", "depth") == "—"
        assert cell(app, "mailer", "error") == "waiting for first poll"


# --- the detail screen -----------------------------------------------------------------


async def test_enter_opens_the_detail_which_follows_its_queue_live() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("2", "enter")
        screen = app.screen
        assert isinstance(screen, QueueDetailScreen)
        header = str(screen.query_one("#queue-header", Static).content)
        assert "invoices" in header and "sidekiq · redis://127.0.0.1:9/0 · queue invoices" in header
        counts = section(app, "counts")
        assert "failed   ✖ 57*  failed or dead · shared across queues" in counts
        assert "depth    4      ready jobs" in counts
        thresholds = section(app, "thresholds")
        assert "✖  failed  57   ≥ 20     ≥ 50" in thresholds
        assert "crossed: failed 57 >= 50" in thresholds
        breakdown = section(app, "breakdown")
        assert "retry      40" in breakdown and "dead       17" in breakdown
        assert "shared across queues: active, failed, delayed" in breakdown
        assert "Sidekiq keeps them that way" in section(app, "notes")
        assert "12 reads over 1m50s" in section(app, "trend")
        assert "(of 12 kept)" in section(app, "reads")

        sample = app.engine.state.sources["queue:invoices"].sample
        assert isinstance(sample, QueueSample)
        emit(app, replace(sample, at=NOW + 10, depth=9, failed=60, reasons=("failed 60 >= 50",)))
        await pilot.pause()
        assert app.screen is screen
        assert "✖ 60*" in section(app, "counts")
        assert "crossed: failed 60 >= 50" in section(app, "thresholds")
        reads = section(app, "reads")
        assert "(of 13 kept)" in reads
        assert "22:13:30  9      +5      +30/m" in reads

        await pilot.press("escape")
        assert isinstance(app.screen, ConsoleScreen)
        assert app.focused is table(app)


async def test_the_detail_says_what_is_unknown() -> None:
    app = queues_app()
    async with app.run_test(size=BIG) as pilot:
        await feed(pilot)
        await pilot.press("2", "s", "s", "home")  # by depth: orders is third
        await pilot.press("down", "down", "enter")
        assert isinstance(app.screen, QueueDetailScreen)
        assert app.screen.state.name == "orders"
        counts = section(app, "counts")
        assert "oldest   —   oldest ready job · unknown" in counts
        assert "workers  —   live workers or consumers · unknown" in counts
        rates = section(app, "rates")
        assert "depth change   needs two reads some time apart" in rates
        assert "in             unknown" in rates
        assert "none configured" in section(app, "thresholds")
        assert "database main" in str(app.screen.query_one("#queue-header", Static).content)


async def test_the_detail_of_a_stale_queue_keeps_its_last_good_read() -> None:
    app = queues_app()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot)
        await pilot.press("2", "s", "end", "enter")  # by name: webhooks is the last
        assert isinstance(app.screen, QueueDetailScreen)
        header = str(app.screen.query_one("#queue-header", Static).content)
        assert "stale · connection refused · retry in 8s" in header
        assert "(the last good poll)" in section(app, "counts")


def test_the_detail_header_shows_where_without_credentials() -> None:
    cases = {
        "redis://:pa@ss@cache:6379/0?password=x": "redis://cache:6379/0 · queue q",
        "unix://wd:pw@/run/redis.sock?db=3&password=pw": "unix:///run/redis.sock?db=3 · queue q",
    }
    for url, shown in cases.items():
        assert target(Queue(name="q", kind="rq", url=url), None) == shown
    rabbit = Queue(name="q", kind="rabbitmq", url="http://wd:s3cret@mq:15672", vhost="prod")
    assert target(rabbit, None) == "http://mq:15672 vhost prod · queue q"


def test_a_breakdown_entry_shared_by_all_queues_is_marked() -> None:
    sample = QueueSample(
        "emails",
        "rq",
        NOW,
        depth=1,
        breakdown=(("scheduled", 0), ("rate limited", 4)),
        shared=("rate limited",),
    )
    rows = breakdown_section(sample, Palette(["green", "yellow", "red", "blue"])).rows
    assert [(str(name), str(value)) for name, value in rows] == [
        ("scheduled", "0"),
        ("rate limited", "4*"),
    ]


def test_cells_formats() -> None:
    assert per_minute(None) == "—"
    assert per_minute(0.01) == "0/m"
    assert per_minute(-0.5) == "-0.5/m"
    assert per_minute(1234.4) == "+1,234/m"
    sample = QueueSample("q", "redis_list", NOW, depth=10, eta_s=90.0, trend="draining")
    assert drain(sample) == "1m30s"
    assert drain(replace(sample, eta_s=None, trend=None)) == "—"
    assert peaks([1, 5, 2, 2, 9, 1], 3) == [5, 2, 9]
    assert peaks([1, 2], 3) == [1, 2]


def test_help_lists_the_queue_keys() -> None:
    listed = {key for key, meaning in KEYS if meaning.startswith("Queues:")}
    names = {"slash": "/", "escape": "esc"}
    for binding in QueuesPane.BINDINGS:
        assert not isinstance(binding, tuple)
        key = names.get(binding.key, binding.key)
        assert key in listed or key == "esc"
    assert "enter" in listed


# --- a real engine, a real Redis, jobs enqueued by RQ ------------------------------------


def other_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = urlencode({**parse_qs(parts.query), "db": [str(db)]}, doseq=True)
        return f"unix://{parts.path}?{query}"
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
def rq_db(redis_url: str) -> Iterator[str]:
    url = other_db(redis_url, 11)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


async def test_a_real_rq_queue_polled_by_a_real_engine(rq_db: str) -> None:
    from rq import Queue as RqQueue

    with redis.Redis.from_url(rq_db) as connection:
        emails = RqQueue("emails", connection=connection)
        for n in range(3):
            emails.enqueue("builtins.print", n)
    config = Config(
        settings=Settings(interval=30.0, timeout=2.0),
        queues=[Queue(name="emails", kind="rq", url=rq_db, warn_depth=3)],
    )
    app = WatchdeckApp(Engine(config))
    async with app.run_test(size=BIG) as pilot:
        deadline = time.monotonic() + 10
        while cell(app, "emails", "status") == "… waiting":
            assert time.monotonic() < deadline, "the queue was never read"
            await pilot.pause(0.05)
        assert cell(app, "emails", "depth") == "▲ 3"
        assert cell(app, "emails", "status") == "▲ warning"
        assert cell(app, "emails", "workers") == "0"  # RQ records its workers: none run
        assert cell(app, "emails", "failed") == "0"
        assert cell(app, "emails", "oldest") != "—"  # RQ stamps enqueued_at
        assert cell(app, "emails", "error") == "depth 3 >= 3"
        await pilot.press("2", "enter")
        assert isinstance(app.screen, QueueDetailScreen)
        assert "depth 3" in str(app.screen.query_one("#queue-header", Static).content)
