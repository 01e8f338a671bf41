"""A run as Markdown, for the change record: who, where, what ran, how each step ended."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tui.engine.runbooks.run import Run, StepState
from tui.engine.runbooks.variables import shown
from tui.engine.units import format_duration

GLYPHS = {
    "ok": "✓",
    "failed": "✗",
    "skipped": "↷",
    "done-manual": "☑",
    "pending": "☐",
    "interrupted": "⚠",
    "running": "…",
}
LABELS = {"done-manual": "done", "pending": "not done"}


def when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def who(entry: dict) -> str:
    place = f"{entry.get('user') or '?'}@{entry.get('host') or '?'}"
    ssh = entry.get("ssh_connection")
    return f"{place} (ssh from {str(ssh).split()[0]})" if ssh else place


def fenced(text: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def status_line(state: StepState, kind: str) -> str:
    parts = [kind, LABELS.get(state.status, state.status)]
    if state.message:
        parts.append(state.message)
    elif state.duration is not None:
        parts.append(format_duration(state.duration))
    if state.attempts > 1:
        parts.append(f"attempt {state.attempts}")
    return " · ".join(parts)


def render_report(run: Run) -> str:
    mask = run.masker()
    runbook = run.runbook
    counts = run.counts()
    lines = [
        f"# Runbook run: {runbook.title}",
        "",
        f"- **Runbook:** `{runbook.name}`, {run.source} (sha256 `{runbook.sha256[:16]}`)",
        f"- **Run:** `{run.id}`",
        f"- **Started:** {when(run.started_at)} by {who(run.who)}",
    ]
    lines.extend(f"- **Resumed:** {when(entry.get('at'))} by {who(entry)}" for entry in run.resumed)
    lines.append(f"- **Closed:** {when(run.closed_at)}" if run.closed_at else "- **Open:** yes")
    window = run.window_status(run.closed_at)
    if window is not None:
        planned, elapsed, overrun = window
        verdict = f", overran by {format_duration(elapsed - planned)}" if overrun else ""
        lines.append(
            f"- **Window:** {format_duration(planned)} planned, "
            f"{format_duration(elapsed)} elapsed{verdict}"
        )
    summary = ", ".join(f"{count} {LABELS.get(name, name)}" for name, count in counts.items())
    lines += [f"- **Steps:** {summary}", ""]
    values = shown(runbook, run.values)
    for name in run.secrets_given:
        values.setdefault(name, "***")
    if values:
        lines += ["## Variables", "", "| Variable | Value |", "|---|---|"]
        for name, value in values.items():
            cell = mask(value).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{name}` | `{cell}` |")
        lines.append("")
    lines += ["## Steps", ""]
    for step, state in zip(runbook.steps, run.steps, strict=True):
        glyph = GLYPHS.get(state.status, "?")
        lines += [f"### {step.index}. {glyph} {step.title}", ""]
        kind = step.language or step.kind
        lines += [mask(status_line(state, kind)), ""]
        if step.kind == "manual":
            if step.text != step.title:
                lines += [step.text, ""]
            continue
        command = state.command or step.code
        lines += [fenced(mask(command), step.language), ""]
        if state.excerpt:
            size = f"{state.output_bytes:,} bytes" if state.output_bytes is not None else "output"
            where = f"; all of it in `{state.output_file}`" if state.output_file else ""
            lines += [f"Output ({size}{where}):", "", fenced(mask(state.excerpt), "text"), ""]
    return "\n".join(lines).rstrip() + "\n"
