"""The timeline file: append-only JSON lines in the state dir, bounded by rotation.

``timeline.jsonl`` grows to ``MAX_BYTES``, then becomes ``timeline.1.jsonl`` (replacing the
previous one) and a new file starts: two files kept, so the timeline holds between one and
two files' worth of the most recent entries. Several processes may append (a console and
``watchdeck check`` from cron); a lock file keeps one's rotation from racing another's.

A write that fails (a full disk, a read-only state dir) keeps the entries in memory, says why
in ``problem``, and tries again at the next write: nothing is lost unless the trouble lasts
past ``PENDING`` entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tui.engine.errors import os_reason
from tui.engine.journal import append_line
from tui.engine.timeline.entry import Entry, from_json, to_json
from tui.engine.timeline.laststates import LastStates

FILENAME = "timeline.jsonl"
ROTATED = "timeline.1.jsonl"
LOCK = ".timeline.lock"
MAX_BYTES = 4 * 1024 * 1024
_ID = '{"id":"'
PENDING = 1000
"""Entries kept in memory while the file cannot be written; older ones are dropped."""


class TimelineStore:
    def __init__(self, state_dir: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = state_dir / FILENAME
        self.rotated = state_dir / ROTATED
        self.max_bytes = max_bytes
        self.last = LastStates(state_dir)
        """What the recorder last saw of each source, shared with other processes."""
        self.read_problems: list[str] = []
        """Files the last ``read`` could not read, one line each."""
        self._pending: list[Entry] = []
        self._dropped = 0
        self._write_problem: str | None = None

    @property
    def problem(self) -> str | None:
        """Why the timeline cannot be written now, in one line (``None`` when it can)."""
        return self._write_problem or self.last.problem

    @property
    def holding(self) -> bool:
        """Whether entries are held back in memory by a failed write."""
        return bool(self._pending)

    # --- writing ----------------------------------------------------------------------
    def append(self, entries: Iterable[Entry]) -> list[Entry]:
        """Write ``entries`` after any held back by an earlier failure; returns what was
        written now (nothing when the write failed: ``problem`` says why)."""
        self._pending.extend(entries)
        if not self._pending:
            return []
        batch = self._pending
        text = "".join(
            json.dumps(to_json(entry), ensure_ascii=False, separators=(",", ":")) + "\n"
            for entry in batch
        )
        try:
            self._write(text)
        except OSError as exc:
            overflow = len(batch) - PENDING
            if overflow > 0:
                del batch[:overflow]
                self._dropped += overflow
            held = f"; {len(batch)} entr{'y' if len(batch) == 1 else 'ies'} held back"
            if self._dropped:
                held += f", {self._dropped} older ones dropped"
            self._write_problem = f"cannot write the timeline {self.path}: {os_reason(exc)}{held}"
            return []
        self._pending = []
        self._dropped = 0
        self._write_problem = None
        return batch

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                size = self.path.stat().st_size
                if size and size + len(text.encode("utf-8")) > self.max_bytes:
                    os.replace(self.path, self.rotated)
            append_line(self.path, text)
        finally:
            os.close(fd)  # releases the lock

    # --- reading ----------------------------------------------------------------------
    def read(self, since: float | None = None, until: float | None = None) -> list[Entry]:
        """Entries with ``since <= at <= until``, oldest first, from both files (and any held
        back in memory). A file that cannot be read is skipped; ``read_problems`` says why."""
        self.read_problems = []
        older = f"{since:017.6f}" if since is not None else ""
        found = [
            entry
            for entry in (
                *self._entries(self.rotated, older),
                *self._entries(self.path, older),
                *self._pending,
            )
            if (since is None or entry.at >= since) and (until is None or entry.at <= until)
        ]
        unique = {entry.id: entry for entry in found}  # one held back may be on disk already
        return sorted(unique.values(), key=lambda entry: (entry.at, entry.id))

    def _entries(self, path: Path, older: str = "") -> Iterator[Entry]:
        """The entries of one file; lines whose id says they are older than ``older`` (an id's
        time part) are skipped unparsed: ids start with the time, written by ``to_json``
        first."""
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as exc:
            self.read_problems.append(f"cannot read {path}: {os_reason(exc)}")
            return
        with handle:
            for line in handle:
                if older and line.startswith(_ID) and line[7:24] < older:
                    continue
                try:
                    entry = from_json(json.loads(line))
                except json.JSONDecodeError:
                    continue  # torn by a crash mid-write
                if entry is not None:
                    yield entry
