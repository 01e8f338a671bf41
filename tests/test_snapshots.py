"""How the console looks, with fixed data at a fixed time (pytest-textual-snapshot).

Regenerate after an intended change with ``uv run pytest tests/test_snapshots.py
--snapshot-update`` and look at the SVGs under ``tests/__snapshots__/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ui_fixtures import feed, make_app, make_engine, make_health_config, utc

from tui.app import WatchdeckApp

BIG = (120, 40)
SMALL = (80, 24)
Compare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with utc():
        yield


def compare(
    snap_compare: Compare,
    size: tuple[int, int],
    *press: str,
    app: WatchdeckApp | None = None,
    **options: Any,
) -> bool:
    return snap_compare(
        app or make_app(), press=press, terminal_size=size, run_before=feed, **options
    )


def health_app() -> WatchdeckApp:
    """Checks in every state: critical, warning, stale, waiting, flapping, ok."""
    return make_app(make_engine(make_health_config()))


def test_console_at_120x40(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG)


def test_console_compact_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL)


def test_database_zoomed(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG, "3", "z")


def test_help_screen(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "question_mark")


def test_health_zoomed(snap_compare: Compare) -> None:
    assert compare(snap_compare, BIG, "z", app=health_app())


def test_health_filtered_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "slash", "c", "h", app=health_app())


def test_check_detail(snap_compare: Compare) -> None:
    """The failing check: conditions, headers, a JSON body and a two-certificate chain."""
    assert compare(snap_compare, BIG, "enter", app=health_app())


def test_check_detail_at_80x24(snap_compare: Compare) -> None:
    assert compare(snap_compare, SMALL, "enter", app=health_app())
