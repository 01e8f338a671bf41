"""Text from outside (servers, databases, alert sources, queues) made safe for a terminal.

A terminal obeys an escape sequence wherever it comes from: an alert summary carrying
``ESC ] 52`` writes the operator's clipboard, ``ESC ] 2`` the window title, ``ESC [ 2J``
clears the screen. Neither Rich nor Textual removes ESC from text they draw, so text that
comes from outside goes through ``printable`` where it enters the engine (the console, the
browser and ``watchdeck check`` all read it from there).
"""

from __future__ import annotations

_TABLE: dict[int, int | None] = {
    code: 0x2400 + code for code in range(0x20) if code not in (0x09, 0x0A, 0x0D)
}
"""C0 controls show as their Unicode control pictures (ESC as ␛), so what was sent can
still be read; tab and newline stay (the panes fold whitespace), carriage return goes."""
_TABLE[0x0D] = None
_TABLE[0x7F] = 0x2421  # ␡
_TABLE.update({code: 0xFFFD for code in range(0x80, 0xA0)})  # C1 controls: CSI, OSC, ...


def printable(text: str) -> str:
    """``text`` with no control character a terminal would act on."""
    return text.translate(_TABLE)
