"""The engine and the headless face never import Textual (fast start for cron)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).parent.parent / "tui" / "engine"
ENGINE_MODULES = [
    "tui.cli",
    *(
        ".".join(path.relative_to(ENGINE.parent.parent).with_suffix("").parts)
        for path in sorted(ENGINE.rglob("*.py"))
        if path.name != "__init__.py"
    ),
]
"""Every module of the engine, found on disk: a new module is covered without listing it."""


def test_every_engine_module_is_covered():
    assert "tui.engine.pg_actions" in ENGINE_MODULES
    assert len(ENGINE_MODULES) > 20


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
    """Nor the Markdown parser: runbooks are only named by `check`, never parsed."""
    runbooks = Path(__file__).parent.parent / "config" / "runbooks"
    config = tmp_path / "watchdeck.yaml"
    config.write_text(
        f'checks: [{{name: api, url: "{http_server}/ok"}}]\n'
        f"runbooks: {{paths: [{runbooks}]}}\n"
        "alerts: {rules: [{name: ApiDown, when: check.api.up < 1, runbook: payments-down}]}\n"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tui.cli", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "httpx" in imported
    assert not [name for name in imported if name.split(".")[0] in ("textual", "markdown_it")]


def test_the_console_loads_psycopg_only_for_databases():
    """Every screen is imported with the app; psycopg (about 60 ms) waits for a database."""
    code = "import sys, tui.app\nprint('psycopg' in sys.modules)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
