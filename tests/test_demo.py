"""``watchdeck demo``: the embedded environment starts, serves, and leaves nothing behind.

The signal cases run the demo as a real subprocess (``python -m tui.demo``, the same code as
``watchdeck demo --no-ui``) and check through ``/proc`` that no postgres or redis-server
process it started survives, whether it was stopped with SIGTERM, SIGHUP (an SSH
disconnect), SIGINT (Ctrl-C) or killed outright with SIGKILL (the guardian's job).
"""

from __future__ import annotations

import asyncio
import io
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tui.demo.certs import LEAF_DAYS, generate
from tui.demo.environment import ENV_PG_DSN, DemoEnvironment
from tui.demo.run import run_demo
from tui.demo.service import SECURITY_HEADERS, SLOW_EVERY, DemoService
from tui.demo.workload import SEEDED_ORDERS
from tui.engine.engine import Engine
from tui.engine.loader import load_config
from tui.engine.samples import QueueSample

READY_LIMIT = 60.0
GONE_LIMIT = 15.0
GROWTH_LIMIT = 30.0
PROC = Path("/proc")
pytestmark = pytest.mark.skipif(not PROC.is_dir(), reason="process checks read /proc (Linux)")


# --- helpers ------------------------------------------------------------------------------
def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (exited, waiting to be reaped)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(parent: int) -> set[int]:
    found = set()
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.add(int(entry.name))
    return found


def _pid_file(path: Path) -> int:
    return int(path.read_text().split("\n", 1)[0])


def _started_processes(root: Path) -> set[int]:
    """The postmaster and its children (checkpointer, sessions...) and redis-server."""
    postmaster = _pid_file(root / "pg" / "postmaster.pid")
    servers = {postmaster, _pid_file(root / "redis" / "redis.pid")}
    assert all(_running(pid) for pid in servers)
    # The workload's sessions come and go: a child that ended between the listing and now is
    # not one to wait for.
    return servers | {pid for pid in _children(postmaster) if _running(pid)}


def _wait_until(predicate, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {limit}s"
        time.sleep(0.05)


def _assert_all_gone(pids: set[int], root: Path) -> None:
    _wait_until(lambda: not any(_running(pid) for pid in pids), GONE_LIMIT, "processes stopped")
    _wait_until(lambda: not root.exists(), GONE_LIMIT, "demo directory removed")


def _read_until_ready(process: subprocess.Popen[bytes]) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines printed before ``ready``."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + READY_LIMIT
    while b"\nready\n" not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"demo not ready within {READY_LIMIT}s; stdout so far: {data!r}"
        readable, _, _ = select.select([fd], [], [], remaining)
        chunk = os.read(fd, 65536) if readable else b""
        assert chunk or not readable, f"demo exited early with {process.wait()}: {data!r}"
        data += chunk
    exports = {}
    for line in data.decode().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = value.strip("'")
    return exports


def _assert_serving(exports: dict[str, str]) -> None:
    with psycopg.connect(exports["WATCHDECK_DEMO_PG_DSN"], connect_timeout=5) as conn:
        apps = {row[0] for row in conn.execute("SELECT application_name FROM pg_stat_activity")}
    assert {
        "report-builder",
        "billing-worker",
        "invoice-api",
        "ledger-sync",
        "migrate",
        "accounts-api",
        "web-1",
    } <= apps
    client = redis.Redis.from_url(exports["WATCHDECK_DEMO_REDIS_URL"])
    try:
        assert client.ping()
        assert client.llen("webhooks") > 0
    finally:
        client.close()
    if "PATH" in exports:  # printed for another shell: the bundled psql and redis-cli
        tools = {
            name
            for directory in exports["PATH"].split(os.pathsep)
            for name in ("psql", "redis-cli")
            if Path(directory, name).is_file()
        }
        assert tools == {"psql", "redis-cli"}
    response = httpx.get(exports["WATCHDECK_DEMO_HTTP"] + "/healthz", timeout=5)
    assert response.status_code == 200
    verified = ssl.create_default_context(cafile=exports["WATCHDECK_DEMO_CA_FILE"])
    response = httpx.get(exports["WATCHDECK_DEMO_HTTPS"] + "/healthz", verify=verified, timeout=5)
    assert response.status_code == 200


def _lock_chain(conn: psycopg.Connection) -> dict[str, tuple[str, list[str]]]:
    """Application -> (state, applications blocking it), for the sessions of the chains."""
    rows = conn.execute(
        """
        SELECT a.application_name, a.state,
               coalesce(array_agg(b.application_name) FILTER (WHERE b.pid IS NOT NULL), '{}')
        FROM pg_stat_activity AS a
        LEFT JOIN pg_stat_activity AS b ON b.pid = ANY (pg_blocking_pids(a.pid))
        WHERE a.application_name IN
            ('billing-worker', 'invoice-api', 'ledger-sync', 'migrate', 'accounts-api')
        GROUP BY a.application_name, a.state
        """
    ).fetchall()
    return {name: (state, blockers) for name, state, blockers in rows}


def _pool_and_orders(conn: psycopg.Connection, orders_sql: str) -> tuple[int, int]:
    """Connections the web pool holds, and the demo's custom metric run as configured."""
    pool = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'web-pool'"
    ).fetchone()
    orders = conn.execute(orders_sql).fetchone()
    assert pool is not None
    assert orders is not None
    return pool[0], orders[0]


