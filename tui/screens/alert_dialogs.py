"""The dialogs of the alert write actions: acknowledge (with an optional comment) and silence
in Alertmanager (a duration and a required comment, showing the matchers it will post).

As with every confirm dialog, nothing is confirmed by a stray key: the confirm button is
never focused when the dialog opens, ``enter`` in a field only moves on to the next one (the
button last), and ``esc`` cancels. A silence needs a valid duration and a comment before its
button unlocks.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.engine.samples import Alert
from tui.engine.units import format_duration, parse_duration
from widgets.alerts import since_text

DEFAULT_SILENCE = "1h"
T = TypeVar("T")
DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > VerticalScroll {{
    width: 80;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $warning;
    border-title-color: $warning;
    border-subtitle-color: $text-muted;
    background: $surface;
    padding: 0 1;
    scrollbar-size-vertical: 1;
}}
{name} .body {{ width: 100%; margin-bottom: 1; }}
{name} .field {{ height: 1; margin-bottom: 1; }}
{name} .label {{ width: 10; }}
{name} Input {{ background: $boost; }}
{name} #duration {{ width: 12; }}
{name} #comment {{ width: 1fr; }}
{name} .hint {{ width: 1fr; padding-left: 2; color: $text-muted; }}
{name} .hint.-invalid {{ color: $text-error; }}
{name} .buttons {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 2; }}
"""


def silence_seconds(text: str) -> float:
    """A silence's length as typed (``90m``, ``2h``, ``1d``); raises ValueError saying why."""
    cleaned = text.strip()
    if cleaned and cleaned[-1].isdigit():
        raise ValueError(f"give a unit, e.g. {cleaned}m or {cleaned}h")
    seconds = float(parse_duration(cleaned))
    if seconds <= 0:
        raise ValueError("a silence must last longer than 0")
    return seconds


def describe(alert: Alert) -> list[str]:
    """The alert as the dialogs name it: name, source, summary."""
    return [f"{alert.name} · {alert.source} · {alert.state}", f"  {alert.summary}"]


class _AlertDialog(ModalScreen[T | None], Generic[T]):
    """A modal form; ``esc`` or Cancel dismisses it with ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(None)

    def next_field(self, current: Input) -> None:
        """``enter`` in a field: on to the next field, then to the confirm button if enabled."""
        fields = list(self.query(Input))
        index = fields.index(current)
        if index + 1 < len(fields):
            fields[index + 1].focus()
            return
        confirm = self.query_one("#confirm", Button)
        if not confirm.disabled:
            confirm.focus()


class AcknowledgeScreen(_AlertDialog[str]):
    """Dismissed with the comment (maybe empty) when confirmed, ``None`` when cancelled."""

    DEFAULT_CSS = DIALOG_CSS.format(name="AcknowledgeScreen")

    def __init__(self, alert: Alert, *, by: str) -> None:
        super().__init__()
        self.alert = alert
        self.by = by

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Acknowledge {self.alert.name}?"
            box.border_subtitle = "esc cancels"
            lines = [
                *describe(self.alert),
                "",
                f"Marks it acknowledged by {self.by} in this console (and in `check --json`)",
                "until this occurrence ends. Nothing is sent anywhere; it is journaled.",
            ]
            yield Static(Text("\n".join(lines)), classes="body")
            with Horizontal(classes="field"):
                yield Static("Comment", classes="label")
                yield Input(
                    placeholder="optional: looking into it, OPS-123", id="comment", compact=True
                )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Acknowledge", id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#comment", Input).focus()

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        event.stop()
        self.next_field(event.input)

    @on(Button.Pressed, "#confirm")
    def _confirmed(self) -> None:
        self.dismiss(self.query_one("#comment", Input).value.strip())


class SilenceScreen(_AlertDialog[tuple[float, str]]):
    """Dismissed with ``(seconds, comment)`` when confirmed, ``None`` when cancelled."""

    DEFAULT_CSS = DIALOG_CSS.format(name="SilenceScreen")

    def __init__(self, alert: Alert, *, by: str, now: float) -> None:
        super().__init__()
        self.alert = alert
        self.by = by
        self.now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Silence {self.alert.name} in {self.alert.source}?"
            box.border_subtitle = "esc cancels"
            lines = [
                *describe(self.alert),
                "",
                "Matchers (every label of the alert, exactly):",
                *(f'  {name}="{value}"' for name, value in sorted(self.alert.labels.items())),
                "",
                f"Created by {self.by}. Matching alerts notify nobody until it ends.",
            ]
            yield Static(Text("\n".join(lines)), classes="body")
            with Horizontal(classes="field"):
                yield Static("Duration", classes="label")
                yield Input(DEFAULT_SILENCE, id="duration", compact=True)
                yield Static(classes="hint", id="until")
            with Horizontal(classes="field"):
                yield Static("Comment", classes="label")
                yield Input(placeholder="required: why, and a ticket", id="comment", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Silence", id="confirm", variant="error", disabled=True)

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

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        event.stop()
        self.next_field(event.input)

    @on(Button.Pressed, "#confirm")
    def _confirmed(self) -> None:
        seconds = self.seconds()
        comment = self.query_one("#comment", Input).value.strip()
        if seconds is not None and comment:
            self.dismiss((seconds, comment))
