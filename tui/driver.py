"""The terminal driver: Textual's own, sending only what the terminal does not show yet.

Over SSH the bytes written to the terminal are the console's bandwidth. Textual repaints a
region by writing every line of it, changed or not (one cell of a table repaints the table,
a toast appearing repaints the screen), and writes each run of same-styled cells as
``ESC[<style>m text ESC[0m``, a style and a reset for each cell of a scrollbar. Like curses,
this driver remembers what the terminal shows and sends only the difference: a line written
again unchanged at the same place is skipped, and a reset followed by the style it reset is
dropped. Anything it does not understand (a mode switch, a clipboard copy, a resize) makes
it forget and send everything again; ctrl+l in the console does the same by hand.
"""

from __future__ import annotations

import os
import re

from rich.cells import cell_len
from textual.drivers.linux_driver import LinuxDriver

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
RESETS = ("0", "")
RESET_SEQUENCE = "\x1b[0m"
MIXED = object()
CURSOR_TO = re.compile(r"\x1b\[(\d+);(\d+)H")
STYLING = re.compile(r"\x1b\[[0-9;:]*m|\x1b\]8;[^\x1b\x07]*(?:\x1b\\|\x07)")
"""What may sit between the characters of a line: styles and hyperlinks (OSC 8)."""
UNSEEN = re.compile(r"\x1b\[\?(?:2026|25)[hl]")
"""Synchronized output and cursor visibility: they change nothing on the screen."""
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def squash_styles(data: str) -> str:
    """``data`` without each reset that is immediately followed by the style it reset.

    Exact: a style set from the reset state (as Textual sets every style: each styled run
    ends with a reset) leaves the terminal in that style, the state ``ESC[0m ESC[s m`` would
    put it in again. Anything else between the reset and the style (text, a cursor move, a
    newline) keeps the reset; a style set on top of another is never squashed.
    """
    parts = SGR.split(data)
    if len(parts) < 5:
        return data
    out = [parts[0]]
    shown: object = MIXED
    """The terminal's style as far as ``out`` goes: ``None`` after a reset, the parameters of
    one style set from the reset state, or MIXED (unknown, or styles set on styles)."""
    reset_pending = False
    for index in range(1, len(parts), 2):
        style, text = parts[index], parts[index + 1]
        if style in RESETS:
            reset_pending = shown is not None
        elif reset_pending and style == shown:
            reset_pending = False
        else:
            if reset_pending:
                out.append(RESET_SEQUENCE)
                reset_pending, shown = False, None
            out.append(f"\x1b[{style}m")
            shown = style if shown is None else MIXED
        if text:
            if reset_pending:
                out.append(RESET_SEQUENCE)
                reset_pending, shown = False, None
            out.append(text)
    if reset_pending:
        out.append(RESET_SEQUENCE)
    return "".join(out)


class ScreenMemory:
    """What the terminal shows, as written: per row, each run of cells by its first column.

    Textual writes a frame as a cursor move to the start of each line (or part of a line)
    followed by the line's styled text, then a move to where the cursor rests. A run written
    again unchanged at the same place is left out; the newlines between lines are left out
    too, each line starting with its own move.
    """

    def __init__(self) -> None:
        self.rows: dict[int, dict[int, tuple[int, str]]] = {}
        """Row -> first column -> (column after the run, the run as written)."""

    def forget(self) -> None:
        self.rows.clear()

    def changes(self, data: str) -> str:
        """What of ``data`` the terminal does not already show."""
        parts = CURSOR_TO.split(data)
        if UNSEEN.sub("", parts[0]):
            self.forget()  # not a frame: something this memory cannot follow
            return data
        out = [parts[0]]
        last = len(parts) - 3
        for index in range(1, len(parts), 3):
            row, column, run = int(parts[index]), int(parts[index + 1]), parts[index + 2]
            run = run.removesuffix("\n")
            if not run:
                if index == last:  # where the cursor rests
                    out.append(f"\x1b[{row};{column}H")
                continue
            if self.shown(row, column, run):
                continue
            out.append(f"\x1b[{row};{column}H{run}")
        return "".join(out)

    def shown(self, row: int, column: int, run: str) -> bool:
        """Whether the terminal shows ``run`` at ``row``, ``column``; if not, it will now."""
        text = STYLING.sub("", run)
        if CONTROL.search(text):
            self.forget()  # a line that moves the cursor by itself: no longer followed
            return False
        end = column + cell_len(text)
        cells = self.rows.setdefault(row, {})
        if cells.get(column) == (end, run):
            return True
        for start in [start for start, (stop, _) in cells.items() if start < end and stop > column]:
            del cells[start]
        cells[column] = (end, run)
        return False


class CompactDriver(LinuxDriver):
    """Linux/macOS terminal driver sending only what changed, with fewer style bytes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.memory = ScreenMemory()
        self.size: os.terminal_size | None = None

    def write(self, data: str) -> None:
        size = self.terminal_size()
        if size != self.size:  # a resized terminal may have moved or dropped what it showed
            self.memory.forget()
            self.size = size
        super().write(squash_styles(self.memory.changes(data)))

    def terminal_size(self) -> os.terminal_size | None:
        try:
            return os.get_terminal_size(self._file.fileno())
        except (OSError, ValueError, AttributeError):
            return None

    def redraw(self) -> None:
        """Forget what the terminal shows: the next frames send everything (ctrl+l)."""
        self.memory.forget()
