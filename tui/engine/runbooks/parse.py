"""Markdown in, a Runbook out: title, variables, and the steps in document order.

The Markdown is read with markdown-it-py (CommonMark; Textual and Rich already depend on it)
rather than with line regexes: fences inside lists, tildes, longer fences that contain
shorter ones, indented code, and checklist items spanning lines are CommonMark's rules, and
a home-made reader gets those subtly wrong on documents written for humans. It is imported
on first use, so a config without runbooks never pays for it.

Steps: checklist items (``- [ ]``, ``- [x]``: manual, or a health check with
``{check=NAME}`` at the end) and fenced blocks in ``sh``, ``bash``, ``shell``, ``sql`` or
``http``; any other block is shown, not run. A step's title is its ``name`` attribute, else
the nearest heading, checklist item or paragraph since the previous step (its first
sentence), else the block's first line.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.engine.errors import os_reason
from tui.engine.runbooks import attributes
from tui.engine.runbooks import frontmatter as fm
from tui.engine.runbooks.httprequest import RequestProblem, parse_request
from tui.engine.runbooks.model import RUNNABLE, SHELLS, Runbook, RunbookError, Step

if TYPE_CHECKING:
    from markdown_it.token import Token

TITLE_MAX = 100
_CHECKBOX = re.compile(r"^\[([ xX])\](?:\s+|$)(.*)$", re.S)
_TRAILING_ATTRIBUTES = re.compile(r"\s*\{([^{}]*)\}\s*$")
_INFO = re.compile(r"^([^\s{]*)\s*(.*)$", re.S)
_SENTENCE = re.compile(r"^(.+?[.?!])(?:\s|$)")
_COMMENT = re.compile(r"^\s*(?:#+|--|//)\s*")
_md: Any = None


def load(path: Path) -> Runbook:
    """Read and parse a runbook; raises RunbookError (also for an unreadable file)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RunbookError(path, 1, f"cannot read: {os_reason(exc)}") from None
    return parse(raw.decode("utf-8", errors="replace"), path)


def parse(text: str, path: Path) -> Runbook:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    source, source_line, body, body_line = fm.split(text, path)
    front = fm.parse(source, source_line, path) if source is not None else fm.FrontMatter()
    reader = _Reader(path, body_line, {var.name: var for var in front.variables})
    reader.walk(_markdown().parse(body))
    return Runbook(
        path=path,
        name=path.stem,
        title=reader.title or front.title or path.stem,
        text=text,
        body=body,
        body_line=body_line,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        variables=front.variables,
        alerts=front.alerts,
        window=front.window,
        description=front.description,
        steps=tuple(reader.steps),
    )


def _markdown() -> Any:
    global _md
    if _md is None:
        from markdown_it import MarkdownIt

        _md = MarkdownIt("commonmark").enable("table")
    return _md


def plain(inline: Token) -> str:
    """The text of an inline token without its markup."""
    parts = []
    for child in inline.children or ():
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def shorten(text: str) -> str:
    """The first sentence, without the colon that introduces a block, at most TITLE_MAX."""
    match = _SENTENCE.match(text)
    return _capped((match.group(1) if match else text).rstrip(":").strip())


