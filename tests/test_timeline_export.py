"""``watchdeck timeline export|show``: a scripted shift on a fake clock, exported as the
post-mortem document (every line checked) and as JSON; the command line as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import markdown_it
import pytest
from test_timeline_recorder import T0, WHO, Harness, check, database, first_sight, queue, session

from tui.engine.runbooks.parse import parse
from tui.engine.runbooks.run import Run
from tui.engine.timeline import Link, TimelineStore
from tui.engine.timeline.command import parse_time
from tui.engine.timeline.export import gather, render_json, render_markdown
from tui.engine.timeline.maker import Maker

SECRET = "sekrit-token-998877"
BOOK = """---
variables:
  TOKEN: {secret: true, required: true}
---
# Drain the backlog

- [ ] Tell the channel

```sh {name="Restart the worker"}
echo "restarting with $TOKEN"
```
"""
GOLDEN = """\
# Incident timeline 2025-06-15 15:05:40 to 2025-06-15 15:11:40

- **Window:** 2025-06-15 15:05:40 → 2025-06-15 15:11:40 (6m00s), times in UTC
- **Host:** web-1
- **Config:** /etc/watchdeck/config.yaml
- **Entries:** 16 (1 critical, 4 warning, 6 info, 5 ok)
- **Exported:** 2025-06-15 15:11:41 by alice@web-1

## Timeline

| Time | Source | Severity | What | Who |
|---|---|---|---|---|
| 15:07:00 | check | ✖ critical | api critical (was ok): status (500) == 200 |   |
| 15:07:20 | queue | ▲ warning | emails warning (was ok): depth 30 \\>= 5 |   |
| 15:07:20 | alert | ○ info | EmailsSlow pending (critical): emails far behind |   |
| 15:07:20 | alert | ○ info | EmailBacklog pending (warning): emails backlog at 30 jobs |   |
| 15:07:55 | alert | ▲ warning | EmailBacklog firing (warning): emails backlog at 30 jobs |   |
| 15:07:55 | alert | ✔ ok | EmailsSlow cleared before firing: emails far behind |   |
| 15:08:10 | database | ▲ warning | main: long query pid 21 running 45s \
(app · report-builder · 10.0.0.7): SELECT \\* FROM orders JOIN lines USING (id) |   |
| 15:08:10 | database | ▲ warning | main: pid 31 (idle in transaction, app · billing · 10.0.0.7) \
blocks 1 session: UPDATE accounts SET balance = 0 WHERE id = 1 |   |
| 15:08:20 | alert | ○ info | EmailBacklog acknowledged: workers restarting | {who} |
| 15:08:20 | action | ○ info | acknowledge EmailBacklog: workers restarting → EmailBacklog \
acknowledged by {who} | {who} |
| 15:08:30 | runbook | ○ info | Drain the backlog: run started | {who} |
| 15:08:40 | runbook | ○ info | step 2: Restart the worker → exit 0 in <t> | {who} |
| 15:08:50 | runbook | ✔ ok | Drain the backlog: run finished (1 done, 1 ok) | {who} |
| 15:10:00 | queue | ✔ ok | emails ok (was warning): depth 0 |   |
| 15:10:00 | check | ✔ ok | api ok (was critical) |   |
| 15:10:00 | alert | ✔ ok | EmailBacklog resolved after 2m05s firing: emails backlog at 0 jobs |   |

## Alerts

| Alert | Severity | Pending | Firing | Resolved | Firing for | Notes |
|---|---|---|---|---|---|---|
| EmailsSlow | — | 15:07:20 | — | cleared 15:07:55 | — |   |
| EmailBacklog | ▲ warning | 15:07:20 | 15:07:55 | 15:10:00 | 2m05s | acknowledged by {who} |

## Actions

| Time | Who | On | What |
|---|---|---|---|
| 15:08:20 | {who} | EmailBacklog | acknowledge EmailBacklog: workers restarting → EmailBacklog \
acknowledged by {who} |
| 15:08:40 | {who} | drain run {run} | step 2: Restart the worker → exit 0 in <t> |

## Runbook runs

### Drain the backlog (run `{run}`)

- **Runbook:** `drain`, {book} (sha256 `{sha}`)
- **Run:** `{run}`
- **Started:** 2025-06-15 15:08:30 UTC by {who}
- **Closed:** 2025-06-15 15:08:50 UTC
- **Steps:** 1 done, 1 ok

#### Variables

| Variable | Value |
|---|---|
| `TOKEN` | `***` |

#### Steps

##### 1. ☑ Tell the channel

manual · done

##### 2. ✓ Restart the worker

sh · ok · exit 0 in <t>

```sh
echo "restarting with ***"
```

Output (20 bytes; all of it in `{state}/runbooks/{run}/02-1.out`):

