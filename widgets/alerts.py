"""The Alerts pane: firing first, then pending, then recently resolved, in the engine's order.

Rows are keyed by ``alert.key`` (source and fingerprint), so several alerts sharing a name
(an Alertmanager ``TargetDown`` per instance) each keep their row, told apart by the labels
that differ. When more than ``GROUP_OVER`` share a name they fold into one group row that
``enter`` or ``→`` opens and ``←`` closes.

The pane never acts itself: its keys post what the operator wants, and the app confirms and
runs it through the engine (journaled, refused under ``--read-only``).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.engine.alert_book import SEVERITY_ORDER, STATE_ORDER, sort_alerts
from tui.engine.samples import Alert
from tui.engine.state import SourceState
from widgets.health import FLAPPING
from widgets.pane import Pane, news
from widgets.status import GLYPHS, STALE, Palette, age, clock_time, problem, same, single_line
from widgets.table import ColumnSpec, KeyedTable
from widgets.text_block import TextBlock

GROUP_OVER = 3
"""A name shared by more alerts than this folds into one group row."""
SUMMARY_WIDTH = 60
LABELS_WIDTH = 30
LABELS_SHOWN = 2
"""Differing labels shown after the name of alerts that share it."""
GROUP = "group:"
"""Row-key prefix of group rows (alert keys are ``source/fingerprint``)."""
SUPPRESSED = "⊘"
ACKED = "✓"
SEVERITY_STATUS = {"critical": "critical", "warning": "warning", "info": "info"}
WRITES = ("acknowledge", "silence", "expire")
COLUMNS = (
    ColumnSpec("severity", "severity"),
    ColumnSpec("state", "state"),
    ColumnSpec("alert", "alert"),
    ColumnSpec("since", "since"),
    ColumnSpec("source", "source"),
    ColumnSpec("summary", "summary"),
)


@dataclass(frozen=True, slots=True)
class Group:
    """Alerts sharing a name, in the engine's order (the most urgent first)."""

    name: str
    alerts: tuple[Alert, ...]

    @property
    def key(self) -> str:
        return GROUP + self.name


# --- what the pane and the detail screen share ----------------------------------------
def severity_status(alert: Alert) -> str:
    return SEVERITY_STATUS.get(alert.severity, "unknown")


def quiet(alert: Alert) -> bool:
    """Resolved or suppressed: shown, but notifying nobody."""
    return alert.state == "resolved" or alert.suppressed


def severity_cell(alert: Alert, palette: Palette) -> Text:
    """``✖ critical``, ``▲ warning``, ``○ info``: glyph and word, colour only on top."""
    status = severity_status(alert)
    style = palette.style("muted") if quiet(alert) else palette.style(status)
    return Text(f"{GLYPHS.get(status, '?')} {alert.severity}", style=style)


def badges(alert: Alert, palette: Palette) -> list[Text]:
    """Suppression (maintenance window, silence, inhibition, mute), acknowledgement, flapping."""
    muted = palette.style("muted")
    found: list[Text] = []
    if alert.maintenance:
        found.append(Text(f"{SUPPRESSED} maintenance {', '.join(alert.maintenance)}", muted))
    if alert.silenced_by:
        found.append(Text(f"{SUPPRESSED} silenced", muted))
    if alert.inhibited_by:
        found.append(Text(f"{SUPPRESSED} inhibited", muted))
    if alert.muted_by:
        found.append(Text(f"{SUPPRESSED} muted {', '.join(alert.muted_by)}", muted))
    if alert.suppressed and not found:
        found.append(Text(f"{SUPPRESSED} suppressed", muted))
    if alert.acknowledged_by:
        who = alert.acknowledged_by.partition("@")[0]
        found.append(Text(f"{ACKED} ack {who}", palette.style("info")))
    if alert.flapping:
        found.append(Text(FLAPPING, palette.style("warning")))
    return found


def joined(parts: Sequence[Text], separator: str = " · ") -> Text:
    return Text(separator).join(parts)


