"""The Runbooks pane: the catalogue on the left, the highlighted runbook on the right.

The pane never reads files: it asks for a runbook's text with a ``Wanted`` message and
whoever owns I/O (the app) answers with ``show_text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Markdown, OptionList
from textual.widgets.option_list import Option

from tui.engine.runbooks.catalog import RunbookEntry
from widgets.pane import Pane

NO_RUNBOOKS = (
    "No runbooks found.\n\nAny Markdown file under a directory listed in `runbooks.paths` "
    "is a runbook: its first `# heading` is the title, checklist items and `sh`/`sql` "
    "blocks are its steps."
)


class RunbookPreview(VerticalScroll):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "list")]

    class Back(Message):
        """The reader wants to go back to the list."""

    def action_back(self) -> None:
        self.post_message(self.Back())


class RunbooksPane(Pane):
    DEFAULT_CSS = """
    RunbooksPane Horizontal { height: 1fr; }
    RunbooksPane OptionList {
        width: 2fr;
        max-width: 48;
        height: 1fr;
        border: none;
        padding: 0;
    }
    RunbooksPane RunbookPreview {
        width: 3fr;
        height: 1fr;
        padding: 0 1;
        border-left: vkey $foreground 20%;
        scrollbar-size-vertical: 1;
    }
    RunbooksPane RunbookPreview:focus { border-left: vkey $accent; }
    RunbooksPane Markdown { margin: 0; padding: 0; }
    """

    class Wanted(Message):
        """The pane needs the text of ``entry`` to preview it."""

        def __init__(self, entry: RunbookEntry) -> None:
            super().__init__()
            self.entry = entry

    class ReadRequested(Message):
        """``enter`` on a runbook: show it full size and focus its text."""

    def __init__(self, runbooks: Sequence[RunbookEntry]) -> None:
        super().__init__(5, "Runbooks", id="runbooks")
        self.runbooks = {entry.name: entry for entry in runbooks}
        self.shown: str | None = None

    def compose(self) -> ComposeResult:
        options = [
            Option(Text.assemble(entry.title, (f" · {_steps(entry.steps)}", "dim")), id=entry.name)
            for entry in self.runbooks.values()
        ]
        with Horizontal():
            yield OptionList(*options, id="runbook-list")
            with RunbookPreview(id="runbook-preview"):
                yield Markdown("" if self.runbooks else NO_RUNBOOKS)

    @property
    def focus_target(self) -> OptionList:
        return self.query_one(OptionList)

    @property
    def preview(self) -> RunbookPreview:
        return self.query_one(RunbookPreview)

    def on_mount(self) -> None:
        super().on_mount()
        self.border_subtitle = f"{len(self.runbooks)} runbooks" if self.runbooks else None
        if self.runbooks:
            self.focus_target.highlighted = 0

    @on(OptionList.OptionHighlighted)
    def _want(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.runbooks.get(event.option.id or "")
        if entry is not None and entry.name != self.shown:
            self.post_message(self.Wanted(entry))

    @on(OptionList.OptionSelected)
    def _read(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.ReadRequested())

    @on(RunbookPreview.Back)
    def _back(self) -> None:
        self.focus_target.focus()

    async def show_text(self, entry: RunbookEntry, text: str) -> None:
        self.shown = entry.name
        self.preview.scroll_home(animate=False)
        await self.query_one(Markdown).update(text)


def _steps(count: int) -> str:
    return "1 step" if count == 1 else f"{count} steps"
