"""The Database pane's cost beside pg_activity's, and its table beside a bare DataTable.

    uv run python tests/perf/bench_database.py [--connections 300] [--refreshes 10]

A throwaway PostgreSQL 15 cluster from the Debian binaries (``apt-get install postgresql``)
on a unix socket in a temporary directory, with pg_stat_statements, holding ``--connections``
client sessions: 2/3 idle, 1/6 idle in a transaction, 1/6 running ``pg_sleep``. Then:

a. watchdeck: the real ``Engine`` with one database, ``scheduler.poll_once()`` every
   ``--interval`` seconds, ``--refreshes`` times (as role ``bench_watchdeck``);
b. pg_activity 3.6 (a dev dependency) at the same refresh in a detached tmux at 120x40
   (it needs a terminal), for as long (as role ``bench_pg_activity``); its refreshes are
   counted by the calls of its activity query.

pg_stat_statements is reset before each window and read per role afterwards: statements
per refresh and their server time (execution and planning). Both roles are superusers, so
both see every session. The client CPU is each tool's own process time over the window.

c. The Database pane's table with 2,000 sessions: the time to apply a sample in which 10%
   of the rows changed, 5% vanished and 5% appeared (median of ``--repeats``), beside a bare
   Textual ``DataTable`` doing ``clear()`` + ``add_rows()`` of the same rows, each in an
   ``App.run_test`` at 160x50: the update call alone, and until the table has handled what
   the call queued and the screen has been repainted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from perfkit import Row, print_rows

from tui.engine.config import Config, Database, Settings
from tui.engine.engine import Engine
from tui.engine.samples import Connections, DatabaseSample, Session
from tui.engine.state import SourceState

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 5432
SUPERUSER = "bench"
LOAD_ROLE = "bench_load"
WATCHDECK_ROLE = "bench_watchdeck"
PG_ACTIVITY_ROLE = "bench_pg_activity"
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    "max_connections": "420",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track_planning": "on",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
PG_CTL_LIMIT = 60
OPEN_AT_ONCE = 16
READY_LIMIT = 60.0
PG_ACTIVITY_MARKER = "query_leader_pid"
"""A phrase of pg_activity's activity query, which runs once per refresh."""
TMUX_SIZE = ("120", "40")
UI_SIZE = (160, 50)


