"""Runbook discovery: every Markdown file under the configured paths is a runbook."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([A-Za-z0-9_+-]*)")
_CHECKBOX = re.compile(r"^\s*[-*+]\s+\[[ xX]\]\s+")
RUNNABLE = {"sh", "bash", "shell", "sql", "http"}


@dataclass(frozen=True, slots=True)
class RunbookEntry:
    name: str
    """The file stem: what alert rules name in ``runbook:``."""
    title: str
    path: Path
    steps: int
    """Checklist items plus runnable code blocks, in document order."""

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")


def _strip_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            return text[end + 4 :].lstrip("\n")
    return text


def summarize(path: Path) -> RunbookEntry:
    text = _strip_front_matter(path.read_text(encoding="utf-8", errors="replace"))
    title: str | None = None
    steps = 0
    fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is not None:
            if match and match.group(1) == fence and not match.group(2):
                fence = None
            continue
        if match:
            fence = match.group(1)
            if match.group(2).lower() in RUNNABLE:
                steps += 1
            continue
        if title is None and (h1 := _H1.match(line)):
            title = h1.group(1)
        elif _CHECKBOX.match(line):
            steps += 1
    return RunbookEntry(name=path.stem, title=title or path.stem, path=path, steps=steps)


def discover(paths: Iterable[Path]) -> list[RunbookEntry]:
    """Every ``*.md`` under ``paths`` (files or directories), by title; unreadable ones skipped."""
    found: dict[Path, RunbookEntry] = {}
    for base in paths:
        if base.is_file():
            candidates = [base]
        else:
            candidates = sorted(base.rglob("*.md")) if base.is_dir() else []
        for path in candidates:
            resolved = path.resolve()
            if resolved in found:
                continue
            try:
                found[resolved] = summarize(path)
            except OSError:
                continue
    return sorted(found.values(), key=lambda entry: entry.title.lower())
