"""A DataTable kept in sync by row key, so a refresh redraws only what changed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import accumulate
from typing import Any, ClassVar, NamedTuple

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from widgets.status import same

Lines = list[list[Segment]]
RENDERS_PER_CELL = 8
"""Renders kept per cell value (cursor on or off, focus, widths, positions after a sort)."""


class Drawing(NamedTuple):
    """What drawing a row reads for each of its cells, read once per render: each is a
    reactive, a lookup through Textual's descriptor, about a hundred for one table line."""

    lean: bool
    """A row cursor, no row labels, no fixed rows or columns: every table here."""
    fixed: bool
    padding: int
    show_cursor: bool
    show_hover: bool
    css_foreground: bool
    css_background: bool
    widths: tuple[int, ...]
    console: Console


class ColumnSpec(NamedTuple):
    key: str
    label: str
    width: int | None = None
    """Fixed width in cells; ``None`` sizes the column to its content."""


def as_text(value: Any) -> Any:
    """A str as plain Text: DataTable reads a str cell as Rich markup, so a query, a queue or
    an application name with ``[/x]`` in it raised mid-render and one with ``[b]`` lost it."""
    return Text(value) if isinstance(value, str) else value


def _same_cell(shown: Any, value: Any) -> bool:
    """Whether a cell shows ``value`` already; a str is compared with the Text it became."""
    if isinstance(value, str):
        return (
            isinstance(shown, Text) and shown.plain == value and not shown.spans and not shown.style
        )
    return same(shown, value)


class PlainTable(DataTable[Any]):
    """A DataTable whose str cells and labels are text, never markup (see ``as_text``)."""

    def add_row(
        self,
        *cells: Any,
        height: int | None = 1,
        key: str | None = None,
        label: Text | str | None = None,
    ) -> RowKey:
        return super().add_row(*map(as_text, cells), height=height, key=key, label=as_text(label))

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: Any,
        *,
        update_width: bool = False,
    ) -> None:
        super().update_cell(row_key, column_key, as_text(value), update_width=update_width)


