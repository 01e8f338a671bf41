"""Health-check conditions (the ``expect`` lines): parsed once, evaluated after every poll.

A condition reads one value from what the poll saw (``Observation``) and tests it. A value
the poll could not provide (no response, a body that is not JSON, a path that is not there,
no certificate) is "no data": the condition fails and says so, it is never read as 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import msgspec

from tui.engine.config import Check
from tui.engine.printable import printable
from tui.engine.samples import ConditionResult
from tui.engine.units import parse_duration

NO_DATA = "no data"
SUBJECTS = ("status", "latency", "json", "body", "header", "cert_days_left")
APPLIES: dict[str, frozenset[str]] = {
    "http": frozenset(SUBJECTS),
    "tcp": frozenset({"latency"}),
    "tls": frozenset({"latency", "cert_days_left"}),
}
"""Subjects each check kind can test."""
DEFAULT_EXPECT: dict[str, tuple[str, ...]] = {"http": ("status == 2xx",)}
"""What a check of a kind expects when it lists nothing."""
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Response headers whose values are masked wherever they are shown."""

_WHAT = {
    "status": "status",
    "json": "JSON body",
    "body": "body",
    "header": "headers",
    "cert_days_left": "certificate",
}
_SHOWN_MAX = 60
"""Characters of an actual value shown in a message."""


class _Missing:
    def __repr__(self) -> str:
        return NO_DATA


class _Absent:
    def __repr__(self) -> str:
        return "absent"


MISSING = _Missing()
"""An actual value the poll could not provide."""
ABSENT = _Absent()
"""A response header that is not there (a fact about the response, not missing data)."""


