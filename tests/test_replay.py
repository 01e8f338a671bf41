"""Replay (``watchdeck replay FILE``): a console session against real servers replays to the
same table cells, the player keeps its pace and rebuilds the past exactly, the scrubber keys
work, and the replay screen as snapshots (paused mid-way, after a jump back)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
import redis
from rich.text import Text
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Footer
from ui_fixtures import (
    ALERTS,
    NOW,
    RUNBOOKS,
    check_samples,
    database_sample,
    make_config,
    queue_reads,
    settle,
    utc,
)

import tui.app
from tui.app import EngineEvent, WatchdeckApp
from tui.engine.config import Alerts, Check, Config, Database, Queue, Rule, Settings
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, SourceUpdated
from tui.engine.queues_derived import QueueHistory
from tui.engine.recording import Recording, open_recorder, read_recording
from tui.engine.replay import JUMP, ReplayEngine
from tui.replay import ReplayApp
from tui.screens.help import REPLAY, HelpScreen
from widgets.filter_field import FilterField
from widgets.table import KeyedTable

BIG = (120, 40)
TIMES = "\N{MULTIPLICATION SIGN}"
Cells = dict[str, list[tuple[str, ...]]]


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def plain(value: object) -> str:
    return value.plain if isinstance(value, Text) else str(value)


def cells(app: WatchdeckApp) -> Cells:
    """Every table of the console: each row's key and cells, in the order shown."""
    return {
        table.id or "": [
            (str(row.key.value), *(plain(cell) for cell in table.get_row(row.key)))
            for row in table.ordered_rows
        ]
        for table in app.deck.query(KeyedTable)
    }


async def until(
    pilot: Pilot[Any], ready: Callable[[], object], what: str, limit: float = 20.0
) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {what}")
        await pilot.pause(0.05)


async def replay_ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ReplayApp)
    await until(pilot, lambda: app.scrubber.is_mounted, "the scrubber")
    await settle(pilot)


# --- a live session against real servers -----------------------------------------------------
class CountingApp(WatchdeckApp):
    """The live console, counting the recorded kinds of event it has shown (its own handler
    runs before the console's, for the same message)."""

    CSS_PATH = str(Path(tui.app.__file__).parent / "app.tcss")

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.shown = 0

    def on_engine_event(self, message: EngineEvent) -> None:
        if isinstance(message.event, SourceUpdated | AlertsUpdated):
            self.shown += 1


class Seen(NamedTuple):
    events: int
    """How many recorded events the console had shown."""
    at: float
    cells: Cells


def look(app: CountingApp) -> Seen:
    """What the console shows now, drawn at this instant (no await: nothing moves)."""
    now = time.time()
    app.deck.tick(now, figures=True)
    return Seen(app.shown, now, cells(app))


@pytest.fixture
def blocked_session(pg_dsn: str) -> Iterator[None]:
    """A session idle in a transaction holding a lock, and a query waiting for it."""
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS replay_lock (id int)")
    holder = psycopg.connect(pg_dsn, application_name="replay-holder")
    holder.execute("LOCK TABLE replay_lock IN ACCESS EXCLUSIVE MODE")

    def wait() -> None:
        with psycopg.connect(pg_dsn, application_name="replay-waiter") as waiter:
            waiter.execute("SELECT count(*) FROM replay_lock")

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    yield
    holder.rollback()
    holder.close()
    waiter.join(timeout=10)


def live_config(http_server: str, pg_dsn: str, redis_url: str) -> Config:
    return Config(
        settings=Settings(interval=0.4, timeout=1.0, window=60.0),
        checks=[
            Check(name="api", url=f"{http_server}/ok"),
            Check(name="down", url=f"{http_server}/status/503"),
            Check(name="degraded", url=f"{http_server}/json/degraded", severity="warning"),
        ],
        databases=[Database(name="main", dsn=pg_dsn, long_query=0.3, idle_in_transaction=0.3)],
        queues=[Queue(name="jobs", url=redis_url, queue="replay-jobs", warn_depth=3)],
        alerts=Alerts(
            rules=[
                Rule(name="DownCheck", when="check.down.up < 1", severity="critical"),
                Rule(name="Backlog", when="queue.jobs.depth > 3", for_=0.6),
            ],
            evaluation_interval=0.4,
        ),
    )


