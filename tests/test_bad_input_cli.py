"""The bad-input corpus through the real command line: every broken config under
``watchdeck validate --config F``, every broken runbook under ``watchdeck runbook show F``,
and ``watchdeck --config F`` with a path that is missing, a directory, a binary file and a file
that is not UTF-8. Each says where and what in one located line and exits 1; none prints a
traceback. And ``validate`` over the runbooks a config points at: the warnings ``check``
carries, and a broken runbook as an error.

To stay fast, one ``python`` process runs them all: a small driver calls ``tui.cli:main`` (the
``watchdeck`` entry point) once per command line, with its own stdout and stderr captured, and
prints the results as JSON. An exception escaping ``main`` is recorded with its traceback, as
the real ``watchdeck`` would print it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

from test_runbook_parse import BROKEN as RUNBOOK_ERRORS

HERE = Path(__file__).resolve().parent
BROKEN_CONFIGS = sorted((HERE / "configs" / "broken").glob("*.yaml"))
BROKEN_RUNBOOKS = sorted((HERE / "runbooks" / "broken").glob("*.md"))

DRIVER = """
import contextlib, io, json, sys, traceback
from tui.cli import main

results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            code = "exception"
            traceback.print_exc()
    results.append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()})
json.dump(results, sys.__stdout__)
"""


def config_expectation(path: Path) -> str:
    """``line:col: key.path: message`` from the file's ``# expect:`` header."""
    header = path.read_text(encoding="utf-8").splitlines()[0]
    expected = header.removeprefix("# expect: ")
    assert expected != header, f"{path.name} lacks an '# expect:' header"
    return expected


def bad_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Config paths no config can be read from, with the located line each must give."""
    directory = tmp_path / "a-directory.yaml"
    directory.mkdir()
    binary = tmp_path / "image.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + zlib.compress(b"\x00" * 64))
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes('settings:\n  theme: "café"\n'.encode("latin-1"))
    missing = tmp_path / "missing.yaml"
    return {
        "missing": (missing, f"{missing}:1:1: <root>: config file does not exist"),
        "directory": (directory, f"{directory}:1:1: <root>: config file is not a file"),
        "binary": (binary, f"{binary}:1:1: <root>: not a UTF-8 text file (invalid byte 0x89)"),
        "not utf-8": (latin1, f"{latin1}:2:14: <root>: not a UTF-8 text file (invalid byte 0xe9)"),
    }


def test_every_bad_input_gives_one_located_line_and_exit_1(tmp_path: Path) -> None:
    assert len(BROKEN_CONFIGS) >= 30 and len(BROKEN_RUNBOOKS) >= 10
    expected: list[tuple[list[str], str]] = []
    for path in BROKEN_CONFIGS:
        expected.append((["validate", "--config", str(path)], f"{path}:{config_expectation(path)}"))
    for path in BROKEN_RUNBOOKS:
        line, fragment = RUNBOOK_ERRORS[path.stem]
        expected.append((["runbook", "show", str(path)], f"{path}:{line}: "))
        expected.append((["runbook", "show", str(path)], fragment))
    bad = bad_paths(tmp_path)
    for path, line in bad.values():
        expected.append((["--config", str(path)], line))
        expected.append((["validate", "--config", str(path)], line))
    commands = list({tuple(argv): argv for argv, _ in expected}.values())

    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDECK_")}
    env["WATCHDECK_STATE_DIR"] = str(tmp_path / "state")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # runbook show finds no config: none needed
    process = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert "Traceback" not in process.stdout + process.stderr
    results = {tuple(result["argv"]): result for result in json.loads(process.stdout)}
    assert len(results) == len(commands) == len(BROKEN_CONFIGS) + len(BROKEN_RUNBOOKS) + 8

    problems: list[str] = []
    for argv, wanted in expected:
        result = results[tuple(argv)]
        said = f"watchdeck {' '.join(argv)} -> {result['code']}:\n{result['err']}{result['out']}"
        if "Traceback" in result["out"] + result["err"]:
            problems.append(f"a traceback from {said}")
        elif result["code"] != 1:
            problems.append(f"exit code {result['code']}, not 1, from {said}")
        elif wanted not in result["err"]:
            problems.append(f"{wanted!r} not said by {said}")
    for path, line in bad.values():  # one line, nothing else, for an unreadable config
        for argv in (["--config", str(path)], ["validate", "--config", str(path)]):
            err = results[tuple(argv)]["err"]
            if not err.startswith(line) or err.count("\n") != 1:
                problems.append(f"not one line from watchdeck {' '.join(argv)}: {err!r}")
    runbook_lines = [results[("runbook", "show", str(path))] for path in BROKEN_RUNBOOKS]
    problems += [f"not one line: {r['err']!r}" for r in runbook_lines if r["err"].count("\n") != 1]
    assert not problems, "\n\n".join(problems)


# --- validate and the runbooks of a config --------------------------------------------------
CONFIG = """\
checks:
  - {name: api, url: "http://127.0.0.1:9/"}
alerts:
  rules:
    - {name: ApiDown, when: check.api.up < 1, runbook: restart-api}
    - {name: ApiSlow, when: check.api.latency_ms > 500, runbook: no-such-runbook}
runbooks:
  paths: [runbooks]
"""


def watchdeck(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WATCHDECK_")}
    env["WATCHDECK_STATE_DIR"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def test_validate_warns_as_check_does_and_a_broken_runbook_is_an_error(tmp_path: Path) -> None:
    base = tmp_path.resolve()
    runbooks = base / "runbooks"
    runbooks.mkdir()
    (runbooks / "restart-api.md").write_text("# Restart the API\n\n- [ ] restart it\n")
    config = base / "watchdeck.yaml"
    config.write_text(CONFIG)

    check = json.loads(watchdeck(base, "check", "--json", "--config", str(config)).stdout)
    missing = "rule ApiSlow: no runbook named 'no-such-runbook' under runbooks.paths"
    assert check["warnings"] == [missing]
    valid = watchdeck(base, "validate", "--config", str(config))
    assert (valid.returncode, valid.stdout) == (0, f"{config}: valid\n"), valid.stderr
    assert valid.stderr.splitlines() == [f"warning: {warning}" for warning in check["warnings"]]

    # A ca_file or a runbooks directory that is not there: the check would be down for it.
    config.write_text(
        "checks:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n"
        "  - {name: web, url: 'https://127.0.0.1:9/', ca_file: certs/ca.pem}\n"
        "runbooks: {paths: [runbooks, gone]}\n"
    )
    missing_files = watchdeck(base, "validate", "--config", str(config))
    assert (missing_files.returncode, missing_files.stdout) == (0, f"{config}: valid\n")
    assert f"warning: checks[1].ca_file: no file {base / 'certs' / 'ca.pem'}" in (
        missing_files.stderr.splitlines()
    )
    assert f"warning: runbooks.paths: no directory {base / 'gone'}" in (
        missing_files.stderr.splitlines()
    )
    config.write_text(CONFIG)

    shutil.copy(HERE / "runbooks" / "broken" / "fm-yaml.md", runbooks / "broken.md")
    broken = watchdeck(base, "validate", "--config", str(config))
    assert (broken.returncode, broken.stdout) == (1, "")
    assert broken.stderr.splitlines() == [
        f"warning: {missing}",
        f"{runbooks / 'broken.md'}:4: front matter is not valid YAML: did not find expected ',' "
        "or '}'",
    ]
    assert "Traceback" not in valid.stderr + broken.stderr
