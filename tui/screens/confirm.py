"""The confirm dialog every write action goes through. Cancel is focused: a stray Enter at
3 a.m. cancels. A dangerous action also wants its name typed before Confirm unlocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning;
        border-title-color: $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen.-danger > Vertical { border: thick $error; border-title-color: $error; }
    ConfirmScreen .body { width: 100%; margin-bottom: 1; }
    ConfirmScreen Input { margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        *,
        confirm_label: str = "Confirm",
        danger: bool = False,
        require_text: str | None = None,
    ) -> None:
        super().__init__(classes="-danger" if danger else None)
        self.title_text = title
        self.lines = tuple(lines)
        self.confirm_label = confirm_label
        self.require_text = require_text

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            box.border_subtitle = "esc cancels"
            yield Static(Text("\n".join(self.lines)), classes="body")
            if self.require_text is not None:
                yield Static(Text(f"Type {self.require_text} to unlock {self.confirm_label}:"))
                yield Input(placeholder=self.require_text, id="confirm-text")
            with Horizontal():
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(
                    self.confirm_label,
                    id="confirm",
                    variant="error",
                    disabled=self.require_text is not None,
                )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.require_text

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)
