"""Alert annotation templates: ``{{ value }}``, ``{{ name }}``, ``{{ labels.team }}``.

A deliberately tiny language: a placeholder is a field name, never an expression, so a
config can neither run code nor loop. Prometheus spellings (``{{ $value }}``,
``{{ $labels.team }}``) are accepted too, since people paste rules from there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

FIELDS = ("value", "name", "metric", "threshold")
_PLACEHOLDER = re.compile(
    r"\{\{\s*\$?(?P<field>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\s*\}\}"
)
_LEFTOVER = re.compile(r"\{\{|\}\}")


def placeholders(template: str) -> list[str]:
    """The fields a template uses, e.g. ``["value", "labels.team"]``."""
    return [match["field"] for match in _PLACEHOLDER.finditer(template)]


def problem(template: str, labels: Mapping[str, str]) -> str | None:
    """Why ``template`` cannot be rendered for an alert with ``labels``, or ``None``."""
    for field in placeholders(template):
        head, _, label = field.partition(".")
        if head == "labels" and label:
            if label not in labels:
                known = ", ".join(sorted(labels))
                return f"{{{{ {field} }}}}: the rule has no label {label!r} (labels: {known})"
        elif field not in FIELDS:
            fields = ", ".join(FIELDS)
            return f"unknown placeholder {{{{ {field} }}}}; use {fields} or labels.NAME"
    if _LEFTOVER.search(_PLACEHOLDER.sub("", template)):
        return "unbalanced {{ or }}: write placeholders as {{ value }}"
    return None


def render(template: str, fields: Mapping[str, str], labels: Mapping[str, str]) -> str:
    """Fill the placeholders; an unknown one is left as written (the loader reports it)."""

    def fill(match: re.Match[str]) -> str:
        head, _, label = match["field"].partition(".")
        if head == "labels" and label:
            return labels.get(label, "")
        return fields.get(match["field"], match[0])

    return _PLACEHOLDER.sub(fill, template)
