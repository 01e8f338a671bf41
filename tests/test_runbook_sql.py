"""SQL steps: variables bound as parameters (never SQL text), on a configured database, with
a statement timeout, results as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runbook_helpers import config, everything_written, executor, journal, runbook

from tui.engine.runbooks.report import render_report
from tui.engine.runbooks.run import load as load_run
from tui.engine.runbooks.sqltext import SqlProblem, prepare

INJECTION = "x'); DROP TABLE victims; --"


def test_placeholders_only_outside_literals_comments_and_dollar_quotes():
    sql = (
        "-- $Q in a comment, 100%\n"
        "SELECT '$Q 50%', \"a$b\", $Q, ${Q}::int, :Q, :'Q', arr[1:Q], $1,\n"
        "       $f$ :Q $Q $f$, E'it\\'s $Q' /* :Q /* nested */ $Q */ FROM t WHERE x LIKE 'a%';\n"
        ";\n-- only a comment\n"
    )
    (statement,) = prepare(sql, {"Q": INJECTION}, {"Q"})
    assert statement.names == ("Q",)
    assert statement.query.count("%(Q)s") == 4  # $Q ${Q} :Q :'Q'
    assert "'$Q 50%%'" in statement.query and "LIKE 'a%%'" in statement.query
    assert "arr[1:Q]" in statement.query and "$1" in statement.query
    assert "$f$ :Q $Q $f$" in statement.query and "E'it\\'s $Q'" in statement.query
    assert INJECTION not in statement.query
    assert "'x''); DROP TABLE victims; --'" in statement.display  # a literal, for people


def test_unknown_and_missing_variables_are_refused():
    with pytest.raises(SqlProblem, match=r"\$NOPE is not a variable"):
        prepare("SELECT $NOPE", {}, {"Q"})
    with pytest.raises(SqlProblem, match="Q has no value"):
        prepare("SELECT :Q", {}, {"Q"})
    assert prepare("SELECT :unknown::int", {}, {"Q"})[0].query == "SELECT :unknown::int"


def db_config(dsn: str, *names: str) -> str:
    return "databases:\n" + "".join(
        f"  - {{name: {name}, dsn: {json.dumps(dsn)}}}\n" for name in names or ("main",)
    )


async def test_variables_are_bound_as_parameters(tmp_path: Path, pg_dsn: str):
    book = runbook(
        tmp_path,
        "---\nvariables:\n  NAME: {required: true}\n  LIMIT: {type: int, default: 2}\n"
        "  SECRET: {secret: true}\n---\n# SQL\n\n"
        "```sql\nCREATE TEMP TABLE victims (name text);\n"
        "INSERT INTO victims VALUES ($NAME), (:NAME);\n"
        "SELECT current_query() AS sent, name, $LIMIT + 1 AS n FROM victims LIMIT :LIMIT;\n```\n\n"
        "```sql {capture=TWO}\nSELECT 1 + 1;\n```\n\n"
        "```sql\nSELECT length(${SECRET}) AS secret_length, $TWO::int * 10 AS twenty;\n```\n",
    )
    state = tmp_path / "state"
    runner = executor(state, config(db_config(pg_dsn)))
    run = runner.start(book, {"NAME": INJECTION, "SECRET": "hunter2-hunter2"})
    assert "VALUES ('x''); DROP TABLE victims; --'" in runner.plan(run, 1).command
    result = await runner.run_step(run, 1)
    assert result.status == "ok", result.message
    assert result.message.startswith("3 statements, last: 2 rows in ")
    assert INJECTION in result.output and "(2 rows)" in result.output
    rows = [line.split("|") for line in result.output.splitlines()[-3:-1]]
    for sent, name, n in rows:  # what the server received: placeholders, never the value
        assert "$1" in sent and "DROP" not in sent
        assert (name.strip(), n.strip()) == (INJECTION, "3")
    assert (await runner.run_step(run, 2)).status == "ok"
    assert run.values["TWO"] == "2"
    third = await runner.run_step(run, 3)
    assert "'***'" in runner.plan(run, 3).command
    assert [cell.strip() for cell in third.output.splitlines()[2].split("|")] == ["15", "20"]
    await runner.aclose()


async def test_statement_timeout_and_sql_errors(tmp_path: Path, pg_dsn: str):
    book = runbook(
        tmp_path,
        "# Slow\n\n```sql {timeout=1s}\nSELECT pg_sleep(30);\n```\n\n"
        "```sql\nSELECT * FROM no_such_table;\n```\n",
    )
    runner = executor(tmp_path / "state", config(db_config(pg_dsn)))
    run = runner.start(book, {})
    slow = await runner.run_step(run, 1)
    assert (slow.status, slow.message) == (
        "failed",
        "canceled by the server: statement_timeout of 1.0s",
    )
    broken = await runner.run_step(run, 2)
    assert broken.status == "failed"
    assert 'relation "no_such_table" does not exist' in broken.message
    assert "SQLSTATE 42P01" in broken.message


async def test_which_database(tmp_path: Path, pg_dsn: str):
    book = runbook(tmp_path, "# DB\n\n```sql\nSELECT 1;\n```\n\n```sql {db=b}\nSELECT 2;\n```\n")
    none = executor(tmp_path / "s1")
    run = none.start(book, {})
    assert "no database in the config" in (none.plan(run, 1).problem or "")
    result = await none.run_step(run, 1)
    assert result.status == "failed" and "no database" in result.message
    two = executor(tmp_path / "s2", config(db_config(pg_dsn, "a", "b")))
    run = two.start(book, {})
    assert "several databases (a, b)" in (two.plan(run, 1).problem or "")
    assert two.plan(run, 2).target == "database b"
    assert (await two.run_step(run, 2)).output == " ?column?\n----------\n        2\n(1 row)\n"


async def test_a_secret_in_an_error_or_a_capture_is_masked(tmp_path: Path, pg_dsn: str):
    secret = "hunter2-secret-xyz"
    book = runbook(
        tmp_path,
        "---\nvariables:\n  TOKEN: {secret: true, required: true}\n---\n# Leaks\n\n"
        "```sql {capture=ECHOED}\nSELECT 'got ' || $TOKEN;\n```\n\n"
        "```sql\nSELECT $TOKEN::int;\n```\n",
    )
    state = tmp_path / "state"
    runner = executor(state, config(db_config(pg_dsn)))
    run = runner.start(book, {"TOKEN": secret})
    assert (await runner.run_step(run, 1)).status == "ok"
    assert run.values["ECHOED"] == "got ***"  # as a shell step's capture is
    failed = await runner.run_step(run, 2)
    assert failed.status == "failed"
    assert 'invalid input syntax for type integer: "***"' in failed.message  # the server quotes it
    assert load_run(state, run.id).state(2).message == failed.message
    [entry] = [e for e in journal(state) if e["event"] == "action.failed"]
    assert entry["result"] == failed.message
    assert secret not in everything_written(state)
    assert secret not in render_report(load_run(state, run.id))
    await runner.aclose()
