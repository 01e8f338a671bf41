"""The engine and the headless face never import Textual (fast start for cron)."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "tui.cli",
    "tui.engine.config",
    "tui.engine.engine",
    "tui.engine.actions",
    "tui.engine.journal",
    "tui.engine.pg_actions",
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


def test_check_command_never_imports_textual(tmp_path, http_server):
    config = tmp_path / "watchdeck.yaml"
    config.write_text(f'checks: [{{name: api, url: "{http_server}/ok"}}]\n')
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tui.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "httpx" in imported
    assert not [name for name in imported if name.split(".")[0] == "textual"]
