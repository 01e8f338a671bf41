"""The sessions the Database pane lists, in the order an operator reads them.

Lock waits first, as a tree under their root blockers (the root is what to cancel), then
long queries, then sessions idle in a transaction. A session listed twice (a long query
that also blocks) is shown once, where it matters most.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from tui.engine.samples import BlockNode, DatabaseSample, Session

Role = Literal["root", "waiting", "long", "idle_tx"]


@dataclass(frozen=True, slots=True)
class SessionRow:
    key: str
    """Row key: database, pid and backend start, so a reused pid is another row."""
    database: str
    session: Session
    role: Role
    depth: int = 0
    """Depth in the lock-wait tree (0 for a root and for rows outside the tree)."""
    waiters: int = 0
    """Sessions waiting behind it, directly or not, each counted once."""
    visible: bool = True
    """False for a prepared transaction (pid 0) or a session the role cannot see: it can
    be shown, not signalled."""


def row_key(database: str, session: Session) -> str:
    return f"{database}/{session.pid}/{session.backend_start!r}"


def session_rows(database: str, sample: DatabaseSample) -> list[SessionRow]:
    rows: dict[str, SessionRow] = {}
    for root in sample.blocking_tree():
        for row in _tree_rows(database, root, 0):
            rows.setdefault(row.key, row)
    for role, sessions in (("long", sample.long_queries), ("idle_tx", sample.idle_transactions)):
        for session in sessions:
            key = row_key(database, session)
            if key not in rows:
                rows[key] = SessionRow(key, database, session, role)  # type: ignore[arg-type]
    return list(rows.values())


def _tree_rows(database: str, node: BlockNode, depth: int) -> Iterator[SessionRow]:
    session = node.session or _unseen(node.pid)
    role: Role = "root" if depth == 0 else "waiting"
    yield SessionRow(
        row_key(database, session),
        database,
        session,
        role,
        depth=depth,
        waiters=node.behind,
        visible=node.session is not None and node.pid != 0,
    )
    for waiter in node.waiters:
        yield from _tree_rows(database, waiter, depth + 1)


def _unseen(pid: int) -> Session:
    query = "prepared transaction (see pg_prepared_xacts)" if pid == 0 else "not visible"
    return Session(
        pid=pid,
        backend_start=0.0,
        state=None,
        user=None,
        application=None,
        client=None,
        duration_s=None,
        xact_age_s=None,
        wait_event=None,
        query=query,
    )