# --- the cluster ----------------------------------------------------------------------------------
class Cluster:
    """initdb + pg_ctl in a temporary directory; as root, the server runs as ``postgres``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="watchdeck-bench-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        self.started = False

    def dsn(self, role: str) -> str:
        return f"host={self.root} port={PORT} user={role} dbname=postgres"

    def _run(self, *command: str) -> None:
        owner: dict[str, Any] = {}
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            owner = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PG_CTL_LIMIT, check=False, **owner
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        if os.geteuid() == 0:
            # initdb refuses to run as root.
            self.user = "postgres" if _has_account("postgres") else "nobody"
            account = pwd.getpwnam(self.user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            for name, value in SERVER_SETTINGS.items():
                conf.write(f"{name} = {value}\n")
            conf.write(f"unix_socket_directories = '{self.root}'\n")
        self.started = True
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(PG_CTL_LIMIT),
            "start",
        )

    def stop(self) -> None:
        try:
            if self.started:
                for mode in ("fast", "immediate"):
                    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                        self._run(
                            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
                        )
                        break
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def prepare(cluster: Cluster) -> None:
    with psycopg.connect(cluster.dsn(SUPERUSER), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute(f"CREATE ROLE {LOAD_ROLE} LOGIN")
        for role in (WATCHDECK_ROLE, PG_ACTIVITY_ROLE):
            conn.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")


# --- the load -------------------------------------------------------------------------------------
class Load:
    """Client sessions held open for the whole run; closed (and cancelled) by ``close()``."""

    def __init__(self, dsn: str, count: int) -> None:
        self.dsn = dsn
        self.active = count // 6
        self.in_transaction = count // 6
        self.idle = count - self.active - self.in_transaction
        self.connections: list[psycopg.AsyncConnection[Any]] = []
        self.sleepers: list[psycopg.AsyncConnection[Any]] = []

    async def open(self) -> None:
        kinds = (
            ["idle"] * self.idle
            + ["idle in transaction"] * self.in_transaction
            + ["active"] * self.active
        )
        slots = asyncio.Semaphore(OPEN_AT_ONCE)

        async def one(index: int, kind: str) -> None:
            async with slots:
                conn = await psycopg.AsyncConnection.connect(
                    self.dsn,
                    autocommit=kind != "idle in transaction",
                    application_name=f"load-{kind.replace(' ', '-')}-{index}",
                )
            self.connections.append(conn)
            if kind == "active":
                # Sent without waiting for the result: psycopg's own wait wakes up several
                # times a second, and this process's CPU time is measured.
                conn.pgconn.send_query(b"SELECT pg_sleep(3600)")
                while conn.pgconn.flush():
                    await asyncio.sleep(0.01)
                self.sleepers.append(conn)
            else:
                await conn.execute("SELECT 1")

        await asyncio.gather(*(one(index, kind) for index, kind in enumerate(kinds)))

    async def close(self) -> None:
        for conn in self.sleepers:
            with contextlib.suppress(psycopg.Error):
                await conn.cancel_safe(timeout=5.0)
        for conn in self.connections:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


async def wait_for_sessions(admin: psycopg.AsyncConnection[Any], load: Load) -> dict[str, int]:
    deadline = time.monotonic() + READY_LIMIT
    while True:
        cursor = await admin.execute(
            "SELECT state, count(*) FROM pg_stat_activity WHERE usename = %s GROUP BY state",
            (LOAD_ROLE,),
        )
        states = dict(await cursor.fetchall())
        if states.get("active", 0) >= load.active:
            return states
        if time.monotonic() > deadline:
            raise RuntimeError(f"the load did not settle within {READY_LIMIT}s: {states}")
        await asyncio.sleep(0.1)


# --- pg_stat_statements ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    calls: int
    exec_ms: float
    plan_ms: float
    rows: int
    text: str


@dataclass(frozen=True)
class Window:
    tool: str
    refreshes: int
    seconds: float
    statements: tuple[Statement, ...]
    client_cpu_s: float
    pass_ms: tuple[float, ...] = ()
    """watchdeck only: the wall time of each poll."""
    first_pass: tuple[Statement, ...] = ()
    """watchdeck only: the statements of its first pass (not in the window)."""

    @property
    def calls(self) -> int:
        return sum(statement.calls for statement in self.statements)

    @property
    def server_ms(self) -> float:
        return sum(statement.exec_ms + statement.plan_ms for statement in self.statements)


async def reset_statements(admin: psycopg.AsyncConnection[Any]) -> None:
    await admin.execute("SELECT pg_stat_statements_reset()")


async def read_statements(admin: psycopg.AsyncConnection[Any], role: str) -> tuple[Statement, ...]:
    cursor = await admin.execute(
        """
        SELECT calls, total_exec_time, total_plan_time, rows,
               left(regexp_replace(query, '\\s+', ' ', 'g'), 2000)
        FROM pg_stat_statements
        WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = %s)
        ORDER BY total_exec_time + total_plan_time DESC
        """,
        (role,),
    )
    return tuple(Statement(*row) for row in await cursor.fetchall())


# --- a. watchdeck ---------------------------------------------------------------------------------
async def measure_watchdeck(
    cluster: Cluster, admin: psycopg.AsyncConnection[Any], interval: float, refreshes: int
) -> tuple[Window, DatabaseSample]:
    database = Database(
        name="bench", dsn=cluster.dsn(WATCHDECK_ROLE), long_query=1.0, idle_in_transaction=1.0
    )
    engine = Engine(
        Config(settings=Settings(interval=interval, timeout=10.0), databases=[database])
    )
    try:
        await reset_statements(admin)
        await engine.scheduler.poll_once()  # connects, and whatever a first pass does once
        first = await read_statements(admin, WATCHDECK_ROLE)
        await reset_statements(admin)
        passes = []
        cpu = time.process_time()
        began = time.monotonic()
        for index in range(refreshes):
            await _sleep_until(began + index * interval)
            started = time.perf_counter()
            await engine.scheduler.poll_once()
            passes.append((time.perf_counter() - started) * 1000)
        await _sleep_until(began + refreshes * interval)
        cpu = time.process_time() - cpu
        seconds = time.monotonic() - began
        statements = await read_statements(admin, WATCHDECK_ROLE)
        (state,) = engine.state.sources.values()
    finally:
        await engine.stop()
    if state.error is not None or not isinstance(state.sample, DatabaseSample):
        raise RuntimeError(f"watchdeck's poll failed: {state.error}")
    window = Window("watchdeck", refreshes, seconds, statements, cpu, tuple(passes), first)
    return window, state.sample


async def _sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


# --- b. pg_activity -------------------------------------------------------------------------------
@contextlib.contextmanager
def tmux_session(command: str) -> Iterator[tuple[str, int]]:
    """A detached tmux server of our own running ``command``; yields (socket name, pid)."""
    socket_name = f"watchdeck-bench-{os.getpid()}"
    tmux = ["tmux", "-L", socket_name]
    width, height = TMUX_SIZE
    subprocess.run(
        [*tmux, "-f", "/dev/null", "new-session", "-d", "-x", width, "-y", height, command],
        check=True,
        timeout=10,
    )
    try:
        shown = subprocess.run(
            [*tmux, "display-message", "-p", "#{pane_pid}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        )
        yield socket_name, int(shown.stdout.strip())
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, capture_output=True, timeout=10)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _capture(socket_name: str) -> str:
    shown = subprocess.run(
        ["tmux", "-L", socket_name, "capture-pane", "-p"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return shown.stdout


async def measure_pg_activity(
    cluster: Cluster, admin: psycopg.AsyncConnection[Any], interval: float, refreshes: int
) -> Window:
    program = Path(sys.executable).parent / "pg_activity"
    if not program.exists():
        raise RuntimeError(f"{program} is missing: run `uv sync` (pg-activity is a dev dependency)")
    command = (
        f"exec {program} -h {cluster.root} -p {PORT} -U {PG_ACTIVITY_ROLE} -d postgres"
        f" --refresh {interval:g}"
    )
    with tmux_session(command) as (socket_name, pid):
        # Running once its activity query has run twice: connected and past its first screen.
        deadline = time.monotonic() + READY_LIMIT
        while _marker_calls(await read_statements(admin, PG_ACTIVITY_ROLE)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"pg_activity did not start:\n{_capture(socket_name)}")
            await asyncio.sleep(0.1)
        await reset_statements(admin)
        cpu = _cpu_seconds(pid)
        began = time.monotonic()
        await asyncio.sleep(refreshes * interval)
        cpu = _cpu_seconds(pid) - cpu
        seconds = time.monotonic() - began
        statements = await read_statements(admin, PG_ACTIVITY_ROLE)
    return Window("pg_activity", _marker_calls(statements), seconds, statements, cpu)


def _marker_calls(statements: tuple[Statement, ...]) -> int:
    return sum(s.calls for s in statements if PG_ACTIVITY_MARKER in s.text)


# --- c. the sessions table ------------------------------------------------------------------------
def make_sessions(count: int, rng: random.Random, first_pid: int = 10_000) -> list[Session]:
    return [_session(first_pid + index, rng) for index in range(count)]


def _session(pid: int, rng: random.Random) -> Session:
    waiting = rng.random() < 0.2
    return Session(
        pid=pid,
        backend_start=1_700_000_000.0 + pid,
        state="active" if rng.random() < 0.8 else "idle in transaction",
        user=rng.choice(("app", "reporting", "etl")),
        application=f"worker-{pid % 37}",
        client=f"10.0.{pid % 256}.{pid % 199}",
        duration_s=rng.uniform(300, 7200),
        xact_age_s=rng.uniform(300, 7200),
        wait_event="Lock:transactionid" if waiting else None,
        query=f"SELECT * FROM events_{pid % 11} WHERE tenant = {pid} ORDER BY created_at DESC",
    )


def next_sessions(sessions: list[Session], rng: random.Random, next_pid: int) -> list[Session]:
    """10% of the rows changed, 5% gone, as many new ones."""
    count = len(sessions)
    gone = set(rng.sample(range(count), count // 20))
    kept = [session for index, session in enumerate(sessions) if index not in gone]
    for index in rng.sample(range(len(kept)), count // 10):
        session = kept[index]
        kept[index] = replace(
            session,
            duration_s=(session.duration_s or 0) + 2.0,
            state="active" if session.state != "active" else "idle in transaction",
            wait_event=None if session.wait_event else "Lock:relation",
        )
    return kept + [_session(next_pid + index, rng) for index in range(count // 20)]


def database_state(sessions: list[Session]) -> SourceState:
    sample = DatabaseSample(
        name="bench",
        at=time.time(),
        server_version="15.0",
        max_connections=3000,
        usable_connections=2997,
        connections=Connections(
            total=len(sessions),
            active=len(sessions),
            idle=0,
            idle_in_transaction=0,
            waiting_on_lock=0,
        ),
        long_queries=tuple(sessions),
    )
    return SourceState(
        id="database:bench", section="database", name="bench", kind="postgresql", sample=sample
    )


@dataclass(frozen=True)
class UiFigures:
    first_ms: float
    call_ms: list[float]
    repainted_ms: list[float]


async def measure_pane(samples: list[list[Session]]) -> UiFigures:
    from textual.app import App, ComposeResult

    from widgets.database import DatabasePane

    states = [database_state(sessions) for sessions in samples]

    class PaneApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DatabasePane([SourceState("database:bench", "database", "bench", "postgresql")])

    app = PaneApp()
    async with app.run_test(size=UI_SIZE) as pilot:
        pane = app.query_one(DatabasePane)

        def update(state: SourceState) -> None:
            pane.update_source(state, time.time())
            pane.refresh_view()  # the draw the next tick makes: new figures wait for it

        figures = await _timed_updates(pilot, pane.focus_target, update, states)
        assert pane.focus_target.row_count == len(samples[-1])
    return figures


async def measure_bare_table(samples: list[list[Session]]) -> UiFigures:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from widgets.database import COLUMNS

    rows = [[_bare_row(session) for session in sessions] for sessions in samples]

    class BareApp(App[None]):
        def compose(self) -> ComposeResult:
            table: DataTable[str] = DataTable(cursor_type="row")
            for spec in COLUMNS:
                table.add_column(spec.label, key=spec.key)
            yield table

    app = BareApp()
    async with app.run_test(size=UI_SIZE) as pilot:
        table = app.query_one(DataTable)

        def update(sample_rows: list[tuple[str, ...]]) -> None:
            table.clear()
            table.add_rows(sample_rows)

        figures = await _timed_updates(pilot, table, update, rows)
        assert table.row_count == len(samples[-1])
    return figures


def _bare_row(session: Session) -> tuple[str, ...]:
    """The pane's columns, as plain strings."""
    return (
        " ",
        str(session.pid),
        "long query",
        f"{session.duration_s:.0f}s",
        f"{session.xact_age_s:.0f}s",
        session.user or "",
        session.query,
        session.wait_event or "",
        session.application or "",
        session.client or "",
    )


