"""The optional YAML front matter of a runbook: variables, attached alerts, a window.

```yaml
---
variables:
  queue: {type: choice, choices: [emails, webhooks], default: emails}
  token: {secret: true, required: true, description: the new API key}
  batch: 500                     # shorthand: the default, its type inferred
alerts: [EmailBacklog]
window: 30m
---
```

Keys other tools put there (``tags``, ``owner``, ``layout``...) are left alone, so existing
documents load as they are; a near miss of ours (``variable:``, ``windows:``) is an error.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode

from tui.engine.runbooks.attributes import IDENTIFIER, suggest
from tui.engine.runbooks.model import VARIABLE_TYPES, RunbookError, Value, Variable
from tui.engine.units import parse_duration

KEYS = frozenset({"title", "description", "variables", "alerts", "window"})
VARIABLE_KEYS = frozenset({"type", "default", "choices", "secret", "required", "description"})
RESERVED = frozenset(
    {"PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "PS4", "PWD", "USER", "LOGNAME"}
)
"""Environment variables a runbook variable must not replace in its steps' environment."""
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class FrontMatter:
    title: str = ""
    description: str = ""
    variables: tuple[Variable, ...] = ()
    alerts: tuple[str, ...] = ()
    window: float | None = None


def split(text: str, path: Path) -> tuple[str | None, int, str, int]:
    """``(yaml, yaml_line, body, body_line)``: the front matter (None when there is none) and
    the Markdown after it, each with the 1-based file line where it starts."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return None, 0, text, 1
    for number, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            return "\n".join(lines[1:number]), 2, "\n".join(lines[number + 1 :]), number + 2
    raise RunbookError(path, 1, "the front matter opened here is never closed by a line ---")


class _Reader:
    def __init__(self, path: Path, first_line: int) -> None:
        self.path = path
        self.first = first_line

    def fail(self, node: Node | None, message: str) -> RunbookError:
        line = self.first + node.start_mark.line if node is not None else self.first
        return RunbookError(self.path, line, f"front matter: {message}")

    def mapping(self, node: Node, what: str) -> list[tuple[str, Node, Node]]:
        """``(name, key node, value node)`` of a mapping, duplicates refused."""
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping of names to values")
        seen: set[str] = set()
        items = []
        for key, value in node.value:
            name = str(key.value) if not isinstance(key, MappingNode | SequenceNode) else ""
            if name in seen:
                raise self.fail(key, f"{what}: {name} is given twice")
            seen.add(name)
            items.append((name, key, value))
        return items

    def value(self, node: Node) -> Any:
        return SafeConstructor().construct_object(node, deep=True)


def parse(source: str, first_line: int, path: Path) -> FrontMatter:
    """The front matter's settings; raises RunbookError at the offending line."""
    try:
        root = yaml.compose(source, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RunbookError(path, line, f"front matter is not valid YAML: {problem}") from None
    if root is None:
        return FrontMatter()
    reader = _Reader(path, first_line)
    fields: dict[str, Any] = {}
    for key, key_node, node in reader.mapping(root, "the top level"):
        if key not in KEYS:
            if difflib.get_close_matches(key, sorted(KEYS), n=1, cutoff=0.8):
                raise reader.fail(key_node, f"unknown key {key}{suggest(key, KEYS)}")
            continue  # another tool's metadata
        fields[key] = _field(reader, key, node)
    return FrontMatter(**fields)


def _field(reader: _Reader, key: str, node: Node) -> Any:
    if key == "variables":
        return tuple(_variable(reader, name, spec) for name, _, spec in reader.mapping(node, key))
    value = reader.value(node)
    if key in ("title", "description"):
        if not isinstance(value, str):
            raise reader.fail(node, f"{key} must be text")
        return value.strip()
    if key == "alerts":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise reader.fail(node, "alerts must be a list of alert names")
        return tuple(names)
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise reader.fail(node, f"window: {exc}") from None
    if seconds <= 0:
        raise reader.fail(node, "window must be longer than 0")
    return float(seconds)


def _variable(reader: _Reader, name: str, node: Node) -> Variable:
    where = f"variables.{name}"
    if not IDENTIFIER.match(name):
        raise reader.fail(node, f"{where}: a variable name is letters, digits and _")
    if name in RESERVED or name.startswith("LD_"):
        raise reader.fail(node, f"{where}: {name} would replace the environment variable")
    if not isinstance(node, MappingNode):
        default = reader.value(node)
        if isinstance(default, list | dict):
            raise reader.fail(node, f"{where}: expected a default value or a mapping")
        return _checked(reader, node, name, {"default": default} if default is not None else {})
    spec: dict[str, Any] = {}
    for key, key_node, value in reader.mapping(node, where):
        if key not in VARIABLE_KEYS:
            known = ", ".join(sorted(VARIABLE_KEYS))
            raise reader.fail(
                key_node, f"{where}: unknown key {key}{suggest(key, VARIABLE_KEYS)}; known: {known}"
            )
        spec[key] = (value, reader.value(value))
    return _checked(reader, node, name, {key: item[1] for key, item in spec.items()}, spec)


def _checked(
    reader: _Reader,
    node: Node,
    name: str,
    spec: dict[str, Any],
    nodes: dict[str, tuple[Node, Any]] | None = None,
) -> Variable:
    where = f"variables.{name}"

    def at(key: str) -> Node:
        return nodes[key][0] if nodes and key in nodes else node

    for key in ("secret", "required"):
        if not isinstance(spec.get(key, False), bool):
            raise reader.fail(at(key), f"{where}.{key} must be true or false")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise reader.fail(at("description"), f"{where}.description must be text")
    choices = spec.get("choices")
    if choices is not None and (
        not isinstance(choices, list)
        or not choices
        or not all(isinstance(c, str | int) and not isinstance(c, bool) for c in choices)
    ):
        raise reader.fail(at("choices"), f"{where}.choices must be a list of values")
    default = spec.get("default")
    kind = spec.get("type") or _inferred(default, choices)
    if kind not in VARIABLE_TYPES:
        known = ", ".join(VARIABLE_TYPES)
        raise reader.fail(
            at("type"),
            f"{where}.type: unknown type {kind}{suggest(str(kind), set(VARIABLE_TYPES))}; "
            f"use one of {known}",
        )
    if kind == "choice" and choices is None:
        raise reader.fail(at("type"), f"{where}: a choice needs choices: [a, b, ...]")
    if choices is not None and kind != "choice":
        raise reader.fail(at("choices"), f"{where}: choices need type: choice (or no type)")
    options = tuple(str(choice) for choice in choices or ())
    if spec.get("secret") and default is not None:
        raise reader.fail(
            at("default"), f"{where}: a secret has no default (this file is not a safe place)"
        )
    if default is not None:
        try:
            default = coerce_default(kind, default, options)
        except ValueError as exc:
            raise reader.fail(at("default"), f"{where}.default: {exc}") from None
    return Variable(
        name=name,
        type=kind,
        default=default,
        choices=options,
        secret=spec.get("secret", False),
        required=spec.get("required", False),
        description=description.strip(),
        line=reader.first + node.start_mark.line,
    )


def _inferred(default: Any, choices: Any) -> str:
    if choices is not None:
        return "choice"
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    return "string"


def coerce_default(kind: str, value: Any, choices: tuple[str, ...]) -> Value:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        return value
    if isinstance(value, list | dict):
        raise ValueError(f"expected a single value, got {value!r}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "choice" and text not in choices:
        raise ValueError(f"{text!r} is not one of the choices ({', '.join(choices)})")
    return text
