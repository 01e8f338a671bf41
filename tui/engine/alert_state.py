"""The alert state file: rule states, external alerts, acknowledgements and history.

One JSON document in the state dir, replaced atomically (temporary file, fsync, rename,
fsync of the directory), so a crash leaves either the old file or the new one, never half of
one. ``watchdeck check`` run from cron loads and saves it, which is how ``for`` durations
work headless.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui.engine.atomic import cannot, replace_file
from tui.engine.errors import os_reason

FILENAME = "alerts.json"
VERSION = 1


class AlertStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        """Why the last load or save failed, in one line (``None`` when it worked)."""

    def load(self) -> dict[str, Any]:
        """The saved document, or ``{}`` when there is none or it cannot be read (``problem``
        says why; the next save replaces it)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.problem = f"cannot read {self.path}: {os_reason(exc)}"
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem = (
                f"{self.path} is damaged ({exc.msg} at line {exc.lineno}); starting afresh"
            )
            return {}
        if not isinstance(data, dict) or data.get("version") != VERSION:
            self.problem = f"{self.path} is not a watchdeck alert state file; starting afresh"
            return {}
        return data

    def save(self, data: dict[str, Any]) -> bool:
        """Replace the file with ``data``; False (and ``problem``) when it cannot be written."""
        payload = json.dumps({"version": VERSION, **data}, separators=(",", ":"))
        try:
            replace_file(self.path, payload.encode("utf-8"))
        except OSError as exc:
            self.problem = cannot("save", self.path, exc)
            return False
        self.problem = None
        return True
