"""The timeline recorder on a fake clock: real samples go through the engine's state and its
event path, as the scheduler sends them; every kind of entry, and no flood at start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.engine.actions import ActionRefused
from tui.engine.engine import Engine
from tui.engine.events import SourceUpdated, StateProblems, TimelineAppended
from tui.engine.journal import identity
from tui.engine.loader import load_config_text
from tui.engine.runbooks.parse import parse
from tui.engine.samples import (
    Alert,
    AlertsSample,
    CheckSample,
    Connections,
    DatabaseSample,
    QueueSample,
    Sample,
    Session,
)
from tui.engine.timeline import Entry

T0 = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
CONFIG = """
checks:
  - {name: api, url: "http://127.0.0.1:9/ok"}
databases:
  - {name: main, dsn: "postgresql://ops:hunter2-pw@127.0.0.1:9/app", long_query: 30s}
queues:
  - {name: emails, url: "redis://127.0.0.1:9/0", warn_depth: 5, crit_depth: 50}
alerts:
  rules:
    - {name: EmailBacklog, when: queue.emails.depth > 5, for: 30s, severity: warning,
       summary: "emails backlog at {{ value }} jobs"}
    - {name: EmailsSlow, when: queue.emails.depth > 20, for: 1m, severity: critical,
       summary: "emails far behind"}
  sources:
    - {name: am, kind: alertmanager, url: "http://127.0.0.1:9"}
