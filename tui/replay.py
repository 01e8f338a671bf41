"""``watchdeck replay FILE``: the console, read-only, on a recording, with a scrubber bar.

The app is the console's own (``WatchdeckApp``) on a ``ReplayEngine``: the same panes get the
same events, and the app's clock is the player's, so ages and countdowns read as they did.
Write actions are hidden (the engine is read-only), and so are runbook runs, ``r``, ``p`` and
the timeline.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.widgets import Footer, Input

from tui.app import EngineEvent, WatchdeckApp
from tui.engine import logs
from tui.engine.recording import RecordingError, read_recording
from tui.engine.replay import JUMP, ReplayEngine
from tui.engine.samples import Alert
from tui.screens.help import HelpScreen
from widgets.scrubber import Scrubber, ScrubberView

SCRUBBER_EVERY = 0.25
"""Seconds between redraws of the scrubber while playing."""
STEP = Binding.Group("event", compact=True)
SKIP = Binding.Group(f"{JUMP:g}s", compact=True)
SPEED = Binding.Group("speed", compact=True)
REPLAY_ACTIONS = frozenset({"play", "step", "jump", "speed", "edge"})
LIVE_ONLY = frozenset({"refresh", "toggle_pause", "timeline"})
"""Hidden in a replay: nothing is polled (``r``, ``p``), and the timeline is the state
directory's, not the recording's (``t``)."""


class ReplayApp(WatchdeckApp):
    """The console on a recording. The scrubber keys take priority over the panes' own (a
    table's ``home``/``end``, the Database pane's ``space``) on the console, except while
    typing in a filter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play", "play", tooltip="play or pause", priority=True),
        Binding("comma", "step(-1)", "event back", key_display=",", group=STEP, priority=True),
        Binding("full_stop", "step(1)", "event on", key_display=".", group=STEP, priority=True),
        Binding(
            "left_square_bracket",
            f"jump(-{JUMP})",
            f"{JUMP:g}s back",
            key_display="[",
            group=SKIP,
            priority=True,
        ),
        Binding(
            "right_square_bracket",
            f"jump({JUMP})",
            f"{JUMP:g}s on",
            key_display="]",
            group=SKIP,
            priority=True,
        ),
        Binding("minus", "speed(-1)", "slower", key_display="-", group=SPEED, priority=True),
        Binding("plus", "speed(1)", "faster", key_display="+", group=SPEED, priority=True),
        Binding("equals_sign", "speed(1)", "faster", show=False, priority=True),
        # In help, not in the footer: at 120 columns it has room for the keys above only.
        Binding("home", "edge(0)", "start", show=False, priority=True),
        Binding("end", "edge(1)", "end", show=False, priority=True),
    ]

    def __init__(self, engine: ReplayEngine, *, theme: str | None = None) -> None:
        super().__init__(engine, theme=theme, clock=engine.player.clock)
        self.player = engine.player
        self.warning = engine.recording.warning
        self.scrubber = Scrubber(id="scrubber")
        self.showing_event = False
        """While an engine event is shown: its toasts are dropped."""

    def on_mount(self) -> None:
        # Queued on the console screen: it runs once the screen has composed its widgets.
        self.deck.call_later(self.add_scrubber)
        self.set_interval(SCRUBBER_EVERY, self.show_scrubber)

    async def add_scrubber(self) -> None:
        """Between the status line and the footer (the console stays the live one's)."""
        footer = self.deck.query_one(Footer)
        footer.show_command_palette = False  # room for the replay keys (ctrl+p still works)
        await self.deck.mount(self.scrubber, before=footer)
        self.show_scrubber()
        if self.warning:  # also printed before the console opened, now hidden behind it
            self.notify(self.warning, title="Replay", severity="warning", timeout=20, markup=False)

    def show_scrubber(self) -> None:
        player = self.player
        view = ScrubberView(
            position=player.clock(),
            start=player.start,
            end=player.end,
            speed=player.speed,
            playing=player.playing,
            index=player.index,
            count=len(player.moments),
        )
        self.scrubber.show(view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LIVE_ONLY:
            return False
        if action in REPLAY_ACTIONS:
            return self.screen is self.deck and not isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def on_engine_event(self, message: EngineEvent) -> None:
        """Shown as the console shows it, without its toasts: after a jump they would tell
        of changes that never happened (a check "recovering" by going back in time)."""
        message.prevent_default()  # the console's own handler is called here, quietly
        self.showing_event = True
        try:
            super().on_engine_event(message)
        finally:
            self.showing_event = False

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        if not self.showing_event:
            super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def announce(self, firing: Sequence[Alert]) -> None:
        """No bell either (the Alerts pane shows what fires)."""

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(replay=True))

    # --- the scrubber keys -------------------------------------------------------------
    def moved(self) -> None:
        """After a move: the scrubber now; the panes once the events the move sent are in
        (they queue behind it), so their figures and ages show the new time at once."""
        self.show_scrubber()
        self.call_later(self.tick, figures=True)

    def action_play(self) -> None:
        self.player.toggle()
        self.moved()

    def action_step(self, events: int) -> None:
        self.player.step(events)
        self.moved()

    def action_jump(self, seconds: float) -> None:
        self.player.jump(seconds)
        self.moved()

    def action_speed(self, steps: int) -> None:
        self.player.change_speed(steps)
        self.moved()

    def action_edge(self, end: int) -> None:
        """``home``: the start (still playing if it was); ``end``: the end, paused."""
        if end:
            self.player.pause()
        self.player.seek(self.player.end if end else self.player.start)
        self.moved()


def replay(file: str, *, speed: float = 1.0, theme: str | None = None) -> int:
    """Open the console on ``file``; a file that is not a recording is one line, exit 1."""
    logs.setup(None)  # nothing may write to the terminal under the console
    try:
        recording = read_recording(file)
        engine = ReplayEngine(recording, speed=speed)
    except RecordingError as exc:
        print(exc, file=sys.stderr)
        return 1
    if recording.warning:
        print(recording.warning, file=sys.stderr)
    app = ReplayApp(engine, theme=theme)

    async def run() -> int | None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, app.exit, 0)
        return await app.run_async()

    return asyncio.run(run()) or 0
