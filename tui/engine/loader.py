"""Load the YAML config into the typed model, reporting every problem at ``file:line:col``.

The YAML is composed (not loaded) so every node keeps its position; nodes become plain Python
while the position of each key path is recorded. The data is then walked against the msgspec
Structs field by field, so one run reports every unknown key and every bad value instead of
stopping at the first, and a final ``msgspec.convert`` builds the frozen ``Config``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args, get_origin
from urllib.parse import urlsplit

import msgspec
import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from tui.engine import units
from tui.engine.config import Config, LocalTime
from tui.engine.errors import redact
from tui.engine.printable import printable
from tui.engine.units import Duration, Percent, parse_duration, parse_percent

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KeyPath = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 200_000
"""Alias expansion budget: a "billion laughs" document becomes an issue, not an OOM."""

_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
_EXTENSION = "x-"
"""Top-level keys starting with this are ignored, to hold YAML anchors (as in compose files)."""
_POSITIVE = frozenset({"interval", "timeout", "max_backoff", "evaluation_interval"})
_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_EXPECTED = re.compile(r"^Expected `([^`]+)`, got `[^`]+`")
_MSGSPEC_PATH = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path or '<root>'}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class _Unset:
    """Stands for a scalar whose environment variable is missing (already reported)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str | int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value}"


def dec_hook(tp: type, value: object) -> object:
    """msgspec hook for the unit types: ``msgspec.convert(data, T, dec_hook=dec_hook)``."""
    if tp is Duration:
        return parse_duration(value)
    if tp is Percent:
        return parse_percent(value)
    if tp is LocalTime:
        if not isinstance(value, str):
            raise ValueError(f'expected a time like "02:00" or 2025-03-01 22:00, got {value!r}')
        return LocalTime(value)
    raise NotImplementedError(f"unsupported type {tp!r}")