def since_text(at: float, now: float) -> str:
    """Clock time of ``at``; with the date when it is 20 hours ago or more, or on a later day
    (a silence until tomorrow 02:00)."""
    later_day = at > now and time.localtime(at)[:3] != time.localtime(now)[:3]
    if now - at >= 20 * 3600 or later_day:
        return time.strftime("%b %d %H:%M", time.localtime(at))
    return clock_time(at)


def since_cell(at: float, now: float) -> str:
    """``22:08 (5m)``: when it entered its state, and how long ago (changes once a minute)."""
    clock = time.strftime("%b %d %H:%M" if now - at >= 20 * 3600 else "%H:%M", time.localtime(at))
    return f"{clock} ({age(now - at)})"


def available(action: str, alert: Alert | None, read_only: bool) -> bool | None:
    """For ``check_action``: False hides a key (writes under ``--read-only``), None shows it
    disabled (nothing to do for this alert), True enables it."""
    if action in WRITES and read_only:
        return False
    if action not in (*WRITES, "runbook"):
        return True
    if alert is None:
        return None
    if action == "acknowledge":
        usable = alert.state != "resolved"
    elif action == "silence":
        usable = alert.source_kind == "alertmanager" and alert.state != "resolved"
    elif action == "expire":
        usable = bool(alert.silenced_by)
    else:
        usable = bool(alert.runbook or alert.runbook_url)
    return True if usable else None


def differing_labels(alerts: Sequence[Alert]) -> dict[str, str]:
    """For alerts sharing a name: by key, the labels whose values tell them apart."""
    if len(alerts) < 2:
        return {}
    names = sorted({name for alert in alerts for name in alert.labels} - {"alertname"})
    differing = [name for name in names if len({alert.labels.get(name) for alert in alerts}) > 1]
    differing = differing[:LABELS_SHOWN]
    return {
        alert.key: single_line(
            " ".join(f"{name}={alert.labels[name]}" for name in differing if name in alert.labels),
            LABELS_WIDTH,
        )
        for alert in alerts
    }


# --- the table -------------------------------------------------------------------------
class AlertTable(KeyedTable):
    """A keyed table where ``→`` opens the group under the cursor and ``←`` closes it
    (elsewhere they scroll sideways, as in any table)."""

    class Fold(Message):
        def __init__(self, group: str, open: bool) -> None:
            super().__init__()
            self.group = group
            self.open = open

    def __init__(self, columns: Sequence[ColumnSpec], *, id: str | None = None) -> None:
        super().__init__(columns, id=id)
        self.groups: dict[str, str] = {}
        """Row key -> key of the group row it belongs to (group rows map to themselves)."""

    def action_cursor_right(self) -> None:
        key = self.highlighted_key
        if key is not None and key.startswith(GROUP):
            self.post_message(self.Fold(key, True))
        else:
            super().action_cursor_right()

    def action_cursor_left(self) -> None:
        group = self.groups.get(self.highlighted_key or "")
        if group is not None:
            self.post_message(self.Fold(group, False))
        else:
            super().action_cursor_left()


class AlertsPane(Pane):
    DEFAULT_CSS = """
    AlertsPane .empty { height: auto; padding: 0 1; }
    AlertsPane .sources { height: auto; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "ack"),
        Binding("s", "silence", "silence"),
        Binding("x", "expire", "expire silence"),
        Binding("o", "runbook", "runbook"),
    ]

    class Wanted(Message):
        """The operator wants something done with ``alert``."""

        def __init__(self, alert: Alert) -> None:
            super().__init__()
            self.alert = alert

    class DetailWanted(Wanted):
        """``enter``: labels, annotations, links, silences, history."""

    class AckWanted(Wanted):
        """``a``: acknowledge it locally, or take the acknowledgement back."""

    class SilenceWanted(Wanted):
        """``s``: silence it in its Alertmanager."""

    class ExpireWanted(Wanted):
        """``x``: expire the silences that silence it."""

    class RunbookWanted(Wanted):
        """``o``: open its runbook."""

    NOT_CONFIGURED = (
        "No alert rules or alert sources in this config: nothing here can fire. Add rules "
        "under `alerts:` `rules:` (README: Alerts)."
    )

    def __init__(
        self, sources: Sequence[SourceState] = (), *, read_only: bool = False, rules: bool = True
    ) -> None:
        super().__init__(4, "Alerts", id="alerts")
        self.read_only = read_only
        self.configured = rules or bool(sources)
        """Whether anything can fire: rules, or an Alertmanager or Prometheus to read."""
        self.alerts: tuple[Alert, ...] = ()
        self.sources: dict[str, SourceState] = {state.name: state for state in sources}
        self.expanded: set[str] = set()
        self.rows: dict[str, Alert | Group] = {}
        self.empty_text = Text()
        self.keys_state: tuple[bool | None, ...] = ()
        self.ages_change_at = 0.0
        """When the first of the shown ages (``(5m)``) changes."""

    def compose(self) -> ComposeResult:
        yield TextBlock(classes="sources", id="alerts-sources")
        yield AlertTable(COLUMNS, id="alerts-table")
        yield Static(classes="empty", id="alerts-empty")

    @property
    def focus_target(self) -> AlertTable:
        return self.query_one(AlertTable)

    # --- data ------------------------------------------------------------------------
    def update_alerts(self, alerts: Sequence[Alert], now: float) -> None:
        """The engine's alerts; sorted again (a no-op on its order) so any producer's are.

        Drawn at once when an alert comes, goes or changes (state, silence, ack); a new value or
        summary of the same alerts waits for the next tick (rules are evaluated after each
        poll, so drawing each evaluation repainted the pane several times a second)."""
        news = _standing(alerts) != _standing(self.alerts)
        self.alerts = sort_alerts(alerts)
        self.now = now
        self.undrawn = True
        if news:
            self.refresh_view()

    def tick(self, now: float, paused: bool, *, figures: bool = True) -> None:
        """Ages change once a minute per alert: one that is due is a figure, drawn by the
        figures tick (each alert's minute drew a frame of its own)."""
        if now >= self.ages_change_at:
            self.undrawn = True
        super().tick(now, paused, figures=figures)

    def clock_bound(self) -> bool:
        """A failing source counts down to its retry."""
        return bool(self.failing())

    def update_source(self, state: SourceState, now: float) -> None:
        """An external alert source (Alertmanager, Prometheus) polled, or failed to: drawn at
        once when it is news (``news``), else by the next figures tick, as the alerts are (a
        poll between two ticks drew the alerts' newest values early, a repaint every poll)."""
        previous = self.sources.get(state.name)
        self.sources[state.name] = state
        self.now = now
        self.undrawn = True
        if news(previous, state):
            self.refresh_view()

    def firing(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.state == "firing"]

    def failing(self) -> list[SourceState]:
        return [state for state in self.sources.values() if state.error is not None]

    def badge(self) -> Text:
        """What notifies, as ``check`` counts it: firing alerts under a maintenance window,
        a silence or an inhibition show apart (◌ N), not as the pane's status."""
        firing = self.firing()
        notifying = [alert for alert in firing if not alert.suppressed]
        if notifying:
            status = self.worst_severity(notifying)
            return Text(f"{GLYPHS[status]} {len(notifying)}", style=self.palette.style(status))
        if firing:
            return Text(f"{SUPPRESSED} {len(firing)}", style=self.palette.style("muted"))
        return Text(GLYPHS["ok"], style=self.palette.style("ok"))

    @staticmethod
    def worst_severity(alerts: Sequence[Alert]) -> str:
        best = min(alerts, key=lambda alert: SEVERITY_ORDER.get(alert.severity, 3))
        return severity_status(best)

    @property
    def highlighted(self) -> Alert | None:
        """The alert under the cursor (``None`` on a group row or an empty table)."""
        row = self.rows.get(self.focus_target.highlighted_key or "")
        return row if isinstance(row, Alert) else None

    # --- drawing ---------------------------------------------------------------------
    def redraw(self) -> None:
        palette = self.palette
        table = self.focus_target
        self.rows = self.arranged()
        table.groups = {}
        cells: dict[str, tuple[Text | str, ...]] = {}
        labels = self.labels_by_key()
        for key, row in self.rows.items():
            if isinstance(row, Group):
                table.groups[key] = key
                cells[key] = self.group_cells(row, palette)
            else:
                member = row.name in self.expanded
                if member:
                    table.groups[key] = GROUP + row.name
                cells[key] = self.alert_cells(row, palette, labels.get(key, ""), member)
        table.sync(cells, arranged=True)
        self.ages_change_at = min(
            (_next_minute(alert.since, self.now) for alert in self.alerts), default=math.inf
        )
        self.show_empty(not cells)
        self.show_sources()
        self.show_problem(bool(self.failing()), self.subtitle())
        self.update_keys()

    def arranged(self) -> dict[str, Alert | Group]:
        """Row key -> alert or group, in the engine's order; a group sits where its first
        alert would, its alerts under it while it is open."""
        counts = Counter(alert.name for alert in self.alerts)
        members: dict[str, list[Alert]] = {}
        for alert in self.alerts:
            if counts[alert.name] > GROUP_OVER:
                members.setdefault(alert.name, []).append(alert)
        self.expanded &= members.keys()
        rows: dict[str, Alert | Group] = {}
        for alert in self.alerts:
            if alert.name not in members:
                rows[alert.key] = alert
                continue
            group = Group(alert.name, tuple(members[alert.name]))
            if group.key in rows:
                continue
            rows[group.key] = group
            if group.name in self.expanded:
                rows.update((member.key, member) for member in group.alerts)
        return rows

    def labels_by_key(self) -> dict[str, str]:
        by_name: dict[str, list[Alert]] = {}
        for alert in self.alerts:
            by_name.setdefault(alert.name, []).append(alert)
        labels: dict[str, str] = {}
        for alerts in by_name.values():
            labels.update(differing_labels(alerts))
        return labels

    def alert_cells(
        self, alert: Alert, palette: Palette, labels: str, member: bool
    ) -> tuple[Text | str, ...]:
        plain = palette.style("muted") if alert.state == "resolved" else ""
        if member:
            name = Text(f"  └ {labels or alert.name}")
        else:
            name = Text(alert.name)
            if labels:
                name.append(f" {labels}", palette.style("muted"))
        summary = Text(single_line(alert.summary, SUMMARY_WIDTH), style=plain)
        return (
            severity_cell(alert, palette),
            Text(alert.state, style=plain),
            name,
            since_cell(alert.since, self.now),
            self.source_cell(alert.source, palette),
            joined([*badges(alert, palette), summary]),
        )

    def group_cells(self, group: Group, palette: Palette) -> tuple[Text | str, ...]:
        first = group.alerts[0]
        leading = [alert for alert in group.alerts if alert.state == first.state]
        worst = min(leading, key=lambda alert: SEVERITY_ORDER.get(alert.severity, 3))
        earliest = min(alert.since for alert in leading)
        states = Counter(alert.state for alert in group.alerts)
        parts = [Text(f"{states[state]} {state}") for state in STATE_ORDER if states[state]]
        suppressed = sum(1 for alert in group.alerts if alert.suppressed)
        acked = sum(1 for alert in group.alerts if alert.acknowledged)
        if suppressed:
            parts.append(Text(f"{SUPPRESSED} {suppressed} suppressed", palette.style("muted")))
        if acked:
            parts.append(Text(f"{ACKED} {acked} acknowledged", palette.style("info")))
        fold = "▾" if group.name in self.expanded else "▸"
        sources = ", ".join(dict.fromkeys(alert.source for alert in group.alerts))
        return (
            severity_cell(worst, palette),
            Text(first.state),
            Text(f"{fold} {group.name} ×{len(group.alerts)}", style="bold"),  # noqa: RUF001
            since_cell(earliest, self.now),
            sources,
            joined(parts),
        )

    def source_cell(self, source: str, palette: Palette) -> Text:
        """The source's name, marked stale while its last poll failed (its alerts are the last
        ones it gave)."""
        state = self.sources.get(source)
        if state is not None and state.error is not None:
            return Text(f"{STALE} {source}", style=palette.style("critical"))
        return Text(source)

    def show_empty(self, empty: bool) -> None:
        widget = self.query_one("#alerts-empty", Static)
        widget.display = empty
        text = self.palette.status("ok", "no alerts")
        if not self.configured:
            text.append_text(self.palette.muted(f"\n{self.NOT_CONFIGURED}"))
        if empty and not same(text, self.empty_text):
            self.empty_text = text
            widget.update(text)

    def show_sources(self) -> None:
        """One line per failing alert source: what failed and when it is tried again."""
        widget = self.query_one("#alerts-sources", TextBlock)
        failing = self.failing()
        widget.display = bool(failing)
        style = self.palette.style("critical")
        if failing:
            widget.show(
                Text("\n").join(
                    Text(
                        f"{STALE if state.stale else GLYPHS['critical']} {state.name} "
                        f"({state.kind}): {problem(state, self.now, self.paused)}",
                        style=style,
                    )
                    for state in failing
                )
            )

    def subtitle(self) -> Text:
        palette = self.palette
        parts: list[Text] = []
        for state in ("firing", "pending", "resolved"):
            matching = [alert for alert in self.alerts if alert.state == state]
            if not matching:
                continue
            if state == "resolved":
                parts.append(Text(f"{len(matching)} resolved", palette.style("muted")))
            else:
                status = self.worst_severity(matching)
                parts.append(
                    Text(f"{GLYPHS[status]} {len(matching)} {state}", palette.style(status))
                )
        failing = self.failing()
        if len(failing) == 1:
            marker = STALE if failing[0].stale else GLYPHS["critical"]
            parts.append(Text(f"{marker} {failing[0].name} unreachable", palette.style("critical")))
        elif failing:
            failed = f"{GLYPHS['critical']} {len(failing)} alert sources failing"
            parts.append(Text(failed, palette.style("critical")))
        return joined(parts)

    # --- keys ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return available(action, self.highlighted, self.read_only)

    def update_keys(self) -> None:
        """Tell the footer when what the keys can do changed (not on every redraw: a footer
        refresh redraws it)."""
        state = tuple(available(action, self.highlighted, self.read_only) for action in WRITES)
        state += (available("runbook", self.highlighted, self.read_only),)
        if state != self.keys_state:
            self.keys_state = state
            self.refresh_bindings()

    @on(DataTable.RowHighlighted, "#alerts-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.update_keys()

    @on(DataTable.RowSelected, "#alerts-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.rows.get(event.row_key.value or "")
        if isinstance(row, Group):
            self.fold(row.key, row.name not in self.expanded)
        elif row is not None:
            self.post_message(self.DetailWanted(row))

    @on(AlertTable.Fold)
    def _fold(self, event: AlertTable.Fold) -> None:
        event.stop()
        self.fold(event.group, event.open)

    def fold(self, group: str, open: bool) -> None:
        """Open or close a group; closing puts the cursor on the group row."""
        name = group.removeprefix(GROUP)
        if open:
            self.expanded.add(name)
        else:
            self.expanded.discard(name)
        self.redraw()
        table = self.focus_target
        if not open and group in table.rows:
            table.move_cursor(row=table.get_row_index(group), animate=False)

    def _want(self, message: type[Wanted]) -> None:
        alert = self.highlighted
        if alert is not None:
            self.post_message(message(alert))

    def action_acknowledge(self) -> None:
        self._want(self.AckWanted)

    def action_silence(self) -> None:
        self._want(self.SilenceWanted)

    def action_expire(self) -> None:
        self._want(self.ExpireWanted)

    def action_runbook(self) -> None:
        self._want(self.RunbookWanted)


def _standing(alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts without their figures (value, summary, description, and the annotations a
    rule renders them into): what is news."""
    return sorted(
        (
            replace(alert, value=None, summary="", description="", annotations={})
            for alert in alerts
        ),
        key=lambda alert: alert.key,
    )


def _next_minute(since: float, now: float) -> float:
    """When the age of something that began at ``since`` next shows another minute."""
    return since + (math.floor((now - since) / 60) + 1) * 60
