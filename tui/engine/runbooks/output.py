"""A step's output: streamed live, the tail kept in memory, all of it saved to a file.

The full output goes to a file per step attempt under the state directory (written as it
arrives, fsynced when the step ends), and the journal records its path, size and SHA-256.
Output in the journal itself, as JSON chunks, would make the audit trail grow by whatever a
command prints (a 10 MB dump is 10 MB of journal for every later reader) and would have to
re-encode bytes that are not UTF-8; a file keeps them exactly, and the hash ties it to the
journal entry. Secret values are masked on the way in, in the file as on screen.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from tui.engine.errors import os_reason
from tui.engine.journal import write_all
from tui.engine.runbooks.httprequest import MASK
from tui.engine.runbooks.variables import SECRET_MIN

MEMORY_CAP = 1024 * 1024
"""Bytes of output kept in memory (the latest); the rest is only in the file."""
EXCERPT_CAP = 4096
"""Bytes of the output's end in the journal entry, the run file and the report."""
CAPTURE_CAP = 64 * 1024
"""Bytes of stdout a ``capture=`` may store into a variable."""


class StreamMasker:
    """Masks secret values in a byte stream, even when a value is split across chunks."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s.encode() for s in secrets if len(s) >= SECRET_MIN}
        self.secrets = sorted(values, key=len, reverse=True)
        self.keep = max((len(s) for s in self.secrets), default=1) - 1
        self.carry = b""

    def _mask(self, data: bytes) -> bytes:
        for secret in self.secrets:
            data = data.replace(secret, MASK.encode())
        return data

    def feed(self, data: bytes) -> bytes:
        if not self.secrets:
            return data
        data = self._mask(self.carry + data)
        if len(data) <= self.keep:
            self.carry = data
            return b""
        self.carry = data[len(data) - self.keep :] if self.keep else b""
        return data[: len(data) - self.keep] if self.keep else data

    def flush(self) -> bytes:
        data, self.carry = self._mask(self.carry), b""
        return data


class OutputTail:
    """The latest ``cap`` bytes, and how many were dropped before them."""

    def __init__(self, cap: int = MEMORY_CAP) -> None:
        self.cap = cap
        self.buffer = bytearray()
        self.total = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.buffer += data
        if len(self.buffer) > self.cap:
            cut = len(self.buffer) - self.cap
            del self.buffer[:cut]
            self.dropped += cut

    def text(self) -> str:
        body = bytes(self.buffer).decode("utf-8", errors="replace")
        return f"[{self.dropped} bytes dropped]\n{body}" if self.dropped else body

    def excerpt(self, cap: int = EXCERPT_CAP) -> str:
        """The end of the output, from a line start when one is near."""
        data = bytes(self.buffer[-cap:])
        skipped = self.total - len(data)
        if skipped and b"\n" in data[: cap // 4]:
            cut = data.index(b"\n") + 1
            data, skipped = data[cut:], skipped + cut
        text = data.decode("utf-8", errors="replace")
        return f"[{skipped} bytes before]\n{text}" if skipped else text


class StepOutput:
    """Where a running step's output goes: file, memory tail, live callback, capture."""

    def __init__(
        self,
        path: Path | None,
        on_output: Callable[[str], None] | None,
        secrets: Iterable[str],
        *,
        capture: bool = False,
    ) -> None:
        secrets = list(secrets)
        self.path = path
        self.on_output = on_output
        self.tail = OutputTail()
        self.maskers = {"stdout": StreamMasker(secrets), "stderr": StreamMasker(secrets)}
        self.decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in self.maskers
        }
        self.captured: bytearray | None = bytearray() if capture else None
        self.capture_overflow = False
        self.digest = hashlib.sha256()
        self.written = 0
        self.error: str | None = None
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, data: bytes, stream: str = "stdout") -> None:
        self._take(self.maskers[stream].feed(data), stream)

    def note(self, text: str) -> None:
        """A line of our own (a timeout, a kill) in the output, marked as such."""
        self._take(f"\n[watchdeck] {text}\n".encode(), "stderr")

    def _take(self, data: bytes, stream: str) -> None:
        if not data:
            return
        self.tail.add(data)
        if self.captured is not None and stream == "stdout":
            if len(self.captured) + len(data) > CAPTURE_CAP:
                self.capture_overflow = True
            else:
                self.captured += data
        if self._fd is not None and self.error is None:
            try:
                write_all(self._fd, data)
            except OSError as exc:
                self.error = os_reason(exc)
            else:
                self.digest.update(data)
                self.written += len(data)
        if self.on_output is not None:
            text = self.decoders[stream].decode(data)
            if text:
                self.on_output(text)

    def flush(self) -> None:
        """Let out what the maskers hold back (the stream ended)."""
        for stream, masker in self.maskers.items():
            self._take(masker.flush(), stream)

    def close(self) -> None:
        self.flush()
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self.error = self.error or os_reason(exc)
        finally:
            os.close(self._fd)
            self._fd = None

    def capture_text(self) -> str:
        self.flush()
        return bytes(self.captured or b"").decode("utf-8", errors="replace").strip()
