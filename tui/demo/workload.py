"""Something for the console to watch: moving queues and a busy, slightly unhealthy database.

Queues, once a second (``tui.demo.queues``): RQ ``emails`` grows, Celery ``webhooks`` drains,
Sidekiq ``reports`` hovers around 25 with failing jobs, the ``events`` stream lags a little.
PostgreSQL:

- a report query that runs for an hour (``report-builder``);
- a worker idle in a transaction holding a row lock (``billing-worker``) and a request
  blocked behind it (``invoice-api``);
- a lock chain on ``accounts``: ``ledger-sync`` idles in a transaction holding a row lock,
  ``migrate`` queues behind it for ``ACCESS EXCLUSIVE``, and a plain read (``accounts-api``)
  queues behind ``migrate`` (``pg_blocking_pids``: reader -> migrate -> ledger-sync);
- ``checkout`` inserts an order every few seconds (the ``orders`` table starts with an
  hour's worth, for a custom metric);
- a ``web-pool`` that opens another idle connection every two seconds up to 40, so the
  connection count climbs for over a minute, then holds.

Sync psycopg in threads: the demo may share its process with the console, whose event loop
must stay free.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable

import psycopg
import redis

from tui.demo.queues import DemoQueues

TICK = 1.0
LOCKED_INVOICE = 42
LOCKED_ACCOUNT = 7
POOL_SIZE, POOL_EVERY = 40, 2
"""The pool opens a connection every ``POOL_EVERY`` ticks until it holds ``POOL_SIZE``."""
ORDER_EVERY = 3
SEEDED_ORDERS = 60
"""Orders already placed over the last hour when the demo starts."""
QUEUED_LIMIT = 10.0

REPORT_QUERY = (
    "SELECT customer, sum(amount) AS revenue FROM invoices, pg_sleep(3600) "
    "GROUP BY customer ORDER BY revenue DESC"
)
LOCKING_SELECT = f"SELECT status FROM invoices WHERE id = {LOCKED_INVOICE} FOR UPDATE"
BLOCKED_UPDATE = f"UPDATE invoices SET status = 'paid' WHERE id = {LOCKED_INVOICE}"
LEDGER_SELECT = f"SELECT balance FROM accounts WHERE id = {LOCKED_ACCOUNT} FOR UPDATE"
MIGRATION_LOCK = "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE"
ACCOUNT_READ = f"SELECT owner, balance FROM accounts WHERE id = {LOCKED_ACCOUNT}"
NEW_ORDER = "INSERT INTO orders (customer, amount) VALUES (%s, %s)"
QUEUED_FOR_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'"
)
SCHEMA = f"""
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
CREATE TABLE IF NOT EXISTS accounts (
    id integer PRIMARY KEY,
    owner text NOT NULL,
    balance numeric(12, 2) NOT NULL DEFAULT 0
);
INSERT INTO accounts (id, owner, balance)
SELECT i, 'customer-' || i, round((random() * 5000)::numeric, 2)
FROM generate_series(1, 50) AS i
ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders (customer, amount, created_at)
SELECT 'customer-' || (i % 17), round((random() * 200 + 5)::numeric, 2),
       now() - i * interval '1 hour' / {SEEDED_ORDERS + 1}
FROM generate_series(1, {SEEDED_ORDERS}) AS i
WHERE NOT EXISTS (SELECT FROM orders);
"""


class Workload:
    def __init__(self, pg_dsn: str, redis_socket: str) -> None:
        self._dsn = pg_dsn
        self._redis = redis.Redis(unix_socket_path=redis_socket)
        self._queues = DemoQueues(self._redis)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        """Guards ``_connections``: the pool thread adds to it while ``stop()`` closes them."""
        self._threads: list[threading.Thread] = []
        self._busy: list[tuple[psycopg.Connection, threading.Thread]] = []
        self._connections: list[psycopg.Connection] = []
        self._pool: list[psycopg.Connection] = []
        self._checkout: psycopg.Connection | None = None
        self._started = False

    def start(self) -> None:
        """Seed the queues and the database, open the sessions, start the threads."""
        self._started = True
        self._queues.seed()
        with psycopg.connect(self._dsn, autocommit=True, application_name="migrations") as conn:
            conn.execute(SCHEMA)
            for name in ("web-1", "web-2"):
                self._connect(name, autocommit=True).execute("SELECT 1")
            holder = self._connect("billing-worker", autocommit=False)
            holder.execute(LOCKING_SELECT)
            self._run_in_thread("report-builder", REPORT_QUERY)
            self._run_in_thread("invoice-api", BLOCKED_UPDATE)
            self._lock_chain(conn)
        self._spawn("queues", self._queues_loop)
        self._spawn("database", self._database_loop)

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
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
        self._redis.close()

    # --- PostgreSQL --------------------------------------------------------------------
    def _connect(self, application: str, *, autocommit: bool) -> psycopg.Connection:
        conn = psycopg.connect(
            self._dsn, autocommit=autocommit, application_name=application, connect_timeout=5
        )
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                raise psycopg.OperationalError("the demo is stopping")
            self._connections.append(conn)
        return conn

    def _run_in_thread(self, application: str, statement: str, *, autocommit: bool = True) -> None:
        conn = self._connect(application, autocommit=autocommit)

        def run() -> None:
            # Ends when stop() cancels it, or when an operator cancels it from the console.
            if not self._stopping.is_set():
                with contextlib.suppress(psycopg.Error):
                    conn.execute(statement)

        self._busy.append((conn, self._spawn(application, run)))

    def _lock_chain(self, observer: psycopg.Connection) -> None:
        """ledger-sync holds a row; migrate queues for the table; then the reader queues."""
        self._connect("ledger-sync", autocommit=False).execute(LEDGER_SELECT)
        # LOCK TABLE needs a transaction block: without autocommit psycopg opens one.
        self._run_in_thread("migrate", MIGRATION_LOCK, autocommit=False)
        # The reader only queues behind a request that is already queued.
        deadline = time.monotonic() + QUEUED_LIMIT
        while time.monotonic() < deadline and not self._stopping.is_set():
            row = observer.execute(QUEUED_FOR_LOCK, ("migrate",)).fetchone()
            if row is not None and row[0]:
                break
            time.sleep(0.02)
        self._run_in_thread("accounts-api", ACCOUNT_READ)

    def _database_loop(self) -> None:
        """An order every ``ORDER_EVERY`` ticks; the pool grows every ``POOL_EVERY`` ticks."""
        tick = 0
        while not self._stopping.wait(TICK):
            tick += 1
            # The server goes away during shutdown, and an operator may terminate any of
            # these sessions from the console: a failed tick is skipped, a dead one replaced.
            with contextlib.suppress(psycopg.Error):
                if tick % ORDER_EVERY == 0:
                    self._place_order()
                if tick % POOL_EVERY == 0 and len(self._pool) < POOL_SIZE:
                    conn = self._connect("web-pool", autocommit=True)
                    self._pool.append(conn)
                    conn.execute("SELECT 1")

    def _place_order(self) -> None:
        conn = self._checkout
        if conn is None or conn.closed or conn.broken:
            conn = self._checkout = self._connect("checkout", autocommit=True)
        amount = round(random.uniform(5, 205), 2)
        conn.execute(NEW_ORDER, (f"customer-{random.randrange(17)}", amount))

    # --- Redis -------------------------------------------------------------------------
    def _queues_loop(self) -> None:
        while not self._stopping.wait(TICK):
            # The server goes away during shutdown; a hiccup otherwise just skips a tick.
            with contextlib.suppress(redis.RedisError):
                self._queues.tick()

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"watchdeck-demo-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread
