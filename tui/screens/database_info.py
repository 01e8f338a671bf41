"""One database in breadth: who is connected, what the role may do, replication, custom
metrics, and the figures too costly to poll (sizes, top statements), fetched on opening.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.style import StyleType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.engine.errors import describe
from tui.engine.printable import printable
from tui.engine.samples import Counts, DatabaseSample
from tui.engine.state import SourceState
from tui.engine.units import format_duration
from widgets.db_summary import byte_size
from widgets.status import GLYPHS, NO_DATA, clock_time, number, single_line
from widgets.table import as_text

if TYPE_CHECKING:  # at run time pg_ondemand would import psycopg with the console
    from typing import TypeAlias

    from tui.engine.sources.pg_ondemand import DatabaseSize, TopStatement

    Sizes: TypeAlias = Callable[[], Awaitable[Sequence[DatabaseSize]]]
    Statements: TypeAlias = Callable[[], Awaitable[Sequence[TopStatement]]]


class DatabaseInfoScreen(Screen[None]):
    DEFAULT_CSS = """
    DatabaseInfoScreen VerticalScroll { padding: 0 1; }
    DatabaseInfoScreen .heading { text-style: bold underline; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "back"),
        Binding("q", "close", "back", show=False),
        Binding("S", "fetch", "fetch sizes again"),
    ]

    def __init__(self, state: SourceState, sizes: Sizes, statements: Statements) -> None:
        super().__init__()
        self.state = state
        self.sizes = sizes
        self.statements = statements

    def compose(self) -> ComposeResult:
        sample = self.state.sample if isinstance(self.state.sample, DatabaseSample) else None
        with VerticalScroll():
            yield Static(Text(f"{self.state.name} · as of {clock_time(self.state.last_success)}"))
            yield from _section("Connections", _breakdown(sample))
            yield from _section("Role and features", _capabilities(sample))
            yield from _section("Replication", _replication(sample))
            yield from _section("Custom metrics", _metrics(sample))
            yield from _section("Database sizes", Text("fetching…"), id="sizes")
            yield from _section("Top statements by total time", Text("fetching…"), id="statements")
        yield Footer()

    def on_mount(self) -> None:
        self.action_fetch()

    def action_fetch(self) -> None:
        self.fetch_sizes()
        self.fetch_statements()

    @work(exclusive=True, group="sizes")
    async def fetch_sizes(self) -> None:
        try:
            sizes = await self.sizes()
        except Exception as exc:
            self.show("sizes", _unavailable(exc))
            return
        table = _table("database", "size")
        for size in sizes:
            table.add_row(
                size.name, byte_size(size.bytes) if size.bytes is not None else "no access"
            )
        self.show("sizes", table)

    @work(exclusive=True, group="statements")
    async def fetch_statements(self) -> None:
        try:
            statements = await self.statements()
        except Exception as exc:
            self.show("statements", _unavailable(exc))
            return
        table = _table("total", "calls", "mean", "rows", "user", "query")
        for row in statements:
            table.add_row(
                format_duration(row.total_ms / 1000),
                f"{row.calls:,}",
                format_duration(row.mean_ms / 1000),
                f"{row.rows:,}",
                row.user or NO_DATA,
                single_line(row.query, 80),
            )
        self.show("statements", table if statements else Text("no statements recorded yet"))

    def show(self, section: str, renderable: RenderableType) -> None:
        if self.is_mounted:
            self.query_one(f"#{section}", Static).update(renderable)

    def action_close(self) -> None:
        self.dismiss()


def _unavailable(exc: Exception) -> Text:
    # The server's message may quote names or data: never a terminal control.
    return Text(f"{GLYPHS['unknown']} unavailable: {printable(describe(exc))}")


def _section(title: str, body: RenderableType, *, id: str | None = None) -> ComposeResult:
    yield Static(title, classes="heading")
    yield Static(body, id=id)


class _PlainTable(Table):
    """A Rich Table whose str cells are text, never markup (see ``as_text``): database, role,
    application and client names and queries come from the server."""

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        super().add_row(*map(as_text, renderables), style=style, end_section=end_section)


def _table(*columns: str) -> Table:
    table = _PlainTable(box=None, show_edge=False, pad_edge=False, header_style="dim")
    for column in columns:
        table.add_column(column, no_wrap=column != "query")
    return table


def _breakdown(sample: DatabaseSample | None) -> RenderableType:
    if sample is None:
        return Text(NO_DATA)
    conns = sample.connections
    groups: tuple[tuple[str, Counts], ...] = (
        ("database", conns.by_database),
        ("user", conns.by_user),
        ("application", conns.by_application),
        ("client", conns.by_client),
    )
    table = _table(*(label for label, _ in groups))
    for index in range(max((len(counts) for _, counts in groups), default=0)):
        table.add_row(*(_count(counts, index) for _, counts in groups))
    head = Text(
        f"{conns.total} client sessions of {sample.usable_connections} usable"
        f" ({sample.max_connections} max_connections - {sample.reserved_connections} reserved)"
    )
    return Group(head, table)


def _count(counts: Counts, index: int) -> str:
    if index >= len(counts):
        return ""
    name, sessions = counts[index]
    return f"{sessions:>4}  {name or '(none)'}"


def _capabilities(sample: DatabaseSample | None) -> RenderableType:
    if sample is None:
        return Text(NO_DATA)
    caps = sample.capabilities
    lines = [
        f"role {caps.user}{' (superuser)' if caps.superuser else ''}",
        f"{_yes(caps.read_all_stats)} sees every session (pg_read_all_stats / pg_monitor)",
        f"{_yes(caps.signal_backend)} may signal other roles' sessions (pg_signal_backend)",
        f"{_yes(caps.statements)} top statements (pg_stat_statements)",
    ]
    lines += [f"{GLYPHS['warning']} {reason}" for reason in caps.reasons]
    return Text("\n".join(lines))


def _yes(flag: bool) -> str:
    return f"{GLYPHS['ok']} yes" if flag else f"{GLYPHS['critical']} no "


def _replication(sample: DatabaseSample | None) -> RenderableType:
    if sample is None:
        return Text(NO_DATA)
    if sample.in_recovery:
        return Text(
            f"standby: replay lag {format_duration(sample.standby_lag_s)},"
            f" {byte_size(sample.standby_lag_bytes)} received and not replayed"
        )
    if not sample.replicas:
        return Text("primary with no standby streaming from it")
    table = _table("standby", "client", "state", "sync", "lag", "behind")
    for replica in sample.replicas:
        table.add_row(
            replica.name,
            replica.client or NO_DATA,
            replica.state or NO_DATA,
            replica.sync_state or NO_DATA,
            format_duration(replica.replay_lag_s),
            byte_size(replica.lag_bytes),
        )
    return table


def _metrics(sample: DatabaseSample | None) -> RenderableType:
    if sample is None or not sample.custom_metrics:
        return Text("none configured")
    table = _table("name", "value", "took", "at", "error")
    for metric in sample.custom_metrics:
        took = (
            format_duration(metric.duration_ms / 1000) if metric.duration_ms is not None else None
        )
        table.add_row(
            metric.name,
            number(metric.value),
            took or NO_DATA,
            clock_time(metric.at),
            metric.error or "",
        )
    return table