"""
WHO = "{user}@{host}".format(**identity())


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """An engine on a fake clock whose sources are fed by hand, as the scheduler feeds them."""

    def __init__(self, state_dir: Path, config: str = CONFIG, *, read_only: bool = False):
        self.clock = Clock()
        self.engine = Engine(
            load_config_text(config, "watchdeck.yaml"),
            state_dir=state_dir,
            clock=self.clock,
            read_only=read_only,
        )
        self.told: list[Entry] = []
        self.problems: list[tuple[str, ...]] = []
        self.engine.subscribe(self._listen)

    def _listen(self, event: object) -> None:
        if isinstance(event, TimelineAppended):
            self.told.extend(event.entries)
        elif isinstance(event, StateProblems):
            self.problems.append(event.problems)

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds

    def feed(self, source_id: str, sample: Sample | None = None, error: str | None = None):
        """What ``Scheduler.run_pass`` does after a poll: record, then announce (twice, as the
        polling loop announces the next poll time too)."""
        state = self.engine.state
        if error is not None:
            recorded = state.record_error(source_id, error, self.clock())
        else:
            assert sample is not None
            recorded = state.record_sample(source_id, sample, self.clock())
        self.engine.scheduler.emit(SourceUpdated(recorded))
        self.engine.scheduler.emit(SourceUpdated(state.schedule(source_id, self.clock() + 5)))

    def entries(self) -> list[Entry]:
        assert self.engine.timeline is not None
        return self.engine.timeline.read()

    def lines(self) -> list[tuple[str, str, str]]:
        return [(entry.event, entry.severity, entry.text) for entry in self.entries()]


def check(clock: Clock, up: bool, failed: tuple[str, ...] = ()) -> CheckSample:
    return CheckSample(
        name="api",
        kind="http",
        at=clock(),
        up=up,
        status="ok" if up else "critical",
        latency_ms=12.0,
        http_status=200 if up else 500,
        failed_conditions=failed,
    )


def queue(clock: Clock, depth: int) -> QueueSample:
    status = "critical" if depth >= 50 else "warning" if depth >= 5 else "ok"
    reasons = (f"depth {depth} >= {50 if depth >= 50 else 5}",) if depth >= 5 else ()
    return QueueSample(
        name="emails", kind="redis_list", at=clock(), depth=depth, status=status, reasons=reasons
    )


def session(pid: int, query: str, *, state: str = "active", app: str = "billing", **more):
    values = {
        "pid": pid,
        "backend_start": T0 - 3600 + pid,
        "state": state,
        "user": "app",
        "application": app,
        "client": "10.0.0.7",
        "duration_s": 45.0,
        "xact_age_s": 50.0,
        "wait_event": None,
        "query": query,
    }
    return Session(**{**values, **more})


def database(clock: Clock, long=(), blocked=(), blockers=(), roots=()) -> DatabaseSample:
    return DatabaseSample(
        name="main",
        at=clock(),
        server_version="16.2",
        max_connections=100,
        usable_connections=97,
        connections=Connections(
            total=6, active=3, idle=3, idle_in_transaction=1, waiting_on_lock=len(blocked)
        ),
        long_queries=tuple(long),
        blocked=tuple(blocked),
        blockers=tuple(blockers),
        root_blockers=tuple(roots),
    )


def first_sight(h: Harness) -> None:
    h.feed("check:api", check(h.clock, True))
    h.feed("queue:emails", queue(h.clock, 1))
    h.feed("database:main", database(h.clock))
    h.engine.evaluate_rules()


# --- no flood at start ----------------------------------------------------------------------
def test_a_first_sight_is_no_entry_but_is_remembered(tmp_path: Path):
    h = Harness(tmp_path)
    h.feed("check:api", check(h.clock, False, ("status (500) == 200",)))
    h.feed("queue:emails", queue(h.clock, 12))
    blocker = session(11, "UPDATE accounts SET x = 1", state="idle in transaction")
    h.feed("database:main", database(h.clock, blockers=[blocker], roots=[11]))
    h.engine.evaluate_rules()  # EmailBacklog goes pending: a change, not a first sight
    assert [entry.event for entry in h.entries()] == ["alert.pending"]
    saved = json.loads((tmp_path / "timeline-state.json").read_text())
    assert saved["sources"]["check:api"] == {"status": "critical", "flapping": False}
    assert saved["sources"]["queue:emails"] == {"status": "warning"}
    assert saved["sources"]["database:main"]["blockers"] == [f"11/{T0 - 3600 + 11!r}"]
    assert saved["runs"] == {}


# --- checks, queues, databases -------------------------------------------------------------
def test_check_and_queue_status_changes(tmp_path: Path):
    h = Harness(tmp_path)
    first_sight(h)
    h.tick(5)
    h.feed("check:api", check(h.clock, True))  # the same: nothing
    h.feed("check:api", check(h.clock, False, ("status (500) == 200", "json $.status == ok")))
    h.tick(5)
    h.feed("queue:emails", queue(h.clock, 7))
    h.tick(5)
    h.feed("queue:emails", queue(h.clock, 60))
    h.feed("queue:emails", error="connection refused")
    h.tick(5)
    h.feed("check:api", check(h.clock, True))
    h.feed("queue:emails", queue(h.clock, 0))
    h.feed("check:api", error="timed out after 3s")
    assert h.lines() == [
        (
            "check.state",
            "critical",
            "api critical (was ok): status (500) == 200; json $.status == ok",
        ),
        ("queue.state", "warning", "emails warning (was ok): depth 7 >= 5"),
        ("queue.state", "critical", "emails critical (was warning): depth 60 >= 50"),
        # A failed poll is critical in `watchdeck check`: the same status, no new entry.
        ("check.state", "ok", "api ok (was critical)"),
        ("queue.state", "ok", "emails ok (was critical): depth 0"),
        ("check.state", "critical", "api critical (was ok): timed out after 3s"),
    ]
    entries = h.entries()
    assert [entry.at - T0 for entry in entries] == [5, 10, 15, 20, 20, 20]
    assert [(e.source, e.subject) for e in entries[:2]] == [("check", "api"), ("queue", "emails")]
    assert entries[0].link.pane == "health" and entries[0].link.key == "api"
    assert entries[1].link.pane == "queues" and entries[1].link.key == "emails"
    assert h.told == entries, "every entry written is told, once"


def test_database_events(tmp_path: Path):
    h = Harness(tmp_path)
    first_sight(h)
    report = session(21, "SELECT *\n  FROM orders   JOIN lines USING (id)", app="report-builder")
    holder = session(
        31, "UPDATE accounts SET balance = 0 WHERE id = 1", state="idle in transaction"
    )
    waiter = session(32, "UPDATE accounts SET balance = 1", blocked_by=(31,), app="invoice-api")
    waiter2 = session(33, "SELECT * FROM accounts FOR UPDATE", blocked_by=(32,))
    h.tick(10)
    h.feed("database:main", database(h.clock, long=[report]))
    h.tick(10)
    h.feed("database:main", database(h.clock, long=[report]))  # still there: nothing
    sample = database(
        h.clock, long=[report], blocked=[waiter, waiter2], blockers=[holder], roots=[31]
    )
    h.feed("database:main", sample)
    h.tick(10)
    h.feed("database:main", error="connection refused")
    h.tick(5)
    h.feed("database:main", error="connection refused")  # still lost: nothing
    h.tick(125)
    h.feed("database:main", database(h.clock, long=[report]))  # back; the report known already
    assert h.lines() == [
        (
            "database.long_query",
            "warning",
            "main: long query pid 21 running 45s (app · report-builder · 10.0.0.7): "
            "SELECT * FROM orders JOIN lines USING (id)",
        ),
        (
            "database.blocker",
            "warning",
            "main: pid 31 (idle in transaction, app · billing · 10.0.0.7) blocks 2 sessions: "
            "UPDATE accounts SET balance = 0 WHERE id = 1",
        ),
        ("database.lost", "critical", "main: connection lost: connection refused"),
        ("database.regained", "ok", "main: connection regained after 2m10s"),
    ]
    long, blocker, lost, regained = h.entries()
    assert long.link.pane == "database" and long.link.key == f"main/21/{T0 - 3600 + 21!r}"
    assert blocker.link.key == f"main/31/{T0 - 3600 + 31!r}"
    assert lost.link.key == regained.link.key == "main"
    assert "hunter2" not in (tmp_path / "timeline.jsonl").read_text()


def test_a_flapping_check_is_one_entry_until_it_settles(tmp_path: Path):
    h = Harness(tmp_path)
    first_sight(h)
    for n in range(12):
        h.tick(2)
        h.feed("check:api", check(h.clock, n % 2 == 1))
    events = [entry.event for entry in h.entries()]
    assert "check.flapping" in events
    flapping_at = events.index("check.flapping")
    assert events[:flapping_at] == ["check.state"] * flapping_at
    assert flapping_at < 10, "noticed once the weighted changes pass half (Nagios)"
    assert events[flapping_at + 1 :] == [], "while it flaps, its changes are not entries"
    for _ in range(30):
        h.tick(2)
        h.feed("check:api", check(h.clock, True))
    *_, flapping, settled = h.lines()
    assert flapping[:2] == ("check.flapping", "warning")
    assert flapping[2].startswith("api is flapping: ")
    assert settled == ("check.state", "ok", "api ok (was flapping)")


# --- alerts -------------------------------------------------------------------------------
def am_alert(clock: Clock, silenced: tuple[str, ...] = ()) -> Alert:
    return Alert(
        name="DiskFull",
        source="am",
        state="firing",
        severity="critical",
        since=clock() - 60,
        summary="disk / at 97%",
        labels={"alertname": "DiskFull", "instance": "db-1"},
        source_kind="alertmanager",
        fingerprint="f00dfeed12345678",
        silenced_by=silenced,
        suppressed=bool(silenced),
    )


async def test_alert_transitions(tmp_path: Path):
    h = Harness(tmp_path)
    first_sight(h)
    h.tick(10)
    h.feed("queue:emails", queue(h.clock, 30))  # both rules go pending
    h.engine.evaluate_rules()
    h.tick(31)
    h.engine.evaluate_rules()  # EmailBacklog fires
    h.feed("queue:emails", queue(h.clock, 8))  # EmailsSlow clears before firing
    h.engine.evaluate_rules()
    h.tick(20)
    firing = AlertsSample("am", "alertmanager", h.clock(), (am_alert(h.clock),))
    h.engine.state.record_sample("alertsource:am", firing, h.clock())
    h.engine.evaluate_rules()
    h.tick(10)
    silenced = AlertsSample("am", "alertmanager", h.clock(), (am_alert(h.clock, ("s-42",)),))
    h.engine.state.record_sample("alertsource:am", silenced, h.clock())
    h.engine.evaluate_rules()
    h.tick(10)
    backlog = next(alert for alert in h.engine.alerts if alert.name == "EmailBacklog")
    await h.engine.acknowledge_alert(backlog, "looking at the workers")
    h.tick(60)
    h.feed("queue:emails", queue(h.clock, 0))
    h.engine.evaluate_rules()
    alert_lines = [line for line in h.lines() if line[0].startswith("alert.")]
    assert alert_lines == [
        ("alert.pending", "info", "EmailsSlow pending (critical): emails far behind"),
        ("alert.pending", "info", "EmailBacklog pending (warning): emails backlog at 30 jobs"),
        ("alert.firing", "warning", "EmailBacklog firing (warning): emails backlog at 30 jobs"),
        ("alert.inactive", "ok", "EmailsSlow cleared before firing: emails far behind"),
        ("alert.firing", "critical", "DiskFull firing (critical): disk / at 97%"),
        ("alert.silenced", "info", "DiskFull silenced in am (s-42)"),
        ("alert.acknowledged", "info", "EmailBacklog acknowledged: looking at the workers"),
        (
            "alert.resolved",
            "ok",
            "EmailBacklog resolved after 1m40s firing: emails backlog at 0 jobs",
        ),
    ]
    by_event = {entry.event: entry for entry in h.entries()}
    assert by_event["alert.acknowledged"].who == WHO
    assert by_event["alert.silenced"].link.key == "am/f00dfeed12345678"
    assert by_event["alert.firing"].link.pane == "alerts"
    ack = by_event["action.done"]
    assert (ack.source, ack.subject, ack.who) == ("action", "EmailBacklog", WHO)
    assert ack.text == (
        "acknowledge EmailBacklog: looking at the workers → EmailBacklog acknowledged by " + WHO
    )
    assert ack.link == by_event["alert.acknowledged"].link


def test_alert_history_is_not_recorded_twice_after_a_restart(tmp_path: Path):
    h = Harness(tmp_path)
    first_sight(h)
    h.feed("queue:emails", queue(h.clock, 30))
    h.engine.evaluate_rules()
    h.engine.save_alert_state()
    again = Harness(tmp_path)
    again.clock.now = h.clock.now + 40  # EmailBacklog, restored pending, fires now
    again.feed("queue:emails", queue(again.clock, 30))
    again.engine.evaluate_rules()
    assert [(e.event, e.subject) for e in again.entries()] == [
        ("queue.state", "emails"),
        ("alert.pending", "EmailsSlow"),
        ("alert.pending", "EmailBacklog"),
        ("alert.firing", "EmailBacklog"),
    ]


# --- actions and runbooks -----------------------------------------------------------------
BOOK = """---
variables:
  TOKEN: {secret: true, required: true}