class KeyedTable(PlainTable):
    """Rows are updated cell by cell: vanished rows removed, new rows added, unchanged cells
    left alone, and an update repaints only its row (terminal bytes are SSH bandwidth).

    With ``order_by`` (column keys) and ``order`` (a key function over those cells) rows are
    kept sorted, but only reordered while the table does not have focus, so the row an
    operator is aiming at never jumps under the cursor.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "first row", show=False),
        Binding("end", "scroll_bottom", "last row", show=False),
    ]

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        *,
        order_by: Sequence[str] = (),
        order: Callable[[tuple[Any, ...]], Any] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.specs = tuple(columns)
        self.order_by = tuple(order_by)
        self.order = order
        self._renders: dict[tuple[RowKey, ColumnKey], dict[tuple[Any, ...], Lines]] = {}
        """Per cell, the renders of its current value by how they were asked (dropped when
        the value changes)."""
        self._changed: dict[RowKey, set[ColumnKey]] | None = None
        """Cells updated during a ``sync``, by row, repainted once at its end."""
        self._rendering = False
        self._render_style: Style | None = None
        self._render_drawing: Drawing | None = None
        for spec in self.specs:
            self.add_column(spec.label, key=spec.key, width=spec.width)

    def sync(self, rows: Mapping[str, Sequence[Any]], *, arranged: bool = False) -> None:
        """Make the table show ``rows``: row key -> one value per column.

        ``arranged``: show the rows in the mapping's order (otherwise new rows are appended
        and ``order`` applies). The highlighted row keeps the cursor while the table has
        focus or is arranged, wherever it moves.
        """
        follow = self.highlighted_key if (self.has_focus or arranged) else None
        updates_before = self._update_count
        self._changed = {}
        try:
            self._sync(rows, arranged=arranged)
        finally:
            changed, self._changed = self._changed, None
            self._repaint(changed)
        if follow is not None and follow in self.rows:
            index = self.get_row_index(follow)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
        if self._update_count != updates_before:
            self._drop_stale_renders()

    def _sync(self, rows: Mapping[str, Sequence[Any]], *, arranged: bool) -> None:
        for key in [row_key.value for row_key in self.rows if row_key.value not in rows]:
            self.remove_row(key)
        for key, cells in rows.items():
            if key in self.rows:
                for spec, value in zip(self.specs, cells, strict=True):
                    if not _same_cell(self.get_cell(key, spec.key), value):
                        self.update_cell(
                            key, spec.key, value, update_width=self._widens(spec, value)
                        )
            else:
                self.add_row(*cells, key=key)
        if arranged:
            self.arrange(list(rows))
        elif not self.has_focus:
            self.apply_order()

    def render_lines(self, crop: Region) -> list[Strip]:
        """DataTable looks up the table's Rich style for every line it draws, a walk over the
        styles of every ancestor; nothing restyles while one render runs, so once per render
        (and the ``Drawing`` settings)."""
        self._render_style = None
        self._render_drawing = None
        self._rendering = True
        try:
            return super().render_lines(crop)
        finally:
            self._rendering = False

    @property
    def rich_style(self) -> Style:
        if not self._rendering:
            return super().rich_style
        if self._render_style is None:
            self._render_style = super().rich_style
        return self._render_style

    def drawing(self) -> Drawing:
        if self._render_drawing is not None:
            return self._render_drawing
        fixed = bool(self.fixed_rows or self.fixed_columns)
        drawing = Drawing(
            lean=not (
                fixed
                or self.cursor_type != "row"
                or (self._labelled_row_exists and self.show_row_labels)
            ),
            fixed=fixed,
            padding=self.cell_padding,
            show_cursor=self.show_cursor,
            show_hover=self._show_hover_cursor,
            css_foreground=self.cursor_foreground_priority == "css",
            css_background=self.cursor_background_priority == "css",
            widths=tuple(column.get_render_width(self) for column in self.ordered_columns),
            console=self.app.console,
        )
        if self._rendering:
            self._render_drawing = drawing
        return drawing

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[Lines, Lines]:
        """DataTable's, for a row cursor without row labels or fixed columns (every table
        here): DataTable also works out the header style and the background colours for each
        line, two more walks over every ancestor's styles, used only by labels, fixed columns
        and other cursors. Same segments (a test compares them with DataTable's)."""
        drawing = self.drawing()
        if not drawing.lean:
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        cache_key = (row_key, line_no, base_style, cursor_location, hover_location, "row",
                     drawing.show_cursor, drawing.show_hover, self._update_count,
                     self._pseudo_class_state)  # fmt: skip
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = self._row_locations.get(row_key) if row_key in self._row_locations else -1
        row_style = self._get_row_style(row_index, base_style)
        cursor = row_index == cursor_location.row
        hover = row_index == hover_location.row
        line: Lines = []
        used = self._row_label_column_width
        for column_index, width in enumerate(drawing.widths):
            used += width
            cells = self._render_cell(row_index, column_index, row_style, width, cursor, hover)
            line.append(cells[line_no])
        extend_style, _ = self._get_styles_to_render_cell(
            row_index == -1, False, False, hover, cursor,
            drawing.show_cursor, drawing.show_hover, False, False,
        )  # fmt: skip
        extend_style = row_style + extend_style
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        line.append([Segment(" " * max(0, self.size.width - used), extend_style)])
        rendered: tuple[Lines, Lines] = ([], line)
        self._row_render_cache[cache_key] = rendered
        return rendered

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Lines:
        """DataTable's, remembered while the cell's value stays: DataTable forgets every render
        when any cell changes, so a changed row re-rendered all its cells through Rich, the
        console's main cost while idle."""
        if row_index < 0 or column_index < 0:  # the header and row labels
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row, column = (
            self._row_locations.get_key(row_index),
            self._column_locations.get_key(column_index),
        )
        known = self._renders.get((row, column))
        if known is None or len(known) > RENDERS_PER_CELL:
            known = self._renders[row, column] = {}
        drawing = self.drawing()
        asked = (row_index, column_index, base_style, width, cursor, hover,
                 drawing.show_cursor, drawing.show_hover, self._pseudo_class_state)  # fmt: skip
        lines = known.get(asked)
        if lines is None:
            value = self._data[row][column]
            lines = self._render_one_line(value, row, row_index, column_index, base_style, width,
                                          cursor, hover, drawing)  # fmt: skip
            if lines is None:
                lines = super()._render_cell(
                    row_index, column_index, base_style, width, cursor, hover
                )
            known[asked] = lines
        return lines

    def _render_one_line(
        self,
        value: Any,
        row: RowKey,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
        drawing: Drawing,
    ) -> Lines | None:
        """The segments DataTable's ``_render_cell`` makes of a one-line ``Text`` that fits its
        cell, made directly: DataTable renders every cell through Rich's ``Padding`` and
        ``Styled`` into a console (about four times the work), the main cost of a changed row.
        ``None`` for anything else (wrapping, a text that does not fit, other renderables):
        DataTable does it.
        """
        pad = drawing.padding
        if (
            not isinstance(value, Text)
            or value.justify not in (None, "default")
            or "\n" in value.plain
            or "\t" in value.plain
            or self.rows[row].height != 1
            or drawing.fixed
        ):
            return None
        room = width - 2 * pad - cell_len(value.plain)
        if room < 0:
            return None
        component, post = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, drawing.show_cursor, drawing.show_hover,
            drawing.css_foreground, drawing.css_background,
        )  # fmt: skip
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component
        blank = pre + post
        line = [Segment(" " * pad, blank)] if pad else []
        line += [
            Segment(text, blank if style is None else pre + style + post)
            for text, style, _control in _text_segments(value, drawing.console)
            if text
        ]
        if room + pad:
            line.append(Segment(" " * (room + pad), blank))
        return [line]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._renders.clear()

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        row = RowKey(row_key) if isinstance(row_key, str) else row_key
        for column in self.columns:
            self._renders.pop((row, column), None)

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: Any,
        *,
        update_width: bool = False,
    ) -> None:
        """As DataTable's, but only the cell's row is repainted: DataTable re-renders and
        re-sends the whole table for one cell. A column growing still repaints it all."""
        row = RowKey(row_key) if isinstance(row_key, str) else row_key
        column = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row not in self._row_locations or column not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row!r}, column_key={column!r}.")
        self._renders.pop((row, column), None)
        value = as_text(value)
        if update_width:
            super().update_cell(row, column, value, update_width=True)
            return
        self._data[row][column] = value
        self._update_count += 1
        if self._changed is None:
            self._repaint({row: {column}})
        else:
            self._changed.setdefault(row, set()).add(column)

    def _repaint(self, changed: Mapping[RowKey, set[ColumnKey]]) -> None:
        """Repaint each row with a changed cell in sight: a value scrolled out of sight (a
        queue's workers, an alert's summary) repaints nothing, its line is drawn afresh when
        scrolled into view. The whole table when more rows changed than it shows. (Rows are
        placed in one pass: ``refresh_row`` sums the heights of the rows above each row.)"""
        if len(changed) >= self.size.height:
            self.refresh()
            return
        widths = self.drawing().widths
        lefts = list(accumulate(widths, initial=self._row_label_column_width))
        window = self.window_region
        top = self.header_height if self.show_header else 0
        for row in self.ordered_rows:
            columns = changed.get(row.key)
            if columns:
                places = [self._column_locations.get(column) for column in columns]
                first, last = min(places), max(places)
                right = lefts[last] + widths[last]
                span = Region(lefts[first], top, right - lefts[first], row.height)
                if window.overlaps(span):
                    line = Region(0, top, max(self.size.width, lefts[-1]), row.height)
                    self.refresh(line.translate(-self.scroll_offset))
            top += row.height

    def _drop_stale_renders(self) -> None:
        """DataTable keys its render caches by its update count, so after an update every
        entry is dead but stays until the cache is full (10,000 cells, 1,000 rows, row
        renderables and lines per table): tens of MB over an hour of polling. Nothing valid
        is lost here."""
        for cache in (
            self._row_render_cache,
            self._cell_render_cache,
            self._row_renderable_cache,
            self._line_cache,
            self._offset_cache,
        ):
            cache.clear()

    def _widens(self, spec: ColumnSpec, value: Any) -> bool:
        """Whether a new value needs its auto-width column wider.

        Columns grow, never shrink, on an update: shrinking makes DataTable measure every
        cell of the column for every narrower value, which on a 2,000-row table turns one
        refresh into seconds.
        """
        if spec.width is not None:
            return False
        width = cell_len(value.plain if isinstance(value, Text) else str(value))
        return width > self.columns[ColumnKey(spec.key)].content_width

    @property
    def highlighted_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def arrange(self, keys: Sequence[str]) -> None:
        """Put the rows in the order of ``keys`` when they are not already.

        ``DataTable.sort`` computes its key once per row, in the order rows were added, which
        is the order of ``self.rows``: the n-th call ranks the n-th key.
        """
        current = [row.key.value for row in self.ordered_rows]
        if current == list(keys):
            return
        position = {key: index for index, key in enumerate(keys)}
        ranks = iter([position[row_key.value or ""] for row_key in self.rows])
        self.sort(key=lambda _cells: next(ranks))

    def apply_order(self) -> None:
        """Sort the rows if (and only if) they are out of order, the cursor staying on its row
        when ``keeps_row`` (else on its line)."""
        if self.order is None or not self.row_count:
            return
        order = self.order
        positions = [self.get_column_index(key) for key in self.order_by]

        def rank(key: str) -> Any:
            cells = self.get_row(key)
            return order(tuple(cells[position] for position in positions))

        current = [row.key.value or "" for row in self.ordered_rows]
        if current != sorted(current, key=rank):
            key = self.highlighted_key if self.keeps_row() else None
            self.sort(*self.order_by, key=lambda cells: order(_as_tuple(cells, len(positions))))
            if key is not None:
                self.move_cursor(row=self.get_row_index(key), animate=False)

    def keeps_row(self) -> bool:
        """Whether a sort keeps the cursor on its row: a sort on blur or on an unfocused poll
        left it on its line, another row, and ``enter`` then opened the wrong one."""
        return True

    def on_blur(self) -> None:
        self.apply_order()


