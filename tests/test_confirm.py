"""The confirm dialog: Cancel by default, esc cancels, typed name unlocks a dangerous one."""

from __future__ import annotations

from textual.app import App
from textual.containers import VerticalScroll
from textual.widgets import Button

from tui.screens.confirm import ConfirmScreen


class Host(App[None]):
    def __init__(self, screen: ConfirmScreen) -> None:
        super().__init__()
        self.dialog = screen
        self.answers: list[bool] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.answers.append)


def dialog(**options) -> ConfirmScreen:
    lines = ["pid 4242 · app · billing-worker", "SELECT pg_sleep(600)"]
    return ConfirmScreen("Terminate backend 4242?", lines, confirm_label="Terminate", **options)


async def test_enter_cancels_by_default():
    app = Host(dialog())
    async with app.run_test() as pilot:
        await pilot.press("enter")
    assert app.answers == [False]


async def test_escape_cancels_and_tab_then_enter_confirms():
    app = Host(dialog())
    async with app.run_test() as pilot:
        await pilot.press("escape")
        assert app.answers == [False]
        app.push_screen(dialog(), app.answers.append)
        await pilot.pause()
        await pilot.press("tab", "enter")
    assert app.answers == [False, True]


async def test_the_dialog_shows_what_will_happen():
    app = Host(dialog())
    async with app.run_test() as pilot:
        text = str(app.screen.query_one(".body").render())
        assert "pid 4242" in text and "pg_sleep" in text
        await pilot.press("escape")


async def test_danger_needs_the_name_typed_before_confirm_unlocks():
    app = Host(dialog(danger=True, require_text="main"))
    async with app.run_test() as pilot:
        confirm = app.screen.query_one("#confirm")
        assert confirm.disabled
        app.screen.query_one("#confirm-text").focus()
        await pilot.press("m", "a", "i")
        assert confirm.disabled
        await pilot.press("n")
        assert not confirm.disabled
        confirm.focus()
        await pilot.press("enter")
    assert app.answers == [True]


async def test_a_long_text_scrolls_and_the_buttons_stay_on_an_80x24_screen():
    lines = [f"pid {4000 + n} · app · main · worker\n  SELECT pg_sleep({n})" for n in range(12)]
    app = Host(ConfirmScreen("Terminate 12 sessions?", lines, confirm_label="Terminate"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for button in screen.query(Button):
            assert button.region.y >= 0 and button.region.bottom <= 24, button
        assert screen.query_one("#cancel", Button).has_focus
        assert screen.query_one(".text", VerticalScroll).max_scroll_y > 0
        await pilot.press("escape")
    assert app.answers == [False]
