"""The confirm dialog every write action goes through. Cancel is focused: a stray Enter at
3 a.m. cancels. A dangerous action also wants its name typed before Confirm unlocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static
from textual.widgets.button import ButtonVariant

R = TypeVar("R")


class Dialog(ModalScreen[R]):
    """A centred box: a title, some text, the ``fields``, then Cancel and a confirm button
    (``#confirm``). ``esc`` and Cancel both cancel (``action_cancel``).

    The text scrolls and the fields and buttons are docked below it: at 80x24 a long text
    (twelve sessions to terminate) pushed the buttons off the screen, still pressable."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > .dialog {
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning;
        border-title-color: $warning;
        background: $surface;
        padding: 0 1;
    }
    Dialog .text { height: auto; max-height: 100%; }
    Dialog .body { width: 100%; margin-bottom: 1; }
    Dialog .actions { dock: bottom; height: auto; }
    Dialog .buttons { height: auto; align-horizontal: right; }
    Dialog Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        confirm_label: str,
        variant: ButtonVariant,
        locked: bool = False,
        classes: str | None = None,
    ) -> None:
        super().__init__(classes=classes)
        self.title_text = title
        self.lines = tuple(lines)
        self.confirm_label = confirm_label
        self.variant: ButtonVariant = variant
        self.locked = locked

    def compose(self) -> ComposeResult:
        with self.box() as box:
            box.border_title = Text(self.title_text)  # it names alerts and steps: never markup
            box.border_subtitle = "esc cancels"
            with VerticalScroll(classes="text"):
                yield Static(Text("\n".join(self.lines)), classes="body")
            with Vertical(classes="actions"):
                yield from self.fields()
                with Horizontal(classes="buttons"):
                    yield from self.buttons()

    def box(self) -> Vertical:
        return Vertical(classes="dialog")

    def fields(self) -> ComposeResult:
        yield from ()

    def buttons(self) -> ComposeResult:
        yield Button("Cancel", id="cancel", variant="primary")
        yield Button(self.confirm_label, id="confirm", variant=self.variant, disabled=self.locked)

    def action_cancel(self) -> None:
        raise NotImplementedError

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.action_cancel()


class ConfirmScreen(Dialog[bool]):
    DEFAULT_CSS = """
    ConfirmScreen.-danger > .dialog { border: thick $error; border-title-color: $error; }
    ConfirmScreen Input { margin-bottom: 1; }
    """

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        confirm_label: str = "Confirm",
        danger: bool = False,
        require_text: str | None = None,
    ) -> None:
        super().__init__(
            title,
            lines,
            confirm_label=confirm_label,
            variant="error",
            locked=require_text is not None,
            classes="-danger" if danger else None,
        )
        self.require_text = require_text

    def fields(self) -> ComposeResult:
        if self.require_text is not None:
            yield Static(Text(f"Type {self.require_text} to unlock {self.confirm_label}:"))
            yield Input(placeholder=self.require_text, id="confirm-text")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.require_text

    @on(Button.Pressed, "#confirm")
    def _confirmed(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