def _demo_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("watchdeck-demo-")]


def _security_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in SECURITY_HEADERS if name in response.headers}


def _days_left_of_presented_certificate(port: int, ca_file: Path) -> float:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        not_after = tls.getpeercert()["notAfter"]
    return (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400


# --- the HTTP service ---------------------------------------------------------------------
def test_service_endpoints():
    now = [0.5]
    service = DemoService(clock=lambda: now[0], slow_seconds=0.01, fast_seconds=(0.0, 0.0))
    service.start()
    try:
        with httpx.Client(base_url=service.base_url, timeout=5) as client:
            health = client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            assert health.json()["system"]["memory"]["used_pct"] < 80
            assert _security_headers(health) == SECURITY_HEADERS
            took = [client.get("/slow").json()["took_ms"] for _ in range(2 * SLOW_EVERY)]
            assert took.count(10) == 2
            assert set(took) == {0, 10}
            assert client.get("/fail").status_code == 503
            flaky = []
            for now[0] in (0.5, 3.5, 6.5, 9.5):
                flaky.append(client.get("/flaky").status_code)
            assert flaky == [200, 500, 200, 500]
            legacy = client.get("/legacy")
            assert legacy.status_code == 200
            assert "ok" in legacy.text
            assert _security_headers(legacy) == {}
            assert client.get("/nope").status_code == 404
    finally:
        service.stop()
        service.stop()
    assert service.tls_port is None


def test_service_https_presents_a_certificate_expiring_in_ten_days(tmp_path: Path):
    certificates = generate(tmp_path / "tls")
    service = DemoService(certificates=certificates)
    service.start()
    try:
        assert service.tls_port is not None
        # A client that connects and never starts the handshake holds up nobody.
        with socket.create_connection(("127.0.0.1", service.tls_port), timeout=5):
            verified = ssl.create_default_context(cafile=str(certificates.ca_file))
            with httpx.Client(base_url=service.tls_base_url, verify=verified, timeout=5) as client:
                health = client.get("/healthz")
        assert health.status_code == 200
        assert "max-age" in health.headers["Strict-Transport-Security"]
        assert _security_headers(health) == SECURITY_HEADERS
        days = _days_left_of_presented_certificate(service.tls_port, certificates.ca_file)
        assert LEAF_DAYS - 1 < days <= LEAF_DAYS
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(service.tls_base_url + "/healthz", timeout=5)
    finally:
        service.stop()
    assert certificates.key_file.stat().st_mode & 0o077 == 0


# --- the environment in process -------------------------------------------------------------
def _demo_queues(config_path: Path) -> dict[str, QueueSample]:
    """One pass of the real engine over the demo's queues: each library's layout is read."""
    engine = Engine(load_config(config_path), base_dir=config_path.parent)

    async def once() -> None:
        await engine.scheduler.poll_once()
        await engine.stop()

    asyncio.run(once())
    states = [state for state in engine.state.sources.values() if state.section == "queue"]
    assert all(state.error is None for state in states), [state.error for state in states]
    return {state.name: state.sample for state in states if isinstance(state.sample, QueueSample)}


def test_environment_serves_the_demo_config_and_cleans_up():
    before = os.environ.get(ENV_PG_DSN)
    env = DemoEnvironment()
    with env:
        assert env.root is not None
        assert env.config_path is not None
        root = env.root
        pids = _started_processes(root)
        assert env.postgres_pid in pids
        assert env.redis_pid in pids

        config = load_config(env.config_path)
        assert {check.name for check in config.checks} >= {
            "api",
            "api-slow",
            "payments",
            "flaky",
            "legacy",
            "web",
            "web-tls",
        }
        assert {check.kind for check in config.checks} == {"http", "tcp", "tls"}
        assert config.databases[0].dsn == env.pg_dsn
        (orders_metric,) = config.databases[0].metrics
        assert orders_metric.name == "orders_last_hour"
        assert {queue.url for queue in config.queues} == {env.redis_url}
        assert Path(config.runbooks.paths[0], "payments-down.md").is_file()
        tcp = next(check for check in config.checks if check.kind == "tcp")
        assert tcp.port == env.http_port
        tls = next(check for check in config.checks if check.kind == "tls")
        assert tls.port == env.https_port
        assert env.ca_file is not None
        assert tls.ca_file == str(env.ca_file)
        assert env.ca_file.parent.parent == root
        days = _days_left_of_presented_certificate(env.https_port, env.ca_file)
        assert LEAF_DAYS - 1 < days <= LEAF_DAYS

        _assert_serving(env.exports)
        with psycopg.connect(env.pg_dsn) as conn:
            states = dict(
                conn.execute("SELECT application_name, state FROM pg_stat_activity").fetchall()
            )
        assert states["report-builder"] == "active"
        assert states["billing-worker"] == "idle in transaction"
        with psycopg.connect(env.pg_dsn, autocommit=True) as conn:
            # accounts-api waits for migrate's queued ACCESS EXCLUSIVE, which waits for the
            # row lock ledger-sync holds in its open transaction.
            assert _lock_chain(conn) == {
                "billing-worker": ("idle in transaction", []),
                "invoice-api": ("active", ["billing-worker"]),
                "ledger-sync": ("idle in transaction", []),
                "migrate": ("active", ["ledger-sync"]),
                "accounts-api": ("active", ["migrate"]),
            }
            pool, orders = _pool_and_orders(conn, orders_metric.sql)
            assert orders >= SEEDED_ORDERS

            def grown() -> bool:
                now_pool, now_orders = _pool_and_orders(conn, orders_metric.sql)
                return now_pool >= pool + 2 and now_orders > orders

            _wait_until(grown, GROWTH_LIMIT, "connection pool growing and orders placed")
        queues = _demo_queues(env.config_path)
        assert {name: sample.kind for name, sample in queues.items()} == {
            "emails": "rq",
            "webhooks": "celery",
            "reports": "sidekiq",
            "events": "redis_stream",
        }
        assert queues["emails"].workers == 1 and queues["emails"].oldest_age_s is not None
        assert queues["webhooks"].depth and queues["webhooks"].depth > 300
        assert queues["reports"].failed and queues["reports"].workers == 1
        assert queues["events"].active is not None
        client = redis.Redis(unix_socket_path=env.redis_socket)
        try:
            start = client.llen("rq:queue:emails")
            _wait_until(lambda: client.llen("rq:queue:emails") > start, 15.0, "emails growing")
        finally:
            client.close()

    _assert_all_gone(pids, root)
    assert _demo_threads() == []
    assert os.environ.get(ENV_PG_DSN) == before
    env.stop()


def test_run_demo_opens_the_console_then_stops_everything():
    seen: dict[str, object] = {}

    def console(path: Path) -> int:
        seen["root"] = path.parent
        seen["pids"] = _started_processes(path.parent)
        seen["config"] = load_config(path)
        return 7

    assert run_demo(console, out=io.StringIO()) == 7
    assert seen["config"] is not None
    _assert_all_gone(seen["pids"], seen["root"])


def test_run_demo_stops_everything_when_the_console_crashes():
    seen: dict[str, object] = {}

    def console(path: Path) -> int:
        seen["root"] = path.parent
        seen["pids"] = _started_processes(path.parent)
        raise RuntimeError("console crashed")

    with pytest.raises(RuntimeError, match="console crashed"):
        run_demo(console, out=io.StringIO())
    _assert_all_gone(seen["pids"], seen["root"])


# --- the demo as a process, stopped every way it can be -------------------------------------
@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_no_orphans_after_signal(signum: signal.Signals, tmp_path: Path):
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui.demo"], stdout=subprocess.PIPE, stderr=err
        )
    try:
        exports = _read_until_ready(process)
        root = Path(exports["WATCHDECK_CONFIG"]).parent
        assert root.name.startswith("watchdeck-demo-")
        assert load_config(root / "demo.yaml", environ=exports).databases[0].name == "demo"
        _assert_serving(exports)
        pids = _started_processes(root)
        guardians = _children(process.pid) - pids
        assert len(guardians) == 1

        process.send_signal(signum)
        code = process.wait(timeout=GONE_LIMIT)
        assert code == (-signum if signum == signal.SIGKILL else 0), stderr.read_text()
        _assert_all_gone(pids | guardians, root)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