async def _timed_updates(
    pilot: Any, table: Any, update: Callable[[Any], None], samples: list[Any]
) -> UiFigures:
    """The first sample fills the table; each later one is measured: the call, and until the
    table has handled what the call queued and the screen has been repainted."""
    await pilot.pause()
    started = time.perf_counter()
    update(samples[0])
    await table.wait_for_refresh()
    first = (time.perf_counter() - started) * 1000
    calls, repainted = [], []
    for sample in samples[1:]:
        await pilot.pause()
        started = time.perf_counter()
        update(sample)
        called = time.perf_counter()
        await table.wait_for_refresh()
        calls.append((called - started) * 1000)
        repainted.append((time.perf_counter() - started) * 1000)
    return UiFigures(first, calls, repainted)


# --- the run --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    connections: int = 300
    refreshes: int = 10
    interval: float = 2.0
    rows: int = 2000
    repeats: int = 7


def say(message: str) -> None:
    """Progress, on stderr: stdout carries the figures."""
    print(message, file=sys.stderr, flush=True)


async def bench_server(sizes: Sizes) -> tuple[Window, Window, DatabaseSample]:
    cluster = Cluster()
    try:
        say(f"starting PostgreSQL 15 in {cluster.root}...")
        cluster.start()
        prepare(cluster)
        async with await psycopg.AsyncConnection.connect(
            cluster.dsn(SUPERUSER), autocommit=True
        ) as admin:
            load = Load(cluster.dsn(LOAD_ROLE), sizes.connections)
            try:
                await load.open()
                states = await wait_for_sessions(admin, load)
                say(f"{sizes.connections} sessions open: {states}")
                say(f"a. watchdeck, {sizes.refreshes} refreshes at {sizes.interval:g}s...")
                watchdeck, sample = await measure_watchdeck(
                    cluster, admin, sizes.interval, sizes.refreshes
                )
                say(f"b. pg_activity in tmux, {sizes.refreshes * sizes.interval:g}s...")
                pg_activity = await measure_pg_activity(
                    cluster, admin, sizes.interval, sizes.refreshes
                )
            finally:
                await load.close()
    finally:
        cluster.stop()
    return watchdeck, pg_activity, sample


