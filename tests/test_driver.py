"""The terminal driver sends only what the terminal does not show yet, and the terminal ends up
showing exactly what Textual drew: checked cell by cell (characters and their colours) on a
VT emulator (pyte) fed with a real console's output on a pseudo-terminal."""

from __future__ import annotations

from pathlib import Path

import pyte
from pty_console import Terminal
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer

from tui.driver import ScreenMemory, squash_styles

WIDTH, HEIGHT = 100, 30


def screen_of(*writes: str) -> list[list[tuple[object, ...]]]:
    """What a VT emulator shows after ``writes``: each cell's character and attributes."""
    screen = pyte.Screen(WIDTH, HEIGHT)
    stream = pyte.Stream(screen)
    for data in writes:
        stream.feed(data)
    return [
        [
            (cell.data, cell.fg, cell.bg, cell.bold, cell.italics, cell.underscore, cell.reverse)
            for cell in (screen.buffer[row][column] for column in range(WIDTH))
        ]
        for row in range(HEIGHT)
    ]


class Board(App[None]):
    """A table, a footer, borders and a scrollbar: the kinds of runs the console writes."""

    CSS = "DataTable { height: 12; border: round $accent; }"

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable()
        table.add_columns("status", "check", "latency")
        for index in range(30):
            table.add_row("✔ ok" if index % 3 else "✖ critical", f"check-{index}", f"{index}ms")
        yield table
        yield Footer()


async def frame(app: App[None]) -> str:
    """The full frame Textual writes for the app's screen, escape sequences and all."""
    update = app.screen._compositor.render_update(full=True)
    assert update is not None
    return update.render_segments(app.console)


async def test_squashed_styles_draw_the_same_cells() -> None:
    app = Board()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        await pilot.pause()
        drawn = await frame(app)
    squashed = squash_styles(drawn)
    assert len(squashed) < len(drawn), "same-styled runs lose their repeated style"
    assert screen_of(squashed) == screen_of(drawn)


async def test_the_changes_between_two_frames_draw_the_second() -> None:
    app = Board()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        await pilot.pause()
        first = await frame(app)
        table = app.query_one(DataTable)
        table.update_cell_at(Coordinate(3, 2), "999ms")
        table.update_cell_at(Coordinate(5, 0), Text("✖ critical", style="bold red"))
        await pilot.pause()
        second = await frame(app)
    memory = ScreenMemory()
    sent = [memory.changes(first), memory.changes(second)]
    assert screen_of(*sent) == screen_of(first, second)
    assert len(sent[1]) < len(second) / 20, "two changed cells, not the screen"


def test_runs_of_wide_characters_or_links_are_sent_whole() -> None:
    memory = ScreenMemory()
    for before, after in (
        ("漢字 ok", "漢字 no"),
        ("\x1b]8;;http://a\x1b\\x\x1b]8;;\x1b\\ ok", "\x1b]8;;http://a\x1b\\x\x1b]8;;\x1b\\ no"),
    ):
        memory.changes(f"\x1b[9;1H{before}")
        assert memory.changes(f"\x1b[9;1H{after}") == f"\x1b[9;1H{after}"
    same_cells = "\x1b[31ma\x1b[0m\x1b[31mb\x1b[0m"
    memory.changes("\x1b[8;1H\x1b[31mab\x1b[0m")
    assert memory.changes(f"\x1b[8;1H{same_cells}") == "", "the same cells, written otherwise"


def test_a_reset_is_kept_where_the_style_changes_or_text_follows() -> None:
    red, blue = "\x1b[31m", "\x1b[34m"
    reset = "\x1b[0m"
    # Each write starts in an unknown state: the first style is squashed after a reset.
    assert squash_styles(f"{reset}{red}a{reset}{red}b{reset}") == f"{reset}{red}ab{reset}"
    assert squash_styles(f"{red}a{reset}{blue}b{reset}") == f"{red}a{reset}{blue}b{reset}"
    assert squash_styles(f"{red}a{reset} {red}b{reset}") == f"{red}a{reset} {red}b{reset}"
    # A style set on top of another is a mix: never squashed into the next style.
    mixed = f"{red}{blue}a{reset}{blue}b{reset}"
    assert squash_styles(mixed) == mixed


def test_memory_sends_a_run_once_and_again_when_it_changed() -> None:
    memory = ScreenMemory()
    first = "\x1b[1;1H\x1b[31mcheck-1 ok\x1b[0m\n\x1b[2;1Hcheck-2 ok\x1b[2;5H"
    assert memory.changes(first) == first.replace("\n", "")
    assert memory.changes(first) == "\x1b[2;5H", "only where the cursor rests"
    changed = first.replace("check-2 ok", "check-2 no")
    assert memory.changes(changed) == "\x1b[2;9Hno\x1b[2;5H", "only the cells that changed"