class Observation:
    """What one poll saw; ``None`` for anything it did not see.

    ``headers`` maps lower-case names to every value received. The body is the capped body;
    its text and JSON document are decoded once, on first use.
    """

    def __init__(
        self,
        *,
        latency_ms: float | None = None,
        http_status: int | None = None,
        headers: Mapping[str, tuple[str, ...]] | None = None,
        body: bytes | None = None,
        encoding: str = "utf-8",
        cert_days_left: float | None = None,
    ) -> None:
        self.latency_ms = latency_ms
        self.http_status = http_status
        self.headers = headers
        self.body = body
        self.encoding = encoding
        self.cert_days_left = cert_days_left

    @cached_property
    def text(self) -> str | None:
        if self.body is None:
            return None
        try:
            return self.body.decode(self.encoding, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    @cached_property
    def document(self) -> object:
        """The body as JSON, or ``MISSING`` when there is no body or it is not valid JSON."""
        if self.body is None:
            return MISSING
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError:
            return MISSING


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    """The condition as written."""
    subject: str
    label: str
    """The left-hand side in messages: ``status``, ``json $.a.b``, ``header Server``."""
    tail: str
    """The operator and right-hand side in messages: ``== 200``, ``exists``."""
    read: Callable[[Observation], object]
    """The actual value, or ``MISSING``."""
    holds: Callable[[object], bool]
    show: Callable[[object], str]

    def evaluate(self, seen: Observation) -> ConditionResult:
        value = self.read(seen)
        if value is MISSING:
            return ConditionResult(self.text, None, NO_DATA, self._failed(NO_DATA))
        shown = self.show(value)
        ok = self.holds(value)
        return ConditionResult(self.text, ok, shown, self.text if ok else self._failed(shown))

    def _failed(self, shown: str) -> str:
        return f"{self.label} ({shown}) {self.tail}"


def evaluate(conditions: tuple[Condition, ...], seen: Observation) -> tuple[ConditionResult, ...]:
    return tuple(condition.evaluate(seen) for condition in conditions)


# --- parsing ---------------------------------------------------------------------------------
class _Syntax(ValueError):
    """Why one condition does not parse (without the condition, which the caller adds)."""


_SUBJECT = re.compile(r"^([A-Za-z_]+)\s*(.*)$", re.S)
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_STRING = r'"(?:[^"\\]|\\.)*"'
_ORDER_OPS = r"<=|>=|<|>"
_ALL_OPS = r"==|!=|<=|>=|<|>"
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def parse_condition(text: str) -> Condition:
    """Parse one ``expect`` line; a ValueError says what is wrong in one line."""
    stripped = text.strip()
    match = _SUBJECT.match(stripped)
    parser = _PARSERS.get(match[1].lower()) if match else None
    if parser is None:
        subjects = ", ".join(SUBJECTS[:-1]) + f" or {SUBJECTS[-1]}"
        raise ValueError(f"unsupported condition {text!r}: a condition starts with {subjects}")
    assert match is not None
    try:
        return parser(stripped, match[2])
    except _Syntax as exc:
        raise ValueError(f"unsupported condition {text!r}: {exc}") from None


def applies(condition: Condition, kind: str, url: str | None = None) -> str | None:
    """Why ``condition`` cannot be tested by a check of ``kind``, or ``None`` when it can."""
    if condition.subject not in APPLIES[kind]:
        hint = "; use kind: tls" if condition.subject == "cert_days_left" else ""
        return f"a {kind} check has no {_WHAT[condition.subject]} to test{hint}"
    if condition.subject == "cert_days_left" and url and not url.lower().startswith("https:"):
        return "cert_days_left needs an https:// url"
    return None


def conditions_for(check: Check) -> tuple[Condition, ...]:
    """The check's conditions (or its kind's default); a ValueError names the check."""
    parsed = []
    for text in check.expect or DEFAULT_EXPECT.get(check.kind, ()):
        try:
            condition = parse_condition(text)
        except ValueError as exc:
            raise ValueError(f"check {check.name!r}: {exc}") from None
        problem = applies(condition, check.kind, check.url)
        if problem:
            raise ValueError(f"check {check.name!r}: {problem}")
        parsed.append(condition)
    return tuple(parsed)


def _status(text: str, rest: str) -> Condition:
    def read(seen: Observation) -> object:
        return MISSING if seen.http_status is None else seen.http_status

    if match := re.fullmatch(rf"({_ALL_OPS})\s*(\d{{3}})", rest):
        op, code = match[1], int(match[2])
        return Condition(
            text, "status", "status", f"{op} {code}", read, lambda s: _COMPARE[op](s, code), str
        )
    if match := re.fullmatch(r"(==|!=)\s*([1-5])xx", rest, re.I):
        op, klass = match[1], int(match[2])
        holds = (lambda s: s // 100 == klass) if op == "==" else (lambda s: s // 100 != klass)
        return Condition(text, "status", "status", f"{op} {klass}xx", read, holds, str)
    if match := re.fullmatch(r"in\s*\[\s*(\d{3}(?:\s*,\s*\d{3})*)\s*,?\s*\]", rest, re.I):
        codes = frozenset(int(code) for code in match[1].split(","))
        listed = ", ".join(str(code) for code in sorted(codes))
        return Condition(
            text, "status", "status", f"in [{listed}]", read, lambda s: s in codes, str
        )
    raise _Syntax(
        "write status == 200 (or !=, <, <=, >, >=), status == 2xx, status != 5xx "
        "or status in [200, 204]"
    )


def _latency(text: str, rest: str) -> Condition:
    match = re.fullmatch(rf"({_ORDER_OPS})\s*(\S+)", rest)
    if not match:
        raise _Syntax("write latency < 500ms (or <=, >, >=)")
    op, written = match[1], match[2]
    if not re.search(r"[a-z]$", written, re.I):
        raise _Syntax("give the latency a unit, e.g. 500ms or 2s")
    try:
        limit_ms = parse_duration(written) * 1000.0
    except ValueError as exc:
        raise _Syntax(str(exc)) from None

    def read(seen: Observation) -> object:
        return MISSING if seen.latency_ms is None else seen.latency_ms

    return Condition(
        text,
        "latency",
        "latency",
        f"{op} {written}",
        read,
        lambda ms: _COMPARE[op](ms, limit_ms),
        lambda ms: f"{ms:.0f}ms",
    )


def _cert_days_left(text: str, rest: str) -> Condition:
    match = re.fullmatch(rf"({_ALL_OPS})\s*({_NUMBER})", rest)
    if not match:
        raise _Syntax("write cert_days_left > 30 (a number of days; also <, <=, >=, ==, !=)")
    op, written = match[1], match[2]
    limit = float(written)

    def read(seen: Observation) -> object:
        return MISSING if seen.cert_days_left is None else seen.cert_days_left

    return Condition(
        text,
        "cert_days_left",
        "cert_days_left",
        f"{op} {written}",
        read,
        lambda days: _COMPARE[op](days, limit),
        lambda days: f"{days:.1f}",
    )


# --- json ------------------------------------------------------------------------------------
_PATH_STEP = re.compile(rf"\.([^\s.\[\]]+)|\[\s*({_STRING})\s*\]|\[\s*(-?\d+)\s*\]")
_VALUE_HINT = 'a "quoted string", a number (80, 0.5, 5%, 500ms), true, false or null'


def _json(text: str, rest: str) -> Condition:
    if not rest.startswith("$"):
        raise _Syntax('write json $.path == "value", json $.path < 80 or json $.path exists')
    steps: list[str | int] = []
    at = 1
    while match := _PATH_STEP.match(rest, at):
        key, quoted, index = match.groups()
        steps.append(int(index) if index is not None else json.loads(quoted) if quoted else key)
        at = match.end()
    path, tail = rest[:at], rest[at:].strip()
    if tail and not rest[at].isspace():
        raise _Syntax(f'bad JSON path {rest.split()[0]!r}: use $.key, $["key"] and $[0]')
    label = f"json {path}"

    def read(seen: Observation) -> object:
        return _follow(seen.document, steps)

    if tail == "exists":
        return Condition(text, "json", label, "exists", read, lambda _: True, _show_json)
    match = re.fullmatch(rf"({_ALL_OPS})\s*(.+)", tail)
    if not match:
        raise _Syntax(f"after {path} write exists, or ==, !=, <, <=, >, >= and {_VALUE_HINT}")
    op, written = match[1], match[2].strip()
    expected = _literal(written)
    if op in ("==", "!="):
        same = op == "=="
        return Condition(
            text,
            "json",
            label,
            f"{op} {written}",
            read,
            lambda actual: _json_equal(actual, expected) is same,
            _show_json,
        )
    if not isinstance(expected, float):
        raise _Syntax(f"{op} compares numbers; got {written}")
    return Condition(
        text,
        "json",
        label,
        f"{op} {written}",
        read,
        lambda actual: _is_number(actual) and _COMPARE[op](float(actual), expected),
        _show_json,
    )


def _literal(written: str) -> object:
    if re.fullmatch(_STRING, written):
        return json.loads(written)
    if written in ("true", "false"):
        return written == "true"
    if written == "null":
        return None
    if re.fullmatch(_NUMBER, written):
        return float(written)
    if re.fullmatch(r"-?\d+(?:\.\d+)?\s*%", written):
        return float(written.rstrip("% ")) / 100.0
    if re.fullmatch(r"\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)", written):
        return float(parse_duration(written))
    raise _Syntax(f"expected {_VALUE_HINT}, got {written}")


def _follow(document: object, steps: list[str | int]) -> object:
    value = document
    for step in steps:
        if isinstance(step, int):
            found = isinstance(value, list) and -len(value) <= step < len(value)
        else:
            found = isinstance(value, dict) and step in value
        if not found:
            return MISSING
        value = value[step]
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(actual: object, expected: object) -> bool:
    """Equality by JSON type: numbers as floats, and ``true`` is never ``1``."""
    if isinstance(expected, float):
        return _is_number(actual) and actual == expected
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual is expected
    if expected is None:
        return actual is None
    return isinstance(actual, str) and actual == expected


def _show_json(value: object) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _clip(text: str) -> str:
    text = printable(text)  # a body or header shown in a message comes from the server
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


# --- body and headers ------------------------------------------------------------------------
def _body(text: str, rest: str) -> Condition:
    match = re.fullmatch(rf"(contains|matches)\s+({_STRING})", rest)
    if not match:
        raise _Syntax('write body contains "text" or body matches "regex"')
    op, written = match[1], match[2]
    holds = _string_test(op, json.loads(written))

    def read(seen: Observation) -> object:
        return MISSING if seen.text is None else seen.text

    def show(value: object) -> str:
        return f'"{_clip(" ".join(str(value).split()))}"'

    return Condition(text, "body", "body", f"{op} {written}", read, holds, show)


def _header(text: str, rest: str) -> Condition:
    match = re.fullmatch(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(.*)", rest, re.S)
    if not match or not match[2]:
        raise _Syntax(
            "write header NAME exists, header NAME absent, or header NAME ==, !=, contains "
            'or matches "text"'
        )
    name, tail = match[1], match[2]
    key = name.lower()

    def read(seen: Observation) -> object:
        if seen.headers is None:
            return MISSING
        values = seen.headers.get(key)
        return values or ABSENT

    def show(value: object) -> str:
        if value is ABSENT:
            return "absent"
        assert isinstance(value, tuple)
        masked = ", ".join(mask_header_value(key, item) for item in value)
        return _clip(json.dumps(masked, ensure_ascii=False))

    label = f"header {name}"
    if tail in ("exists", "absent"):
        present = tail == "exists"
        return Condition(
            text, "header", label, tail, read, lambda value: (value is not ABSENT) is present, show
        )
    match = re.fullmatch(rf"(==|!=|contains|matches)\s*({_STRING})", tail)
    if not match:
        raise _Syntax(
            f'after header {name} write exists, absent, or ==, !=, contains or matches "text"'
        )
    op, written = match[1], match[2]
    test = _string_test(op, json.loads(written))

    def holds(value: object) -> bool:
        if value is ABSENT:
            return op == "!="
        assert isinstance(value, tuple)
        return test(", ".join(value))

    return Condition(text, "header", label, f"{op} {written}", read, holds, show)


def _string_test(op: str, expected: str) -> Callable[[object], bool]:
    if op == "==":
        return lambda value: value == expected
    if op == "!=":
        return lambda value: value != expected
    if op == "contains":
        return lambda value: expected in str(value)
    try:
        pattern = re.compile(expected)
    except re.error as exc:
        raise _Syntax(f"invalid regular expression: {exc}") from None
    return lambda value: pattern.search(str(value)) is not None


def mask_header_value(name: str, value: str) -> str:
    """The value as it may be shown: cookie values and credentials become ``***``.

    Cookie attributes and the authorization scheme stay visible, since security checks look
    at them (``Set-Cookie: session=***; Secure; HttpOnly``).
    """
    key = name.lower()
    if key not in SENSITIVE_HEADERS:
        return value
    if key in ("authorization", "proxy-authorization"):
        scheme, space, _ = value.strip().partition(" ")
        return f"{scheme} ***" if space else "***"
    if key == "cookie":
        pairs = (pair.strip().partition("=") for pair in value.split(";") if pair.strip())
        return "; ".join(f"{cookie}=***" if eq else "***" for cookie, eq, _ in pairs)
    first, semicolon, attributes = value.partition(";")
    cookie, eq, _ = first.partition("=")
    return (f"{cookie.strip()}=***" if eq else "***") + (f";{attributes}" if semicolon else "")


_PARSERS: dict[str, Callable[[str, str], Condition]] = {
    "status": _status,
    "latency": _latency,
    "json": _json,
    "body": _body,
    "header": _header,
    "cert_days_left": _cert_days_left,
}
