"""KeyedTable repaints only what changed: the row of an updated cell, and in that row only the
cells whose value changed go through Rich again. Whatever it skips, the table must look the
same as a table drawn from scratch with the same values."""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

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
    """Counts line renders and cell renders, DataTable's or KeyedTable's own one-line path
    (the work a repaint costs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lines = self.cells = 0
        render_line, render_cell = DataTable._render_line, DataTable._render_cell
        render_one_line = KeyedTable._render_one_line

        def count_line(table: DataTable[Any], *args: Any) -> Any:
            self.lines += 1
            return render_line(table, *args)

        def count_cell(table: DataTable[Any], *args: Any, **kwargs: Any) -> Any:
            self.cells += 1
            return render_cell(table, *args, **kwargs)

        def count_one_line(table: KeyedTable, *args: Any) -> Any:
            lines = render_one_line(table, *args)
            self.cells += lines is not None
            return lines

        monkeypatch.setattr(DataTable, "_render_line", count_line)
        monkeypatch.setattr(DataTable, "_render_cell", count_cell)
        monkeypatch.setattr(KeyedTable, "_render_one_line", count_one_line)

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
        assert counted.cells == 1, "in it, only the changed cell is rendered"


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


TEXT_CELLS = (
    Text("✔ ok", style="green"),
    Text(""),
    Text("plain"),
    Text.assemble(("bold", "bold"), " plain ", ("red on blue", "red on blue")),
    Text("全角 wide", style="italic"),
    Text("▁▂✖▅", spans=[]).append("✖", "bold red"),
    Text("dim", style="dim"),
)


@pytest.mark.parametrize("value", TEXT_CELLS, ids=lambda value: repr(value.plain))
async def test_a_text_cell_is_drawn_exactly_as_datatable_draws_it(value: Text) -> None:
    """KeyedTable draws one-line Text cells itself (the idle console's main cost was Rich's
    padding and styling of changed cells): the same segments, styles and meta, with and
    without cursor and hover, fitting exactly or with room to spare."""
    from rich.cells import cell_len
    from textual.strip import Strip

    app = TableApp(ROWS)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyedTable)
        table.update_cell("check-1", "detail", value)
        row, column = table.get_row_index("check-1"), table.get_column_index("detail")
        for cursor in (False, True):
            for hover in (False, True):
                for room in (0, 3):
                    width = cell_len(value.plain) + 2 * table.cell_padding + room
                    ours = table._render_one_line(
                        value,
                        RowKey("check-1"),
                        row,
                        column,
                        table.rich_style,
                        width,
                        cursor,
                        hover,
                        table.drawing(),
                    )
                    table._cell_render_cache.clear()  # keyed without the width
                    theirs = DataTable._render_cell(
                        table, row, column, table.rich_style, width, cursor, hover
                    )
                    assert ours is not None and len(theirs) == 1
                    assert Strip(ours[0]).simplify() == Strip(theirs[0]).simplify(), (
                        f"cursor={cursor} hover={hover} room={room}"
                    )


async def test_a_cell_that_does_not_fit_is_left_to_datatable() -> None:
    app = TableApp(ROWS)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyedTable)
        too_long = Text("longer than the cell")
        table.update_cell("check-1", "detail", too_long)
        args = (RowKey("check-1"), table.get_row_index("check-1"), table.get_column_index("detail"))
        drawn = table._render_one_line(
            too_long, *args, table.rich_style, 8, False, False, table.drawing()
        )
        assert drawn is None


@pytest.mark.parametrize("name", ["api[/x]", "x[b]y", "[link=x]docs"])
async def test_a_str_cell_is_text_never_markup(name: str) -> None:
    """Names, queries and application names come from configs and servers: DataTable reads a
    str as Rich markup, so ``[/x]`` in one raised mid-render and ``[b]`` vanished."""
    rows = {**ROWS, "check-1": (Text("✔ ok"), name, "1ms", "status 200")}
    app = TableApp(rows)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyedTable)
        assert any(name in line for line in lines_of(app)), "added by sync"
        updates = table._update_count
        table.sync(rows)
        assert table._update_count == updates, "the same str again is no change"
        table.update_cell("check-2", "detail", name, update_width=True)
        await pilot.pause()
        assert sum(name in line for line in lines_of(app)) == 2, "and by update_cell"


async def test_a_row_is_drawn_exactly_as_datatable_draws_it() -> None:
    """KeyedTable draws a row without DataTable's per-line header-style and background
    lookups: the same segments for the header and for rows under, beside and away from the
    cursor and the mouse, with the cursor and the hover shown or not."""
    from textual.strip import Strip

    app = TableApp(ROWS)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyedTable)
        keys = [table._header_row_key, RowKey("check-0"), RowKey("check-3")]
        places = [Coordinate(0, 0), Coordinate(3, 1), Coordinate(-1, 0), Coordinate(7, 2)]

        def joined(pair: tuple[Any, Any]) -> Strip:
            fixed, scrollable = pair
            return Strip([s for cell in (*fixed, *scrollable) for s in cell]).simplify()

        compared = 0
        for show_cursor, show_hover in ((True, True), (True, False), (False, True)):
            table.show_cursor, table._show_hover_cursor = show_cursor, show_hover
            for key in keys:
                for cursor in places[:2] + places[3:]:
                    for hover in places:
                        args = (key, 0, table.rich_style, cursor, hover)
                        ours = joined(table._render_line_in_row(*args))
                        table._row_render_cache.clear()
                        theirs = joined(DataTable._render_line_in_row(table, *args))
                        table._row_render_cache.clear()
                        assert ours == theirs, (
                            f"{key=} {cursor=} {hover=} {show_cursor=} {show_hover=}"
                        )
                        compared += 1
        assert compared == 3 * 3 * 3 * 4


async def test_a_cell_out_of_sight_repaints_nothing_and_shows_when_scrolled_to() -> None:
    """A narrow table: ``detail`` is off to the right. Its change repaints nothing (an alert's
    summary, a queue's workers change with every poll); scrolled into view, it shows."""
    app = TableApp(ROWS)
    async with app.run_test(size=(24, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(KeyedTable)
        assert "status 200" not in " ".join(lines_of(app))
        table.sync({**ROWS, "check-5": (*ROWS["check-5"][:3], "status 503")})
        assert not table._repaint_regions, "nothing in sight changed"
        await pilot.pause()
        table.scroll_to(x=table.virtual_size.width, animate=False)
        await pilot.pause()
        shown = [strip.text for strip in table.render_lines(table.size.region)]
        assert any("status 503" in line for line in shown), shown