def test_memory_forgets_a_run_partly_covered() -> None:
    memory = ScreenMemory()
    memory.changes("\x1b[3;1Habcdefgh")
    memory.changes("\x1b[3;4Hxy")  # a toast, a dialog: covers part of the line
    assert memory.changes("\x1b[3;1Habcdefgh") == "\x1b[3;1Habcdefgh"
    assert memory.changes("\x1b[3;4Hxy") == "\x1b[3;4Hxy"


def test_memory_forgets_everything_on_what_it_cannot_follow() -> None:
    memory = ScreenMemory()
    line = "\x1b[5;1Hwatchdeck"
    memory.changes(line)
    assert memory.changes("\x1b[?2026h") == "\x1b[?2026h"  # synchronized output: harmless
    assert memory.changes(line) == ""
    for other in ("\x1b[?1049h", "\x1b]52;c;aGk=\a", "\x1b[2J"):
        assert memory.changes(other) == other
        assert memory.changes(line) == line, f"{other!r} may have changed the screen"
    assert memory.changes("\x1b[6;1Ha\rb") == "\x1b[6;1Ha\rb"  # moves the cursor itself
    assert memory.changes(line) == line


def _console_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "watchdeck.yaml"
    checks = "".join(
        f"  - {{name: check-{n}, url: '{url}/slow?ms={n * 7}', interval: 0.3}}\n" for n in range(8)
    )
    config.write_text(
        "version: 1\nsettings: {interval: 0.3, timeout: 2s}\n"
        f"checks:\n{checks}  - {{name: broken, url: '{url}/status/503', interval: 0.3}}\n"
    )
    return config


def test_the_terminal_shows_what_a_full_redraw_shows(http_server: str, tmp_path: Path) -> None:
    """Many partial updates (9 checks polled 3 times a second, latencies and histories
    changing), then polling paused: the emulator's screen must be the one ctrl+l (everything
    sent again) draws. A line the driver wrongly left out would differ."""
    terminal = Terminal(_console_config(tmp_path, http_server), tmp_path / "state", (WIDTH, HEIGHT))
    try:
        terminal.wait_for(b"check-3")
        terminal.read_for(4.0)
        terminal.press(b"p")
        terminal.read_for(2.5)  # the pause lands, the last tick draws
        incremental = screen_of(terminal.output.decode(errors="replace"))
        sent = len(terminal.output)
        terminal.press(b"\x0c")
        terminal.read_for(1.5)
        redraw = bytes(terminal.output[sent:])
        redrawn = screen_of(terminal.output.decode(errors="replace"))
    finally:
        terminal.close()
    text = "\n".join("".join(str(cell[0]) for cell in row) for row in redrawn)
    assert "check-3" in text and "PAUSED" in text, text
    assert len(redraw) > WIDTH * HEIGHT, "ctrl+l sends the whole screen again"
    differing = [
        f"row {row}: {''.join(str(c[0]) for c in a)!r} vs {''.join(str(c[0]) for c in b)!r}"
        + (" (attributes)" if [c[0] for c in a] == [c[0] for c in b] else "")
        for row, (a, b) in enumerate(zip(incremental, redrawn, strict=True))
        if a != b
    ]
    assert not differing, "\n".join(differing)


def _thread_wakeups(pid: int) -> int:
    """Times the console's threads other than the main one went to sleep and woke (Linux)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if task.name != str(pid):
            status = (task / "status").read_text()
            total += int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    return total


def test_the_input_thread_sleeps_until_a_key_and_a_lone_esc_still_counts(
    http_server: str, tmp_path: Path
) -> None:
    """Textual's input thread wakes ten times a second; the console's sleeps while no key
    comes. Keys still arrive, and a lone ESC (told from the start of a sequence by a timeout
    while input is arriving) still closes the help."""
    config = tmp_path / "watchdeck.yaml"
    config.write_text(
        f"version: 1\nchecks:\n  - {{name: api, url: '{http_server}/ok', interval: 60s}}\n"
    )
    terminal = Terminal(config, tmp_path / "state", (WIDTH, HEIGHT))
    try:
        terminal.wait_for(b"api")
        terminal.read_for(1.5)
        before = _thread_wakeups(terminal.process.pid)
        terminal.read_for(3.0)
        assert _thread_wakeups(terminal.process.pid) - before < 10, "threads woke while idle"
        terminal.press(b"?")
        terminal.wait_for(b"to close")
        terminal.press(b"\x1b")
        terminal.read_for(1.0)
        terminal.press(b"q")  # with the help still open, q would close it instead of quitting
        assert terminal.wait_exit() == 0
    finally:
        terminal.close()