def _is_struct(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _is_container(tp: object) -> bool:
    return _is_struct(tp) or get_origin(tp) in (list, dict)


class _Loading:
    """One load: positions, issues, and the passes that fill them."""

    def __init__(self, filename: str, environ: Mapping[str, str]) -> None:
        self.filename = filename
        self.environ = environ
        self.issues: list[ConfigIssue] = []
        self.values: dict[KeyPath, tuple[int, int]] = {}
        self.keys: dict[KeyPath, tuple[int, int]] = {}
        self.raw: dict[KeyPath, str] = {}
        """Unquoted scalars YAML read as something other than text, as written (``02:00``)."""
        self.expanded: dict[KeyPath, str] = {}
        """Scalars with ``${...}``, as substituted: a text field takes them as text (a token of
        digits is not a number, and must not be echoed back as one), any other field as YAML
        reads the text, quoted or not (``port: "${PORT}"`` is a number)."""
        self.written: dict[KeyPath, str] = {}
        """The same scalars as written, where a variable's value went in: what messages show."""
        self.secrets: dict[str, str] = {}
        """Values the environment gave, by variable: never echoed in a message."""
        self._constructor = SafeConstructor()
        self._resolver = Resolver()
        self._budget = _MAX_NODES
        self._active: set[int] = set()

    # --- issues ------------------------------------------------------------------------
    def issue(self, path: KeyPath, message: str, *, at_key: bool = False) -> None:
        line, col = self._position(path, at_key)
        self.issue_at(line, col, message, path)

    def issue_at(self, line: int, col: int, message: str, path: KeyPath = ()) -> None:
        text = _clean(message)
        where = printable(format_path(path))  # keys are echoed from the file
        self.issues.append(ConfigIssue(self.filename, line, col, where, text))

    def error(self) -> ConfigError:
        """Every issue, in file order, with no value the environment gave."""
        return ConfigError(
            sorted({self._hide_environment(issue) for issue in self.issues}, key=_order)
        )

    def _hide_environment(self, issue: ConfigIssue) -> ConfigIssue:
        """A message names the variables, never their values (a URL holding a token, a DSN):
        the substituted scalar is said as written, e.g. "got the value of ${HEALTH_URL}"."""
        message = issue.message
        for path, written in self.written.items():
            text = self.expanded.get(path, written)
            if len(text) < _SHORT and issue.path != printable(format_path(path)):
                continue  # "5" may well be another number in another message
            shown = f"the value of {printable(written)}"
            for form in dict.fromkeys((text, redact(text))):
                message = message.replace(_clean(repr(form)), shown)
                message = _mentions(_clean(form)).sub(shown, message)
        for name, value in self.secrets.items():
            if len(value) >= _SHORT:  # a part of a scalar that the above did not match
                message = _mentions(_clean(value)).sub(f"${{{name}}}", message)
        return issue if message == issue.message else replace(issue, message=message)

    def _position(self, path: KeyPath, at_key: bool) -> tuple[int, int]:
        if at_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found:
                return found
        return (1, 1)

    # --- YAML nodes -> plain Python ----------------------------------------------------
    def build(self, node: Node, path: KeyPath) -> object:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        self._budget -= 1
        if self._budget < 0:
            if self._budget == -1:
                self.issue(path, "document too large (aliases expand beyond 200000 nodes)")
            return None
        if id(node) in self._active:
            self.issue(path, "an alias refers to itself (recursive structure)")
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if node.tag != _SEQ_TAG:
                self.issue(path, f"unsupported YAML tag {node.tag}")
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, object]:
        if node.tag != _MAP_TAG:
            self.issue(path, f"unsupported YAML tag {node.tag}")
        merged: dict[str, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge(value_node, path))
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        out: dict[str, object] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            key_path = (*path, key)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.keys[key_path] = (line, key_node.start_mark.column + 1)
                self.issue(
                    key_path,
                    f"duplicate key `{key}` (first defined on line {first_line[key]})",
                    at_key=True,
                )
                continue
            first_line[key] = line
            self.keys[key_path] = (line, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, key_path)
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def _merge(self, node: Node, path: KeyPath) -> dict[str, object]:
        """``<<: *defaults`` (or a list of them): keys written in place win over merged ones."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, object] = {}
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                self.issue(path, "`<<` merges only mappings")
                continue
            built = self.build(source, path)
            if isinstance(built, dict):
                merged.update(built)
        return merged

    def _key(self, node: Node, path: KeyPath) -> str | None:
        """Keys are text as written: ``404:`` is "404" and ``on:`` is "on", never a bool."""
        if isinstance(node, ScalarNode):
            return node.value
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.issue_at(line, col, "a key must be a plain value, not a list or mapping", path)
        return None

    def _scalar(self, node: ScalarNode, path: KeyPath) -> object:
        if node.tag == _STR_TAG and "$" in node.value:
            text = self._interpolate(node.value, path)
            if text is _UNSET:
                return _UNSET
            quoted = node.style not in (None, "")
            if text == node.value or (quoted and not _references(node.value)):
                return text  # a quoted ``$$`` is text as written
            self.expanded[path] = text
            tag = self._resolver.resolve(ScalarNode, text, (True, False))
            node = ScalarNode(tag, text, node.start_mark, node.end_mark)
        if node.style in (None, "") and node.tag != _STR_TAG:
            self.raw[path] = node.value
        try:
            return self._constructor.construct_object(node)
        except yaml.YAMLError as exc:
            self.issue(path, getattr(exc, "problem", None) or str(exc))
            return _UNSET

    def _interpolate(self, text: str, path: KeyPath) -> str | _Unset:
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name is None:
                return "$"
            value = self.environ.get(name)
            if value:
                self.written[path] = text
                self.secrets[name] = value
                return value
            if default is not None:
                return default
            if value is None:
                missing.append(name)
                return ""
            return value

        result = _VARIABLE.sub(replace, text)
        for name in missing:
            self.issue(path, f"environment variable {name} is not set")
        leftover = re.search(r"\$\{[^}]*\}?", _VARIABLE.sub("", text))
        if leftover:
            self.issue(
                path,
                f"malformed variable reference {leftover.group(0)!r}: write ${{NAME}}, "
                "${NAME:-default}, or $$ for a literal $",
            )
            return _UNSET
        return _UNSET if missing else result

    # --- data -> model ------------------------------------------------------------------
    def walk(self, value: object, tp: object, path: KeyPath) -> object:
        """Validate ``value`` against ``tp``; returns it with null sections dropped."""
        if value is _UNSET:
            return value
        if path in self.raw and LocalTime in (tp, *get_args(tp)):
            value = self.raw[path]
        if path in self.expanded and str in (tp, *get_args(tp)):
            value = self.expanded[path]
        if _is_struct(tp):
            return self._struct(value, tp, path)
        origin = get_origin(tp)
        if origin is list:
            if not isinstance(value, list):
                self.issue(path, f"expected a list, got {_describe(value)}")
                return value
            (item,) = get_args(tp)
            return [self.walk(v, item, (*path, i)) for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.issue(path, f"expected a mapping, got {_describe(value)}")
                return value
            _, item = get_args(tp)
            return {k: self.walk(v, item, (*path, k)) for k, v in value.items()}
        self._leaf(value, tp, path)
        return value

    def _struct(self, value: object, cls: type[msgspec.Struct], path: KeyPath) -> object:
        if not isinstance(value, dict):
            what = "sections (settings, checks, ...)" if not path else "keys"
            self.issue(path, f"expected a mapping of {what}, got {_describe(value)}")
            return value
        fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
        out: dict[str, object] = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None and not path and key.startswith(_EXTENSION):
                continue
            if field is None:
                self._unknown_key(key, list(fields), (*path, key))
                continue
            if item is None and not field.required and _is_container(field.type):
                continue
            out[key] = self.walk(item, field.type, (*path, key))
        for name, field in fields.items():
            if field.required and name not in value:
                self.issue(path, f'missing required key "{name}"')
        return out

    def _unknown_key(self, key: object, valid: list[str], path: KeyPath) -> None:
        hint = _suggest(str(key), valid).removeprefix("; ")
        self.issue(
            path, f"unknown key `{key}`; {hint or 'valid keys: ' + ', '.join(valid)}", at_key=True
        )

    def _leaf(self, value: object, tp: object, path: KeyPath) -> None:
        try:
            result = msgspec.convert(value, tp, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            self.issue(path, _leaf_message(exc, value, tp))
            return
        name = path[-1] if path else ""
        if isinstance(result, Duration) and name in _POSITIVE and result <= 0:
            self.issue(path, f"must be greater than 0, got {_describe(value)}")

    # --- what msgspec cannot say -------------------------------------------------------
    def semantics(self, data: dict[str, object]) -> None:
        settings = data.get("settings")
        if isinstance(settings, dict):
            history = settings.get("history")
            if _is_int(history) and history < 10:
                self.issue(("settings", "history"), f"must be at least 10, got {history}")
        for section in ("checks", "databases", "queues"):
            self._unique_names(data.get(section), (section,))
        databases = data.get("databases")
        if isinstance(databases, list):
            for i, database in enumerate(databases):
                if isinstance(database, dict):
                    self._database_metrics(database.get("metrics"), ("databases", i, "metrics"))
        queues = data.get("queues")
        if isinstance(queues, list):
            for i, queue in enumerate(queues):
                if isinstance(queue, dict):
                    self._queue(queue, ("queues", i), databases)
        alerts = data.get("alerts")
        if isinstance(alerts, dict):
            self._unique_names(alerts.get("rules"), ("alerts", "rules"))
        checks = data.get("checks")
        if isinstance(checks, list):
            for i, check in enumerate(checks):
                if isinstance(check, dict):
                    self._check(check, ("checks", i))
                    self._expect(check, ("checks", i))
                    self._check_metrics(check, ("checks", i))
        if isinstance(alerts, dict):
            self._alerts(alerts, data)
        self._maintenance(data.get("maintenance"))

    def _unique_names(self, items: object, path: KeyPath) -> None:
        if not isinstance(items, list):
            return
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                line = self._position((*path, seen[name], "name"), False)[0]
                self.issue(
                    (*path, i, "name"), f'duplicate name "{name}" (first used on line {line})'
                )
            else:
                seen[name] = i

    def _database_metrics(self, metrics: object, path: KeyPath) -> None:
        """Custom metric names become rule paths ``db.DB.NAME``: unique, plain and not built in."""
        if not isinstance(metrics, list):
            return
        from tui.engine.samples import METRICS

        self._unique_names(metrics, path)
        for j, metric in enumerate(metrics):
            if not isinstance(metric, dict):
                continue
            name = metric.get("name")
            if isinstance(name, str) and not _IDENTIFIER.match(name):
                self.issue(
                    (*path, j, "name"),
                    f"invalid metric name {name!r}: use letters, digits, _ and -, starting with"
                    " a letter or _ (rules write it as db.DATABASE.NAME)",
                )
            elif isinstance(name, str) and name in METRICS["db"]:
                self.issue(
                    (*path, j, "name"),
                    f"{name!r} is a built-in database metric: give the custom one another name",
                )
            sql = metric.get("sql")
            if isinstance(sql, str) and not sql.strip():
                self.issue((*path, j, "sql"), "empty query: a metric is a SELECT of one value")

    def _queue(self, queue: dict[str, object], path: KeyPath, databases: object) -> None:
        """Keys that belong to another kind, what a kind needs, URLs and thresholds."""
        kind = queue.get("kind", "redis_list")
        if not isinstance(kind, str) or kind not in _QUEUE_KIND_KEYS:
            return
        for key, kinds in _QUEUE_KEYS.items():
            if key in queue and kind not in kinds:
                users = ", ".join(sorted(kinds))
                self.issue(
                    (*path, key), f"{key} applies to {users} queues, not {kind}", at_key=True
                )
        for key in _QUEUE_KIND_KEYS[kind]:
            if queue.get(key) in (None, ""):
                self.issue(path, f'a {kind} queue needs "{key}"')
        if queue.get("discover") is True and queue.get("queue") is not None:
            self.issue((*path, "queue"), "discover: true watches every queue; leave queue out")
        if queue.get("exclude") and queue.get("discover") is not True:
            self.issue((*path, "exclude"), "exclude applies with discover: true")
        url = queue.get("url")
        schemes = ("http://", "https://") if kind in ("rabbitmq", "prometheus") else _REDIS_SCHEMES
        if isinstance(url, str) and not url.startswith(schemes):
            wanted = " or ".join(schemes)
            self.issue((*path, "url"), f"expected a {wanted} URL, got {redact(url)!r}")
        elif isinstance(url, str) and (problem := _port_problem(url)):
            self.issue((*path, "url"), problem)
        database = queue.get("database")
        if isinstance(database, str) and kind == "sql":
            names = (
                [d.get("name") for d in databases if isinstance(d, dict)]
                if isinstance(databases, list)
                else []
            )
            if database not in names:
                hint = _suggest(database, [n for n in names if isinstance(n, str)])
                self.issue((*path, "database"), f"no databases entry named {database!r}{hint}")
        steps = queue.get("priority_steps")
        if isinstance(steps, list) and (not steps or len(set(map(str, steps))) != len(steps)):
            self.issue(
                (*path, "priority_steps"), "expected distinct priority steps, e.g. [0, 3, 6, 9]"
            )
        queries = queue.get("queries")
        for field in queries if isinstance(queries, dict) else ():
            if field not in _PROMETHEUS_FIELDS:
                hint = _suggest(str(field), _PROMETHEUS_FIELDS)
                known = "" if hint else f"; known: {', '.join(_PROMETHEUS_FIELDS)}"
                self.issue(
                    (*path, "queries", field), f"unknown field {field!r}{hint}{known}", at_key=True
                )
        for warn, crit in (
            ("warn_depth", "crit_depth"),
            ("warn_age", "crit_age"),
            ("warn_failed", "crit_failed"),
        ):
            low, high = queue.get(warn), queue.get(crit)
            try:
                lower = float(parse_duration(low)) if "age" in warn else low
                upper = float(parse_duration(high)) if "age" in crit else high
            except ValueError:
                continue
            if isinstance(lower, int | float) and isinstance(upper, int | float) and lower > upper:
                self.issue((*path, warn), f"{warn} ({low}) is above {crit} ({high})")

    def _check(self, check: dict[str, object], path: KeyPath) -> None:
        kind = check.get("kind", "http")
        url = check.get("url")
        if kind == "http":
            if url is None:
                self.issue(path, 'an http check needs "url" (http:// or https://)')
            elif isinstance(url, str) and not re.match(r"^https?://[^/\s]", url):
                self.issue((*path, "url"), f"expected an http:// or https:// URL, got {url!r}")
            elif isinstance(url, str) and (problem := _port_problem(url)):
                self.issue((*path, "url"), problem)
            headers = check.get("headers")
            if isinstance(headers, dict) and headers:
                from tui.engine.sources.http import header_problem

                for name, value in headers.items():
                    problem = isinstance(value, str) and header_problem(name, value)
                    if problem:
                        self.issue((*path, "headers", name), problem, at_key=True)
        elif kind in ("tcp", "tls"):
            needed = ("host", "port") if kind == "tcp" else ("host",)
            for key in needed:
                if check.get(key) is None:
                    self.issue(path, f'a {kind} check needs "{key}"')
            if url is not None:
                self.issue(
                    (*path, "url"), f'a {kind} check connects to "host" and "port", not a url'
                )
        port = check.get("port")
        if _is_int(port) and not 1 <= port <= 65535:
            self.issue((*path, "port"), f"port must be between 1 and 65535, got {port}")
        if check.get("ca_file") is not None and check.get("verify_tls") is False:
            self.issue((*path, "ca_file"), "ca_file is used to verify TLS, but verify_tls is false")

    def _expect(self, check: dict[str, object], path: KeyPath) -> None:
        """Conditions are parsed once here too, to point at the line of a bad one."""
        expect = check.get("expect")
        if not isinstance(expect, list) or not expect:
            return
        from tui.engine.conditions import applies, parse_condition

        kind = check.get("kind", "http")
        url = check.get("url")
        for j, text in enumerate(expect):
            if not isinstance(text, str):
                continue
            try:
                condition = parse_condition(text)
            except ValueError as exc:
                self.issue((*path, "expect", j), str(exc))
                continue
            if isinstance(kind, str) and kind in ("http", "tcp", "tls"):
                problem = applies(condition, kind, url if isinstance(url, str) else None)
                if problem:
                    self.issue((*path, "expect", j), problem)

    def _check_metrics(self, check: dict[str, object], path: KeyPath) -> None:
        """``metrics:`` names become rule paths ``check.NAME.KEY``; values are JSON paths."""
        metrics = check.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            return
        if check.get("kind", "http") != "http":
            self.issue((*path, "metrics"), "metrics are read from a JSON body: http checks only")
            return
        from tui.engine.samples import METRICS
        from tui.engine.sources.http import json_metric

        for name, json_path in metrics.items():
            if not _IDENTIFIER.match(name):
                self.issue(
                    (*path, "metrics", name),
                    f"invalid metric name {name!r}: use letters, digits, _ and -, starting with"
                    " a letter or _ (rules write it as check.CHECK.NAME)",
                    at_key=True,
                )
            elif name in METRICS["check"]:
                self.issue(
                    (*path, "metrics", name),
                    f"{name!r} is a built-in check metric: give this one another name",
                    at_key=True,
                )
            if isinstance(json_path, str):
                try:
                    json_metric(json_path)
                except ValueError as exc:
                    self.issue((*path, "metrics", name), str(exc))

    def _alerts(self, alerts: dict[str, object], data: dict[str, object]) -> None:
        self._unique_names(alerts.get("rules"), ("alerts", "rules"))
        if isinstance(alerts.get("rules"), list):
            self._rules(alerts["rules"], data)
        sources = alerts.get("sources")
        if isinstance(sources, list):
            self._unique_names(sources, ("alerts", "sources"))
            for i, source in enumerate(sources):
                if isinstance(source, dict):
                    self._alert_source(source, ("alerts", "sources", i))
        flapping = alerts.get("flapping")
        if isinstance(flapping, dict):
            try:
                high = float(parse_percent(flapping.get("high", 0.5)))
                low = float(parse_percent(flapping.get("low", 0.25)))
            except ValueError:
                return  # reported by the type check
            if not 0 < low < high <= 1:
                self.issue(
                    ("alerts", "flapping"),
                    f"need 0% < low < high <= 100%, got low {low:.0%} and high {high:.0%}",
                )

    def _rules(self, rules: list[object], data: dict[str, object]) -> None:
        from tui.engine.rules import parse_when
        from tui.engine.templates import problem

        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            path: KeyPath = ("alerts", "rules", i)
            when = rule.get("when")
            if isinstance(when, str):
                try:
                    condition = parse_when(when)
                except ValueError as exc:
                    self.issue((*path, "when"), str(exc))
                else:
                    for metric in condition.metrics:
                        unknown = _unknown_metric(metric, data)
                        if unknown:
                            self.issue((*path, "when"), unknown)
            labels = rule.get("labels")
            labels = {k: str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
            for reserved in ("alertname", "severity"):
                if reserved in labels:
                    self.issue(
                        (*path, "labels", reserved),
                        f"`{reserved}` is set from the rule's "
                        f"{'name' if reserved == 'alertname' else 'severity'}",
                        at_key=True,
                    )
            known = {**labels, "alertname": "", "severity": ""}
            annotations = rule.get("annotations")
            templated: list[KeyPath] = [(*path, "summary"), (*path, "description")]
            if isinstance(annotations, dict):
                for key in annotations:
                    if key in ("summary", "description", "runbook", "runbook_url"):
                        self.issue(
                            (*path, "annotations", key),
                            f"write `{key}:` on the rule itself, not under annotations",
                            at_key=True,
                        )
                    templated.append((*path, "annotations", key))
            for key_path in templated:
                text = _get(data, key_path)
                wrong = isinstance(text, str) and problem(text, known)
                if wrong:
                    self.issue(key_path, wrong)
            url = rule.get("runbook_url")
            if isinstance(url, str) and not re.match(r"^https?://\S+$", url):
                self.issue(
                    (*path, "runbook_url"), f"expected an http:// or https:// URL, got {url!r}"
                )
            runbook = rule.get("runbook")
            if isinstance(runbook, str) and re.match(r"^[a-z]+://", runbook):
                self.issue(
                    (*path, "runbook"), "a URL goes in runbook_url; runbook names a file stem"
                )

    def _alert_source(self, source: dict[str, object], path: KeyPath) -> None:
        from tui.engine.rules import SOURCE

        if source.get("name") == SOURCE:
            self.issue((*path, "name"), f'"{SOURCE}" is the name of the rules\' own alerts')
        url = source.get("url")
        if isinstance(url, str) and not re.match(r"^https?://[^/\s]", url):
            self.issue((*path, "url"), f"expected an http:// or https:// URL, got {url!r}")
        elif isinstance(url, str) and (problem := _port_problem(url)):
            self.issue((*path, "url"), problem)
        if source.get("password") is not None and source.get("username") is None:
            self.issue((*path, "password"), 'a password needs "username" (basic auth)')
        if source.get("bearer_token") is not None and source.get("username") is not None:
            self.issue((*path, "bearer_token"), "use either basic auth or a bearer token")
        if source.get("ca_file") is not None and source.get("verify_tls") is False:
            self.issue((*path, "ca_file"), "ca_file is used to verify TLS, but verify_tls is false")

    def _maintenance(self, windows: object) -> None:
        if not isinstance(windows, list):
            return
        from tui.engine.config import Maintenance
        from tui.engine.maintenance import WindowError, compile_window

        self._unique_names(windows, ("maintenance",))
        for i, window in enumerate(windows):
            try:
                config = msgspec.convert(window, Maintenance, dec_hook=dec_hook)
            except (msgspec.ValidationError, ValueError):
                continue  # the type check reported it
            try:
                compile_window(config)
            except WindowError as exc:
                self.issue(("maintenance", i, exc.key), str(exc))

    def convert(self, data: object) -> Config:
        try:
            return msgspec.convert(data, Config, dec_hook=dec_hook)
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `")
            path: list[str | int] = []
            for name, index in _MSGSPEC_PATH.findall(where.rstrip("`")):
                path.append(int(index) if index else name)
            self.issue(tuple(path), message)
            raise self.error() from None


_SHORT = 4
"""Values shorter than this are hidden only in messages about their own key."""


def _clean(message: str) -> str:
    """One line, no password, nothing a terminal would act on."""
    return printable(redact(" ".join(message.split())))


def _mentions(text: str) -> re.Pattern[str]:
    """``text`` standing alone: ``5432`` in "got 5432", not inside ``65432``."""
    return re.compile(rf"(?<![\w.-]){re.escape(text)}(?![\w-])")


def _references(text: str) -> bool:
    return any(match.group(1) for match in _VARIABLE.finditer(text))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _leaf_message(exc: msgspec.ValidationError, value: object, tp: object) -> str:
    if exc.__cause__ is not None:
        return str(exc.__cause__)
    if get_origin(tp) is Literal:
        choices = ", ".join(str(choice) for choice in get_args(tp))
        return f"expected one of {choices}, got {_describe(value)}"
    match = _EXPECTED.match(str(exc))
    if not match:
        message = str(exc)
        return message[:1].lower() + message[1:]
    wanted = [name.strip() for name in match.group(1).split("|")]
    if len(wanted) > 1:
        wanted = [name for name in wanted if name != "null"]
    expected = " or ".join(_TYPE_NAMES.get(name, name) for name in wanted)
    hint = ""
    if wanted == ["str"] and isinstance(value, int | float | bool):
        hint = " (quote it to make it a string)"
    return f"expected {expected}, got {_describe(value)}{hint}"


def _parse(text: str, state: _Loading) -> Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        detail = exc.problem or "syntax error"
        if exc.context and not exc.context.startswith("while"):
            detail = f"{exc.context}, {detail}"
        elif exc.context and exc.context_mark and exc.context_mark is not mark:
            detail += f" ({exc.context} on line {exc.context_mark.line + 1})"
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "${" in lines[mark.line]:
            detail += "; inside {...} or [...], quote values that contain ${...}"
        state.issue_at(line, col, f"invalid YAML: {detail}")
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        col = exc.position - (before.rfind("\n") + 1) + 1
        state.issue_at(line, col, f"invalid YAML: {exc.reason} (character #x{exc.character:04x})")
    raise ConfigError(state.issues)


def load_config_text(text: str, filename: str, environ: Mapping[str, str] | None = None) -> Config:
    """Parse and validate ``text``; raises ConfigError listing every problem found."""
    state = _Loading(filename, os.environ if environ is None else environ)
    try:
        root = _parse(text, state)
        data = None if root is None else state.build(root, ())
        if data is None:
            data = {}
        cleaned = state.walk(data, Config, ())
        if isinstance(cleaned, dict):
            state.semantics(cleaned)
        if state.issues:
            raise state.error()
        return state.convert(cleaned)
    except ConfigError:
        raise
    except Exception as exc:
        state.issue_at(1, 1, f"cannot load the config: {type(exc).__name__}: {exc}")
        raise state.error() from None


def _order(issue: ConfigIssue) -> tuple[int, int, str, str]:
    return (issue.line, issue.col, issue.path, issue.message)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    filename = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            [ConfigIssue(filename, 1, 1, "", f"cannot read the file: {reason}")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        message = f"not a UTF-8 text file (invalid byte 0x{raw[exc.start]:02x})"
        raise ConfigError([ConfigIssue(filename, line, col, "", message)]) from None
    return load_config_text(text, filename, environ)


def _schema_hook(tp: type) -> dict[str, object]:
    if tp is Duration:
        return {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": units._DURATION.pattern},
            ],
            "description": "seconds, or a duration like 250ms, 5s, 5m, 1h, 30d",
        }
    if tp is Percent:
        return {
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": units._PERCENT.pattern}],
            "description": "a fraction, or a percentage like 5%",
        }
    if tp is LocalTime:
        return {"type": "string", "description": 'a time like "02:00" or 2025-03-01 22:00'}
    raise NotImplementedError(f"no JSON Schema for {tp!r}")


def json_schema() -> dict[str, object]:
    """The config's JSON Schema, for editors' YAML language servers."""
    schema = msgspec.json.schema(Config, schema_hook=_schema_hook)
    defs = dict(schema.get("$defs", {}))
    root = defs.pop("Config", schema)
    out: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "watchdeck config",
        **{k: v for k, v in root.items() if k != "title"},
    }
    out["patternProperties"] = {f"^{_EXTENSION}": {}}
    if defs:
        out["$defs"] = defs
    return out


__all__ = [
    "ConfigError",
    "ConfigIssue",
    "dec_hook",
    "format_path",
    "json_schema",
    "load_config",
    "load_config_text",
]


_RULE_SECTIONS = {"check": "checks", "db": "databases", "queue": "queues"}


def _unknown_metric(metric: str, data: dict[str, object]) -> str | None:
    """Why a rule's metric path names nothing this config produces, or ``None``."""
    from tui.engine.samples import METRICS

    section, _, rest = metric.partition(".")
    name, _, leaf = rest.rpartition(".")
    items = data.get(_RULE_SECTIONS[section])
    names = [
        item["name"]
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    ]
    if name not in names and not (section == "queue" and _discovered(items, name)):
        hint = _suggest(name, names)
        known = f"; configured: {', '.join(names)}" if names and not hint else ""
        return f"{metric}: no {_RULE_SECTIONS[section]} entry named {name!r}{hint}{known}"
    known = [*METRICS[section], *_custom_metrics(items, name, section)]
    if leaf not in known:
        hint = _suggest(leaf, known)
        return f"{metric}: unknown metric {leaf!r}{hint}; known: {', '.join(known)}"
    return None


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _port_problem(url: str) -> str | None:
    """A URL's port out of range or not a number: the libraries would say it later without
    the key (redis-py: a bare "Port out of range 0-65535") or misread it (httpx: a DNS
    failure)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [ of an IPv6 address
        return str(exc)[:1].lower() + str(exc)[1:]
    try:
        if parts.port != 0:
            return None
    except ValueError:
        pass
    written = parts.netloc.rpartition(":")[2]
    return f"the URL's port must be between 1 and 65535, got {written}"


_DISCOVERABLE = frozenset({"rq", "sidekiq", "bullmq", "celery", "rabbitmq"})
_QUEUE_KEYS: dict[str, frozenset[str]] = {
    "url": frozenset(
        {
            "redis_list",
            "celery",
            "rq",
            "bullmq",
            "sidekiq",
            "redis_stream",
            "rabbitmq",
            "prometheus",
        }
    ),
    "discover": _DISCOVERABLE,
    "exclude": _DISCOVERABLE,
    "prefix": frozenset({"rq", "bullmq", "sidekiq", "celery"}),
    "priority_steps": frozenset({"celery"}),
    "sep": frozenset({"celery"}),
    "group": frozenset({"redis_stream"}),
    "vhost": frozenset({"rabbitmq"}),
    "database": frozenset({"sql"}),
    "sql": frozenset({"sql"}),
    "query": frozenset({"prometheus"}),
    "queries": frozenset({"prometheus"}),
}
"""Queue keys that only some kinds use."""
_QUEUE_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "redis_list": (),
    "celery": (),
    "rq": (),
    "bullmq": (),
    "sidekiq": (),
    "redis_stream": (),
    "rabbitmq": (),
    "sql": ("database", "sql"),
    "prometheus": ("query",),
}
"""Keys each queue kind needs."""
_PROMETHEUS_FIELDS = ("active", "failed", "delayed", "oldest_age_s", "workers")


def _discovered(queues: object, name: str) -> bool:
    """``NAME/QUEUE`` is a queue the ``discover: true`` entry NAME may find."""
    entry, slash, queue = name.partition("/")
    return bool(slash and queue) and any(
        isinstance(item, dict) and item.get("name") == entry and item.get("discover") is True
        for item in (queues if isinstance(queues, list) else [])
    )


def _custom_metrics(items: object, name: str, section: str) -> list[str]:
    """The custom metric names of the database (SQL metrics) or check (JSON metrics) ``name``."""
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("name") == name:
            metrics = item.get("metrics")
            if section == "check":
                return list(metrics) if isinstance(metrics, dict) else []
            if section == "db":
                return [
                    metric["name"]
                    for metric in (metrics if isinstance(metrics, list) else [])
                    if isinstance(metric, dict) and isinstance(metric.get("name"), str)
                ]
    return []


def _get(data: object, path: KeyPath) -> object:
    """The value at ``path`` in the loaded data, or ``None``."""
    for part in path:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def _suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean `x`?"`` for the closest candidate, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""
