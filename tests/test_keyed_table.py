"""KeyedTable repaints only what changed: the row of an updated cell, and in that row only the
cells whose value changed go through Rich again. Whatever it skips, the table must look the
same as a table drawn from scratch with the same values."""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from widgets.table import ColumnSpec, KeyedTable

COLUMNS = (
    ColumnSpec("status", "status"),
    ColumnSpec("name", "check"),
    ColumnSpec("latency", "latency", width=8),
    ColumnSpec("detail", "detail"),
)
ROWS = {
    f"check-{n}": (Text("✔ ok", style="green"), f"check-{n}", f"{n}ms", "status 200")
    for n in range(12)
}


class TableApp(App[None]):
    def __init__(self, rows: dict[str, tuple[Any, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="table")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).sync(self.rows)


class Counted:
    """Counts DataTable's line and cell renders (the Rich work a repaint costs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lines = self.cells = 0
        render_line, render_cell = DataTable._render_line, DataTable._render_cell

        def count_line(table: DataTable[Any], *args: Any) -> Any:
            self.lines += 1
            return render_line(table, *args)

        def count_cell(table: DataTable[Any], *args: Any, **kwargs: Any) -> Any:
            self.cells += 1
            return render_cell(table, *args, **kwargs)

        monkeypatch.setattr(DataTable, "_render_line", count_line)
        monkeypatch.setattr(DataTable, "_render_cell", count_cell)

    def reset(self) -> None:
        self.lines = self.cells = 0


def lines_of(app: App[None]) -> list[str]:
    table = app.query_one(KeyedTable)
    return [table.render_line(y).text for y in range(table.size.height)]


async def test_one_changed_cell_repaints_one_row_and_renders_one_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted = Counted(monkeypatch)
    app = TableApp(ROWS)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        counted.reset()
        table = app.query_one(KeyedTable)
        table.sync({**ROWS, "check-5": (*ROWS["check-5"][:2], "97ms", "status 200")})
        await pilot.pause()
        assert counted.lines == 1, "only the changed row is drawn again"
        assert counted.cells == 1, "in it, only the changed cell goes through Rich"


async def test_a_table_updated_in_place_looks_like_one_drawn_afresh() -> None:
    changed = {
        **ROWS,
        "check-2": (Text("✖ critical", style="red"), "check-2", "2.1s", "status 503"),
        "check-7": (*ROWS["check-7"][:2], "1ms", "status 200 (slow before)"),
    }
    del changed["check-9"]
    updated = TableApp(ROWS)
    async with updated.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        updated.query_one(KeyedTable).sync(changed)
        updated.query_one(KeyedTable).move_cursor(row=3)
        await pilot.pause()
        seen = lines_of(updated)
    fresh = TableApp(changed)
    async with fresh.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        fresh.query_one(KeyedTable).move_cursor(row=3)
        await pilot.pause()
        assert lines_of(fresh) == seen
    assert any("✖ critical" in line and "503" in line for line in seen)
    assert not any("check-9" in line for line in seen)


async def test_the_cursor_moving_away_from_an_updated_row_shows_its_new_value() -> None:
    """A changed cell's old render must not come back when the row is drawn without the
    cursor (renders are kept per value and per cursor state)."""
    app = TableApp(ROWS)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyedTable)
        table.move_cursor(row=0)
        await pilot.pause()
        table.sync({**ROWS, "check-0": (*ROWS["check-0"][:2], "555ms", "status 200")})
        await pilot.pause()
        table.move_cursor(row=4)
        await pilot.pause()
        assert "555ms" in lines_of(app)[1]
