"""The terminal driver: Textual's own, sending only what the terminal does not show yet.

Over SSH the bytes written to the terminal are the console's bandwidth. Textual repaints a
region by writing every line of it, changed or not (one cell of a table repaints the table,
a toast appearing repaints the screen), and writes each run of same-styled cells as
``ESC[<style>m text ESC[0m``, a style and a reset for each cell of a scrollbar. Like curses,
this driver remembers what the terminal shows and sends only the difference: a line written
again unchanged at the same place is skipped, a changed one is cut down to the cells that
changed, and a reset followed by the style it reset is dropped. Anything it does not
understand (a mode switch, a clipboard copy, a resize) makes it forget and send everything
again; ctrl+l in the console does the same by hand.
"""

from __future__ import annotations

import os
import re
from itertools import groupby
from operator import itemgetter

from rich.cells import cell_len, get_character_cell_size
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
    again unchanged at the same place is left out, one changed in some of its cells is cut
    down to those; the newlines between lines are left out too, each line starting with its
    own move.
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
            out.append(self.difference(row, column, run))
        return "".join(out)

    def difference(self, row: int, column: int, run: str) -> str:
        """What to write for ``run`` at ``row``, ``column``: nothing when the terminal shows it
        already, the changed cells when only some changed, else all of it."""
        text = STYLING.sub("", run)
        if CONTROL.search(text):
            self.forget()  # a line that moves the cursor by itself: no longer followed
            return f"\x1b[{row};{column}H{run}"
        end = column + cell_len(text)
        cells = self.rows.setdefault(row, {})
        known = cells.get(column)
        if known is not None and known[0] == end:
            if known[1] == run:
                return ""
            middle = changed_cells(known[1], run)
            if middle is not None:
                cells[column] = (end, run)
                offset, styled = middle
                return f"\x1b[{row};{column + offset}H{styled}" if styled else ""
        for start in [start for start, (stop, _) in cells.items() if start < end and stop > column]:
            del cells[start]
        cells[column] = (end, run)
        return f"\x1b[{row};{column}H{run}"


def changed_cells(before: str, after: str) -> tuple[int, str] | None:
    """Where ``after`` starts to differ from ``before`` (same width) and its cells from there
    to the last differing one, styled; ``None`` when the runs cannot be split into cells of
    one column (wide or combining characters, hyperlinks): those are sent whole."""
    old, new = styled_cells(before), styled_cells(after)
    if old is None or new is None or len(old) != len(new):
        return None
    first, last = 0, len(new)
    while first < last and old[first] == new[first]:
        first += 1
    while last > first and old[last - 1] == new[last - 1]:
        last -= 1
    return first, styled_text(new[first:last])


def styled_cells(run: str) -> list[tuple[str, str]] | None:
    """Each cell of ``run`` as (character, the style parameters in effect)."""
    if "\x1b]" in run:
        return None
    cells: list[tuple[str, str]] = []
    style = ""
    for index, part in enumerate(SGR.split(run)):
        if index % 2:
            style = "" if part in RESETS else f"{style};{part}" if style else part
        elif part.isascii() or all(get_character_cell_size(char) == 1 for char in part):
            cells.extend((char, style) for char in part)
        else:
            return None
    return cells


def styled_text(cells: list[tuple[str, str]]) -> str:
    """Cells written back: each style from the reset state, as Textual writes them."""
    out: list[str] = []
    for style, group in groupby(cells, key=itemgetter(1)):
        text = "".join(char for char, _ in group)
        out.append(f"\x1b[{style}m{text}{RESET_SEQUENCE}" if style else text)
    return "".join(out)


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
