"""Lock waits as PostgreSQL reports them (``pg_blocking_pids``), and the tree built from them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from test_sources_postgres import SETTINGS, session, terminate, until

from tui.engine.config import Database
from tui.engine.samples import BlockNode, Connections, DatabaseSample, Session
from tui.engine.sources.postgres import PostgresSource
from widgets.db_sessions import session_rows


@pytest.fixture
async def admin(pg_dsn: str) -> AsyncIterator[psycopg.AsyncConnection]:
    conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
    yield conn
    await conn.close()


def shape(nodes: tuple[BlockNode, ...]) -> list[tuple[int, list]]:
    return [(node.pid, shape(node.waiters)) for node in nodes]


async def test_reader_queued_behind_an_access_exclusive_request(admin, pg_dsn):
    """A holds a row lock; B asks for ACCESS EXCLUSIVE and queues; C's plain SELECT queues
    behind B although nothing C wants conflicts with what A holds."""
    await admin.execute("CREATE TABLE IF NOT EXISTS wd_chain (id int PRIMARY KEY)")
    await admin.execute("INSERT INTO wd_chain VALUES (1) ON CONFLICT DO NOTHING")
    source = PostgresSource(Database(name="main", dsn=pg_dsn), SETTINGS)
    a = await session(pg_dsn, "wd-a", autocommit=False)
    b = await session(pg_dsn, "wd-b", autocommit=False)
    c = await session(pg_dsn, "wd-c")
    pid = {name: conn.pgconn.backend_pid for name, conn in (("a", a), ("b", b), ("c", c))}
    tasks: list[asyncio.Task] = []
    try:
        await a.execute("SELECT * FROM wd_chain WHERE id = 1 FOR UPDATE")
        tasks.append(asyncio.create_task(b.execute("LOCK TABLE wd_chain IN ACCESS EXCLUSIVE MODE")))
        await until(lambda s: pid["b"] in {w.pid for w in s.blocked}, source.poll)
        tasks.append(asyncio.create_task(c.execute("SELECT count(*) FROM wd_chain")))
        sample = await until(lambda s: pid["c"] in {w.pid for w in s.blocked}, source.poll)
    finally:
        await terminate(admin, *pid.values())
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in (a, b, c):
            await conn.close()
        await source.aclose()

    blocked = {s.pid: s for s in sample.blocked}
    assert blocked[pid["b"]].blocked_by == (pid["a"],)
    assert blocked[pid["c"]].blocked_by == (pid["b"],), "C waits for B's queued request"
    assert blocked[pid["b"]].wait_event == blocked[pid["c"]].wait_event == "Lock:relation"
    assert pid["a"] not in blocked
    assert sample.root_blockers == (pid["a"],)
    (root,) = sample.blockers
    assert (root.pid, root.state, root.application) == (pid["a"], "idle in transaction", "wd-a")
    assert "FOR UPDATE" in root.query
    assert sample.connections.waiting_on_lock >= 2

    (tree,) = sample.blocking_tree()
    assert shape((tree,)) == [(pid["a"], [(pid["b"], [(pid["c"], [])])])]
    assert tree.session is root
    assert tree.waiters[0].session is blocked[pid["b"]]


def waiting(pid: int, *blockers: int) -> Session:
    return Session(
        pid, 0.0, "active", "u", "app", "local", 1.0, 1.0, "Lock:relation", "q", blockers
    )


def sample_of(blocked: tuple[Session, ...], roots: tuple[int, ...]) -> DatabaseSample:
    return DatabaseSample(
        name="main",
        at=0.0,
        server_version="16.2",
        max_connections=100,
        usable_connections=97,
        connections=Connections(
            total=0, active=0, idle=0, idle_in_transaction=0, waiting_on_lock=0
        ),
        blocked=blocked,
        root_blockers=roots,
    )


def test_tree_keeps_a_prepared_transaction_and_a_session_waiting_for_two():
    # 0 (a prepared transaction) blocks 10; 10 and 20 (a root we cannot see) block 30.
    sample = sample_of((waiting(10, 0), waiting(30, 10, 20)), (0, 20))
    tree = sample.blocking_tree()
    assert shape(tree) == [(0, [(10, [(30, [])])]), (20, [(30, [])])]
    assert tree[0].session is None, "a prepared transaction is no session"
    assert tree[1].session is None


def test_tree_shows_a_wait_cycle_that_has_no_root():
    """Until the deadlock detector runs, two sessions may wait for each other."""
    sample = sample_of((waiting(1, 2), waiting(2, 1)), ())
    assert shape(sample.blocking_tree()) == [(1, [(2, [(1, [])])])]


async def test_blocks_counts_each_waiting_session_once(admin, pg_dsn):
    """R reads in a transaction left open; A and B want ACCESS EXCLUSIVE; U0, U1 and C read.
    Each queues behind every earlier conflicting request, so later ones wait for several
    sessions and appear several times in the tree: "◆ blocks N" counts sessions, not edges."""
    await admin.execute("DROP TABLE IF EXISTS wd_queue")
    await admin.execute("CREATE TABLE wd_queue (id int)")
    source = PostgresSource(Database(name="main", dsn=pg_dsn), SETTINGS)
    holder = await session(pg_dsn, "wd-r", autocommit=False)
    conns = {"r": holder}
    pid = {"r": holder.pgconn.backend_pid}
    tasks: list[asyncio.Task] = []
    try:
        await holder.execute("SELECT * FROM wd_queue")
        for name, sql in (
            ("a", "ALTER TABLE wd_queue ADD COLUMN a int"),
            ("u0", "SELECT * FROM wd_queue"),
            ("u1", "SELECT * FROM wd_queue"),
            ("b", "ALTER TABLE wd_queue ADD COLUMN b int"),
            ("c", "SELECT * FROM wd_queue"),
        ):
            conn = conns[name] = await session(pg_dsn, f"wd-{name}")
            tasks.append(asyncio.create_task(conn.execute(sql)))
            pid[name] = conn.pgconn.backend_pid
            sample = await until(
                lambda s, p=pid[name]: p in {w.pid for w in s.blocked}, source.poll
            )
    finally:
        await terminate(admin, *pid.values())
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in conns.values():
            await conn.close()
        await source.aclose()

    assert sample.root_blockers == (pid["r"],)
    assert {s.pid for s in sample.blocked} == {pid[n] for n in ("a", "u0", "u1", "b", "c")}
    root, *_ = session_rows("main", sample)
    assert (root.role, root.session.pid, root.waiters) == ("root", pid["r"], 5)
    (tree,) = sample.blocking_tree()
    assert len(walk(tree)) > 6, "some wait for several sessions: the tree repeats them"
    assert tree.behind == 5


def walk(node: BlockNode) -> list[BlockNode]:
    return [node, *(below for waiter in node.waiters for below in walk(waiter))]
