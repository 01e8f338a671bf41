"""The Runbooks pane: the catalogue on the left, the highlighted runbook on the right.

The pane never reads files: it asks for a runbook's text with a ``Wanted`` message and
whoever owns I/O (the app) answers with ``show_text``; ``r`` (or ``enter`` while reading)
asks to run it with ``RunWanted``; the app tells it the attached alerts and which runbooks
have a run in progress with ``annotate``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
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
from tui.engine.runbooks.frontmatter import split
from tui.engine.runbooks.model import RunbookError
from widgets.pane import Pane
from widgets.status import GLYPHS

NO_RUNBOOKS = (
    "No runbooks found.\n\nAny Markdown file under a directory listed in `runbooks.paths` "
    "is a runbook: its first `# heading` is the title, checklist items and `sh`/`sql` "
    "blocks are its steps."
)
IN_PROGRESS = "▶ run in progress"


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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "run"),
        # The list takes enter to read; while reading, enter runs.
        Binding("enter", "run", "run", show=False),
    ]

    class Wanted(Message):
        """The pane needs the text of ``entry`` to preview it."""

        def __init__(self, entry: RunbookEntry) -> None:
            super().__init__()
            self.entry = entry

    class ReadRequested(Message):
        """``enter`` on a runbook: show it full size and focus its text."""

    class RunWanted(Message):
        """``r`` on a runbook (or ``enter`` while reading it): start or resume a run."""

        def __init__(self, entry: RunbookEntry) -> None:
            super().__init__()
            self.entry = entry

    def __init__(
        self,
        runbooks: Sequence[RunbookEntry],
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(5, "Runbooks", id="runbooks")
        self.runbooks = {entry.name: entry for entry in runbooks}
        self.read_only = read_only
        self.attached: dict[str, tuple[str, ...]] = {
            name: entry.alerts for name, entry in self.runbooks.items()
        }
        """Alert names each runbook is attached to (front matter, rules naming it)."""
        self.running: frozenset[str] = frozenset()
        """Runbooks with a run in progress (not closed)."""
        self.shown: str | None = None
        self._drawn: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        options = [Option(self.prompt(entry), id=entry.name) for entry in self.runbooks.values()]
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

    @property
    def highlighted(self) -> RunbookEntry | None:
        options = self.focus_target
        if options.highlighted is None:
            return None
        return self.runbooks.get(options.get_option_at_index(options.highlighted).id or "")

    def on_mount(self) -> None:
        super().on_mount()
        self.border_subtitle = f"{len(self.runbooks)} runbooks" if self.runbooks else None
        if self.runbooks:
            self.focus_target.highlighted = 0

    def prompt(self, entry: RunbookEntry) -> Text:
        """``Title · 4 steps · alerts: A, B · ▶ run in progress``, or ``✖ title · the error``."""
        critical = self.palette.style("critical")
        if entry.error:
            where = entry.error.removeprefix(f"{entry.path}:")
            return Text.assemble((f"{GLYPHS['critical']} {entry.title}", critical), f" · {where}")
        text = Text.assemble(entry.title, (f" · {_steps(entry.steps)}", "dim"))
        alerts = self.attached.get(entry.name, ())
        if alerts:
            text.append(f" · alerts: {', '.join(alerts)}", "dim")
        if entry.name in self.running:
            text.append(f" · {IN_PROGRESS}", "bold")
        return text

    def redraw(self) -> None:
        """Prompts again only when what they show changed (not on every clock tick)."""
        drawn = (self.app.theme, self.running, tuple(self.attached.items()))
        if drawn == self._drawn:
            return
        self._drawn = drawn
        options = self.focus_target
        for entry in self.runbooks.values():
            options.replace_option_prompt(entry.name, self.prompt(entry))

    def annotate(self, attached: Mapping[str, Sequence[str]], running: Collection[str]) -> None:
        """The alerts each runbook is attached to, and which have a run in progress."""
        self.attached.update((name, tuple(names)) for name, names in attached.items())
        self.running = frozenset(running)
        self.refresh_view()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run":
            if self.read_only:
                return False  # hidden; r falls through to refresh
            return True if runnable(self.highlighted) else None
        return True

    def action_run(self) -> None:
        entry = self.highlighted
        if entry is not None and runnable(entry):
            self.post_message(self.RunWanted(entry))

    @on(OptionList.OptionHighlighted)
    def _want(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.runbooks.get(event.option.id or "")
        if entry is not None and entry.name != self.shown:
            self.post_message(self.Wanted(entry))
        self.refresh_bindings()

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
        await self.query_one(Markdown).update(document(entry, text))


def document(entry: RunbookEntry, text: str) -> str:
    """What the preview renders: the Markdown without its YAML front matter, and for a
    runbook that cannot be used, the error first."""
    try:
        _, _, body, _ = split(text.replace("\r\n", "\n"), Path(entry.path))
    except RunbookError:
        body = text
    if entry.error:
        return f"> {GLYPHS['critical']} **cannot be run:** `{entry.error}`\n\n{body}"
    return body


def runnable(entry: RunbookEntry | None) -> bool:
    """A runbook that parses and has steps (else there is nothing to run)."""
    return entry is not None and not entry.error and entry.steps > 0


def _steps(count: int) -> str:
    return "1 step" if count == 1 else f"{count} steps"
