"""Runbook parsing: real-world Markdown loads as written; broken runbooks say where and why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.engine.runbooks.model import RunbookError
from tui.engine.runbooks.parse import load, parse

HERE = Path(__file__).parent / "runbooks"
BUNDLED = Path(__file__).resolve().parent.parent / "config" / "runbooks"


def line_of(path: Path, number: int) -> str:
    return path.read_text(encoding="utf-8-sig").splitlines()[number - 1]


def test_human_ops_guide_loads_as_written():
    path = HERE / "ops-guide-postgres-failover.md"
    runbook = load(path)
    assert runbook.title == "PostgreSQL primary failover"
    assert runbook.variables == () and runbook.alerts == ()  # other tools' front matter
    kinds = [(step.kind, step.language) for step in runbook.steps]
    assert kinds == [
        ("manual", ""),  # inside a blockquote
        ("shell", "bash"),  # nested in a numbered item
        ("sql", "sql"),
        ("shell", "bash"),  # ```bash title="promote.sh": mkdocs' title is not ours
        ("shell", "sh"),  # ~~~sh
        ("shell", "sh"),  # nested in a bullet
        ("manual", ""),
        ("manual", ""),
        ("manual", ""),
    ]
    titles = [step.title for step in runbook.steps]
    assert titles[1] == "Confirm the primary is really down"
    assert titles[2] == "Check replication lag on the standby (must be under 10 s)"
    assert titles[5] == "Restart the connection poolers"
    assert runbook.steps[7].checked and not runbook.steps[6].checked
    # console, yaml, no-language and indented blocks are shown, not run
    assert all("systemctl status" not in step.code for step in runbook.steps)
    assert all("$ ssh" not in step.code for step in runbook.steps)
    for step in runbook.steps:
        text = line_of(path, step.line)
        assert ("[" in text) if step.kind == "manual" else ("```" in text or "~~~" in text)
    assert runbook.body.startswith("<!-- Imported")
    assert line_of(path, runbook.body_line).startswith("<!-- Imported")


def test_checklists_nested_numbered_and_with_a_health_check():
    runbook = load(HERE / "deploy-checklist.md")
    manual = [step.title for step in runbook.steps if step.kind == "manual"]
    assert manual[:5] == [
        "Changelog reviewed",
        "Feature flags for the release are off in production",
        "checkout_v2",
        "search_reindex",
        "Database migrations reviewed by a DBA, including the lock_timeout of each one.",
    ]
    assert "Fill in the {date} of the release in the calendar" in manual  # braces, not ours
    checks = [step for step in runbook.steps if step.kind == "check"]
    assert [(s.title, s.check, s.timeout) for s in checks] == [
        ("API healthy before we start", "api", None),
        ("API back", "api", 120.0),
    ]
    tag = next(step for step in runbook.steps if step.kind == "shell")
    assert (tag.title, tag.confirm, tag.danger) == ("Tag the release", True, False)
    assert runbook.steps[-1].title == "(untitled)"


def test_front_matter_variables_and_every_attribute():
    runbook = load(HERE / "variables.md")
    assert runbook.alerts == ("DiskFull", "Disk Almost Full")
    assert runbook.window == 45 * 60
    assert runbook.description == "every kind of variable and attribute"
    variables = {var.name: var for var in runbook.variables}
    assert (variables["HOST"].type, variables["HOST"].default) == ("string", "db-1.internal")
    assert (variables["PORT"].type, variables["PORT"].default) == ("int", 5432)
    assert (variables["DRY_RUN"].type, variables["DRY_RUN"].default) == ("bool", True)
    assert variables["MODE"].choices == ("fast", "safe") and variables["MODE"].type == "choice"
    assert variables["TOKEN"].secret and variables["TOKEN"].required
    assert variables["NOTE"].default is None and not variables["NOTE"].required
    drain, ssh, find_pid, cancel, quoted = runbook.steps
    assert (drain.title, drain.confirm, drain.timeout, drain.capture) == (
        "Drain it",
        True,
        90.0,
        "DRAINED",
    )
    assert ssh.danger and ssh.needs_confirm and ssh.interactive and ssh.language == "bash"
    assert (find_pid.db, find_pid.capture) == ("main", "PID")
    assert cancel.db == "main"  # ```sql{db=main} without a space
    assert (quoted.title, quoted.confirm, quoted.danger) == ("Single quoted", False, True)
    assert runbook.captures == {"DRAINED": 1, "PID": 3}


def test_http_blocks_and_sql_with_dollar_quotes():
    runbook = load(HERE / "http-and-sql.md")
    pause, get, sql = runbook.steps
    assert (pause.kind, pause.title, pause.confirm) == ("http", "Pause emails", True)
    assert get.title == "https://admin.internal/api/queues/emails"
    assert sql.kind == "sql" and "$body$" in sql.code


def test_windows_line_endings_bom_and_front_matter_title():
    runbook = load(HERE / "windows-crlf.md")
    assert runbook.title == "From a Windows editor"  # no H1: the front matter's title
    assert [(s.kind, s.language, s.line) for s in runbook.steps] == [
        ("manual", "", 8),
        ("shell", "sh", 10),  # ```SH
    ]
    assert "\r" not in runbook.steps[1].code


def test_reference_material_has_no_steps_and_a_stem_title(tmp_path: Path):
    assert load(HERE / "no-steps.md").steps == ()
    untitled = tmp_path / "untitled-notes.md"
    untitled.write_text("Just text.\n")
    assert load(untitled).title == "untitled-notes"


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.md")), ids=lambda p: p.stem)
def test_bundled_runbooks_parse(path: Path):
    runbook = load(path)
    assert runbook.title != path.stem
    assert any(step.runnable for step in runbook.steps)


def test_empty_runnable_block_is_shown_not_run():
    runbook = parse("# T\n\n```bash\n```\n\n```sh {check=api}\n```\n", Path("t.md"))
    assert [(s.kind, s.check) for s in runbook.steps] == [("check", "api")]


BROKEN = {
    "fm-unclosed": (1, "never closed"),
    "fm-yaml": (4, "not valid YAML"),
    "fm-not-mapping": (2, "must be a mapping"),
    "fm-near-miss": (3, "unknown key variable (did you mean variables?)"),
    "var-bad-type": (4, "unknown type number"),
    "var-default-not-choice": (5, "'quick' is not one of the choices (fast, safe)"),
    "var-secret-default": (5, "a secret has no default"),
    "var-bad-name": (3, "variables.my-var"),
    "attr-unknown": (5, "unknown attribute dangr (did you mean danger?)"),
    "attr-unclosed-quote": (3, "never closed"),
    "attr-bad-timeout": (5, "expected a duration"),
    "attr-no-braces": (3, "attributes go in braces: ```bash {confirm danger}"),
    "attr-db-on-shell": (3, "db= applies to sql blocks"),
    "attr-not-runnable": (3, "```python is shown, not run"),
    "http-no-method": (5, "expected `METHOD URL`"),
    "checklist-confirm": (3, "confirm does not apply here"),
    "capture-int": (7, "N is declared as int"),
    "capture-reserved": (5, "capture=BASH_ENV would replace the environment variable"),
    "capture-secret": (7, "API_KEY is a secret, and a captured value is the step's output"),
}


def test_every_broken_runbook_is_covered():
    assert {path.stem for path in (HERE / "broken").glob("*.md")} == set(BROKEN)


def test_corpus_is_large_enough():
    assert len(BROKEN) >= 10


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_runbook_gives_one_located_error(name: str):
    path = HERE / "broken" / f"{name}.md"
    line, fragment = BROKEN[name]
    with pytest.raises(RunbookError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_the_readme_example_runbook_parses():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"````markdown\n(.*?)````", readme, re.S)
    runbook = parse(example, Path("drain-a-queue.md"))
    assert [step.kind for step in runbook.steps] == ["manual", "check", "shell", "sql", "http"]
    assert runbook.window == 1800 and runbook.alerts == ("EmailBacklog",)
    assert [var.name for var in runbook.variables] == ["QUEUE", "LIMIT", "TOKEN"]
