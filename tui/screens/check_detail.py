"""One check in full: its stats, conditions with actual values, response headers, body,
certificate chain and last results. Live: the app hands it every update of its check."""

from __future__ import annotations

import json
import time

from rich.highlighter import JSONHighlighter
from rich.text import Text

from tui.engine.config import Check
from tui.engine.derived import CheckStats
from tui.engine.errors import redact
from tui.engine.samples import CertInfo, CheckSample, ConditionResult
from tui.engine.state import SourceState, State
from tui.engine.units import format_duration
from tui.screens.detail import Section, SourceDetailScreen, ago
from widgets.health import FLAPPING, cert_days, milliseconds
from widgets.status import GLYPHS, NO_DATA, Palette, clock_time

BODY_LINES = 40
"""Lines of the body excerpt shown; the rest is counted, not shown."""
CODES_LOOKED_AT = 200
"""Newest points of the status-code series searched for the codes of the last results."""
CONDITION_GLYPHS: dict[bool | None, str] = {True: "✔", False: "✖", None: "?"}
DAY = 86_400.0


class CheckDetailScreen(SourceDetailScreen):
    SECTIONS = ("stats", "conditions", "headers", "body", "chain", "results")
    HEADER_ID = "check-header"

    def __init__(
        self,
        state: SourceState,
        history: State,
        *,
        check: Check | None,
        now: float,
        paused: bool = False,
    ) -> None:
        super().__init__(state, history, now=now, paused=paused)
        self.check = check

    def content(self, palette: Palette) -> tuple[Text, dict[str, Section]]:
        stats = self.history.check_stats(self.state.name, self.now)
        sample = self.state.sample if isinstance(self.state.sample, CheckSample) else None
        return self.header(sample, stats, palette), {
            "stats": stats_section(stats, self.now, palette),
            "conditions": conditions_section(self.state, sample, palette),
            "headers": headers_section(sample, palette),
            "body": body_section(sample, palette),
            "chain": chain_section(sample, self.now, palette),
            "results": results_section(stats, self.status_codes(), palette),
        }

    def header(
        self, sample: CheckSample | None, stats: CheckStats | None, palette: Palette
    ) -> Text:
        state = self.state
        text = palette.source(state)
        if stats is not None and stats.flapping:
            text.append(f" {FLAPPING}", palette.style("warning"))
        text.append("  ")
        text.append(state.name, "bold")
        text.append(f" · {state.kind}")
        where = target(self.check)
        if where:
            text.append(f" · {where}")
        reading = Text()
        if sample is not None:
            reading.append(f" · {milliseconds(sample.latency_ms)}")
            if sample.http_status is not None:
                reading.append(f" · HTTP {sample.http_status}")
            if sample.error:
                reading.append(" · ")
                reading.append(sample.error, palette.style(sample.status))
        text.append("\n")
        return text.append_text(self.last_poll(reading, palette))

    def status_codes(self) -> dict[float, int]:
        """HTTP codes of recent polls by time, from the check's ``http_status`` series."""
        series = self.history.series.get(f"check.{self.state.name}.http_status")
        if series is None:
            return {}
        points = list(series.points)[-CODES_LOOKED_AT:]
        return {at: int(value) for at, value in points}


def target(check: Check | None) -> str:
    """``GET https://host/health``, ``host:443`` or ``[2001:db8::5]:5432``, with any
    password in it masked."""
    if check is None:
        return ""
    if check.kind == "http" and check.url:
        return redact(f"{check.method} {check.url}")
    host = check.host or ""
    if check.port is None:
        where = host
    else:
        bare = host.removeprefix("[").removesuffix("]")  # a host may be written bracketed
        where = f"[{bare}]:{check.port}" if ":" in bare else f"{bare}:{check.port}"
    if check.server_name:
        where += f" (SNI {check.server_name})"
    return where


def percent(fraction: float | None) -> str:
    return NO_DATA if fraction is None else f"{fraction * 100:.1f}%"


def stats_section(stats: CheckStats | None, now: float, palette: Palette) -> Section:
    if stats is None:
        return Section("stats", note=palette.muted("no polls yet"))
    window = format_duration(stats.window_s).removesuffix("00s").removesuffix("00m")
    title = f"stats · last {window} · {stats.polls} polls"
    failures = Text(str(stats.consecutive_failures))
    if stats.consecutive_failures:
        failures.stylize(palette.style("critical"))
    changed = (
        Text(NO_DATA)
        if stats.last_change_at is None
        else Text(f"{clock_time(stats.last_change_at)} ({ago(now, stats.last_change_at)})")
    )
    flapping = Text(FLAPPING, palette.style("warning")) if stats.flapping else Text("no")
    rows = (
        (
            Text("latency"),
            Text(
                f"last {milliseconds(stats.last_latency_ms)} · p50 {milliseconds(stats.p50_ms)}"
                f" · p95 {milliseconds(stats.p95_ms)}"
            ),
        ),
        (
            Text("error rate"),
            Text(f"{percent(stats.error_rate)} · uptime {percent(stats.uptime)}"),
        ),
        (Text("consecutive failures"), failures),
        (Text("last change"), changed),
        (Text("flapping"), flapping),
    )
    return Section(title, rows)


