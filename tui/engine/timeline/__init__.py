"""The incident timeline: what changed and what was done, with who and when.

``store`` keeps it (append-only, rotated) in the state dir; ``recorder`` derives its entries
from the engine's events and the actions taken; ``export`` turns a window of it into a
post-mortem document. No Textual here: ``watchdeck check`` records too.
"""

from tui.engine.timeline.entry import Entry, Link, Severity, Source
from tui.engine.timeline.store import TimelineStore

__all__ = ["Entry", "Link", "Severity", "Source", "TimelineStore"]