@pytest.mark.usefixtures("blocked_session")
async def test_a_live_session_replays_to_the_same_cells(
    tmp_path: Path, http_server: str, pg_dsn: str, redis_url: str
) -> None:
    """At two moments of a real session (checks, PostgreSQL with a lock chain, a Redis queue
    filling up, rules firing), the replay shows the same cells: reached by stepping forward,
    by playing through at x64, and by jumping back."""
    queue = redis.Redis.from_url(redis_url)
    queue.delete("replay-jobs")
    engine = Engine(live_config(http_server, pg_dsn, redis_url), base_dir=tmp_path)
    path = tmp_path / "live.jsonl.gz"
    recorder = open_recorder(str(path), engine)
    app = CountingApp(engine)
    async with app.run_test(size=BIG) as pilot:
        queue.lpush("replay-jobs", *range(2))
        await until(pilot, lambda: app.shown >= 30, "30 events shown")
        queue.lpush("replay-jobs", *range(4))
        await until(pilot, lambda: any(a.state == "firing" for a in engine.alerts), "an alert")
        middle = look(app)
        queue.lpush("replay-jobs", *range(5))
        await until(pilot, lambda: app.shown >= middle.events + 30, "30 more events")
        await engine.stop()  # nothing more arrives; the console shows everything recorded
        app.started = False
        await until(pilot, lambda: app.shown == recorder.events, "every recorded event shown")
        end = look(app)
    recorder.close()
    queue.delete("replay-jobs")

    table = dict(middle.cells)
    assert {"health-table", "queues-table", "database-table", "alerts-table"} <= set(table)
    assert all(table[name] for name in ("health-table", "queues-table", "alerts-table"))
    assert any("replay-waiter" in " ".join(row) for row in end.cells["database-table"])
    assert middle.cells != end.cells

    recording = read_recording(path)
    assert recording.warning is None and len(recording.moments) == end.events
    replay = ReplayApp(ReplayEngine(recording, playing=False))
    async with replay.run_test(size=BIG) as pilot:
        await replay_ready(pilot)
        player = replay.player

        async def shown_at(seen: Seen) -> Cells:
            await settle(pilot)
            replay.deck.tick(seen.at, figures=True)
            return cells(replay)

        player.go(middle.events, middle.at)  # forward from the start, one draw at the end
        assert await shown_at(middle) == middle.cells
        player.speed = 64.0
        player.play()  # every later event through the console, at the recorded pace x64
        await until(pilot, lambda: player.ended, "the end of the recording")
        player.go(end.events, end.at)
        assert await shown_at(end) == end.cells
        player.go(middle.events, middle.at)  # back: rebuilt from the start
        assert await shown_at(middle) == middle.cells


# --- the player -------------------------------------------------------------------------------
def scripted(path: Path) -> Recording:
    """An incident recorded through the Recorder at fixed times, from NOW-125 to NOW+5: the
    UI fixtures' check polls and queue reads each at its own time (checkout fails near the
    end, emails grows past its threshold), a calm database that grows a lock chain at NOW-1,
    EmailBacklog pending at NOW-45, then the fixtures' three alerts at NOW."""
    clock = [NOW - 125.0]
    engine = Engine(make_config(), base_dir=RUNBOOKS, clock=lambda: clock[0])
    recorder = open_recorder(str(path), engine)
    state, settings = engine.state, engine.config.settings
    passes: list[tuple[float, Callable[[], object]]] = []

    def record(source: str, sample: Any, at: float, interval: float) -> Callable[[], object]:
        def emit() -> None:
            state.record_sample(source, sample, at)
            engine.scheduler.emit(SourceUpdated(state.sources[source]))
            engine.scheduler.emit(SourceUpdated(state.schedule(source, at + interval)))

        return emit

    for name, samples in check_samples().items():
        if f"check:{name}" in state.sources:
            passes += [(s.at, record(f"check:{name}", s, s.at, 10.0)) for s in samples]
    for queue in engine.config.queues:
        history = QueueHistory(queue, history=settings.history, window=float(settings.window))
        for at, reading in queue_reads(queue.name):
            sample = history.sample(queue.name, queue.kind, at, reading)
            passes.append((at, record(f"queue:{queue.name}", sample, at, 10.0)))
    calm = dataclasses.replace(
        database_sample(),
        at=NOW - 61,
        long_queries=(),
        blocked=(),
        blockers=(),
        root_blockers=(),
        idle_transactions=(),
    )
    for at, sample in ((NOW - 61, calm), (NOW - 1, database_sample())):
        passes.append((at, record("database:main", sample, at, 5.0)))
    for at, alerts in ((NOW - 45, (ALERTS[1],)), (NOW, ALERTS)):
        passes.append(
            (at, lambda alerts=alerts, at=at: engine.scheduler.emit(AlertsUpdated(alerts, at)))
        )
    for at, emit in sorted(passes, key=lambda item: item[0]):
        clock[0] = at
        emit()
    clock[0] = NOW + 5
    recorder.close()
    return read_recording(path)


