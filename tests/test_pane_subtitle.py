"""A pane's subtitle carries live figures (the queues pane's worst depth), so it changes
with most polls: it repaints the pane's bottom border, not the pane and what it holds. What
is shown afterwards must be what a pane drawn afresh with that subtitle shows."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Static

from widgets.pane import Pane

SIZE = (60, 12)


class BoxPane(Pane):
    def compose(self) -> ComposeResult:
        yield Static("\n".join(f"row {n}" for n in range(8)), id="body")

    @property
    def focus_target(self) -> Widget:
        return self


class PaneApp(App[None]):
    def __init__(self, subtitle: str) -> None:
        super().__init__()
        self.subtitle = subtitle

    def compose(self) -> ComposeResult:
        yield BoxPane(2, "Queues", id="queues")

    def on_mount(self) -> None:
        self.query_one(BoxPane).show_problem(False, Text(self.subtitle))


def drawn(pane: Pane) -> list[str]:
    """The pane's lines as the compositor takes them (unchanged lines from its cache)."""
    return [strip.text for strip in pane.render_lines(Region(0, 0, *pane.outer_size))]


async def test_a_new_subtitle_repaints_the_bottom_border_only() -> None:
    app = PaneApp("▲ emails: depth 201 >= 200")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(BoxPane)
        body = app.query_one("#body")
        pane.show_problem(False, Text("▲ emails: depth 202 >= 200"))
        width, height = pane.outer_size
        assert pane._repaint_regions == {Region(0, height - 1, width, 1)}
        assert not body._repaint_regions, "what the pane holds is not repainted"
        await pilot.pause()
        seen = drawn(pane)
    assert "depth 202" in seen[-1]
    fresh = PaneApp("▲ emails: depth 202 >= 200")
    async with fresh.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert drawn(fresh.query_one(BoxPane)) == seen


async def test_the_problem_class_still_repaints_the_whole_pane() -> None:
    """``-problem`` changes the border's colour all round."""
    app = PaneApp("✔ 4 ok")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(BoxPane)
        pane.show_problem(True, Text("✖ redis: connection refused"))
        assert pane.outer_size.region in pane._repaint_regions
        await pilot.pause()
        assert pane.has_class("-problem")
        assert "connection refused" in drawn(pane)[-1]
