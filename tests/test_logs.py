"""watchdeck's own log: JSON lines in the state dir, scrubbed, rotated, never on stderr."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.engine import logs
from tui.engine.actions import Action, ActionRunner
from tui.engine.journal import Journal
from tui.engine.samples import QueueSample
from tui.engine.scheduler import Scheduler
from tui.engine.state import State

SECRETS = (
    "s3cret-pw",
    "tok-1234567890",
    "oncall@example.com",
    "abcdef123456",
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs.setup(None)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_secrets_tokens_and_addresses_never_reach_the_file(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "debug")
    assert path == tmp_path / logs.LOG_FILE
    logs.log(
        "poll.failed",
        "warning",
        source="database:main",
        error="could not connect to postgresql://app:s3cret-pw@db/app (password=s3cret-pw)",
        header="Authorization: Bearer tok-1234567890",
        url="https://api.internal/health?token=abcdef123456&x=1",
        owner="oncall@example.com",
        nested={"list": ["postgresql://u:s3cret-pw@h/db"]},
    )
    logging.getLogger("httpx").warning("GET https://x/?api_key=abcdef123456")
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text
    first, library = lines(path)
    assert first["level"] == "warning" and first["event"] == "poll.failed"
    assert first["source"] == "database:main"
    assert first["owner"] == "<email>"
    assert library["logger"] == "httpx"


def test_an_undecodable_file_name_is_logged(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "info")
    assert path is not None
    name = os.fsdecode(b"caf\xe9.md")  # Latin-1 on disk: '\udce9' here
    logs.log("runbook.loaded", "info", path=name)
    assert lines(path)[0]["path"] == name


def test_levels_and_library_noise(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "info")
    logs.log("poll.ok", "debug", source="a")
    logs.log("poll.recovered", "info", source="a")
    logging.getLogger("httpx").info("HTTP Request: GET https://a/")
    assert [entry["event"] for entry in lines(path)] == ["poll.recovered"]


def test_rotation_keeps_a_bounded_number_of_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    monkeypatch.setattr(logs, "BACKUPS", 2)
    logs.setup(tmp_path, "info")
    for number in range(200):
        logs.log("poll.recovered", "info", source=f"check:{number}")
    files = sorted(tmp_path.glob("watchdeck.log*"))
    assert [path.name for path in files] == ["watchdeck.log", "watchdeck.log.1", "watchdeck.log.2"]
    assert all(path.stat().st_size <= 2_200 for path in files)
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)


CRON_CHECK = """
import sys
from pathlib import Path
from tui.engine import logs
logs.MAX_BYTES = int(sys.argv[2])
logs.setup(Path(sys.argv[1]), "info")
logs.log("start", command="check", pad="x" * 400)  # more than is left: it rotates
"""


def test_rotation_by_another_process_keeps_the_history(tmp_path: Path, monkeypatch) -> None:
    """The console's handler and a ``watchdeck check`` from cron share the log: when cron
    rotates, the console writes on into the new file (not into the backup it kept open) and
    does not rotate again the file cron just started."""
    limit = 3_000
    monkeypatch.setattr(logs, "MAX_BYTES", limit)
    path = logs.setup(tmp_path, "info")
    assert path is not None
    written = 0

    def console() -> None:
        nonlocal written
        written += 1
        logs.log("poll.ok", "info", n=written, pad="x" * 60)

    for _ in range(4):
        while not path.exists() or path.stat().st_size + 200 < limit:
            console()
        cron = [sys.executable, "-c", CRON_CHECK, str(tmp_path), str(limit)]
        subprocess.run(cron, check=True, timeout=30)  # rotates the nearly full file
        console()
        assert lines(path)[-1].get("n") == written, "the console wrote into a backup"

    files = sorted(tmp_path.glob("watchdeck.log*"))
    assert [p.name for p in files] == ["watchdeck.log", *(f"watchdeck.log.{n}" for n in (1, 2, 3))]
    assert all(p.stat().st_size > limit // 2 for p in files[1:]), "a backup is nearly empty"
    kept = sorted(entry["n"] for p in files for entry in lines(p) if entry["event"] == "poll.ok")
    assert kept == list(range(kept[0], written + 1)) and len(kept) > 40


def test_a_file_rotated_while_waiting_for_the_lock_is_not_rotated_again(tmp_path: Path) -> None:
    """Two processes find the log full at once: the second to get the lock writes into the
    file the first has just started, instead of rotating it away into the backups."""
    path = tmp_path / logs.LOG_FILE
    path.write_text("".join(f'{{"event": "old", "n": {n}}}\n' for n in range(120)))
    lock = os.open(tmp_path / logs.LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    cron = [sys.executable, "-c", CRON_CHECK, str(tmp_path), str(path.stat().st_size + 100)]
    child = subprocess.Popen(cron)
    try:
        inode, deadline = f":{os.stat(tmp_path / logs.LOCK).st_ino} ", time.monotonic() + 30
        while child.poll() is None and time.monotonic() < deadline:  # until it waits for us
            locks = Path("/proc/locks").read_text().splitlines()
            if any("->" in line and inode in line for line in locks):
                break
            time.sleep(0.01)
        path.rename(f"{path}.1")  # what the first process's rotation does
        path.write_text('{"event": "other"}\n')
        fcntl.flock(lock, fcntl.LOCK_UN)
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        os.close(lock)
    assert [entry["event"] for entry in lines(path)] == ["other", "start"]
    assert sorted(p.name for p in tmp_path.glob("watchdeck.log*")) == [
        "watchdeck.log",
        "watchdeck.log.1",
    ]


WATCHDECK = [sys.executable, "-m", "tui.cli"]


def check_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "watchdeck.yaml"
    config.write_text(f"checks:\n  - name: api\n    url: {url}\n")
    return config


def test_the_state_dir_and_the_log_are_private_under_umask_022(
    tmp_path: Path, http_server: str
) -> None:
    config = check_config(tmp_path, f"{http_server}/ok")
    new = tmp_path / "home" / "state"
    old = tmp_path / "old-state"  # made by an older watchdeck: the log readable by all
    old.mkdir()
    (old / logs.LOG_FILE).write_text("")
    (old / logs.LOG_FILE).chmod(0o644)
    for state in (new, old):
        command = [*WATCHDECK, "check", "--config", str(config), "--state-dir", str(state)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, umask=0o022)
        assert done.returncode == 0, done.stderr
    assert new.stat().st_mode & 0o777 == 0o700
    for state in (new, old):
        log = state / logs.LOG_FILE
        assert log.stat().st_mode & 0o777 == 0o600
        assert any(entry["event"] == "start" for entry in lines(log))


def test_a_debug_log_holds_no_header_nor_query_secret(tmp_path: Path, http_server: str) -> None:
    """At debug httpcore logs raw response headers and httpx every URL: the check's query
    tokens and the server's cookie stay out of the file."""
    secrets = ["glpat-S1", "S2-client", "S3-auth", "S4-refresh", "S5-id", "S6-key", "s3cr3t-cookie"]
    query = "private_token={}&client_secret={}&auth_token={}&refresh_token={}&id_token={}&v={}"
    config = check_config(tmp_path, f"{http_server}/headers/secure?{query.format(*secrets)}")
    state = tmp_path / "state"
    command = [*WATCHDECK, "check", "--config", str(config), "--state-dir", str(state)]
    done = subprocess.run([*command, "--log-level", "debug"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = (state / logs.LOG_FILE).read_text()
    assert [secret for secret in secrets if secret in text] == []
    requests = [e for e in lines(state / logs.LOG_FILE) if e.get("logger") == "httpx"]
    assert requests and "/headers/secure?private_token=***&" in str(requests[0]["event"])


def test_secrets_in_every_form_never_reach_the_file(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "debug")
    assert path is not None
    logs.log(
        "runbook.step",
        "info",
        env="PGPASSWORD=SECRET1 DB_PASSWORD=SECRET2 psql",
        dsn="host=db sslpassword=SECRET3 dbname=app",
        url="https://api/x?client_secret=SECRET4&refresh_token=SECRET5&apikey2=SECRET6",
        body='{"password": "SECRET7", "id_token": "SECRET8"}',
        yaml="password: SECRET9",
        headers="X-Api-Key: SECRET10\nAuthorization: Bearer SECRET11",
    )
    text = path.read_text()
    assert [n for n in range(1, 12) if f"SECRET{n}" in text] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_an_unwritable_state_dir_is_silent(tmp_path: Path, capsys) -> None:
    tmp_path.chmod(0o500)
    try:
        logs.setup(tmp_path / "state", "info")
        logs.log("poll.failed", "warning", source="a")
    finally:
        tmp_path.chmod(0o700)
    assert capsys.readouterr().err == ""


def test_a_full_disk_is_silent(tmp_path: Path, capsys) -> None:
    logs.setup(tmp_path, "info")
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logs.QuietFileHandler))
    handler.baseFilename = "/dev/full"
    handler.close()
    logs.log("poll.failed", "warning", source="a")
    assert capsys.readouterr().err == ""
    assert handler.failures >= 1


