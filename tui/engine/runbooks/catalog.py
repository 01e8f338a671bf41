"""Runbook discovery: every Markdown file under the configured paths is a runbook."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tui.engine.runbooks.model import Runbook, RunbookError


@dataclass(frozen=True, slots=True)
class RunbookEntry:
    name: str
    """The file stem: what alert rules name in ``runbook:``."""
    title: str
    path: Path
    steps: int
    """Checklist items plus runnable code blocks, in document order."""
    alerts: tuple[str, ...] = ()
    """Alert names its front matter attaches it to (see ``attached_alerts`` for all)."""
    error: str | None = None
    """Why it cannot be used (``file:line: message``); it is still listed, to be fixed."""

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")

    def load(self) -> Runbook:
        """The parsed runbook, read now; raises RunbookError."""
        from tui.engine.runbooks.parse import load  # markdown-it only when a runbook is read

        return load(self.path)


def summarize(path: Path) -> RunbookEntry:
    from tui.engine.runbooks.parse import load

    try:
        runbook = load(path)
    except RunbookError as exc:
        return RunbookEntry(name=path.stem, title=path.stem, path=path, steps=0, error=str(exc))
    return RunbookEntry(
        name=runbook.name,
        title=runbook.title,
        path=path,
        steps=len(runbook.steps),
        alerts=runbook.alerts,
    )


def discover(paths: Iterable[Path]) -> list[RunbookEntry]:
    """Every ``*.md`` under ``paths`` (files or directories), by title; unreadable ones skipped."""
    found: list[RunbookEntry] = []
    for path in runbook_files(paths):
        entry = summarize(path)
        if entry.error and not _readable(path):
            continue
        found.append(entry)
    return sorted(found, key=lambda entry: entry.title.lower())


def runbook_files(paths: Iterable[Path]) -> list[Path]:
    """The ``*.md`` files under ``paths``, each once, without reading them."""
    found: dict[Path, Path] = {}
    for base in paths:
        if base.is_file():
            candidates = [base]
        else:
            candidates = sorted(base.rglob("*.md")) if base.is_dir() else []
        for path in candidates:
            if path.is_file():
                found.setdefault(path.resolve(), path)
    return list(found.values())


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


def find(name_or_path: str, entries: Iterable[RunbookEntry], cwd: Path | None = None) -> Path:
    """The file a user means: an existing path, else a runbook's name (file stem) or title.

    Raises LookupError saying what was tried.
    """
    candidate = Path(name_or_path).expanduser()
    if not candidate.is_absolute() and cwd is not None:
        candidate = cwd / candidate
    if candidate.is_file():
        return candidate
    entries = list(entries)
    for match in (
        [entry for entry in entries if entry.name == name_or_path],
        [entry for entry in entries if entry.title.lower() == name_or_path.lower()],
    ):
        if len(match) == 1:
            return match[0].path
        if len(match) > 1:
            places = ", ".join(str(entry.path) for entry in match)
            raise LookupError(f"{name_or_path!r} names several runbooks: {places}; give a path")
    known = ", ".join(sorted(entry.name for entry in entries)) or "none under runbooks.paths"
    raise LookupError(f"no runbook {name_or_path!r} (a file, or one of: {known})")


def attached_alerts(
    entry: RunbookEntry, rules: Iterable[object] = (), alerts: Iterable[object] = ()
) -> list[str]:
    """Alert names attached to a runbook: its front matter's ``alerts``, the rules whose
    ``runbook`` is its name, and alerts seen now that name it (e.g. from Alertmanager)."""
    names = set(entry.alerts)
    for item in (*rules, *alerts):
        if getattr(item, "runbook", None) == entry.name:
            names.add(str(getattr(item, "name", "")))
    return sorted(name for name in names if name)
