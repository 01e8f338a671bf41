"""One alert in full: what it says, why it is quiet (maintenance, silences, inhibitions,
acknowledgement), its links, labels, annotations and recent history. Live: the app hands it
every update of the alerts, and its keys act on it as the pane's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType

from tui.engine.alert_book import AlertEvent
from tui.engine.maintenance import ActiveWindow
from tui.engine.runbooks.catalog import RunbookEntry
from tui.engine.samples import Alert
from tui.engine.units import format_duration
from tui.screens.detail import DetailScreen, Section
from widgets.alerts import AlertsPane, available, badges, joined, severity_cell, since_text
from widgets.status import NO_DATA, Palette, clock_time

HISTORY_SHOWN = 20
TITLES = {
    "alert": "alert",
    "quiet": "suppression and acknowledgement",
    "links": "runbook and links",
    "labels": "labels",
    "annotations": "annotations",
    "history": "history (newest first)",
}
KIND = {"rule": "rule", "alertmanager": "Alertmanager", "prometheus": "Prometheus"}


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What the screen shows beside the alert, gathered by the app from the engine."""

    alert: Alert | None
    """``None`` once the alert is no longer listed (resolved long enough ago)."""
    history: Sequence[AlertEvent] = ()
    windows: Sequence[ActiveWindow] = ()
    """The open maintenance windows covering it."""
    runbook: RunbookEntry | None = None
    alerts: Sequence[Alert] = ()
    """Every alert shown, to name the ones inhibiting it."""
    now: float = 0.0