---
# Drain the backlog

```sh {name="Restart the worker"}
echo "restarting with $TOKEN"
```

```sh {name="Check the queue"}
exit 3
```
"""


async def test_actions_with_who_and_runbook_runs(tmp_path: Path):
    h = Harness(tmp_path / "state")
    first_sight(h)
    alert = Alert("Manual", "watchdeck", "firing", "warning", T0, "x", fingerprint="fp1")
    h.tick(1)
    outcome = await h.engine.unacknowledge_alert(alert)  # not acknowledged: it fails
    assert not outcome.ok
    book = tmp_path / "drain.md"
    book.write_text(BOOK)
    executor = h.engine.runbook_executor()
    h.tick(1)
    run = executor.start(parse(BOOK, book), {"TOKEN": "sekrit-token-998877"})
    h.tick(1)
    first = await executor.run_step(run, 1)
    h.tick(1)
    second = await executor.run_step(run, 2)
    h.tick(1)
    executor.close(run)
    await executor.aclose()
    assert (first.status, second.status, second.exit_code) == ("ok", "failed", 3)
    h.engine.evaluate_rules()  # the rules' turn: the run's close is found in its file
    runbook_entries = [e for e in h.entries() if e.source == "runbook"]
    subject = f"drain run {run.id}"
    assert [(e.event, e.severity, e.subject, e.who) for e in runbook_entries] == [
        ("runbook.started", "info", subject, WHO),
        ("runbook.step", "info", subject, WHO),
        ("runbook.step", "warning", subject, WHO),
        ("runbook.finished", "warning", subject, WHO),
    ]
    started, ok, failed, finished = runbook_entries
    assert started.text == "Drain the backlog: run started"
    assert ok.text.startswith("step 1: Restart the worker → exit 0 in ")
    assert failed.text.startswith("step 2: Check the queue → failed: exit 3 in ")
    assert finished.text == "Drain the backlog: run finished (1 ok, 1 failed)"
    assert [e.at - T0 for e in runbook_entries] == [2, 3, 4, 5]
    assert {e.link.pane for e in runbook_entries} == {"runbooks"}
    assert {e.link.key for e in runbook_entries} == {run.id}
    (unack,) = [e for e in h.entries() if e.source == "action"]
    assert (unack.event, unack.severity, unack.who) == ("action.failed", "warning", WHO)
    assert unack.text == (
        "remove the acknowledgement of Manual → failed: Manual is not acknowledged"
    )
    assert "sekrit-token-998877" not in (tmp_path / "state" / "timeline.jsonl").read_text()


async def test_a_refused_action_is_an_entry(tmp_path: Path):
    h = Harness(tmp_path, read_only=True)
    alert = Alert("Manual", "watchdeck", "firing", "warning", T0, "x", fingerprint="fp1")
    with pytest.raises(ActionRefused):
        await h.engine.acknowledge_alert(alert)
    (refused,) = h.entries()
    assert (refused.event, refused.source, refused.who) == ("action.refused", "action", WHO)
    assert refused.text == (
        "acknowledge Manual → refused: read-only mode: alert.acknowledge on "
        "alert Manual (watchdeck fp1) not run"
    )
    assert refused.link.pane == "alerts" and refused.link.key == "watchdeck/fp1"


def test_a_headless_run_is_found_by_the_next_recorder(tmp_path: Path):
    """``watchdeck runbook run`` records nothing itself: the console or the next ``check``
    finds the run in its file."""
    h = Harness(tmp_path)
    first_sight(h)  # runs seen: none
    from runbook_helpers import executor as headless

    runner = headless(tmp_path)
    book = tmp_path / "drain.md"
    book.write_text(BOOK)
    run = runner.start(parse(BOOK, book), {"TOKEN": "sekrit-token-998877"})
    runner.close(run)
    h.engine.evaluate_rules()
    assert [(e.event, e.text) for e in h.entries()] == [
        ("runbook.started", "Drain the backlog: run started"),
        ("runbook.finished", "Drain the backlog: run finished (2 not done)"),
    ]
    h.engine.evaluate_rules()
    assert len(h.entries()) == 2, "found once"


# --- across processes ---------------------------------------------------------------------
def test_a_change_between_two_processes_is_one_entry(tmp_path: Path):
    console, cron = Harness(tmp_path), Harness(tmp_path)
    first_sight(console)
    cron.feed("check:api", check(cron.clock, True))  # the console saw it first: nothing new
    cron.tick(60)
    cron.feed("check:api", check(cron.clock, False, ("status (500) == 200",)))
    console.tick(61)
    console.feed("check:api", check(console.clock, False, ("status (500) == 200",)))
    assert [e.text for e in console.entries()] == ["api critical (was ok): status (500) == 200"]
    later = Harness(tmp_path)  # a new process: compares with the file
    later.clock.now += 120
    later.feed("check:api", check(later.clock, True))
    assert [e.text for e in later.entries()][-1] == "api ok (was critical)"


# --- secrets --------------------------------------------------------------------------------
def test_secrets_in_errors_and_queries_never_reach_the_timeline(tmp_path: Path):
    h = Harness(tmp_path)
    first_sight(h)
    h.tick(5)
    h.feed("check:api", error="redirect to http://127.0.0.1:9/login?access_token=tok-7f3a9c2e1b")
    h.feed("queue:emails", error="cannot reach redis://:rpass-123456@10.0.0.9:6379/0")
    rotate = session(41, "ALTER ROLE ops PASSWORD 'hunter2-pw'", app="psql")
    h.feed("database:main", database(h.clock, long=[rotate]))
    h.tick(5)
    h.feed("database:main", error="connection to postgresql://ops:hunter2-pw@10.0.0.5/app failed")
    written = (tmp_path / "timeline.jsonl").read_text()
    for secret in ("tok-7f3a9c2e1b", "rpass-123456", "hunter2-pw"):
        assert secret not in written
    assert [e.text for e in h.entries()] == [
        "api critical (was ok): redirect to http://127.0.0.1:9/login?access_token=***",
        "emails critical (was ok): cannot reach redis://:***@10.0.0.9:6379/0",
        "main: long query pid 41 running 45s (app · psql · 10.0.0.7): "
        "ALTER ROLE ops PASSWORD '***'",
        "main: connection lost: connection to postgresql://ops:***@10.0.0.5/app failed",
    ]