def conditions_section(state: SourceState, sample: CheckSample | None, palette: Palette) -> Section:
    title = "conditions"
    if sample is not None and state.error is not None:
        title += f" · as of the last good poll at {clock_time(sample.at)}"
    if sample is None:
        return Section(title, note=palette.muted("no result yet"))
    if not sample.conditions:
        return Section(title, note=palette.muted("none configured: up means it answered"))
    rows = tuple(condition_row(condition, palette) for condition in sample.conditions)
    return Section(title, rows, ("", "condition", "actual"))


def condition_row(condition: ConditionResult, palette: Palette) -> tuple[Text, ...]:
    status = {True: "ok", False: "critical", None: "unknown"}[condition.ok]
    style = palette.style(status)
    return (
        Text(CONDITION_GLYPHS[condition.ok], style),
        Text(condition.text),
        Text(condition.actual, style if condition.ok is not True else ""),
    )


def headers_section(sample: CheckSample | None, palette: Palette) -> Section:
    if sample is None or not sample.headers:
        return Section("response headers", note=palette.muted("none"))
    rows = tuple((Text(name, "bold"), Text(value)) for name, value in sample.headers)
    return Section(f"response headers · {len(rows)}", rows)


def body_section(sample: CheckSample | None, palette: Palette) -> Section:
    if sample is None or sample.body_excerpt is None:
        return Section("body", note=palette.muted("none"))
    title = "body"
    if sample.body_bytes is not None:
        title += f" · {size(sample.body_bytes)}"
    text, is_json = pretty_body(sample.body_excerpt)
    if is_json:
        title += " · JSON"
    if sample.body_truncated and sample.body_bytes is not None:
        text.append("\n")
        text.append_text(palette.muted(f"(truncated at {size(sample.body_bytes)})"))
    return Section(title, ((text,),))


def pretty_body(excerpt: str) -> tuple[Text, bool]:
    """The excerpt indented when it is JSON (highlighted), capped at ``BODY_LINES`` lines."""
    try:
        lines = json.dumps(json.loads(excerpt), indent=2, ensure_ascii=False).splitlines()
        is_json = True
    except ValueError:
        lines = excerpt.splitlines()
        is_json = False
    text = Text("\n".join(lines[:BODY_LINES]))
    if is_json:
        JSONHighlighter().highlight(text)
    if len(lines) > BODY_LINES:
        text.append(f"\n… {len(lines) - BODY_LINES} more lines", "dim")
    return text, is_json


def size(count: int) -> str:
    return f"{count} B" if count < 1024 else f"{count / 1024:.0f} KiB"


def chain_section(sample: CheckSample | None, now: float, palette: Palette) -> Section:
    if sample is None or not sample.cert_chain:
        return Section("certificate chain", note=palette.muted("none (no TLS)"))
    chain = sample.cert_chain
    earliest = min(range(len(chain)), key=lambda index: chain[index].not_after)
    rows = tuple(
        cert_row(index, cert, index == earliest, now, palette) for index, cert in enumerate(chain)
    )
    sans = chain[0].sans
    note = Text(f"leaf names: {', '.join(sans)}") if sans else None
    title = f"certificate chain · {len(chain)} certificate{'s' if len(chain) != 1 else ''}"
    return Section(title, rows, ("", "subject", "issuer", "expires", "left"), note)


def cert_row(
    index: int, cert: CertInfo, earliest: bool, now: float, palette: Palette
) -> tuple[Text, ...]:
    left = cert_days((cert.not_after - now) / DAY, palette)
    if earliest:
        left.append("  ◀ earliest", "bold")
    return (
        Text("leaf" if index == 0 else f"#{index}"),
        Text(cert.subject),
        Text(cert.issuer),
        Text(time.strftime("%Y-%m-%d %H:%M", time.localtime(cert.not_after))),
        left,
    )


def results_section(stats: CheckStats | None, codes: dict[float, int], palette: Palette) -> Section:
    if stats is None or not stats.recent:
        return Section("last results", note=palette.muted("no polls yet"))
    rows = tuple(
        (
            Text(clock_time(result.at)),
            Text(f"{GLYPHS['ok']} up", palette.style("ok"))
            if result.up
            else Text(f"{GLYPHS['critical']} down", palette.style("critical")),
            Text(str(codes[result.at]) if result.at in codes else NO_DATA),
            Text(milliseconds(result.latency_ms)),
        )
        for result in reversed(stats.recent)
    )
    return Section(
        f"last results · {len(rows)}, newest first", rows, ("time", "result", "code", "latency")
    )
