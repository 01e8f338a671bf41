"""Variable values: checked against the front matter, handed to steps as data, masked.

Shell steps get values as environment variables, so the shell expands ``$NAME`` itself and
a value is never parsed as code; the command text is only filled in for display (what the
confirm shows and the journal records), with secrets as ``***``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from tui.engine.runbooks.attributes import suggest
from tui.engine.runbooks.httprequest import MASK, REFERENCE
from tui.engine.runbooks.model import Runbook, Value, Variable

SECRET_MIN = 4
"""Secret values at least this long are also masked wherever they appear in text (output,
messages); shorter ones would mask ordinary words, so only their references are masked."""
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


class VariableProblem(ValueError):
    """Values that do not fit the runbook; one line per problem."""


def coerce(var: Variable, raw: Value) -> Value:
    """A value typed by a person (``--var``, a form) as the variable's type; ValueError."""
    if var.type == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{var.name} is a whole number, got {raw!r}") from None
    if var.type == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"{var.name} is true or false, got {raw!r}")
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if var.type == "choice" and text not in var.choices:
        raise ValueError(f"{var.name} is one of {', '.join(var.choices)}; got {text!r}")
    return text


def resolve(runbook: Runbook, given: Mapping[str, Value]) -> dict[str, Value]:
    """Given values, then defaults; raises VariableProblem listing every problem (unknown
    names, wrong types, required ones missing). Optional variables without a value stay unset."""
    problems: list[str] = []
    declared = {var.name: var for var in runbook.variables}
    captures = runbook.captures
    for name in given:
        if name in captures and name not in declared:
            problems.append(f"{name} is set by step {captures[name]} (capture={name})")
        elif name not in declared:
            known = ", ".join(declared) or "none"
            problems.append(
                f"unknown variable {name}{suggest(name, set(declared))}; this runbook has: {known}"
            )
    values: dict[str, Value] = {}
    for var in runbook.variables:
        if var.name in given:
            try:
                values[var.name] = coerce(var, given[var.name])
            except ValueError as exc:
                problems.append(str(exc))
        elif var.default is not None:
            values[var.name] = var.default
        elif var.required:
            problems.append(f"{var.name} is required{_hint(var)}")
    if problems:
        raise VariableProblem("\n".join(problems))
    return values


def _hint(var: Variable) -> str:
    parts = [var.description] if var.description else []
    if var.choices:
        parts.append("one of " + ", ".join(var.choices))
    return f" ({'; '.join(parts)})" if parts else ""


def text(value: Value) -> str:
    """A value as a command sees it in its environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def environment(
    values: Mapping[str, Value], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update({name: text(value) for name, value in values.items()})
    return env


def secret_names(runbook: Runbook) -> frozenset[str]:
    return frozenset(var.name for var in runbook.variables if var.secret)


def fill_shell(code: str, values: Mapping[str, Value], secrets: Iterable[str] = ()) -> str:
    """The command with ``$NAME``/``${NAME}`` of known variables filled in, for display only:
    not inside single quotes or after a backslash (the shell would not expand those either)."""
    hidden = frozenset(secrets)
    out: list[str] = []
    i, single, double = 0, False, False
    while i < len(code):
        char = code[i]
        if char == "\\" and not single:
            out.append(code[i : i + 2])
            i += 2
            continue
        if char == "'" and not double:
            single = not single
        elif char == '"' and not single:
            double = not double
        elif char == "$" and not single:
            if code.startswith("$$", i):
                out.append("$$")
                i += 2
                continue
            match = REFERENCE.match(code, i)
            if match:
                name = match.group(1) or match.group(2)
                if name in values:
                    out.append(MASK if name in hidden else text(values[name]))
                    i = match.end()
                    continue
        out.append(char)
        i += 1
    return "".join(out)


class Masker:
    """Replaces secret values in text with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.values = sorted({s for s in secrets if len(s) >= SECRET_MIN}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.values)


def masker(runbook: Runbook, values: Mapping[str, Value]) -> Masker:
    hidden = secret_names(runbook)
    return Masker(text(value) for name, value in values.items() if name in hidden)


def persistable(runbook: Runbook, values: Mapping[str, Value]) -> dict[str, object]:
    """What may be written down: plain values; for a secret only that it was given."""
    hidden = secret_names(runbook)
    return {name: {"secret": True} if name in hidden else value for name, value in values.items()}


def shown(runbook: Runbook, values: Mapping[str, Value]) -> dict[str, str]:
    """Values for a report or a screen: secrets as ``***``."""
    hidden = secret_names(runbook)
    return {name: MASK if name in hidden else text(value) for name, value in values.items()}