@pytest.fixture
def recording(tmp_path: Path) -> Recording:
    return scripted(tmp_path / "incident.jsonl.gz")


def snapshot_state(engine: Engine) -> tuple[object, ...]:
    state = engine.state
    return (
        dict(state.sources),
        {path: list(series.points) for path, series in state.series.items()},
        {name: state.check_stats(name, NOW) for name in state.checks},
        engine.player.clock(),  # type: ignore[attr-defined]
    )


def test_going_back_rebuilds_exactly_what_going_forward_built(recording: Recording) -> None:
    """State (sources, series, check histories) after a jump back equals the state of a
    fresh engine stepped forward to the same event; the listeners then get every source."""
    engine = ReplayEngine(recording, playing=False)
    told: list[object] = []
    engine.subscribe(told.append)
    player = engine.player
    player.seek(player.end)
    count = len(recording.moments)
    assert player.index == count
    for index in (count - 1, count // 2, 7, 0):
        told.clear()
        player.go(index, recording.moments[index - 1].at if index else player.start)
        fresh = ReplayEngine(recording, playing=False)
        for _ in range(index):
            fresh.player.step(1)
        assert snapshot_state(engine) == snapshot_state(fresh)
        sources = [event.state.id for event in told if isinstance(event, SourceUpdated)]
        assert sorted(sources) == sorted(engine.state.sources)
        assert isinstance(told[-1], AlertsUpdated)


async def test_the_player_keeps_the_recorded_pace(recording: Recording) -> None:
    """At x64 the 130 s recording plays in about 2 s, every event once and in order, then
    the player pauses at the end."""
    engine = ReplayEngine(recording, speed=64.0)
    got: list[object] = []
    engine.subscribe(got.append)
    began = time.monotonic()
    await engine.start()
    while not engine.player.ended:
        assert time.monotonic() - began < 10, "the player never reached the end"
        await asyncio.sleep(0.02)
    took = time.monotonic() - began
    await engine.stop()
    assert got == [moment.event for moment in recording.moments]
    length = recording.ended - recording.started
    assert length / 64 * 0.9 <= took <= length / 64 + 1.5
    assert engine.player.clock() == engine.player.end


# --- the console on a recording ---------------------------------------------------------------
async def test_the_scrubber_keys(recording: Recording) -> None:
    app = ReplayApp(ReplayEngine(recording, playing=False))
    async with app.run_test(size=BIG) as pilot:
        await replay_ready(pilot)
        player = app.player
        text = lambda: app.scrubber.text.plain  # noqa: E731
        assert text().startswith(f"‖ paused {TIMES}1  22:11:15 ")
        assert "0s of 2m10s · event 0/" in text()

        await pilot.press("full_stop", "full_stop", "full_stop")
        assert player.index == 3 and not player.playing
        await pilot.press("comma")
        assert player.index == 2 and player.clock() == recording.moments[1].at
        await pilot.press("right_square_bracket")
        assert player.clock() == recording.moments[1].at + JUMP
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert player.clock() == player.start and player.index == 0
        await pilot.press(*["plus"] * 7, "minus", "equals_sign")  # x64 is the fastest
        assert player.speed == 64.0 and f"{TIMES}64" in text()

        await pilot.press("space")
        assert player.playing and text().startswith(f"▶ playing {TIMES}64")
        await pilot.pause(0.6)
        await pilot.press("space")
        assert not player.playing and player.index > 0
        moved = player.clock()
        assert player.start < moved < player.end

        await pilot.press("end")
        assert player.index == len(recording.moments) and text().startswith("■ ended")
        assert "2m10s of 2m10s" in text()
        health = cells(app)["health-table"]
        assert any("checkout" in row and "✖ critical" in row for row in health)
        await pilot.press("home")
        assert player.index == 0 and player.clock() == player.start
        assert all("…" in " ".join(row) for row in cells(app)["health-table"])


async def test_replay_is_read_only_and_keys_leave_a_filter_alone(recording: Recording) -> None:
    app = ReplayApp(ReplayEngine(recording, playing=False))
    async with app.run_test(size=BIG) as pilot:
        await replay_ready(pilot)
        footer_keys = {binding.key for _, binding, _, _ in app.screen.active_bindings.values()}
        assert {"space", "comma", "full_stop", "home", "end", "minus", "plus"} <= footer_keys
        assert not {"r", "p", "t"} & footer_keys  # nothing polled; the timeline is not recorded
        assert not app.deck.query_one(Footer).show_command_palette

        await pilot.press("end", "3")
        assert "c" not in {b.key for _, b, _, _ in app.screen.active_bindings.values()}
        await pilot.press("5")
        assert "r" not in {b.key for _, b, _, _ in app.screen.active_bindings.values()}

        await pilot.press("1", "slash", "c", "h", "e", "minus", "space", "full_stop")
        field = app.deck.query_one("#health-filter", FilterField)
        assert field.value == "che- ."
        assert player_at_end(app)

        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.replay


def player_at_end(app: ReplayApp) -> bool:
    return app.player.index == len(app.player.moments) and not app.player.playing


# --- snapshots ------------------------------------------------------------------------------
Compare = Callable[..., bool]


def test_snapshot_paused_mid_way(snap_compare: Compare, tmp_path: Path) -> None:
    """At NOW-40: checkout still up, EmailBacklog pending, the database calm."""
    app = ReplayApp(ReplayEngine(scripted(tmp_path / "incident.jsonl"), playing=False))

    async def mid_way(pilot: Pilot[Any]) -> None:
        await replay_ready(pilot)
        app.player.seek(NOW - 40)
        app.moved()
        await settle(pilot)

    assert snap_compare(app, terminal_size=BIG, run_before=mid_way)


async def test_a_move_draws_the_figures_of_its_moment(tmp_path: Path) -> None:
    """A jump draws new figures at once, whatever the tick count (the console draws them on
    one tick in FIGURES_EVERY; a move is not left to wait for that one)."""
    app = ReplayApp(ReplayEngine(scripted(tmp_path / "incident.jsonl"), playing=False))
    async with app.run_test(size=BIG) as pilot:
        await replay_ready(pilot)
        await pilot.press("end")
        await pilot.pause()
        app.deck.ticks = 0  # the next tick is not a figures tick
        await pilot.press("left_square_bracket")
        await pilot.pause()
        shown = cells(app)
        app.deck.tick(app.clock(), figures=True)
        await pilot.pause()
        assert cells(app) == shown


def test_snapshot_after_a_jump_back(snap_compare: Compare, tmp_path: Path) -> None:
    """At the end, then 30 s back: rebuilt from the start, drawn once."""
    app = ReplayApp(ReplayEngine(scripted(tmp_path / "incident.jsonl"), playing=False))

    async def jump_back(pilot: Pilot[Any]) -> None:
        await replay_ready(pilot)
        await pilot.press("end", "left_square_bracket")
        await settle(pilot)

    assert snap_compare(app, terminal_size=BIG, run_before=jump_back)


def test_help_has_a_replay_section(snap_compare: Compare, tmp_path: Path) -> None:
    app = ReplayApp(ReplayEngine(scripted(tmp_path / "incident.jsonl"), playing=False))

    async def help(pilot: Pilot[Any]) -> None:
        await replay_ready(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 30), run_before=help)


def test_help_lists_every_replay_key() -> None:
    listed = " ".join(key for key, _ in REPLAY)
    names = {"space": "space", "comma": ",", "full_stop": ".", "minus": "-", "plus": "+"}
    brackets = {"left_square_bracket": "[", "right_square_bracket": "]"}
    for binding in ReplayApp.BINDINGS:
        assert isinstance(binding, Binding)
        if binding.show:
            key = {**names, **brackets}.get(binding.key, binding.key)
            assert key in listed.split(), key