def report_server(windows: tuple[Window, Window], sample: DatabaseSample) -> None:
    conns = sample.connections
    print(
        f"\nwatchdeck saw {conns.total} sessions (active {conns.active}, idle {conns.idle},"
        f" idle in transaction {conns.idle_in_transaction}), listed"
        f" {len(sample.long_queries)} long queries and"
        f" {len(sample.idle_transactions)} idle transactions"
    )
    rows = [
        ("refreshes measured", lambda w: f"{w.refreshes}"),
        ("window (s)", lambda w: f"{w.seconds:.1f}"),
        ("distinct statements", lambda w: f"{len(w.statements)}"),
        ("statements per refresh", lambda w: f"{w.calls / max(1, w.refreshes):.1f}"),
        ("server ms per refresh (exec+plan)", lambda w: f"{w.server_ms / max(1, w.refreshes):.2f}"),
        (
            "rows returned per refresh",
            lambda w: f"{sum(s.rows for s in w.statements) / max(1, w.refreshes):.0f}",
        ),
        (
            "client CPU ms per refresh (*)",
            lambda w: f"{w.client_cpu_s * 1000 / max(1, w.refreshes):.1f}",
        ),
    ]
    print(f"\n{'':36}{'watchdeck':>14}{'pg_activity':>14}")
    for label, value in rows:
        print(f"{label:36}" + "".join(f"{value(w):>14}" for w in windows))
    print(
        "(*) the process over the window: watchdeck's engine alone (its UI is measured in c.),"
        " pg_activity with its UI"
    )
    watchdeck = windows[0]
    first = watchdeck.first_pass
    print(
        f"watchdeck poll wall time: median {statistics.median(watchdeck.pass_ms):.1f} ms,"
        f" max {max(watchdeck.pass_ms):.1f} ms; its first pass (connect, probe):"
        f" {sum(s.calls for s in first)} statements,"
        f" {sum(s.exec_ms + s.plan_ms for s in first):.2f} ms"
    )
    for window in windows:
        print(f"\n{window.tool}: statements by server time (calls, exec+plan ms, query)")
        for statement in window.statements[:8]:
            print(
                f"  {statement.calls:5d} {statement.exec_ms + statement.plan_ms:9.2f}"
                f"  {statement.text[:90]}"
            )