class SortedTable(KeyedTable):
    """A KeyedTable that also keeps sorting while focused until the operator moves the cursor.

    The console starts with a table focused; without this the first polls would never bring
    the failing rows to the top. Until then the cursor stays on the top line, the worst row.
    Once the cursor moved, rows stay put while the table has focus (again after leaving it and
    coming back) and are sorted when it loses focus or the operator asks (``s``, the filter),
    the cursor staying on its row.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aimed = False
        self._placing = False

    def sync(self, rows: Mapping[str, Sequence[Any]]) -> None:
        self._placing = True
        try:
            super().sync(rows)
            if self.has_focus and not self.aimed:
                self.apply_order()
        finally:
            self._placing = False

    def reorder(self) -> None:
        """Sort now (the operator asked), keeping the cursor on the row it was on."""
        key = self.cursor_key()
        self._placing = True
        try:
            self.apply_order()
            row = self.get_row_index(key) if key is not None and key in self.rows else 0
            self.move_cursor(row=row, scroll=True)
        finally:
            self._placing = False

    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if self.has_focus and not self._placing and old != new:
            self.aimed = True

    def keeps_row(self) -> bool:
        return self.aimed


def _text_segments(text: Text, console: Console) -> Iterable[Segment]:
    """A one-line Text's segments as Rich draws it in a console: ``Text.render`` leaves out
    the Text's own style when it has no spans (Rich applies it while joining lines)."""
    if text.spans:
        return text.render(console)
    return [Segment(text.plain, console.get_style(text.style) if text.style else None)]


def _as_tuple(cells: Any, count: int) -> tuple[Any, ...]:
    """``DataTable.sort`` hands one column's value bare and several as a tuple."""
    return (cells,) if count == 1 else tuple(cells)
