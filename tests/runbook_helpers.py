"""Shared set-up for the runbook tests: an executor on a temporary state dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui.engine.actions import ActionRunner
from tui.engine.config import Config
from tui.engine.journal import Journal
from tui.engine.loader import load_config_text
from tui.engine.runbooks.executor import RunbookExecutor
from tui.engine.runbooks.model import Runbook
from tui.engine.runbooks.parse import parse


def config(text: str = "") -> Config:
    return load_config_text(text or "{}\n", "test.yaml")


def executor(
    state: Path, cfg: Config | None = None, *, read_only: bool = False, grace: float = 0.5
) -> RunbookExecutor:
    actions = ActionRunner(Journal(state / "journal.jsonl"), read_only=read_only)
    return RunbookExecutor(
        cfg or config(), actions, state_dir=state, base_dir=state, kill_grace=grace
    )


def runbook(tmp: Path, text: str, name: str = "test-runbook") -> Runbook:
    path = tmp / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return parse(text, path)


def journal(state: Path) -> list[dict[str, Any]]:
    path = state / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def everything_written(state: Path) -> str:
    """Every file under the state dir, as text: where a secret must never be."""
    return "\n".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for path in sorted(state.rglob("*"))
        if path.is_file()
    )