class Failing:
    id = "queue:jobs"
    section = "queue"
    name = "jobs"
    kind = "redis_list"
    interval = 1.0
    timeout = 1.0
    admission = None

    def __init__(self) -> None:
        self.fail = True

    async def poll(self) -> QueueSample:
        if self.fail:
            raise ConnectionRefusedError()
        return QueueSample("jobs", "redis_list", 0.0, depth=3)

    async def aclose(self) -> None:
        pass


async def test_passes_and_actions_are_traced(tmp_path: Path) -> None:
    path = logs.setup(tmp_path, "debug")
    source = Failing()
    scheduler = Scheduler([source], State())
    await scheduler.poll_once()
    source.fail = False
    await scheduler.poll_once()
    await scheduler.poll_once()
    runner = ActionRunner(Journal(tmp_path / "journal.jsonl"), read_only=False)

    async def perform() -> str:
        return "cancel request sent to pid 42"

    await runner.run(Action("pg.cancel", "database main pid 42", "cancel pid 42"), perform)
    entries = lines(path)
    polls = [(e["event"], e["trace"]) for e in entries if str(e["event"]).startswith("poll.")]
    assert polls == [
        ("poll.failed", "queue:jobs#1"),
        ("poll.recovered", "queue:jobs#2"),
        ("poll.ok", "queue:jobs#3"),
    ]
    failed = entries[0]
    assert failed["error"] == "connection refused" and isinstance(failed["latency_ms"], float)
    actions = [e for e in entries if str(e["event"]).startswith("action.")]
    assert [e["event"] for e in actions] == ["action.requested", "action.done"]
    assert actions[0]["trace"] == actions[1]["trace"]
    assert actions[1]["result"] == "cancel request sent to pid 42"
