"""Attributes after a fence's language, ``{name="Drain", confirm, timeout=30s}``.

Items are separated by commas or spaces; a bare word is a flag, ``key=value`` takes a bare or
quoted value. Unknown names are errors with a "did you mean": a misspelt ``danger`` silently
ignored would run a dangerous step without its guard.
"""

from __future__ import annotations

import difflib
import re

from tui.engine.units import parse_duration

FLAGS = frozenset({"confirm", "danger", "interactive"})
VALUED = frozenset({"name", "timeout", "db", "capture", "check"})
KNOWN = FLAGS | VALUED
CHECKLIST = frozenset({"name", "check", "timeout"})
"""What a checklist item may carry: ``- [ ] api answers {check=api}``."""
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

Attributes = dict[str, str | bool | float]


class AttributeProblem(ValueError):
    """An attribute list that cannot be read; the message says what and where in it."""


def suggest(name: str, known: frozenset[str] | set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def split_pairs(text: str) -> list[tuple[str, str | None]]:
    """``a, b=1 c="x y"`` -> ``[("a", None), ("b", "1"), ("c", "x y")]``."""
    pairs: list[tuple[str, str | None]] = []
    i, end = 0, len(text)
    while True:
        while i < end and (text[i].isspace() or text[i] == ","):
            i += 1
        if i >= end:
            return pairs
        match = _KEY.match(text, i)
        if not match:
            raise AttributeProblem(f"expected an attribute name, found {text[i : i + 12]!r}")
        key, i = match.group(), match.end()
        j = i
        while j < end and text[j].isspace():
            j += 1
        if j >= end or text[j] != "=":
            pairs.append((key, None))
            continue
        i = j + 1
        while i < end and text[i].isspace():
            i += 1
        if i < end and text[i] in "\"'":
            value, i = _quoted(text, i, key)
        else:
            start = i
            while i < end and not text[i].isspace() and text[i] != ",":
                i += 1
            value = text[start:i]
            if not value:
                raise AttributeProblem(f"{key}= has no value")
        pairs.append((key, value))


def _quoted(text: str, i: int, key: str) -> tuple[str, int]:
    quote, i, out = text[i], i + 1, []
    while i < len(text):
        char = text[i]
        if char == "\\" and quote == '"' and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise AttributeProblem(f"the value of {key} opens a {quote} quote that is never closed")


def parse(text: str, allowed: frozenset[str] = KNOWN) -> Attributes:
    """Typed attributes from the inside of the braces; raises AttributeProblem."""
    result: Attributes = {}
    for key, raw in split_pairs(text):
        if key not in KNOWN:
            raise AttributeProblem(
                f"unknown attribute {key}{suggest(key, KNOWN)}; known: {', '.join(sorted(KNOWN))}"
            )
        if key not in allowed:
            raise AttributeProblem(
                f"{key} does not apply here; a checklist item takes {', '.join(sorted(allowed))}"
            )
        if key in result:
            raise AttributeProblem(f"attribute {key} is given twice")
        result[key] = _typed(key, raw)
    return result


def _typed(key: str, raw: str | None) -> str | bool | float:
    if key in FLAGS:
        if raw is None or raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise AttributeProblem(f"{key} is a flag: write {key} or {key}=false, not {key}={raw}")
    if raw is None:
        example = {"timeout": "30s", "capture": "PID", "db": "main", "check": "api"}
        raise AttributeProblem(f"{key} needs a value, e.g. {key}={example.get(key, '...')}")
    if key == "timeout":
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            raise AttributeProblem(f"timeout: {exc}") from None
        if seconds <= 0:
            raise AttributeProblem("timeout must be more than 0")
        return float(seconds)
    if key == "capture" and not IDENTIFIER.match(raw):
        raise AttributeProblem(f"capture names a variable (letters, digits, _), got {raw!r}")
    if not raw.strip():
        raise AttributeProblem(f"{key} is empty")
    return raw


def mentions_known(text: str) -> bool:
    """Whether loose words after a language look like attributes meant for us."""
    words = re.split(r"[\s,]+", text.strip())
    return any(word.split("=", 1)[0] in KNOWN for word in words if word)
