"""Recording what the console's panes receive, and reading a recording back.

A recording is JSON Lines, gzip-compressed when the file name ends in ``.gz``::

    {"kind":"header","format":1,"started":…,"host":…,"config":{…},"sources":[…],…}
    {"kind":"source","t":…,"state":{…SourceState…},"sample_type":"CheckSample"}
    {"kind":"schedule","t":…,"id":"check:api","next":…}
    {"kind":"alerts","t":…,"evaluated_at":…,"alerts":[…]}
    {"kind":"end","t":…}

``t`` is when the engine emitted the event. A pass emits two ``SourceUpdated``: the result,
then the same state with its next poll time, which is written as a ``schedule`` line; an
``alerts`` line without ``alerts`` repeats the alerts of the one before. The header's config
has its secrets masked (passwords, header values, the values of URL and DSN parameters, and
values the config file took from the environment into those). The writer flushes at most
``FLUSH_EVERY`` seconds after an event, gzip included (a sync flush), so a ``kill -9`` loses
only those seconds and the file stays readable up to there; the ``end`` line says it was
closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import os
import re
import socket
import time
import typing
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from tui import __version__
from tui.engine.config import Config
from tui.engine.errors import redact
from tui.engine.events import AlertsUpdated, Event, SourceUpdated
from tui.engine.logs import log, scrub
from tui.engine.samples import Alert, AlertsSample, CheckSample, DatabaseSample, QueueSample
from tui.engine.state import SourceState

if TYPE_CHECKING:
    from tui.engine.engine import Engine

FORMAT = 1
FLUSH_EVERY = 2.0
"""Seconds an event may wait in the buffers before it reaches the file."""
MASK = "***"
SAMPLE_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (CheckSample, DatabaseSample, QueueSample, AlertsSample)
}
"""``Sample`` is a union of dataclasses: each ``source`` line names its sample's type."""
SECRET_KEYS = frozenset({"password", "bearer_token", "body"})
"""Config keys whose values are masked whole (a request body may carry credentials)."""
URL_KEYS = frozenset({"url", "dsn"})
"""Config keys holding URLs or DSNs whatever they look like; any other value is treated as
one when it contains a URL or is a ``key=value`` DSN (``runbook_url``, a DSN elsewhere)."""
LITERAL_KEYS = frozenset({"name", "when", "expect"})
"""Names and conditions, recorded as they are whatever they look like (replay reads them)."""
DSN_PLAIN = frozenset(
    {"host", "hostaddr", "port", "dbname", "user", "sslmode", "connect_timeout"}
    | {"application_name", "target_session_attrs"}
)
"""``key=value`` DSN parameters shown as they are; any other's value is masked."""
MIN_SECRET = 8
"""Environment values shorter than this are not put back as ``${VAR}``: values that short
(``prod``, ``5432``, a user name) are found in ordinary text (``/products``) and are no
secret worth the name, and a password in a URL or DSN is masked whatever its length."""
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]*", re.I)
_PARAM = re.compile(r"([?&#;][^=&#;\s]*=)[^&#;\s]+")
_DSN_PAIR = r"\w+\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s'=][^\s']*)"
_DSN = re.compile(rf"\s*{_DSN_PAIR}(?:\s+{_DSN_PAIR})*\s*")
_DSN_VALUE = re.compile(r"(\w+)(\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_GZIP_MAGIC = b"\x1f\x8b"
_HEADER_LIMIT = 64 * 1024 * 1024
"""A first line longer than this is not a header: the file is something else."""
_CHUNK = 1024 * 1024
Recorded = SourceUpdated | AlertsUpdated


class RecordingError(ValueError):
    """A recording cannot be written or read; the message is one line for the terminal."""


# --- the lines -----------------------------------------------------------------------------
class _Line(msgspec.Struct, tag_field="kind", omit_defaults=True):
    pass


class _Header(_Line, tag="header"):
    format: int
    started: float
    host: str
    version: str
    base_dir: str
    config: dict[str, Any]
    sources: list[tuple[str, str, str, str]]
    """``(id, section, name, kind)`` of every source registered at the start."""


class _Source(_Line, tag="source"):
    t: float
    state: Any
    """A ``SourceState`` when written; its fields when read (see ``_state``)."""
    sample_type: str | None = None


class _Schedule(_Line, tag="schedule"):
    t: float
    id: str
    next: float | None


class _Alerts(_Line, tag="alerts"):
    t: float
    evaluated_at: float
    alerts: tuple[Alert, ...] | None = None
    """``None``: the same alerts as the line before (most evaluations change nothing)."""


class _End(_Line, tag="end"):
    t: float


_Any = _Header | _Source | _Schedule | _Alerts | _End


@dataclass(frozen=True, slots=True)
class Moment:
    """One recorded event and when the engine emitted it."""

    at: float
    event: Recorded


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    started: float
    ended: float
    """When the recorder closed, else the last event's time."""
    host: str
    version: str
    base_dir: Path
    config: Config
    """As recorded: secrets masked, so never usable to poll."""
    sources: tuple[SourceState, ...]
    """Every source registered at the start, before its first poll."""
    moments: tuple[Moment, ...]
    warning: str | None = None
    """One line when the file ends early (the recorder was killed) or is damaged at the end."""


# --- writing -------------------------------------------------------------------------------
class Recorder:
    """An engine listener writing every ``SourceUpdated`` and ``AlertsUpdated`` to ``file``
    (through gzip with ``compress``).

    A write that fails (a full disk) stops the recording, never the console: ``problem``
    says why and ``close()`` reports it.
    """

    def __init__(
        self,
        file: BinaryIO,
        path: Path,
        *,
        compress: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = file
        self.stream: BinaryIO = gzip.GzipFile(fileobj=file, mode="wb") if compress else file
        self.path = path
        self.clock = clock
        self.events = 0
        self.problem: str | None = None
        self._encoder = msgspec.json.Encoder(enc_hook=_plain)
        self._last: dict[str, SourceState] = {}
        self._alerts: tuple[Alert, ...] | None = None
        self._flushed_at = time.monotonic()
        self._flush_timer: asyncio.TimerHandle | None = None

    def header(self, engine: Engine, secrets: Mapping[str, str]) -> None:
        sources = [(s.id, s.section, s.name, s.kind) for s in engine.state.sources.values()]
        self._write(
            _Header(
                format=FORMAT,
                started=self.clock(),
                host=socket.gethostname(),
                version=__version__,
                base_dir=str(engine.base_dir),
                config=masked_config(engine.config, secrets),
                sources=sources,
            )
        )
        self.flush()

    def listen(self, event: Event) -> None:
        if self.problem is not None:
            return
        now = self.clock()
        if isinstance(event, SourceUpdated):
            self._write(self._source_line(event.state, now))
        elif isinstance(event, AlertsUpdated):
            same = event.alerts == self._alerts
            self._alerts = event.alerts
            alerts = None if same else event.alerts
            self._write(_Alerts(t=now, evaluated_at=event.evaluated_at, alerts=alerts))
        else:
            return
        self.events += 1
        self._flush_soon()

    def _source_line(self, state: SourceState, now: float) -> _Line:
        last = self._last.get(state.id)
        self._last[state.id] = state
        if last is not None and dataclasses.replace(last, next_poll_at=state.next_poll_at) == state:
            return _Schedule(t=now, id=state.id, next=state.next_poll_at)
        kind = type(state.sample).__name__ if state.sample is not None else None
        return _Source(t=now, state=state, sample_type=kind)

    def _write(self, line: _Line) -> None:
        try:
            self.stream.write(self._encoder.encode(line) + b"\n")
        except OSError as exc:
            self._fail(exc)

    def _flush_soon(self) -> None:
        """Flush now if the last flush is ``FLUSH_EVERY`` old, else once that much passed."""
        if self._flush_timer is not None:
            return
        wait = FLUSH_EVERY - (time.monotonic() - self._flushed_at)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if wait <= 0 or loop is None:
            self.flush()
        else:
            self._flush_timer = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        self._flush_timer = None
        self._flushed_at = time.monotonic()
        if self.problem is not None:
            return
        try:
            if isinstance(self.stream, gzip.GzipFile):
                self.stream.flush(zlib.Z_SYNC_FLUSH)  # decodable up to here without the trailer
            else:
                self.stream.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.problem = f"recording to {self.path} stopped: {exc.strerror or exc}"
        log("record.failed", "error", path=str(self.path), error=str(exc.strerror or exc))

    def close(self) -> str:
        """Write the end line and close; one line saying what was recorded (or what failed)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self.problem is None:
            self._write(_End(t=self.clock()))
        try:
            self.stream.close()
            self.file.close()  # a GzipFile leaves the file it was given open
        except OSError as exc:
            self._fail(exc)
        if self.problem is not None:
            return self.problem
        size = self.path.stat().st_size if self.path.exists() else 0
        return f"recorded {self.events} events to {self.path} ({_size(size)})"


def open_recorder(file: str, engine: Engine, config_path: Path | None = None) -> Recorder:
    """Create ``file`` (never over an existing one), write the header and start listening.

    ``config_path``: the config file, whose ``${VAR}`` values are masked in the header.
    Raises ``RecordingError`` with one line when the file cannot be created.
    """
    path = Path(file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RecordingError(
            f"--record: {path} exists; recordings are never overwritten, name another file"
        ) from None
    except OSError as exc:
        raise RecordingError(f"--record: cannot create {path}: {exc.strerror or exc}") from None
    compress = path.name.endswith(".gz")
    recorder = Recorder(os.fdopen(fd, "wb"), path, compress=compress, clock=engine.clock)
    recorder.header(engine, environment_values(config_path))
    if engine.alerts:  # restored from the state dir: the console shows them from the start
        recorder.listen(AlertsUpdated(engine.alerts, engine.clock()))
    engine.subscribe(recorder.listen)
    return recorder


# --- masking -------------------------------------------------------------------------------
def environment_values(config_path: Path | None) -> dict[str, str]:
    """The values of the environment variables the config file names (``${VAR}``)."""
    if config_path is None:
        return {}
    try:
        text = config_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return {}
    names = set(_VARIABLE.findall(text))
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def mask_link(text: str) -> str:
    """``text`` with the passwords of its URLs and DSN masked, and every value of a URL's
    query or fragment parameters and of a DSN's parameters but the plain ones."""

    def value(match: re.Match[str]) -> str:
        plain = match[1].lower() in DSN_PLAIN
        return match[0] if plain else f"{match[1]}{match[2]}{MASK}"

    if _DSN.fullmatch(text):
        text = _DSN_VALUE.sub(value, text)
    return _URL.sub(lambda match: _PARAM.sub(rf"\1{MASK}", match[0]), redact(text))


def masked_config(config: Config, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The config as JSON-ready data without secrets: passwords, tokens and header values
    masked, URLs and DSNs masked (``mask_link``), and the environment values in them put back
    as ``${VAR}``. Names, rules and other text are recorded as they are."""
    replacements = sorted(
        ((name, value) for name, value in secrets.items() if len(value) >= MIN_SECRET),
        key=lambda item: len(item[1]),
        reverse=True,
    )

    def clean(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            if key == "headers":
                return dict.fromkeys(value, MASK)
            return {name: clean(item, name) for name, item in value.items()}
        if isinstance(value, list):
            return [clean(item, key) for item in value]
        if not isinstance(value, str) or not value:
            return value
        if key in SECRET_KEYS:
            return MASK
        if key in LITERAL_KEYS:
            return value
        if key not in URL_KEYS and not _URL.search(value) and not _DSN.fullmatch(value):
            return value
        for name, secret in replacements:
            value = value.replace(secret, f"${{{name}}}")
        return scrub(mask_link(value))

    data = clean(msgspec.to_builtins(config, enc_hook=_plain))
    assert isinstance(data, dict)
    return data


def _plain(value: object) -> object:
    """The unit types (``Duration``, ``LocalTime``...) as the float or str they are."""
    for base in (float, str):
        if isinstance(value, base):
            return base(value)
    raise NotImplementedError(f"cannot record a {type(value).__name__}")


# --- reading -------------------------------------------------------------------------------
def read_recording(file: str | Path) -> Recording:
    """Decode a recording; raises ``RecordingError`` (one line) when it is not one.

    A file that ends early (killed recorder, cut copy) or whose last part is damaged is
    read up to there, and ``warning`` says so.
    """
    path = Path(file)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        lines = _Lines(stream)
        try:
            return _Reading(path).read(lines)
        except OSError as exc:
            raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None


class _Lines:
    """The lines of a plain or gzip stream; ``cut`` says why the stream ended early."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.cut: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        rest = b""
        for chunk in self._chunks():
            rest += chunk
            if b"\n" not in rest:
                if len(rest) > _HEADER_LIMIT:
                    self.cut = "no line end"
                    return
                continue
            *complete, rest = rest.split(b"\n")
            yield from complete
        if rest:
            self.cut = self.cut or "cut in the middle of a line"
            yield rest

    def _chunks(self) -> Iterator[bytes]:
        first = self.stream.read(_CHUNK)
        if not first.startswith(_GZIP_MAGIC):
            while first:
                yield first
                first = self.stream.read(_CHUNK)
            return
        inflate = zlib.decompressobj(wbits=31)
        data = first
        while data:
            try:
                yield inflate.decompress(data)
            except zlib.error:
                self.cut = "damaged compressed data"
                return
            if inflate.eof and inflate.unused_data:  # another gzip member follows
                data = inflate.unused_data
                inflate = zlib.decompressobj(wbits=31)
                continue
            data = self.stream.read(_CHUNK)
        if not inflate.eof:
            self.cut = "the compressed stream ends early"


class _Reading:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.decoder = msgspec.json.Decoder(_Any)
        self.last: dict[str, SourceState] = {}
        self.alerts: tuple[Alert, ...] = ()
        self.shared = _Shared()

    def foreign(self) -> RecordingError:
        return RecordingError(
            f"{self.path} is not a watchdeck recording (those are made by"
            " `watchdeck --record FILE`)"
        )

    def read(self, lines: _Lines) -> Recording:
        iterator = iter(lines)
        try:
            header = self.decoder.decode(next(iterator))
        except (StopIteration, msgspec.DecodeError, UnicodeDecodeError):
            raise self.foreign() from None
        if not isinstance(header, _Header):
            raise self.foreign()
        if header.format > FORMAT:
            raise RecordingError(
                f"{self.path} was recorded by a newer watchdeck (format {header.format});"
                " upgrade to replay it"
            )
        config = self.config(header)
        moments: list[Moment] = []
        ended: float | None = None
        damaged: str | None = None
        for number, line in enumerate(iterator, start=2):
            if damaged is not None:  # a bad line followed by more: not a cut, a broken file
                raise RecordingError(f"{self.path}:{number - 1}: damaged record ({damaged})")
            try:
                moment = self.moment(self.decoder.decode(line))
            except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
                damaged = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                continue
            if isinstance(moment, float):
                ended = moment
            elif moment is not None:
                moments.append(moment)
        last = moments[-1].at if moments else header.started
        warning = None
        if ended is None:
            why = lines.cut or ("damaged last record" if damaged else "no end record")
            shown = time.strftime("%H:%M:%S", time.localtime(last))
            warning = (
                f"warning: {self.path} ends early ({why}; was the recorder killed?):"
                f" replaying the {len(moments)} events up to {shown}"
            )
        return Recording(
            path=self.path,
            started=header.started,
            ended=max(ended if ended is not None else last, last),
            host=header.host,
            version=header.version,
            base_dir=Path(header.base_dir),
            config=config,
            sources=tuple(
                SourceState(id=id, section=section, name=name, kind=kind)  # type: ignore[arg-type]
                for id, section, name, kind in header.sources
            ),
            moments=tuple(moments),
            warning=warning,
        )

    def config(self, header: _Header) -> Config:
        from tui.engine.loader import dec_hook

        try:
            return msgspec.convert(header.config, Config, dec_hook=dec_hook)
        except (msgspec.ValidationError, ValueError) as exc:
            raise RecordingError(
                f"{self.path}: the recorded config cannot be read: {exc}"
            ) from None

    def moment(self, line: _Line) -> Moment | float | None:
        """The event of a line; the end line gives its time; a second header is ignored."""
        if isinstance(line, _Source):
            state = _state(line.state, line.sample_type, self.shared)
            self.last[state.id] = state
            return Moment(line.t, SourceUpdated(state))
        if isinstance(line, _Schedule):
            state = dataclasses.replace(self.last[line.id], next_poll_at=line.next)
            self.last[state.id] = state
            return Moment(line.t, SourceUpdated(state))
        if isinstance(line, _Alerts):
            if line.alerts is not None:
                self.alerts = line.alerts
            return Moment(line.t, AlertsUpdated(self.alerts, line.evaluated_at))
        if isinstance(line, _End):
            return line.t
        return None


_STATE_TYPES: dict[str, Any] = typing.get_type_hints(SourceState)


class _Shared:
    """Equal values kept once. Consecutive passes repeat most of what they carry (headers,
    conditions, sessions, the results behind a check's stats): an hour of the demo holds a
    few MB instead of a hundred."""

    def __init__(self) -> None:
        self.values: dict[object, object] = {}

    def value(self, value: Any) -> Any:
        try:
            return self.values.setdefault(value, value)
        except TypeError:  # unhashable (an alert's labels)
            return value

    def fields(self, obj: Any) -> Any:
        """``obj`` (a dataclass) with its str and tuple fields shared."""
        changes = {}
        for field in dataclasses.fields(obj):
            value = getattr(obj, field.name)
            if isinstance(value, str | tuple) and value:
                shared = self.value(value)
                if shared is not value:
                    changes[field.name] = shared
        return dataclasses.replace(obj, **changes) if changes else obj


def _state(fields: dict[str, Any], sample_type: str | None, shared: _Shared) -> SourceState:
    """A ``SourceState`` from its JSON fields: each field converted to its annotated type,
    the sample to the type its line names."""
    values = {
        name: msgspec.convert(value, _STATE_TYPES[name])
        for name, value in fields.items()
        if name != "sample"
    }
    stats = values.get("stats")
    if stats is not None:
        values["stats"] = dataclasses.replace(
            stats, recent=tuple(shared.value(result) for result in stats.recent)
        )
    raw = fields.get("sample")
    if raw is not None:
        if sample_type not in SAMPLE_TYPES:
            raise ValueError(f"unknown sample type {sample_type!r}")
        values["sample"] = shared.fields(msgspec.convert(raw, SAMPLE_TYPES[sample_type]))
    return shared.fields(SourceState(**values))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
