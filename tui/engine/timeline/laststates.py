"""The last state the timeline saw of each source, in ``timeline-state.json``.

Shared by every process on the state dir: ``watchdeck check`` from cron compares a run's
polls with what the previous run saw (so a check that went down between two runs is an
entry), and a console and a cron job on one state dir record a change once, whichever sees
it first: each re-reads the file when another process replaced it. Replaced atomically
(temporary file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui.engine.atomic import cannot, replace_file

FILENAME = "timeline-state.json"
VERSION = 1


class LastStates:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILENAME
        self.sources: dict[str, dict[str, Any]] = {}
        """By source id: the status seen (checks, queues), or connection and sessions
        (databases)."""
        self.runs: dict[str, dict[str, Any]] | None = None
        """By run id: the run file as last read; ``None`` until the runs were first seen."""
        self.problem: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        self.load()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def load(self) -> None:
        """Read the file; one that is missing or damaged counts as nothing seen yet."""
        self._stamp = self._stat()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError:
            return
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            data = {}
        sources, runs = data.get("sources"), data.get("runs")
        self.sources = {
            str(key): value
            for key, value in (sources.items() if isinstance(sources, dict) else ())
            if isinstance(value, dict)
        }
        self.runs = (
            {str(key): value for key, value in runs.items() if isinstance(value, dict)}
            if isinstance(runs, dict)
            else None
        )

    def refresh(self) -> None:
        """Read the file again if another process replaced it since (one that is gone or
        cannot be read leaves what is known as it is)."""
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            self.load()

    def save(self) -> bool:
        """Replace the file; False (and ``problem``) when it cannot be written."""
        payload = json.dumps(
            {"version": VERSION, "sources": self.sources, "runs": self.runs},
            separators=(",", ":"),
        )
        try:
            replace_file(self.path, payload.encode("utf-8"))
        except OSError as exc:
            self.problem = cannot("save", self.path, exc)
            return False
        self._stamp = self._stat()
        self.problem = None
        return True