async def bench_ui(sizes: Sizes) -> tuple[UiFigures, UiFigures]:
    say(f"c. the sessions table, {sizes.rows:,} rows, {sizes.repeats} updates...")
    rng = random.Random(42)
    samples = [make_sessions(sizes.rows, rng)]
    next_pid = 10_000 + sizes.rows
    for _ in range(sizes.repeats):
        samples.append(next_sessions(samples[-1], rng, next_pid))
        next_pid += sizes.rows
    return await measure_pane(samples), await measure_bare_table(samples)


def report_ui(rows: int, pane: UiFigures, bare: UiFigures) -> None:
    print(f"\nc. a table of {rows:,} sessions; each update: 10% changed, 5% gone, 5% new")
    print(f"{'(ms, median of ' + str(len(pane.call_ms)) + ')':36}{'pane':>14}{'bare table':>14}")
    print(f"{'first fill, until repainted':36}{pane.first_ms:>14.1f}{bare.first_ms:>14.1f}")
    for label, attribute in (
        ("update call", "call_ms"),
        ("update, until repainted", "repainted_ms"),
    ):
        values = [statistics.median(getattr(f, attribute)) for f in (pane, bare)]
        print(f"{label:36}" + "".join(f"{value:>14.1f}" for value in values))


def server_skipped() -> str | None:
    """Why a. and b. cannot run here, if they cannot."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL 15 in {PG_BIN} (apt-get install postgresql)"
    if shutil.which("tmux") is None:
        return "pg_activity needs a terminal and tmux is missing"
    return None


def rows(
    sizes: Sizes, windows: tuple[Window, Window] | None, pane: UiFigures, bare: UiFigures
) -> list[Row]:
    found = []
    if windows is not None:
        per = [(w.server_ms / max(1, w.refreshes), w.calls / max(1, w.refreshes)) for w in windows]
        (ms, calls), (peer_ms, peer_calls) = per
        where = f"{sizes.connections} sessions, refresh {sizes.interval:g}s"
        found += [
            Row(
                f"PostgreSQL server time per refresh, exec+plan ({where})",
                f"{ms:.2f} ms",
                f"{peer_ms:.2f} ms",
                "pg_activity in tmux 120x40, same server",
                "<= 1.5x peer (as fan-out)",
                ms <= 1.5 * peer_ms,
            ),
            Row(
                f"statements per refresh ({where})",
                f"{calls:.1f}",
                f"{peer_calls:.1f}",
                "pg_activity, same server",
                "<= pg_activity",
                calls <= peer_calls,
            ),
        ]
    pane_ms, bare_ms = (statistics.median(f.repainted_ms) for f in (pane, bare))
    found.append(
        Row(
            f"Database pane: {sizes.rows:,}-session update until repainted"
            f" (median of {len(pane.repainted_ms)})",
            f"{pane_ms:.1f} ms",
            f"{bare_ms:.1f} ms",
            "bare DataTable clear() + add_rows()",
            "<= bare table",
            pane_ms <= bare_ms,
        )
    )
    return found


def bench(sizes: Sizes) -> list[Row]:
    windows = None
    why = server_skipped()
    if why is None:
        watchdeck, pg_activity, _ = asyncio.run(bench_server(sizes))
        windows = (watchdeck, pg_activity)
    else:
        say(f"skipped the PostgreSQL rows: {why}")
    pane, bare = asyncio.run(bench_ui(sizes))
    return rows(sizes, windows, pane, bare)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=Sizes.connections)
    parser.add_argument("--refreshes", type=int, default=Sizes.refreshes)
    parser.add_argument("--interval", type=float, default=Sizes.interval)
    parser.add_argument("--rows", type=int, default=Sizes.rows)
    parser.add_argument("--repeats", type=int, default=Sizes.repeats)
    args = parser.parse_args()
    sizes = Sizes(args.connections, args.refreshes, args.interval, args.rows, args.repeats)
    # SIGTERM unwinds like Ctrl-C, so the cluster and tmux are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    windows = None
    why = server_skipped()
    if why is not None:
        print(f"skipped a. and b.: {why}")
    else:
        watchdeck, pg_activity, sample = asyncio.run(bench_server(sizes))
        windows = (watchdeck, pg_activity)
        report_server(windows, sample)
    pane, bare = asyncio.run(bench_ui(sizes))
    report_ui(sizes.rows, pane, bare)
    print_rows(rows(sizes, windows, pane, bare))
    return 0


if __name__ == "__main__":
    sys.exit(main())
