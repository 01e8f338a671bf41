"""SQL steps: statements split, variables turned into bound parameters, never into SQL text.

``$NAME``, ``${NAME}``, ``:NAME`` and psql's ``:'NAME'`` become psycopg's ``%(NAME)s`` and
the values travel separately (server-side binding). The text is scanned the way PostgreSQL
reads it, so nothing inside string literals, quoted identifiers, comments or dollar-quoted
bodies is touched, ``::`` casts and ``$1`` stay as they are, and every other ``%`` is doubled
for psycopg. ``:NAME`` only counts for names the runbook knows (array slices stay slices).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from tui.engine.runbooks.httprequest import MASK, REFERENCE
from tui.engine.runbooks.model import Value

_DOLLAR_QUOTE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_COLON = re.compile(r":'([A-Za-z_][A-Za-z0-9_]*)'|:([A-Za-z_][A-Za-z0-9_]*)")


class SqlProblem(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Statement:
    query: str
    """For psycopg: ``%(NAME)s`` placeholders, ``%`` doubled."""
    names: tuple[str, ...]
    display: str
    """The statement with values shown as literals (secrets as ``***``): for people only."""


def literal(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _word(char: str) -> bool:
    return char.isalnum() or char in "_$"


def prepare(
    sql: str,
    values: Mapping[str, Value],
    known: Collection[str],
    secrets: Collection[str] = (),
    missing: Callable[[str], str] = lambda name: f"{name} has no value",
) -> list[Statement]:
    """The statements of a block; raises SqlProblem for a variable unknown or without value."""
    statements: list[Statement] = []
    query: list[str] = []
    display: list[str] = []
    names: list[str] = []
    has_code = False

    def emit(text: str, code: bool = True) -> None:
        nonlocal has_code
        query.append(text.replace("%", "%%"))
        display.append(text)
        has_code = has_code or (code and not text.isspace())

    def bind(name: str) -> None:
        nonlocal has_code
        if name not in values:
            raise SqlProblem(missing(name))
        query.append(f"%({name})s")
        display.append(f"'{MASK}'" if name in secrets else literal(values[name]))
        names.append(name)
        has_code = True

    def flush() -> None:
        nonlocal has_code
        if has_code:
            statements.append(
                Statement(
                    "".join(query).strip(), tuple(dict.fromkeys(names)), "".join(display).strip()
                )
            )
        query.clear()
        display.clear()
        names.clear()
        has_code = False

    i, end = 0, len(sql)
    while i < end:
        char = sql[i]
        before = sql[i - 1] if i else ""
        if sql.startswith("--", i):
            stop = sql.find("\n", i)
            stop = end if stop < 0 else stop
            emit(sql[i:stop], code=False)
            i = stop
        elif sql.startswith("/*", i):
            stop = _block_comment_end(sql, i)
            emit(sql[i:stop], code=False)
            i = stop
        elif char == "'":
            escapes = before in "eE" and before != "" and not _word(sql[i - 2] if i > 1 else "")
            stop = _quoted_end(sql, i, "'", escapes)
            emit(sql[i:stop])
            i = stop
        elif char == '"':
            stop = _quoted_end(sql, i, '"', False)
            emit(sql[i:stop])
            i = stop
        elif char == "$" and not _word(before):
            quote = _DOLLAR_QUOTE.match(sql, i)
            reference = REFERENCE.match(sql, i)
            if quote:
                close = sql.find(quote.group(0), quote.end())
                stop = end if close < 0 else close + len(quote.group(0))
                emit(sql[i:stop])
                i = stop
            elif reference:
                name = reference.group(1) or reference.group(2)
                if name not in known:
                    raise SqlProblem(f"${name} is not a variable of this runbook")
                bind(name)
                i = reference.end()
            else:
                emit(char)
                i += 1
        elif char == ":" and sql.startswith("::", i):
            emit("::")
            i += 2
        elif char == ":" and not _word(before) and (colon := _COLON.match(sql, i)):
            name = colon.group(1) or colon.group(2)
            if name in known:
                bind(name)
                i = colon.end()
            else:
                emit(char)
                i += 1
        elif char == ";":
            flush()
            i += 1
        else:
            emit(char)
            i += 1
    flush()
    return statements


def _block_comment_end(sql: str, i: int) -> int:
    depth, j = 0, i
    while j < len(sql):
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(sql)


def _quoted_end(sql: str, i: int, quote: str, backslash: bool) -> int:
    j = i + 1
    while j < len(sql):
        if backslash and sql[j] == "\\":
            j += 2
        elif sql[j] == quote:
            if sql.startswith(quote * 2, j):
                j += 2
            else:
                return j + 1
        else:
            j += 1
    return len(sql)


def display(statements: list[Statement]) -> str:
    return ";\n".join(statement.display for statement in statements) + (";" if statements else "")
