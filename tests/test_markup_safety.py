"""What comes from outside is shown as it is, never read as Rich or Textual markup: config
names, PostgreSQL session fields, alerts, runbooks, timeline entries and messages quoting them.
Read as markup, ``[/x]`` in a value raised mid-render (the console crashed) and ``x[b]y``
silently lost its ``[b]``. Each test drives the console with Pilot, toasts shown, through the
ways one such value reaches the screen."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from runbook_ui import highlight, screen_text, until, viewer_app
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Select
from ui_fixtures import (
    NOW,
    QUEUE_URL,
    RUNBOOKS,
    clock,
    database_sample,
    external,
    feed,
    make_alerts_config,
    make_app,
    make_config,
    make_engine,
    session,
    settle,
    utc,
)

from tui.app import WatchdeckApp
from tui.engine.actions import Outcome
from tui.engine.config import Check, Database, Queue
from tui.engine.engine import Engine
from tui.engine.events import AlertsUpdated, SourceUpdated
from tui.engine.queues_derived import QueueHistory, QueueReading
from tui.engine.samples import Alert, CheckSample, CustomMetric, Replica
from tui.engine.sources.pg_ondemand import DatabaseSize, TopStatement
from tui.engine.timeline import Entry, TimelineStore
from tui.screens.alert_detail import AlertDetailScreen
from tui.screens.alert_dialogs import AcknowledgeScreen, SilenceScreen
from tui.screens.check_detail import CheckDetailScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.console import ConsoleScreen
from tui.screens.database_info import DatabaseInfoScreen
from tui.screens.queue_detail import QueueDetailScreen
from tui.screens.runbook_dialogs import ResumeScreen, SkipScreen, VariablesScreen
from tui.screens.runbook_run import RunbookRunScreen
from tui.screens.session_detail import SessionDetailScreen
from tui.screens.timeline import TimelineScreen
from widgets.alerts import AlertsPane
from widgets.db_summary import byte_size

HOSTILE = ("api[/x]", "x[b]y")
"""A closing tag matching nothing (raised), and a tag that would vanish."""
BIG = (120, 40)
TALL = (120, 70)


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def shows(app: WatchdeckApp, *texts: str) -> None:
    """Each of ``texts`` is on the screen, spaces aside (table columns are padded)."""
    screen = "".join(screen_text(app).split())
    for text in texts:
        assert "".join(text.split()) in screen, text


def toasts(app: WatchdeckApp) -> str:
    """The toasts on the screen as drawn (a toast renders its message only when shown)."""
    return "\n".join(toast.render().plain for toast in app.screen.query("Toast"))


async def opened(pilot: Pilot[int], screen: type[Screen[Any]], *keys: str) -> Any:
    """Press ``keys``, then wait until ``screen`` is the one shown."""
    await pilot.press(*keys)
    await until(pilot, lambda: isinstance(pilot.app.screen, screen), screen.__name__)
    await pilot.pause()
    return pilot.app.screen


# --- config names and what the servers say ----------------------------------------------
def sources_app(value: str) -> WatchdeckApp:
    """A check, a queue and a database named ``value``."""
    config = msgspec.structs.replace(
        make_config(),
        checks=[Check(name=value, url="http://127.0.0.1:9/health")],
        queues=[Queue(name=value, url=QUEUE_URL)],
        databases=[Database(name=value, dsn="postgresql://app@127.0.0.1:9/app")],
    )
    return make_app(make_engine(config))


def deliver_sources(app: WatchdeckApp, value: str) -> None:
    """One poll of each source; every field a server or client sets says ``value``."""
    engine, state = app.engine, app.engine.state
    check = CheckSample(
        value,
        "http",
        NOW - 3,
        up=False,
        status="critical",
        latency_ms=80.0,
        http_status=500,
        headers=(("server", value),),
        body_excerpt=value,
    )
    state.record_sample(f"check:{value}", check, NOW - 3)
    queue = engine.config.queues[0]
    history = QueueHistory(queue, history=100, window=60.0)
    sample = history.sample(value, queue.kind, NOW - 1, QueueReading(7, notes=(value,)))
    state.record_sample(f"queue:{value}", sample, NOW - 1)
    base = database_sample()
    fields = ("user", "application", "client", "wait_event", "database")
    hostile = session(4242, f"SELECT '{value}'", **dict.fromkeys(fields, value))
    connections = dataclasses.replace(
        base.connections, by_user=((value, 2),), by_application=((value, 2),)
    )
    db = dataclasses.replace(
        base,
        name=value,
        connections=connections,
        long_queries=(hostile,),
        idle_transactions=(),
        blocked=(),
        blockers=(),
        root_blockers=(),
        replicas=(Replica(value, value, "streaming", "async", 0.0, 0.0),),
        custom_metrics=(CustomMetric(value, None, at=NOW - 5, error=value),),
    )
    state.record_sample(f"database:{value}", db, NOW - 1)
    for source in (f"check:{value}", f"queue:{value}", f"database:{value}"):
        engine.scheduler.emit(SourceUpdated(state.schedule(source, NOW + 5)))


@pytest.mark.parametrize("value", HOSTILE)
async def test_names_and_server_fields_in_the_console_and_detail_screens(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sources_app(value)

    async def sizes() -> tuple[DatabaseSize, ...]:
        return (DatabaseSize(value, 8192),)

    async def statements() -> tuple[TopStatement, ...]:
        return (TopStatement(f"SELECT '{value}'", value, 3, 12.0, 4.0, 1),)

    # Fetched when the database info opens (the fixed engine's server does not exist).
    monkeypatch.setattr(app.engine, "database_sizes", lambda _name: sizes())
    monkeypatch.setattr(app.engine, "top_statements", lambda _name: statements())
    async with app.run_test(size=TALL, notifications=True) as pilot:
        await settle(pilot)
        deliver_sources(app, value)
        await settle(pilot)
        assert screen_text(app).count(value) >= 5  # the three panes, the session's user, app

        await opened(pilot, CheckDetailScreen, "1", "enter")
        shows(app, f"{value} · http", f"server {value}")
        await opened(pilot, ConsoleScreen, "escape")
        await opened(pilot, QueueDetailScreen, "2", "enter")
        shows(app, f"{value} · redis", f"· {value}")  # the name, then a note
        await opened(pilot, ConsoleScreen, "escape")

        await opened(pilot, SessionDetailScreen, "3", "enter")
        shows(
            app,
            f"{value} · pid 4242",  # the database, in the title
            *(f"{field} {value}" for field in ("database", "user", "application", "client")),
            f"wait event {value}",
            f"SELECT '{value}'",
        )
        await opened(pilot, ConsoleScreen, "escape")
        await opened(pilot, DatabaseInfoScreen, "i")
        await until(pilot, lambda: "fetching" not in screen_text(app), "sizes and statements")
        shows(
            app,
            f"{value} · as of",
            f"2 {value}",  # connections by user and by application
            f"{value} {value} streaming async",  # a standby
            f"{value} — — 22:13:15 {value}",  # a custom metric and its error
            f"{value} {byte_size(8192)}",  # a database's size
            f"{value} SELECT '{value}'",  # a top statement
        )


@pytest.mark.parametrize("value", HOSTILE)
async def test_a_refused_signal_is_told_literally(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sources_app(value)
    async with app.run_test(size=BIG, notifications=True) as pilot:
        await settle(pilot)
        deliver_sources(app, value)
        await settle(pilot)
        app.engine.actions.read_only = True  # refused after the confirm, naming the target
        dialog = await opened(pilot, ConfirmScreen, "3", "c")
        assert f"pid 4242 · {value} · {value} · {value}" in str(dialog.query_one(".body").render())
        await pilot.press("tab", "enter")
        await until(pilot, lambda: "not run" in toasts(app), "the refusal")
        assert f"read-only mode: pg.cancel on database {value} pid 4242 not run" in toasts(app)

        async def refused_by_the_server(*_args: object) -> Outcome:
            return Outcome(ok=False, message=f"permission denied for {value}")

        monkeypatch.setattr(app.engine, "signal_backend", refused_by_the_server)
        monkeypatch.setattr(app.engine.scheduler, "refresh_now", lambda _source: None)
        await opened(pilot, ConfirmScreen, "c")
        await pilot.press("tab", "enter")
        await until(pilot, lambda: "permission" in toasts(app), "the outcome")
        assert f"permission denied for {value}" in toasts(app)


# --- alerts --------------------------------------------------------------------------------
def hostile_alerts(value: str) -> tuple[Alert, Alert]:
    """One alert from the configured Alertmanager, acknowledged and silenced; one from an
    Alertmanager not configured (it cannot be silenced here). Everything in them says it."""
    silenced = external(
        "am",
        "alertmanager",
        value,
        "critical",
        NOW - 700,
        labels={"instance": value},
        summary=f"summary {value}",
        annotations={"description": f"description {value}", "dashboard": value},
        silenced_by=(f"silence-{value}",),
        suppressed=True,
        acknowledged_by="alice@ops-1",
        acknowledged_at=NOW - 60,
        ack_comment=f"comment {value}",
    )
    other = external(
        "elsewhere",
        "alertmanager",
        value,
        "warning",
        NOW - 300,
        labels={"instance": "db2"},
        summary=f"other {value}",
    )
    return silenced, other


async def alert_row(pilot: Pilot[int], key: str) -> None:
    app = pilot.app
    assert isinstance(app, WatchdeckApp)
    await pilot.press("4")
    table = app.deck.alerts.focus_target
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


@pytest.mark.parametrize("value", HOSTILE)
async def test_alert_names_labels_and_annotations_in_the_pane_detail_and_dialogs(
    value: str,
) -> None:
    app = make_app(make_engine(make_alerts_config()))
    silenced, other = hostile_alerts(value)
    async with app.run_test(size=BIG, notifications=True) as pilot:
        await feed(pilot)
        app.engine.scheduler.emit(AlertsUpdated((silenced, other), NOW))
        await settle(pilot)
        await pilot.press("4", "z")
        shows(app, f"{value} instance={value}", f"other {value}")

        await alert_row(pilot, silenced.key)
        await opened(pilot, AlertDetailScreen, "enter")
        shows(
            app,
            f"{value} · am",
            f"summary {value}",
            f"description {value}",
            f"silenced by silence-{value}",
            f"comment comment {value}",
            f"instance {value}",
            f"dashboard {value}",
        )

        await opened(pilot, ConfirmScreen, "a")  # acknowledged: taking it back is confirmed
        shows(app, f"Remove the acknowledgement of {value}?", f"comment {value}")
        await opened(pilot, AlertDetailScreen, "escape")
        await opened(pilot, SilenceScreen, "s")
        shows(app, f"Silence {value} in am?", f'instance="{value}"')
        await opened(pilot, AlertDetailScreen, "escape")
        await opened(pilot, ConfirmScreen, "x")
        shows(app, f"silence silence-{value}")
        await opened(pilot, AlertDetailScreen, "escape")
        await opened(pilot, ConsoleScreen, "escape")

        await alert_row(pilot, other.key)
        await opened(pilot, AcknowledgeScreen, "a")
        shows(app, f"Acknowledge {value}?", f"other {value}")
        await opened(pilot, ConsoleScreen, "escape")
        await pilot.press("s")
        await until(pilot, lambda: "cannot be silenced" in toasts(app), "the refusal")
        assert f"{value} cannot be silenced: no configured Alertmanager" in toasts(app)
        app.post_message(AlertsPane.ExpireWanted(other))
        await until(pilot, lambda: "is not silenced" in toasts(app), "nothing to expire")
        assert f"{value} is not silenced" in toasts(app)


@pytest.mark.parametrize("value", HOSTILE)
async def test_an_unknown_theme_is_named_literally(value: str) -> None:
    app = make_app(theme=value)
    async with app.run_test(size=BIG, notifications=True) as pilot:
        await until(pilot, lambda: "unknown theme" in toasts(app), "the warning")
        assert f"unknown theme {value!r}" in toasts(app)


# --- runbooks ------------------------------------------------------------------------------
def hostile_runbook(value: str) -> str:
    return f"""\
