"""Something for the console to watch: moving queues and a busy, slightly unhealthy database.

Queues (Redis lists, producers ``LPUSH``, consumers ``RPOP``), once a second:
``emails`` grows (~+1.5/s net), ``webhooks`` starts at 400 and drains, ``reports`` hovers
around 25. PostgreSQL: a report query that runs for an hour (``report-builder``), a worker
idle in a transaction holding a row lock (``billing-worker``), a request blocked behind that
lock (``invoice-api``) and two idle pooled sessions. Sync psycopg in threads: the demo may
share its process with the console, whose event loop must stay free.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Callable

import psycopg
import redis

TICK = 1.0
EMAILS_START, WEBHOOKS_START, REPORTS_TARGET = 170, 400, 25
LOCKED_INVOICE = 42

REPORT_QUERY = (
    "SELECT customer, sum(amount) AS revenue FROM invoices, pg_sleep(3600) "
    "GROUP BY customer ORDER BY revenue DESC"
)
LOCKING_SELECT = f"SELECT status FROM invoices WHERE id = {LOCKED_INVOICE} FOR UPDATE"
BLOCKED_UPDATE = f"UPDATE invoices SET status = 'paid' WHERE id = {LOCKED_INVOICE}"
SCHEMA = """
CREATE TABLE IF NOT EXISTS invoices (
    id integer PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(10, 2) NOT NULL,
    status text NOT NULL DEFAULT 'open'
);
INSERT INTO invoices (id, customer, amount)
SELECT i, 'customer-' || (i % 17), round((random() * 900 + 100)::numeric, 2)
FROM generate_series(1, 500) AS i
ON CONFLICT (id) DO NOTHING;
"""


class Workload:
    def __init__(self, pg_dsn: str, redis_socket: str) -> None:
        self._dsn = pg_dsn
        self._redis = redis.Redis(unix_socket_path=redis_socket)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy: list[tuple[psycopg.Connection, threading.Thread]] = []
        self._connections: list[psycopg.Connection] = []
        self._serial = 0
        self._started = False

    def start(self) -> None:
        """Seed the queues and the database, open the sessions, start the threads."""
        self._started = True
        self._seed_queues()
        with psycopg.connect(self._dsn, autocommit=True, application_name="migrations") as conn:
            conn.execute(SCHEMA)
        for name in ("web-1", "web-2"):
            self._connect(name, autocommit=True).execute("SELECT 1")
        holder = self._connect("billing-worker", autocommit=False)
        holder.execute(LOCKING_SELECT)
        self._run_in_thread("report-builder", REPORT_QUERY)
        self._run_in_thread("invoice-api", BLOCKED_UPDATE)
        self._spawn("queues", self._queues_loop)

    def stop(self) -> None:
        """Cancel the running statements, stop the threads, close every connection."""
        if not self._started:
            return
        self._started = False
        self._stopping.set()
        for _ in range(3):
            # A statement whose thread had not reached execute() yet misses the first cancel.
            for conn, thread in self._busy:
                if thread.is_alive():
                    with contextlib.suppress(psycopg.Error):
                        conn.cancel_safe(timeout=2.0)
            for thread in self._threads:
                thread.join(timeout=1.0)
        for conn in self._connections:
            with contextlib.suppress(psycopg.Error):
                conn.close()
        self._redis.close()

    # --- PostgreSQL --------------------------------------------------------------------
    def _connect(self, application: str, *, autocommit: bool) -> psycopg.Connection:
        conn = psycopg.connect(
            self._dsn, autocommit=autocommit, application_name=application, connect_timeout=5
        )
        self._connections.append(conn)
        return conn

    def _run_in_thread(self, application: str, statement: str) -> None:
        conn = self._connect(application, autocommit=True)

        def run() -> None:
            # Ends when stop() cancels it, or when an operator cancels it from the console.
            if not self._stopping.is_set():
                with contextlib.suppress(psycopg.Error):
                    conn.execute(statement)

        self._busy.append((conn, self._spawn(application, run)))

    # --- Redis -------------------------------------------------------------------------
    def _jobs(self, queue: str, count: int) -> list[str]:
        jobs = []
        for _ in range(count):
            self._serial += 1
            jobs.append(json.dumps({"id": self._serial, "queue": queue, "attempt": 1}))
        return jobs

    def _seed_queues(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete("emails", "webhooks", "reports")
        pipe.lpush("emails", *self._jobs("emails", EMAILS_START))
        pipe.lpush("webhooks", *self._jobs("webhooks", WEBHOOKS_START))
        pipe.lpush("reports", *self._jobs("reports", REPORTS_TARGET))
        pipe.execute()

    def _tick(self, depths: dict[str, int]) -> dict[str, int]:
        """One second of traffic; returns the new depths."""
        rng = random.random
        plan = {
            "emails": (3 + (rng() < 0.5), 2),
            "webhooks": (int(rng() < 0.5), 5),
            "reports": _steady(depths.get("reports", REPORTS_TARGET)),
        }
        pipe = self._redis.pipeline(transaction=False)
        for queue, (pushed, popped) in plan.items():
            if pushed:
                pipe.lpush(queue, *self._jobs(queue, pushed))
            if popped:
                pipe.rpop(queue, popped)
        for queue in plan:
            pipe.llen(queue)
        lengths = pipe.execute()[-len(plan) :]
        return dict(zip(plan, lengths, strict=True))

    def _queues_loop(self) -> None:
        depths: dict[str, int] = {}
        while not self._stopping.wait(TICK):
            # The server goes away during shutdown; a hiccup otherwise just skips a tick.
            with contextlib.suppress(redis.RedisError):
                depths = self._tick(depths)

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"watchdeck-demo-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread


def _steady(depth: int) -> tuple[int, int]:
    """Push 2-4 jobs and pop about as many, pulled back towards ``REPORTS_TARGET``."""
    pushed = random.randint(2, 4)
    popped = max(0, pushed + round((depth - REPORTS_TARGET) * 0.3) + random.randint(-1, 1))
    return pushed, popped