```text
restarting with ***
```
"""
_TOOK = re.compile(r"\bin \d+(\.\d+)?m?s\b")


@dataclass
class Shift:
    harness: Harness
    state: Path
    run: Run


async def scripted_shift(tmp_path: Path) -> Shift:
    """A check failing, a queue backlog and its alert, a long query and a blocker, an
    acknowledgement, a runbook run; then everything recovers."""
    state = tmp_path / "state"
    h = Harness(state)
    first_sight(h)
    h.tick(20)
    h.feed("check:api", check(h.clock, False, ("status (500) == 200",)))
    h.tick(20)
    h.feed("queue:emails", queue(h.clock, 30))
    h.engine.evaluate_rules()
    h.tick(35)
    h.engine.evaluate_rules()
    h.feed("queue:emails", queue(h.clock, 8))
    h.engine.evaluate_rules()
    h.tick(15)
    report = session(21, "SELECT * FROM orders JOIN lines USING (id)", app="report-builder")
    holder = session(
        31, "UPDATE accounts SET balance = 0 WHERE id = 1", state="idle in transaction"
    )
    waiter = session(32, "UPDATE accounts SET balance = 1", blocked_by=(31,))
    h.feed(
        "database:main",
        database(h.clock, long=[report], blocked=[waiter], blockers=[holder], roots=[31]),
    )
    h.tick(10)
    backlog = next(alert for alert in h.engine.alerts if alert.name == "EmailBacklog")
    await h.engine.acknowledge_alert(backlog, "workers restarting")
    book = tmp_path / "drain.md"
    book.write_text(BOOK)
    executor = h.engine.runbook_executor()
    h.tick(10)
    run = executor.start(parse(BOOK, book), {"TOKEN": SECRET})
    h.tick(10)
    executor.tick(run, 1)
    assert (await executor.run_step(run, 2)).status == "ok"
    h.tick(10)
    executor.close(run)
    await executor.aclose()
    h.tick(70)
    h.feed("queue:emails", queue(h.clock, 0))
    h.feed("check:api", check(h.clock, True))
    h.engine.evaluate_rules()
    return Shift(h, state, run)


async def test_markdown_export_line_by_line(tmp_path: Path):
    shift = await scripted_shift(tmp_path)
    export = gather(
        shift.harness.engine.timeline,
        shift.state,
        T0 - 60,
        T0 + 300,
        tz=UTC,
        config="/etc/watchdeck/config.yaml",
        host="web-1",
    )
    text = render_markdown(export, exported_by="alice@web-1", exported_at=T0 + 301)
    expected = GOLDEN.format(
        who=WHO,
        run=shift.run.id,
        book=tmp_path / "drain.md",
        sha=shift.run.runbook.sha256[:16],
        state=shift.state,
    )
    got = [_TOOK.sub("in <t>", line) for line in text.splitlines()]
    want = expected.splitlines()
    for number, (line, golden) in enumerate(zip(got, want, strict=False), 1):
        assert line == golden, f"line {number}"
    assert len(got) == len(want)
    assert SECRET not in text


async def test_json_export(tmp_path: Path):
    shift = await scripted_shift(tmp_path)
    export = gather(
        shift.harness.engine.timeline, shift.state, T0 + 60, T0 + 300, tz=UTC, config="c.yaml"
    )
    data = json.loads(json.dumps(render_json(export)))
    assert (data["since"], data["until"]) == (
        "2025-06-15T15:07:40+00:00",
        "2025-06-15T15:11:40+00:00",
    )
    assert data["timezone"] == "UTC"
    assert [entry["event"] for entry in data["entries"]] == [
        "alert.firing",
        "alert.inactive",
        "database.long_query",
        "database.blocker",
        "alert.acknowledged",
        "action.done",
        "runbook.started",
        "runbook.step",
        "runbook.finished",
        "queue.state",
        "check.state",
        "alert.resolved",
    ]
    first = data["entries"][0]
    assert first["time"] == "2025-06-15T15:07:55+00:00" and first["at"] == T0 + 75
    assert first["link"] == {"pane": "alerts", "key": first["link"]["key"]}
    # Alerts that overlap the window, from their whole history (pending before it began).
    assert data["alerts"] == [
        {
            "name": "EmailsSlow",
            "key": data["alerts"][0]["key"],
            "severity": None,
            "pending_at": "2025-06-15T15:07:20+00:00",
            "firing_at": None,
            "ended_at": "2025-06-15T15:07:55+00:00",
            "ended": "cleared",
            "firing_s": None,
            "still_firing": False,
            "silenced": False,
            "acknowledged_by": None,
        },
        {
            "name": "EmailBacklog",
            "key": data["alerts"][1]["key"],
            "severity": "warning",
            "pending_at": "2025-06-15T15:07:20+00:00",
            "firing_at": "2025-06-15T15:07:55+00:00",
            "ended_at": "2025-06-15T15:10:00+00:00",
            "ended": "resolved",
            "firing_s": 125.0,
            "still_firing": False,
            "silenced": False,
            "acknowledged_by": WHO,
        },
    ]
    assert [(a["event"], a["who"]) for a in data["actions"]] == [
        ("action.done", WHO),
        ("runbook.step", WHO),
    ]
    (run,) = data["runbook_runs"]
    assert run["id"] == shift.run.id and run["counts"] == {"done-manual": 1, "ok": 1}
    assert run["closed_at"] == "2025-06-15T15:08:50+00:00" and run["who"] == WHO
    assert run["report"].startswith("# Runbook run: Drain the backlog\n")
    assert SECRET not in json.dumps(data)


async def test_a_window_before_the_end_shows_alerts_still_firing(tmp_path: Path):
    shift = await scripted_shift(tmp_path)
    export = gather(shift.harness.engine.timeline, shift.state, T0, T0 + 90, tz=UTC, config="c")
    text = render_markdown(export, exported_by="alice@web-1", exported_at=T0 + 400)
    assert (
        "| EmailBacklog | ▲ warning | 15:07:20 | 15:07:55 | still firing | 15s so far |   |"
        in text.splitlines()
    )
    assert "No runbook run in this window." in text
    assert "No action was taken in this window." in text


def test_times_as_users_write_them():
    now = T0
    assert parse_time("30m", now) == now - 1800
    assert parse_time("2h", now) == now - 7200
    assert parse_time("1d", now) == now - 86400
    assert parse_time("2025-06-15T15:06:40Z", now) == T0
    assert parse_time("2025-06-15T17:06:40+02:00", now) == T0
    for bad in ("yesterday", "90", "2h ago", ""):
        with pytest.raises(ValueError, match="expected a duration ago like 30m"):
            parse_time(bad, now)


# --- the command line -----------------------------------------------------------------------
def watchdeck(*args: str, state: Path, tz: str = "UTC") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": tz, "WATCHDECK_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "timeline", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


async def test_the_command_line(tmp_path: Path):
    shift = await scripted_shift(tmp_path)
    window = ("--since", "2025-06-15T15:05:40", "--until", "2025-06-15T15:11:40")
    document = tmp_path / "postmortem.md"
    done = watchdeck("export", *window, "--output", str(document), state=shift.state)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"wrote {document}: 16 entries\n"
    lines = document.read_text().splitlines()
    assert lines[0] == "# Incident timeline 2025-06-15 15:05:40 to 2025-06-15 15:11:40"
    assert lines[2].endswith("(6m00s), times in UTC")
    assert lines[4] == "- **Config:** none found"
    assert lines[6].startswith("- **Exported:** ") and lines[6].endswith(f" by {WHO}")
    as_json = watchdeck("export", *window, "--format", "json", state=shift.state)
    assert len(json.loads(as_json.stdout)["entries"]) == 16
    shown = watchdeck("show", *window, state=shift.state)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == (
        "2025-06-15 15:07:00 UTC  ✖ critical  check     api critical (was ok): status (500) == 200"
    )
    assert shown.stdout.splitlines()[8] == (
        f"2025-06-15 15:08:20 UTC  ○ info      alert     EmailBacklog acknowledged: workers "
        f"restarting  [{WHO}]"
    )
    assert SECRET not in document.read_text() + as_json.stdout + shown.stdout


def test_bad_input_is_one_line(tmp_path: Path):
    (tmp_path / "timeline.jsonl").write_text("")
    bad = watchdeck("show", "--since", "last tuesday", state=tmp_path)
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == (
        "watchdeck timeline: expected a duration ago like 30m, 2h, 1d or a time like "
        "2026-03-04T13:00, got 'last tuesday'\n"
    )
    backwards = watchdeck("export", "--since", "1h", "--until", "2h", state=tmp_path)
    assert backwards.stderr == "watchdeck timeline: --until (2h) is not after --since (1h)\n"
    nowhere = watchdeck("export", state=tmp_path / "elsewhere")
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith(f"watchdeck timeline: no timeline in {tmp_path / 'elsewhere'}")
    unwritable = watchdeck(
        "export", "--output", str(tmp_path / "no" / "such" / "dir.md"), state=tmp_path
    )
    assert unwritable.returncode == 1
    assert unwritable.stderr == (
        f"watchdeck timeline: cannot write {tmp_path / 'no' / 'such' / 'dir.md'}: "
        "no such file or directory\n"
    )
    empty = watchdeck("show", state=tmp_path)
    assert (empty.returncode, empty.stdout) == (0, "nothing recorded in this window\n")


def utc(*when: int) -> float:
    return datetime(*when, tzinfo=UTC).timestamp()


def test_times_take_the_offset_of_their_own_instant(tmp_path: Path):
    """Berlin: CET (UTC+1) in winter, CEST (UTC+2) in summer, whatever the date today."""
    make = Maker()
    TimelineStore(tmp_path).append(
        [
            make(utc(2026, 1, 10, 11, 30), "check", "api", "critical", "check.state", "winter"),
            make(utc(2026, 3, 29, 0, 30), "check", "api", "ok", "check.state", "before"),
            make(utc(2026, 3, 29, 1, 30), "check", "api", "critical", "check.state", "after"),
            make(utc(2026, 7, 4, 11, 30), "check", "api", "critical", "check.state", "summer"),
        ]
    )
    year = ("--since", "2026-01-01T00:00", "--until", "2026-12-31T00:00")
    shown = watchdeck("show", *year, state=tmp_path, tz="Europe/Berlin")
    assert shown.returncode == 0, shown.stderr
    assert [line[:24] for line in shown.stdout.splitlines()] == [
        "2026-01-10 12:30:00 CET ",
        "2026-03-29 01:30:00 CET ",
        "2026-03-29 03:30:00 CEST",
        "2026-07-04 13:30:00 CEST",
    ]
    # A window across the change to summer time names the zone at each time.
    night = ("--since", "2026-03-29T00:00", "--until", "2026-03-29T06:00")
    document = watchdeck("export", *night, state=tmp_path, tz="Europe/Berlin").stdout
    assert "(5h00m), times in CET (UTC+01:00) then CEST (UTC+02:00)" in document
    assert "# Incident timeline 2026-03-29 00:00:00 CET to 2026-03-29 06:00:00 CEST" in document
    assert "| 01:30:00 CET | check | ✔ ok | before |   |" in document
    assert "| 03:30:00 CEST | check | ✖ critical | after |   |" in document
    data = json.loads(
        watchdeck("export", *night, "--format", "json", state=tmp_path, tz="Europe/Berlin").stdout
    )
    assert [entry["time"] for entry in data["entries"]] == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_text_from_outside_stays_text_in_the_document(tmp_path: Path):
    """Query text and application names come from any database client, alert names from
    Alertmanager: rendered, none of it is a tag, a link, an image or emphasis."""
    store, make, t0 = TimelineStore(tmp_path), Maker(), utc(2026, 3, 4, 13, 0)
    query = (
        "main: long query pid 7 running 45s (app · <img src=https://evil.example/p.png> · "
        "10.0.0.7): SELECT '[Click to re-auth](https://evil.example/login)' "
        "<script>alert(1)</script> ![x](https://evil.example/i.png) *a* _b_ `c` &amp; a|b"
    )
    store.append(
        [
            make(t0 + 60, "database", "main", "warning", "database.long_query", query),
            make(
                t0 + 90,
                "alert",
                "<b>Disk</b>",
                "critical",
                "alert.firing",
                "<b>Disk</b> firing (critical): [x](https://evil.example)",
                link=Link("alerts", "am/fp1"),
            ),
        ]
    )
    export = gather(
        store,
        tmp_path,
        t0,
        t0 + 3600,
        tz=UTC,
        config="[c.yaml](https://evil.example/c)",
        host="<i>h</i>",
    )
    text = render_markdown(export, exported_by="me@h", exported_at=t0 + 3600)
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    for markup in ("<img", "<script", "<a ", "<b>", "<i>", "<em>", "<code>"):
        assert markup not in html
    assert "*a* _b_ `c`" in html
    assert "&amp;amp;" in html  # the text's own "&amp;", not an ampersand
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[Click to re-auth](https://evil.example/login)" in html
    assert "a|b" in html and html.count("<td>") == 2 * 5 + 7  # no cell of its own


def test_alert_times_on_another_day_than_the_window_are_dated(tmp_path: Path):
    store, make = TimelineStore(tmp_path), Maker()
    evening, t0 = utc(2026, 3, 3, 23, 30), utc(2026, 3, 4, 13, 0)
    alert = Link("alerts", "am/fp1")
    store.append(
        [
            make(evening, "alert", "DiskFull", "info", "alert.pending", "pending", link=alert),
            make(evening + 60, "alert", "DiskFull", "critical", "alert.firing", "on", link=alert),
            make(t0 + 60, "alert", "DiskFull", "ok", "alert.resolved", "off", link=alert),
        ]
    )
    export = gather(store, tmp_path, t0, t0 + 3600, tz=UTC, config="c.yaml", host="h")
    text = render_markdown(export, exported_by="me@h", exported_at=t0 + 3600)
    assert (
        "| DiskFull | ✖ critical | 2026-03-03 23:30:00 | 2026-03-03 23:31:00 | 13:01:00 "
        "| 13h30m |   |" in text.splitlines()
    )