---
variables:
  TARGET: {{type: choice, choices: ["{value}", "other"], default: "{value}"}}
---
# Deploy {value}

- [ ] Announce {value}

```sh {{name="Print {value}"}}
echo "{value}"
```
"""


@pytest.mark.parametrize("value", HOSTILE)
async def test_runbook_titles_steps_and_choices_in_the_pane_run_and_dialogs(
    tmp_path: Path, value: str
) -> None:
    app = viewer_app(tmp_path, runbooks={"deploy": hostile_runbook(value)})
    async with app.run_test(size=BIG, notifications=True) as pilot:
        await highlight(pilot, "deploy")
        await until(pilot, lambda: f"Announce {value}" in screen_text(app), "the preview")
        shows(app, f"Deploy {value} · 2 steps")

        form = await opened(pilot, VariablesScreen, "r")
        shows(app, f"Run Deploy {value}")
        choice = form.query_one("#var-TARGET", Select)
        assert value in str(choice.query_one("#label").render()), "the default choice"
        await pilot.click("#var-TARGET")
        await until(pilot, lambda: "other" in screen_text(app), "the choices listed")
        assert screen_text(app).count(value) >= 3, "the title, the choice and its option"
        await pilot.press("escape")
        await pilot.click("#start")
        screen = await opened(pilot, RunbookRunScreen)
        shows(app, f"▶ Deploy {value}", f"Announce {value}", f"Print {value}")
        shows(app, f"values: TARGET={value}")

        screen.table.move_cursor(row=1)
        await pilot.pause()
        await opened(pilot, ConfirmScreen, "enter")
        shows(app, f"Run step 2: Print {value}?", f'echo "{value}"')
        await opened(pilot, RunbookRunScreen, "escape")
        await opened(pilot, SkipScreen, "S")
        shows(app, f"Skip step 2: Print {value}?")
        await opened(pilot, RunbookRunScreen, "escape")
        await opened(pilot, ConsoleScreen, "escape")

        await highlight(pilot, "deploy")
        await opened(pilot, ResumeScreen, "r")
        shows(app, f"A run of Deploy {value} is open")


# --- the timeline --------------------------------------------------------------------------
@pytest.mark.parametrize("value", HOSTILE)
async def test_a_timeline_entry_with_nothing_to_open(tmp_path: Path, value: str) -> None:
    state = tmp_path / "state"
    entry = Entry(
        f"{NOW - 30:017.6f}-0001",
        NOW - 30,
        "action",
        value,
        "warning",
        f"note.{value}",
        f"said {value}",
        who=f"{value}@ops",
    )
    TimelineStore(state).append([entry])
    engine = Engine(make_config(), base_dir=RUNBOOKS, clock=clock, state_dir=state)
    app = WatchdeckApp(engine, clock=clock, start_engine=False)
    async with app.run_test(size=BIG, notifications=True) as pilot:
        await feed(pilot)
        await opened(pilot, TimelineScreen, "t")
        shows(app, f"said {value}", f"note.{value} · {value} · by {value}@ops")
        await pilot.press("enter")
        await until(pilot, lambda: "no row" in toasts(app), "the toast")
        assert f"note.{value}: this entry has no row or run to open" in toasts(app)