def _capped(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


class _Reader:
    def __init__(self, path: Path, body_line: int, variables: dict[str, Any]) -> None:
        self.path = path
        self.offset = body_line
        self.variables = variables
        self.title: str | None = None
        self.steps: list[Step] = []
        self.context: str | None = None
        """The nearest heading, checklist item or paragraph since the last code step."""

    def fail(self, line: int, message: str) -> RunbookError:
        return RunbookError(self.path, line, message)

    def line(self, token: Token) -> int:
        return self.offset + (token.map[0] if token.map else 0)

    def walk(self, tokens: list[Token]) -> None:
        for i, token in enumerate(tokens):
            if token.type == "inline" and i > 0:
                opener = tokens[i - 1]
                item = i > 1 and tokens[i - 2].type == "list_item_open"
                if opener.type == "heading_open":
                    text = _capped(plain(token))
                    if self.title is None and opener.tag == "h1" and text:
                        self.title = text
                    self.context = text or self.context
                elif opener.type == "paragraph_open":
                    self._paragraph(token, first_in_item=item)
            elif token.type == "fence":
                self._fence(token)

    def _paragraph(self, inline: Token, *, first_in_item: bool) -> None:
        text = plain(inline)
        box = _CHECKBOX.match(text) if first_in_item else None
        if box is None:
            if text:
                self.context = shorten(text)
            return
        line = self.line(inline)
        content = box.group(2).strip()
        attrs: attributes.Attributes = {}
        trailing = _TRAILING_ATTRIBUTES.search(content)
        if trailing and attributes.mentions_known(trailing.group(1)):
            try:
                attrs = attributes.parse(trailing.group(1), attributes.CHECKLIST)
            except attributes.AttributeProblem as exc:
                raise self.fail(line, f"checklist item: {exc}") from None
            content = content[: trailing.start()].rstrip()
        title = str(attrs.get("name") or shorten(content) or "(untitled)")
        check = attrs.get("check")
        self.steps.append(
            Step(
                index=len(self.steps) + 1,
                kind="check" if check else "manual",
                title=title,
                line=line,
                text=content,
                checked=box.group(1) != " ",
                check=str(check) if check else None,
                timeout=_float(attrs.get("timeout")),
            )
        )
        self.context = shorten(content) or self.context

    def _fence(self, token: Token) -> None:
        line = self.line(token)
        info = _INFO.match(token.info.strip())
        assert info is not None
        language, rest = info.group(1).lower(), info.group(2).strip()
        attrs = self._attributes(language, rest, line)
        code = token.content
        if language not in RUNNABLE or (not code.strip() and "check" not in attrs):
            return
        kind = "shell" if language in SHELLS else language
        if not code.strip():
            kind = "check"
        self._combination(kind, attrs, line)
        if kind == "http":
            try:
                parse_request(code)
            except RequestProblem as exc:
                raise self.fail(line + 1 + exc.line, f"http block: {exc}") from None
        title = str(attrs.get("name") or self.context or _first_line(code) or language)
        self.steps.append(
            Step(
                index=len(self.steps) + 1,
                kind=kind,  # type: ignore[arg-type]
                title=title,
                line=line,
                language=language,
                code=code,
                confirm=bool(attrs.get("confirm")),
                danger=bool(attrs.get("danger")),
                timeout=_float(attrs.get("timeout")),
                db=_text(attrs.get("db")),
                capture=_text(attrs.get("capture")),
                interactive=bool(attrs.get("interactive")),
                check=_text(attrs.get("check")),
            )
        )
        self.context = None

    def _attributes(self, language: str, rest: str, line: int) -> attributes.Attributes:
        shown = f"```{language}" if language else "a block without a language"
        if rest.startswith("{"):
            if not rest.endswith("}"):
                raise self.fail(line, f"the attributes of {shown} open {{ and never close it")
            inner = rest[1:-1]
            if language in RUNNABLE:
                try:
                    return attributes.parse(inner)
                except attributes.AttributeProblem as exc:
                    raise self.fail(line, f"{shown} {{...}}: {exc}") from None
            if attributes.mentions_known(inner):
                raise self.fail(
                    line,
                    f"{shown} is shown, not run: attributes such as {{{inner.strip()}}} apply "
                    "to sh, bash, shell, sql and http blocks",
                )
        elif rest and language in RUNNABLE and attributes.mentions_known(rest):
            raise self.fail(line, f"attributes go in braces: {shown} {{{rest}}}")
        return {}

    def _combination(self, kind: str, attrs: attributes.Attributes, line: int) -> None:
        def refuse(message: str) -> RunbookError:
            return self.fail(line, message)

        if "db" in attrs and kind != "sql":
            raise refuse("db= applies to sql blocks")
        if attrs.get("interactive"):
            if kind != "shell":
                raise refuse("interactive applies to sh, bash and shell blocks")
            if "capture" in attrs:
                raise refuse("an interactive step's output goes to the terminal: no capture")
            if "timeout" in attrs:
                raise refuse("an interactive step has no timeout: the operator is at the keys")
        capture = attrs.get("capture")
        if capture and kind == "check":
            raise refuse("capture needs a command whose output to keep")
        if capture and (capture in fm.RESERVED or str(capture).startswith("LD_")):
            raise refuse(f"capture={capture} would replace the environment variable")
        declared = self.variables.get(str(capture)) if capture else None
        if declared is not None and declared.secret:
            raise refuse(
                f"capture={capture}: {capture} is a secret, and a captured value is the step's "
                "output (shown, and written to its output file)"
            )
        if declared is not None and declared.type != "string":
            raise refuse(
                f"capture={capture}: {capture} is declared as {declared.type}; captures are text"
            )


def _first_line(code: str) -> str:
    for line in code.splitlines():
        if line.strip():
            return shorten(_COMMENT.sub("", line, count=1).strip() or line.strip())
    return ""


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return str(value) if value else None
