"""A DataTable kept in sync by row key, so a refresh redraws only what changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from textual.widgets import DataTable

from widgets.status import same


class ColumnSpec(NamedTuple):
    key: str
    label: str
    width: int | None = None
    """Fixed width in cells; ``None`` sizes the column to its content."""


class KeyedTable(DataTable[Any]):
    """Rows are updated cell by cell: vanished rows removed, new rows added, unchanged cells
    left alone (every update redraws the table, and terminal bytes are SSH bandwidth).

    With ``order_by`` (column keys) and ``order`` (a key function over those cells) rows are
    kept sorted, but only reordered while the table does not have focus, so the row an
    operator is aiming at never jumps under the cursor.
    """

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
        for spec in self.specs:
            self.add_column(spec.label, key=spec.key, width=spec.width)

    def sync(self, rows: Mapping[str, Sequence[Any]]) -> None:
        """Make the table show ``rows``: row key -> one value per column."""
        for key in [row_key.value for row_key in self.rows if row_key.value not in rows]:
            self.remove_row(key)
        for key, cells in rows.items():
            if key in self.rows:
                for spec, value in zip(self.specs, cells, strict=True):
                    if not same(self.get_cell(key, spec.key), value):
                        self.update_cell(key, spec.key, value, update_width=spec.width is None)
            else:
                self.add_row(*cells, key=key)
        if not self.has_focus:
            self.apply_order()

    def apply_order(self) -> None:
        """Sort the rows if (and only if) they are out of order."""
        if self.order is None or not self.row_count:
            return
        order = self.order
        positions = [self.get_column_index(key) for key in self.order_by]

        def rank(key: str) -> Any:
            cells = self.get_row(key)
            return order(tuple(cells[position] for position in positions))

        current = [row.key.value or "" for row in self.ordered_rows]
        if current != sorted(current, key=rank):
            self.sort(*self.order_by, key=lambda cells: order(_as_tuple(cells, len(positions))))

    def on_blur(self) -> None:
        self.apply_order()


def _as_tuple(cells: Any, count: int) -> tuple[Any, ...]:
    """``DataTable.sort`` hands one column's value bare and several as a tuple."""
    return (cells,) if count == 1 else tuple(cells)
