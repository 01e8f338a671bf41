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

import contextlib
import os
import re
import selectors
import threading
import time
from codecs import getincrementaldecoder
from collections.abc import Iterable
from functools import lru_cache
from itertools import groupby, repeat
from operator import itemgetter
from typing import NamedTuple

from rich.cells import cell_len, get_character_cell_size
from textual import constants
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
RESETS = ("0", "")
RESET_SEQUENCE = "\x1b[0m"
MIXED = object()
TICK = 0.1
"""How often the input thread looks at the parser's timeout while input is arriving."""
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
        self.rows: dict[int, dict[int, Run]] = {}
        """Row -> first column -> the run written there."""

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
        cells = self.rows.setdefault(row, {})
        known = cells.get(column)
        if known is not None and known.written == run:
            return ""
        text = STYLING.sub("", run)
        if CONTROL.search(text):
            self.forget()  # a line that moves the cursor by itself: no longer followed
            return f"\x1b[{row};{column}H{run}"
        written = Run(column + cell_len(text), run, styled_cells(run))
        if known is not None and known.end == written.end:
            middle = changed_cells(known.cells, written.cells)
            if middle is not None:
                cells[column] = written
                offset, styled = middle
                return f"\x1b[{row};{column + offset}H{styled}" if styled else ""
        for start in [
            start for start, seen in cells.items() if start < written.end and seen.end > column
        ]:
            del cells[start]
        cells[column] = written
        return f"\x1b[{row};{column}H{run}"


class Run(NamedTuple):
    end: int
    """The column after the run."""
    written: str
    """The run as written, styles and all."""
    cells: list[tuple[str, str]] | None
    """Its cells (``styled_cells``), or ``None`` when they are not one column each."""


def changed_cells(
    old: list[tuple[str, str]] | None, new: list[tuple[str, str]] | None
) -> tuple[int, str] | None:
    """Where the ``new`` cells (as many as the ``old``) start to differ and them from there
    to the last differing one, styled; ``None`` when either run could not be split into cells
    of one column (wide or combining characters, hyperlinks): those are sent whole."""
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
        elif part.isascii() or _one_column_each(part):
            cells.extend(zip(part, repeat(style)))
        else:
            return None
    return cells


@lru_cache(maxsize=4096)
def _one_column_each(text: str) -> bool:
    """Whether every character of ``text`` takes one column (the same glyphs and box lines
    come back in every frame)."""
    return all(get_character_cell_size(char) == 1 for char in text)


def styled_text(cells: list[tuple[str, str]]) -> str:
    """Cells written back: each style from the reset state, as Textual writes them."""
    out: list[str] = []
    for style, group in groupby(cells, key=itemgetter(1)):
        text = "".join(char for char, _ in group)
        out.append(f"\x1b[{style}m{text}{RESET_SEQUENCE}" if style else text)
    return "".join(out)


class WakingEvent(threading.Event):
    """An Event that a selector can wait for too: setting it makes ``reader`` readable."""

    def __init__(self) -> None:
        super().__init__()
        self.reader, self._writer = os.pipe()
        os.set_blocking(self.reader, False)

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):
            os.write(self._writer, b"\0")

    def clear(self) -> None:
        super().clear()
        with contextlib.suppress(OSError):
            while os.read(self.reader, 512):
                pass

    def close(self) -> None:
        os.close(self.reader)
        os.close(self._writer)


class CompactDriver(LinuxDriver):
    """Linux/macOS terminal driver sending only what changed, with fewer style bytes, whose
    input thread sleeps while no key comes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.memory = ScreenMemory()
        self.size: os.terminal_size | None = None
        self.exit_event = WakingEvent()

    def run_input_thread(self) -> None:
        """Read keys until ``disable_input`` sets the exit event.

        Textual's loop wakes ten times a second to see whether to stop, about 5 % of the
        idle console's CPU in the demo. This one sleeps until a key comes or the exit event
        wakes it; it times out (to let the parser tell a lone ESC from the start of a
        sequence) only in the moments after input arrived.
        """
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        settle = 2 * constants.ESCAPE_DELAY + TICK
        last_input = -settle
        selector = selectors.SelectSelector()  # as Textual's: select() works on every tty
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self.exit_event.reader, selectors.EVENT_READ)
        try:
            while not self.exit_event.is_set():
                waiting = time.monotonic() - last_input < settle
                ready = {key.fd for key, _ in selector.select(TICK if waiting else None)}
                if self.fileno in ready:
                    data = decode(os.read(self.fileno, 4096))
                    if data:
                        self._dispatch(parser.feed(data))
                        last_input = time.monotonic()
                    else:  # end of input (a pipe): nothing more will come
                        selector.unregister(self.fileno)
                self._dispatch(parser.tick())
            time.sleep(TICK)  # let a lone ESC typed last time out, as Textual does
            self._dispatch(parser.tick())
        finally:
            selector.close()
            with contextlib.suppress(EOFError, ParseError):
                for _ in parser.feed(""):
                    pass

    def _dispatch(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self.process_message(message)

    def close(self) -> None:
        super().close()
        self.exit_event.close()

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
