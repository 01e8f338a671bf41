"""The dialogs of the alert write actions: acknowledge (with an optional comment) and silence
in Alertmanager (a duration and a required comment, showing the matchers it will post).

As with every confirm dialog, nothing is confirmed by a stray key: the confirm button is
never focused when the dialog opens, ``enter`` in a field only moves on to the next one (the
button last), and ``esc`` cancels. A silence needs a valid duration and a comment before its
button unlocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from tui.engine.alert_actions import silence_problem
from tui.engine.samples import Alert
from tui.engine.units import format_duration, parse_duration
from tui.screens.confirm import Dialog, R
from widgets.alerts import since_text

if TYPE_CHECKING:
    from tui.engine.alert_sources import Silence

DEFAULT_SILENCE = "1h"


def silence_seconds(text: str) -> float:
    """A silence's length as typed (``90m``, ``2h``, ``1d``); raises ValueError saying why."""
    cleaned = text.strip()
    if cleaned and cleaned[-1].isdigit():
        raise ValueError(f"give a unit, e.g. {cleaned}m or {cleaned}h")
    seconds = float(parse_duration(cleaned))
    problem = silence_problem(seconds)
    if problem is not None:
        raise ValueError(problem)
    return seconds


def describe(alert: Alert) -> list[str]:
    """The alert as the dialogs name it: name, source, summary."""
    return [f"{alert.name} · {alert.source} · {alert.state}", f"  {alert.summary}"]


def describe_silence(silence_id: str, found: Silence | str, others: int, now: float) -> list[str]:
    """A silence as the expire question shows it: what it matches, who made it, why, until
    when, and how many alerts shown it silences besides this one (``others``); or why it
    could not be read, in one line."""
    if isinstance(found, str):
        return [f"silence {silence_id}", f"  cannot read it: {found}"]
    until = "no end given" if found.ends_at is None else f"until {since_text(found.ends_at, now)}"
    covers = f"{others + 1} alerts shown: this one and {others} more" if others else "this one"
    return [
        f"silence {silence_id}",
        f"  matches   {', '.join(found.matchers) or 'nothing given'}",
        f"  by        {found.created_by or 'nobody given'} · {found.state or 'state unknown'}"
        f" {until}",
        f"  comment   {' '.join(found.comment.split()) or 'none'}",
        f"  covers    {covers}",
    ]


class AlertDialog(Dialog[R | None]):
    """A form about one alert; ``esc`` or Cancel dismisses it with ``None``."""

    DEFAULT_CSS = """
    AlertDialog > .dialog {
        border-subtitle-color: $text-muted;
        scrollbar-size-vertical: 1;
    }
    AlertDialog .field { height: 1; margin-bottom: 1; }
    AlertDialog .label { width: 10; }
    AlertDialog Input { background: $boost; }
    AlertDialog #duration { width: 12; }
    AlertDialog #comment { width: 1fr; }
    AlertDialog .hint { width: 1fr; padding-left: 2; color: $text-muted; }
    AlertDialog .hint.-invalid { color: $text-error; }
    """

    def box(self) -> VerticalScroll:
        return VerticalScroll(classes="dialog")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        """``enter`` in a field: on to the next field, then to the confirm button if enabled."""
        event.stop()
        fields = list(self.query(Input))
        index = fields.index(event.input)
        if index + 1 < len(fields):
            fields[index + 1].focus()
            return
        confirm = self.query_one("#confirm", Button)
        if not confirm.disabled:
            confirm.focus()


class AcknowledgeScreen(AlertDialog[str]):
    """Dismissed with the comment (maybe empty) when confirmed, ``None`` when cancelled."""

    def __init__(self, alert: Alert, *, by: str) -> None:
        lines = [
            *describe(alert),
            "",
            f"Marks it acknowledged by {by} in this console (and in `check --json`)",
            "until this occurrence ends. Nothing is sent anywhere; it is journaled.",
        ]
        super().__init__(
            f"Acknowledge {alert.name}?", lines, confirm_label="Acknowledge", variant="warning"
        )

    def fields(self) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Static("Comment", classes="label")
            yield Input(
                placeholder="optional: looking into it, OPS-123", id="comment", compact=True
            )

    def on_mount(self) -> None:
        self.query_one("#comment", Input).focus()

    @on(Button.Pressed, "#confirm")
    def _confirmed(self) -> None:
        self.dismiss(self.query_one("#comment", Input).value.strip())


class SilenceScreen(AlertDialog[tuple[float, str]]):
    """Dismissed with ``(seconds, comment)`` when confirmed, ``None`` when cancelled."""

    def __init__(self, alert: Alert, *, by: str, now: float) -> None:
        lines = [
            *describe(alert),
            "",
            "Matchers (every label of the alert, exactly):",
            *(f'  {name}="{value}"' for name, value in sorted(alert.labels.items())),
            "",
            f"Created by {by}. Matching alerts notify nobody until it ends.",
        ]
        super().__init__(
            f"Silence {alert.name} in {alert.source}?",
            lines,
            confirm_label="Silence",
            variant="error",
            locked=True,
        )
        self.now = now

    def fields(self) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Static("Duration", classes="label")
            yield Input(DEFAULT_SILENCE, id="duration", compact=True)
            yield Static(classes="hint", id="until")
        with Horizontal(classes="field"):
            yield Static("Comment", classes="label")
            yield Input(placeholder="required: why, and a ticket", id="comment", compact=True)

    def on_mount(self) -> None:
        self.validate()
        self.query_one("#comment", Input).focus()

    def seconds(self) -> float | None:
        try:
            return silence_seconds(self.query_one("#duration", Input).value)
        except ValueError:
            return None

    def validate(self) -> None:
        """Say until when it would last (or what is wrong), and unlock Silence when valid."""
        hint = self.query_one("#until", Static)
        try:
            seconds = silence_seconds(self.query_one("#duration", Input).value)
        except ValueError as exc:
            hint.update(Text(str(exc)))
            hint.add_class("-invalid")
            seconds = None
        else:
            ends = self.now + seconds
            hint.update(Text(f"until {since_text(ends, self.now)} ({format_duration(seconds)})"))
            hint.remove_class("-invalid")
        comment = self.query_one("#comment", Input).value.strip()
        self.query_one("#confirm", Button).disabled = seconds is None or not comment

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.validate()

    @on(Button.Pressed, "#confirm")
    def _confirmed(self) -> None:
        seconds = self.seconds()
        comment = self.query_one("#comment", Input).value.strip()
        if seconds is not None and comment:
            self.dismiss((seconds, comment))
