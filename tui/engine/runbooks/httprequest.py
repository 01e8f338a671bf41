"""The text of an ``http`` step, the way .http files write a request::

    POST $BASE/api/queues/emails/pause?reason=$REASON
    Authorization: Bearer $TOKEN
    Content-Type: application/json

    {"by": "$OPERATOR"}

Lines starting with ``#`` or ``//`` before the request line are comments; a trailing
``HTTP/1.1`` is accepted. Variables (``$NAME``, ``${NAME}``: the runbook's, then the
environment's; other ``$`` text is left alone) are filled in as data: percent-encoded in the
path and query, checked to be a host or port in the authority, a whole base URL when the URL
starts with one, refused in a header when they would break the line, JSON-escaped in a JSON
body, percent-encoded in a form body. This module only handles text; ``httpstep`` sends it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from tui.engine.conditions import mask_header_value
from tui.engine.errors import redact

REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_METHOD = re.compile(r"^[A-Z]+$")
_HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s?(.*)$")
_AUTHORITY_VALUE = re.compile(r"^[A-Za-z0-9.:_\[\]-]*$")
MASK = "***"

Lookup = Callable[[str], "str | None"]
"""A variable's value for the request, or None when the name is not a variable."""


class RequestProblem(ValueError):
    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line
        """0-based line in the block."""


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def text(self) -> str:
        head = [f"{self.method} {self.url}", *(f"{name}: {value}" for name, value in self.headers)]
        return "\n".join(head) + (f"\n\n{self.body}" if self.body else "")


def parse_request(code: str) -> RequestTemplate:
    lines = code.split("\n")
    number = 0
    while number < len(lines) and (
        not lines[number].strip() or lines[number].lstrip().startswith(("#", "//"))
    ):
        number += 1
    if number == len(lines):
        raise RequestProblem("an http block needs a request line such as GET https://...")
    words = lines[number].split()
    if len(words) == 3 and words[2].upper().startswith("HTTP/"):
        words = words[:2]
    if len(words) == 1:
        words = ["GET", words[0]]
    if len(words) != 2 or not _METHOD.match(words[0]):
        raise RequestProblem("expected `METHOD URL` such as `GET https://host/path`", number)
    method, url = words
    if not url.startswith(("http://", "https://", "$")):
        raise RequestProblem(f"the URL must start with http:// or https:// (or $VAR), got {url}")
    headers: list[tuple[str, str]] = []
    number += 1
    while number < len(lines) and lines[number].strip():
        match = _HEADER.match(lines[number].strip())
        if not match:
            raise RequestProblem(
                "expected a header `Name: value`, or a blank line before the body", number
            )
        headers.append((match.group(1), match.group(2).strip()))
        number += 1
    body = "\n".join(lines[number + 1 :]).strip("\n")
    return RequestTemplate(method, url, tuple(headers), body)


def _substitute(text: str, lookup: Lookup, fill: Callable[[str, str], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        value = lookup(name)
        return match.group(0) if value is None else fill(name, value)

    return REFERENCE.sub(replace, text)


def render(template: RequestTemplate, lookup: Lookup) -> Request:
    """The request to send."""

    def sent(_name: str, value: str, encode: Callable[[str], str]) -> str:
        return encode(value)

    return _render(template, lookup, sent, sent)


def shown_request(
    template: RequestTemplate,
    lookup: Lookup,
    secrets: frozenset[str],
    from_environment: Callable[[str], bool],
) -> Request:
    """The request as the operator confirms it and the journal keeps it: a secret's value as
    ``***``; a value read from the environment as ``${NAME}`` (it may be a token no runbook
    declares; the shell steps show it so too), except where the URL says where the request
    goes (a base URL or a host, shown with any password masked); credentials in headers
    masked as in a check's detail. The values are checked all the same, as for sending."""

    def shown(name: str, value: str, encode: Callable[[str], str]) -> str:
        if name in secrets:
            return MASK
        return f"${{{name}}}" if from_environment(name) else encode(value)

    def located(name: str, value: str, encode: Callable[[str], str]) -> str:
        return MASK if name in secrets else redact(encode(value))

    request = _render(template, lookup, shown, located)
    headers = tuple((name, mask_header_value(name, value)) for name, value in request.headers)
    return Request(request.method, request.url, headers, request.body)


def _render(template: RequestTemplate, lookup: Lookup, shown: Shown, located: Shown) -> Request:
    url = _url(template.url, lookup, shown, located)
    headers = []
    for name, raw in template.headers:
        value = _substitute(raw, lookup, lambda n, v: shown(n, v, str))
        if any(char in value for char in "\r\n\0"):
            raise RequestProblem(f"a variable puts a line break into header {name}")
        headers.append((name, value))
    body_type = next((v.lower() for n, v in headers if n.lower() == "content-type"), "")
    escape: Callable[[str], str] = str
    if "json" in body_type:
        escape = _json_string
    elif "x-www-form-urlencoded" in body_type:  # a value with & or = stays one field's value
        escape = _encode
    body = _substitute(template.body, lookup, lambda n, v: shown(n, v, escape))
    return Request(template.method, url, tuple(headers), body)


Shown = Callable[[str, str, Callable[[str], str]], str]


def _url(template: str, lookup: Lookup, shown: Shown, located: Shown) -> str:
    """``located`` shows the values that say where the request goes (base URL, host, port),
    ``shown`` the others."""
    base = ""
    rest = template
    leading = REFERENCE.match(template)
    if leading:
        name = leading.group(1) or leading.group(2)
        value = lookup(name)
        if value is None:
            raise RequestProblem(f"the URL starts with ${name}, which is not set")
        if not value.startswith(("http://", "https://")) or any(c in value for c in "?#\r\n "):
            raise RequestProblem(f"${name} must be a base URL such as https://host:8443")
        base = located(name, value, str)
        rest = template[leading.end() :]
    else:
        scheme_end = template.index("://") + 3
        cut = next((i for i in range(scheme_end, len(template)) if template[i] in "/?#"), None)
        cut = len(template) if cut is None else cut

        def host_part(name: str, value: str) -> str:
            if not _AUTHORITY_VALUE.match(value):
                got = shown(name, value, repr)  # a secret is not echoed
                raise RequestProblem(f"${name} must be a host or port in the URL, got {got}")
            return located(name, value, str)

        base = _substitute(template[:cut], lookup, host_part)
        rest = template[cut:]
    end = next((i for i, char in enumerate(rest) if char in "?#"), len(rest))

    def segment(name: str, value: str) -> str:
        if value in (".", ".."):  # a dot segment: the client would walk up the path
            raise RequestProblem(f"${name} is {value!r}, which cannot go in the URL's path")
        return shown(name, value, _encode)

    path = _substitute(rest[:end], lookup, segment)
    return base + path + _substitute(rest[end:], lookup, lambda n, v: shown(n, v, _encode))


def _json_string(value: str) -> str:
    return json.dumps(value)[1:-1]


def _encode(value: str) -> str:
    return quote(value, safe="")
