"""A block of text that changes with every poll, repainted without a layout pass."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from widgets.status import same


class TextBlock(Static):
    """A Static showing a Text that changes often (a summary, a countdown).

    ``Static.update`` lays the whole screen out again, and a layout pass re-renders and
    re-sends every widget: here only a change in the number of rows the text wraps to does.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.text: Text | None = None

    def show(self, text: Text) -> None:
        if same(text, self.text):
            return
        resized = self.text is None or self.rows(text) != self.rows(self.text)
        self.text = text
        self.update(text, layout=resized)

    def rows(self, text: Text) -> int:
        """Rows ``text`` wraps to at the current width (-1 before the first layout)."""
        width = self.content_size.width
        return len(text.wrap(self.app.console, width)) if width else -1
