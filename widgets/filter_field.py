"""A pane's ``/`` filter: a one-line field docked over the pane's table, hidden until opened.

The pane binds the keys (``FILTER``: ``/`` opens the field; ``CLEAR_FILTER``: ``esc`` clears it
while ``active``, else esc keeps its other meanings) and narrows its rows on ``Applied``.
Enter keeps the filter and hands the focus back to the pane's table. What is typed is never
read as markup.
"""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from widgets.pane import Pane

FILTER = Binding("slash", "filter", "filter", key_display="/")
CLEAR_FILTER = Binding("escape", "clear_filter", "clear filter")


class FilterField(Input):
    DEFAULT_CSS = """
    FilterField {
        dock: top;
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
        &:focus { border: none; }
        &.-open { display: block; }
    }
    """

    class Applied(Message):
        """The filter changed: ``text`` is stripped, empty shows every row."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, placeholder: str, *, id: str | None = None) -> None:
        # Disabled while closed, so that tab never lands in a field nobody sees.
        super().__init__(placeholder=placeholder, id=id, disabled=True)
        self.text = ""

    @property
    def active(self) -> bool:
        """Open or narrowing the rows: ``esc`` then belongs to the filter."""
        return bool(self.text) or self.has_class("-open")

    def matches(self, *texts: str) -> bool:
        """Whether any of ``texts`` contains the filter (case-insensitive); all do when empty."""
        needle = self.text.casefold()
        return any(needle in text.casefold() for text in texts)

    def open(self) -> None:
        self.add_class("-open")
        self.disabled = False
        self.focus()

    def clear(self) -> None:
        self.value = ""
        self._apply("")
        self.close()

    def close(self) -> None:
        """Hide the field, the filter still applied; the pane's table takes the focus back."""
        self.remove_class("-open")
        for node in self.ancestors:
            if isinstance(node, Pane):
                node.focus_target.focus()
                break
        self.disabled = True

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()

    def _apply(self, value: str) -> None:
        if value.strip() != self.text:
            self.text = value.strip()
            self.post_message(self.Applied(self.text))
