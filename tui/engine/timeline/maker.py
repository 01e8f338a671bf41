"""Builds entries: a fresh id, the text on one line, scrubbed of secrets, and bounded."""

from __future__ import annotations

import itertools
import re

from tui.engine.logs import scrub
from tui.engine.timeline.entry import Entry, Link, Severity, Source

MAX_TEXT = 300
"""Characters of an entry's text; a longer one ends with an ellipsis."""
_SPACE = re.compile(r"\s+")


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class Maker:
    """Entry ids are the time, then a sequence number telling apart entries of one instant."""

    def __init__(self) -> None:
        self._seq = itertools.count()

    def __call__(
        self,
        at: float,
        source: Source,
        subject: str,
        severity: Severity,
        event: str,
        text: str,
        *,
        who: str = "",
        link: Link | None = None,
    ) -> Entry:
        return Entry(
            id=f"{at:017.6f}-{next(self._seq) % 10000:04d}",
            at=at,
            source=source,
            subject=one_line(scrub(subject), 120),
            severity=severity,
            event=event,
            text=one_line(scrub(text)),
            who=who,
            link=link,
        )
