"""The engine and the headless face never import Textual (fast start for cron)."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "tui.cli",
    "tui.engine.config",
    "tui.engine.engine",
    "tui.engine.loader",
    "tui.engine.paths",
    "tui.engine.report",
    "tui.engine.rules",
    "tui.engine.scheduler",
    "tui.engine.sources.http",
    "tui.engine.sources.postgres",
    "tui.engine.sources.redis_queues",
    "tui.engine.runbooks.catalog",
]


def test_engine_modules_do_not_import_textual():
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