class AlertDetailScreen(DetailScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "ack"),
        Binding("s", "silence", "silence"),
        Binding("x", "expire", "expire silence"),
        Binding("o", "runbook", "runbook"),
        Binding("y", "copy", "copy link"),
    ]
    SECTIONS = tuple(TITLES)
    HEADER_ID = "alert-header"

    def __init__(self, context: AlertContext, *, read_only: bool) -> None:
        super().__init__()
        assert context.alert is not None
        self.alert: Alert = context.alert
        self.key = context.alert.key
        self.context = context
        self.read_only = read_only
        self.listed = True

    @property
    def texts(self) -> dict[str, Text]:
        """What the header and each section show."""
        return {"header": self.heading} | {
            name: section.note for name, section in self.shown.items() if section.note is not None
        }

    # --- updates ---------------------------------------------------------------------
    def show(self, context: AlertContext) -> None:
        """The alerts changed: show this alert as it is now (or say it is gone)."""
        self.listed = context.alert is not None
        if context.alert is None:
            self.context = replace(self.context, now=context.now)
        else:
            self.alert = context.alert
            self.context = context
        if self.is_mounted:
            self.redraw()
            self.refresh_bindings()

    def content(self, palette: Palette) -> tuple[Text, dict[str, Section]]:
        texts = {
            "alert": self.about(palette),
            "quiet": self.quiet(palette),
            "links": self.links(palette),
            "labels": pairs(sorted(self.alert.labels.items()), palette),
            "annotations": self.annotations(palette),
            "history": self.history(palette),
        }
        sections = {name: Section(TITLES[name], note=text) for name, text in texts.items()}
        return self.header(palette), sections

    # --- sections --------------------------------------------------------------------
    def header(self, palette: Palette) -> Text:
        alert = self.alert
        text = Text()
        text.append_text(severity_cell(alert, palette))
        text.append(f" · {alert.state} · ")
        text.append(alert.name, "bold")
        text.append(f" · {alert.source}")
        marks = badges(alert, palette)
        if marks:
            text.append("  ")
            text.append_text(joined(marks))
        text.append("\n")
        text.append(alert.summary or NO_DATA)
        if not self.listed:
            text.append("\n")
            text.append_text(palette.muted("no longer listed: what it was when last seen"))
        return text

    def about(self, palette: Palette) -> Text:
        alert = self.alert
        now = self.context.now
        rows: list[tuple[str, str | Text]] = [
            (
                "state",
                f"{alert.state} since {since_text(alert.since, now)}"
                f" ({format_duration(max(0.0, now - alert.since))})",
            ),
        ]
        if alert.active_since is not None and alert.active_since != alert.since:
            rows.append(("active since", since_text(alert.active_since, now)))
        if alert.value is not None:
            rows.append(("value", f"{alert.value:g}"))
        kind = KIND.get(alert.source_kind, alert.source_kind)
        rows.append(("source", f"{alert.source} ({kind})"))
        if alert.fingerprint:
            rows.append(("fingerprint", alert.fingerprint))
        text = pairs(rows, palette)
        if alert.description:
            text.append("\n\n")
            text.append(alert.description)
        return text

    def annotations(self, palette: Palette) -> Text:
        """The annotations not already shown as the summary and description."""
        shown = {"summary": self.alert.summary, "description": self.alert.description}
        rows = [
            (key, value)
            for key, value in sorted(self.alert.annotations.items())
            if shown.get(key) != value
        ]
        return pairs(rows, palette) if rows else palette.muted("none beyond the summary")

    def quiet(self, palette: Palette) -> Text:
        alert = self.alert
        rows: list[tuple[str, str | Text]] = []
        for window in self.context.windows:
            until = f"{window.name} until {since_text(window.end, self.context.now)}"
            rows.append(("maintenance", f"{until} · {window.comment}" if window.comment else until))
        for name in alert.maintenance:
            if all(window.name != name for window in self.context.windows):
                rows.append(("maintenance", name))
        rows.extend(("silenced by", silence) for silence in alert.silenced_by)
        names = {
            other.fingerprint: other.name
            for other in self.context.alerts
            if other.source == alert.source
        }
        rows.extend(
            ("inhibited by", f"{names[fp]} ({fp})" if fp in names else fp)
            for fp in alert.inhibited_by
        )
        rows.extend(("muted by", interval) for interval in alert.muted_by)
        if alert.suppressed and not rows:
            rows.append(("suppressed", "by its source"))
        if alert.acknowledged_by is not None:
            at = alert.acknowledged_at
            when = f" at {clock_time(at)}" if at is not None else ""
            rows.append(("acknowledged", f"by {alert.acknowledged_by}{when}"))
            if alert.ack_comment:
                rows.append(("comment", alert.ack_comment))
        if alert.flapping:
            rows.append(("flapping", "its condition keeps changing"))
        if not rows:
            return palette.muted("not suppressed, not acknowledged: it notifies")
        return pairs(rows, palette)

    def links(self, palette: Palette) -> Text:
        alert = self.alert
        rows: list[tuple[str, str | Text]] = []
        entry = self.context.runbook
        if entry is not None:
            rows.append(("runbook", f"{entry.title} ({entry.path.name}) · o opens it"))
        elif alert.runbook and alert.runbook != alert.runbook_url:
            rows.append(
                (
                    "runbook",
                    Text(
                        f"{alert.runbook}: no runbook by that name under runbooks.paths",
                        palette.style("warning"),
                    ),
                )
            )
        for label, url in (("runbook url", alert.runbook_url), ("generator", alert.generator_url)):
            if url:
                rows.append((label, Text(url, Style(link=url, underline=True))))
        if not rows:
            return palette.muted("no runbook and no links")
        return pairs(rows, palette)

    def history(self, palette: Palette) -> Text:
        events = list(reversed(self.context.history))
        if not events:
            return palette.muted("no state changes recorded yet")
        text = Text()
        for event in events[:HISTORY_SHOWN]:
            if text:
                text.append("\n")
            text.append(f"{since_text(event.at, self.context.now):<12} ", "dim")
            text.append(f"{event.state:<9}")
            text.append(f"{event.severity:<9}")
            text.append(event.summary)
        if len(events) > HISTORY_SHOWN:
            text.append("\n")
            text.append_text(palette.muted(f"… {len(events) - HISTORY_SHOWN} earlier"))
        return text

    # --- keys ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy":
            return True if self.link() else None
        return available(action, self.alert if self.listed else None, self.read_only)

    def link(self) -> str | None:
        return self.alert.runbook_url or self.alert.generator_url

    def action_acknowledge(self) -> None:
        self.post_message(AlertsPane.AckWanted(self.alert))

    def action_silence(self) -> None:
        self.post_message(AlertsPane.SilenceWanted(self.alert))

    def action_expire(self) -> None:
        self.post_message(AlertsPane.ExpireWanted(self.alert))

    def action_runbook(self) -> None:
        self.post_message(AlertsPane.RunbookWanted(self.alert))

    def action_copy(self) -> None:
        link = self.link()
        if link:
            self.app.copy_to_clipboard(link)
            self.notify(f"copied {link} (OSC 52)", timeout=3, markup=False)


def pairs(rows: Sequence[tuple[str, str | Text]], palette: Palette) -> Text:
    """``key   value`` lines, keys dimmed and padded to the longest."""
    if not rows:
        return palette.muted(NO_DATA)
    width = max(len(key) for key, _ in rows) + 2
    text = Text()
    for key, value in rows:
        if text:
            text.append("\n")
        text.append(key.ljust(width), "dim")
        lines = value.split("\n") if isinstance(value, Text) else Text(value).split("\n")
        text.append_text(Text("\n" + " " * width).join(lines))
    return text
