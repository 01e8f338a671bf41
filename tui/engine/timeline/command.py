"""``watchdeck timeline export|show``: the timeline of the state dir, without the console."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TextIO

from tui.engine.errors import os_reason
from tui.engine.timeline.export import gather, render_json, render_markdown, show_lines
from tui.engine.timeline.store import TimelineStore
from tui.engine.units import parse_duration


def parse_time(text: str, now: float) -> float:
    """A duration ago (``30m``, ``2h``, ``1d``) or an ISO time (``2026-03-04T13:00``, local
    unless it names its zone); raises ValueError with what is expected."""
    value = text.strip()
    if value.endswith(("ms", "s", "m", "h", "d")):
        try:
            return now - parse_duration(value)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"expected a duration ago like 30m, 2h, 1d or a time like 2026-03-04T13:00, "
            f"got {text!r}"
        ) from None
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def _window(args: argparse.Namespace, now: float) -> tuple[float, float]:
    since = parse_time(args.since, now)
    until = parse_time(args.until, now) if args.until else now
    if until <= since:
        raise ValueError(f"--until ({args.until}) is not after --since ({args.since})")
    return since, until


def _who() -> str:
    from tui.engine.journal import identity

    who = identity()
    return f"{who['user']}@{who['host']}"


def main(
    args: argparse.Namespace,
    state_dir: Path,
    config: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    tz: tzinfo | None = None,
    now: float | None = None,
) -> int:
    """``tz`` ``None``: this machine's local time, each time with the offset it had then."""
    out, err = out or sys.stdout, err or sys.stderr
    now = time.time() if now is None else now
    try:
        since, until = _window(args, now)
    except ValueError as exc:
        print(f"watchdeck timeline: {exc}", file=err)
        return 2
    store = TimelineStore(state_dir)
    if not store.path.exists() and not store.rotated.exists():
        print(
            f"watchdeck timeline: no timeline in {state_dir} yet (the console and "
            "`watchdeck check` record it there; see --state-dir)",
            file=err,
        )
        return 1
    if args.timeline_command == "show":
        entries = store.read(since, until)
        for problem in store.read_problems:
            print(f"watchdeck timeline: {problem}", file=err)
        print("\n".join(show_lines(entries, tz)) or "nothing recorded in this window", file=out)
        return 1 if store.read_problems else 0
    export = gather(store, state_dir, since, until, tz=tz, config=config)
    for problem in store.read_problems:
        print(f"watchdeck timeline: {problem}", file=err)
    if args.format == "json":
        text = json.dumps(render_json(export), indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_markdown(export, exported_by=_who(), exported_at=now)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            reason = os_reason(exc)
            print(f"watchdeck timeline: cannot write {args.output}: {reason}", file=err)
            return 1
        print(f"wrote {args.output}: {len(export.entries)} entries", file=err)
    else:
        out.write(text)
    return 1 if store.read_problems else 0
