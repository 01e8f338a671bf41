"""The small screens around a runbook run: its variables form, resume-or-new, skip's reason.

The variables form checks values with the engine's own rules (``resolve``, ``coerce``), so
what it accepts is exactly what the executor accepts; each problem shows under its field.
A secret is typed into a password field and never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from tui.engine.runbooks.model import Runbook, Variable
from tui.engine.runbooks.variables import VariableProblem, coerce, resolve, text
from tui.screens.confirm import Dialog

DIALOG_CSS = """
    {name} {{ align: center middle; }}
    {name} > .dialog {{
        width: 80;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        border-title-color: $accent;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }}
    {name} .body {{ width: 100%; margin-bottom: 1; }}
    {name} .buttons {{ height: auto; align-horizontal: right; }}
    {name} Button {{ margin-left: 2; }}
"""


class VariablesScreen(ModalScreen[dict[str, str] | None]):
    """Dismissed with the values as typed (checked), or ``None`` on esc / Cancel.

    Given only ``runbook``, it asks every variable for a new run; given ``variables`` (the
    secrets of a run being resumed), only those, each required.
    """

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="VariablesScreen")
        + """
    VariablesScreen .variable { height: auto; margin-bottom: 1; }
    VariablesScreen Input { background: $boost; }
    VariablesScreen .error { color: $text-error; height: auto; }
    VariablesScreen .error.-empty { display: none; }
    """
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, runbook: Runbook, variables: Sequence[Variable] | None = None) -> None:
        super().__init__()
        self.runbook = runbook
        self.resuming = variables is not None
        self.variables = tuple(runbook.variables if variables is None else variables)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog") as box:
            verb = "Resume" if self.resuming else "Run"
            box.border_title = Text(f"{verb} {self.runbook.title}")
            box.border_subtitle = "enter: next field · esc cancels"
            if self.resuming:
                intro = "Secrets are never written down: give them again to go on."
            else:
                intro = "Values for this run (recorded with it; secrets only as given)."
            yield Static(intro, classes="body")
            for var in self.variables:
                with Vertical(classes="variable"):
                    yield Static(self.label(var))
                    yield self.field(var)
                    yield Static("", id=f"error-{var.name}", classes="error -empty")
            yield Static("", id="problems", classes="error -empty")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(verb, id="start", variant="primary")

    def label(self, var: Variable) -> Text:
        label = Text(var.name, "bold")
        flags = [var.type if not var.choices else "choice"]
        if var.secret:
            flags.append("secret")
        if var.required or self.resuming:
            flags.append("required")
        label.append(f"  {' · '.join(flags)}", "dim")
        if var.description:
            label.append(f"  {var.description}")
        return label

    def field(self, var: Variable) -> Widget:
        ident = f"var-{var.name}"
        default = None if self.resuming or var.default is None else text(var.default)
        if var.choices or var.type == "bool":
            choices = var.choices or ("true", "false")
            return Select(
                [(Text(choice), choice) for choice in choices],
                value=default if default is not None else Select.NULL,
                allow_blank=default is None,
                prompt="choose",
                id=ident,
            )
        return Input(
            value=default or "",
            placeholder="required" if var.required or self.resuming else "optional",
            password=var.secret,
            type="integer" if var.type == "int" else "text",
            id=ident,
            compact=True,
        )

    def on_mount(self) -> None:
        fields = self.fields()
        if fields:
            fields[0].focus()

    def fields(self) -> list[Widget]:
        return [self.query_one(f"#var-{var.name}") for var in self.variables]

    def given(self) -> dict[str, str]:
        """What was typed or chosen; an empty field leaves the variable to its default."""
        values: dict[str, str] = {}
        for var, widget in zip(self.variables, self.fields(), strict=True):
            if isinstance(widget, Select):
                if widget.value is not Select.NULL:
                    values[var.name] = str(widget.value)
            elif isinstance(widget, Input) and widget.value.strip():
                values[var.name] = widget.value
        return values

    def problems(self, given: dict[str, str]) -> list[str]:
        if not self.resuming:
            try:
                resolve(self.runbook, given)
            except VariableProblem as exc:
                return str(exc).splitlines()
            return []
        found = []
        for var in self.variables:
            if var.name not in given:
                found.append(f"{var.name} is required: it was given when the run started")
                continue
            try:
                coerce(var, given[var.name])
            except ValueError as exc:
                found.append(str(exc))
        return found

    def show_problems(self, problems: list[str]) -> None:
        """Each problem under the field it is about; the others below the form."""
        by_field: dict[str, list[str]] = {var.name: [] for var in self.variables}
        general: list[str] = []
        for problem in problems:
            name = problem.split(" ", 1)[0]
            by_field.get(name, general).append(problem)
        for name, lines in by_field.items():
            self._error(f"#error-{name}", lines)
        self._error("#problems", general)
        wrong = [name for name, lines in by_field.items() if lines]
        if wrong:
            self.query_one(f"#var-{wrong[0]}").focus()

    def _error(self, selector: str, lines: list[str]) -> None:
        widget = self.query_one(selector, Static)
        widget.update(Text("\n".join(f"✖ {line}" for line in lines)))
        widget.set_class(not lines, "-empty")

    def submit(self) -> None:
        given = self.given()
        problems = self.problems(given)
        if problems:
            self.show_problems(problems)
            return
        self.dismiss(given)

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        """``enter`` in a field moves on; in the last one it submits."""
        event.stop()
        fields = self.fields()
        index = fields.index(event.input)
        if index + 1 < len(fields):
            fields[index + 1].focus()
        else:
            self.submit()

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        self.submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ResumeScreen(Dialog[str | None]):
    """A run of this runbook is open: ``resume`` it (focused), start a ``new`` one (which
    closes it), or ``None`` (esc, Cancel)."""

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__(title, lines, confirm_label="Resume", variant="primary")

    def buttons(self) -> ComposeResult:
        yield Button("Cancel", id="cancel")
        yield Button("New run", id="new")
        yield Button(self.confirm_label, id="confirm", variant=self.variant)

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _resume(self) -> None:
        self.dismiss("resume")

    @on(Button.Pressed, "#new")
    def _new(self) -> None:
        self.dismiss("new")

    def action_cancel(self) -> None:
        self.dismiss(None)


class SkipScreen(Dialog[str | None]):
    """Why a step is skipped (required: it goes into the run and the report)."""

    DEFAULT_CSS = "SkipScreen Input { background: $boost; margin-bottom: 1; }"

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__(title, lines, confirm_label="Skip", variant="warning", locked=True)

    def fields(self) -> ComposeResult:
        yield Input(placeholder="why: done by hand, not needed here…", id="reason", compact=True)

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @property
    def reason(self) -> str:
        return " ".join(self.query_one("#reason", Input).value.split())

    def on_input_changed(self) -> None:
        self.query_one("#confirm", Button).disabled = not self.reason

    @on(Input.Submitted)
    @on(Button.Pressed, "#confirm")
    def _skip(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        if self.reason:
            self.dismiss(self.reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
