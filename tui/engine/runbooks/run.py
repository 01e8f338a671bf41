"""A run of a runbook, and its progress file: what ran, how it ended, where its output is.

Each run appends events to ``runbooks/RUN_ID.jsonl`` under the state directory (one JSON
line each, fsynced before the step goes on), next to ``runbooks/RUN_ID/`` holding the
runbook exactly as it was when the run started and each step's output. Replaying the events
rebuilds the run after a crash, a ``kill -9`` or an SSH disconnect: a step recorded as
running with no end becomes ``interrupted``, to be retried or skipped by a person, never
re-run silently. Secret values are never written: only that one was given, so a resumed run
asks for it again. One process at a time drives a run: it holds ``runbooks/RUN_ID.lock``
(``lock``), so a run still live elsewhere is never taken for one whose process died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets as random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tui.engine.errors import os_reason
from tui.engine.journal import append_line, identity, json_objects
from tui.engine.runbooks.model import Runbook, RunbookError, Value, Variable
from tui.engine.runbooks.parse import parse
from tui.engine.runbooks.variables import Masker, masker, persistable

StepStatus = Literal["pending", "running", "ok", "failed", "skipped", "done-manual", "interrupted"]
FINAL: frozenset[str] = frozenset({"ok", "skipped", "done-manual"})
RUNS = "runbooks"
SNAPSHOT = "runbook.md"


class RunError(Exception):
    """A run that cannot be found, read or written."""


class RunLocked(RunError):
    """Another process drives the run."""


@dataclass(slots=True)
class StepState:
    status: StepStatus = "pending"
    attempts: int = 0
    started_at: float | None = None
    duration: float | None = None
    exit_code: int | None = None
    message: str = ""
    """How it ended (``exit 1 in 2.0s``), or why it was skipped."""
    command: str = ""
    """What ran, values filled in and secrets masked."""
    output_file: str | None = None
    output_bytes: int | None = None
    excerpt: str = ""
    pgid: int | None = None
    process_start: str | None = None
    """The process group leader's start time (``/proc``), to tell a reused pid apart."""


def new_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{random.token_hex(2)}"


def process_start(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat`` (start time in clock ticks); None off Linux or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


@dataclass
class Run:
    id: str
    runbook: Runbook
    """Parsed from the snapshot taken at the start: a resumed run runs what it started with."""
    source: Path
    """The runbook file the run was started from."""
    file: Path
    started_at: float
    who: dict[str, str | None]
    values: dict[str, Value]
    """Current values, secrets included (in memory only)."""
    secrets_given: set[str] = field(default_factory=set)
    steps: list[StepState] = field(default_factory=list)
    closed_at: float | None = None
    resumed: list[dict[str, Any]] = field(default_factory=list)
    clock: Callable[[], float] = time.time

    @property
    def dir(self) -> Path:
        return self.file.with_suffix("")

    @property
    def window(self) -> float | None:
        return self.runbook.window

    def state(self, index: int) -> StepState:
        self.runbook.step(index)
        return self.steps[index - 1]

    def masker(self) -> Masker:
        return masker(self.runbook, self.values)

    def missing_secrets(self) -> list[Variable]:
        """Secrets given at the start whose values a resumed run must ask for again."""
        return [
            var
            for var in self.runbook.variables
            if var.secret and var.name in self.secrets_given and var.name not in self.values
        ]

    @property
    def finished(self) -> bool:
        return all(step.status in FINAL for step in self.steps)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.status] = counts.get(step.status, 0) + 1
        return counts

    def window_status(self, now: float | None = None) -> tuple[float, float, bool] | None:
        """(planned, elapsed, overrun) in seconds, when the runbook declares a window."""
        if self.window is None:
            return None
        elapsed = (self.clock() if now is None else now) - self.started_at
        return self.window, elapsed, elapsed > self.window

    # --- recording --------------------------------------------------------------------
    # What a person or a step asks for is written first and takes effect only once written
    # (a refused tick leaves the run as it was); what already happened (a process started,
    # a step ended) is taken in memory even when the file refuses it.
    def _append(self, event: str, **fields: Any) -> None:
        entry = {"event": event, "at": round(self.clock(), 3), **fields}
        try:
            append_line(self.file, json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        except OSError as exc:
            reason = os_reason(exc)
            raise RunError(f"cannot write {self.file}: {reason}") from None

    def started(self, index: int, command: str, output_file: Path | None) -> int:
        state = self.state(index)
        attempt = state.attempts + 1
        self._append(
            "step.started",
            step=index,
            attempt=attempt,
            command=command,
            output_file=str(output_file) if output_file else None,
        )
        state.attempts = attempt
        state.status = "running"
        state.started_at = self.clock()
        state.command = command
        state.output_file = str(output_file) if output_file else None
        state.duration = state.exit_code = state.pgid = state.process_start = None
        state.output_bytes = None
        state.excerpt = state.message = ""
        return attempt

    def process(self, index: int, pgid: int) -> None:
        state = self.state(index)
        state.pgid, state.process_start = pgid, process_start(pgid)
        self._append("step.process", step=index, pgid=pgid, process_start=state.process_start)

    def ended(
        self,
        index: int,
        status: StepStatus,
        *,
        duration: float,
        message: str,
        exit_code: int | None = None,
        output_bytes: int | None = None,
        excerpt: str = "",
    ) -> None:
        state = self.state(index)
        mask = self.masker()
        state.status, state.duration, state.message = status, duration, mask(message)
        state.exit_code, state.output_bytes = exit_code, output_bytes
        state.excerpt = mask(excerpt)
        self._append(
            "step.ended",
            step=index,
            status=status,
            duration=round(duration, 3),
            message=state.message,
            exit_code=exit_code,
            output_bytes=output_bytes,
            excerpt=state.excerpt,
        )

    def skip(self, index: int, reason: str) -> None:
        state = self.state(index)
        self._append("step.skipped", step=index, reason=reason)
        state.status, state.message = "skipped", reason

    def tick(self, index: int, done: bool = True) -> None:
        state = self.state(index)
        self._append("step.ticked", step=index, done=done)
        state.status = "done-manual" if done else "pending"
        state.message = ""

    def set_value(self, name: str, value: Value) -> None:
        var = self.runbook.variable(name)
        if var is not None and var.secret:
            self._append("variable.set", name=name, value={"secret": True})
            self.secrets_given.add(name)
        else:
            self._append("variable.set", name=name, value=value)
        self.values[name] = value

    def provide(self, values: Mapping[str, Value]) -> None:
        """Values asked again on resume (secrets): kept in memory, recorded as given."""
        self.values.update(values)

    def interrupted(self) -> list[int]:
        return [i for i, step in enumerate(self.steps, 1) if step.status == "interrupted"]

    def resume(self) -> list[int]:
        """Record that the run goes on; returns the interrupted steps."""
        interrupted = self.interrupted()
        entry = {**identity(), "interrupted": interrupted}
        self._append("run.resumed", **entry)
        self.resumed.append({"at": self.clock(), **entry})
        self.closed_at = None
        return interrupted

    def close(self) -> None:
        self._append("run.closed", counts=self.counts())
        self.closed_at = self.clock()


# --- files --------------------------------------------------------------------------------
def runs_dir(state_dir: Path) -> Path:
    return state_dir / RUNS


def create(
    state_dir: Path, runbook: Runbook, values: Mapping[str, Value], clock: Callable[[], float]
) -> Run:
    now = clock()
    directory = runs_dir(state_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        run_id = new_id(now)
        while (directory / f"{run_id}.jsonl").exists():
            run_id = new_id(now)
        (directory / run_id).mkdir(mode=0o700)
        (directory / run_id / SNAPSHOT).write_text(runbook.text, encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot write {directory}: {os_reason(exc)}") from None
    run = Run(
        id=run_id,
        runbook=runbook,
        source=runbook.path,
        file=directory / f"{run_id}.jsonl",
        started_at=now,
        who=identity(),
        values=dict(values),
        secrets_given={var.name for var in runbook.variables if var.secret and var.name in values},
        steps=[StepState() for _ in runbook.steps],
        clock=clock,
    )
    lock(run.file)  # before the run can be listed, so no other process takes it up
    try:
        run._append(
            "run.started",
            run=run_id,
            runbook=runbook.name,
            title=runbook.title,
            path=str(runbook.path),
            sha256=runbook.sha256,
            window=runbook.window,
            variables=persistable(runbook, values),
            **run.who,
        )
    except RunError:
        unlock(run.file)
        raise
    return run


def discard(run: Run) -> None:
    """Remove a run whose start was refused (the journal did not take it), and let go of it:
    no open run is left behind to be resumed."""
    for path in (run.file, lock_file(run.file)):
        with contextlib.suppress(OSError):
            path.unlink()
    shutil.rmtree(run.dir, ignore_errors=True)
    unlock(run.file)


# --- who drives a run ---------------------------------------------------------------------
@dataclass(slots=True)
class _Hold:
    fd: int | None
    """None where no lock could be taken (see ``lock``): the run goes on unlocked."""
    count: int = 1


_holds: dict[Path, _Hold] = {}
"""The runs this process holds, by lock file."""


def lock_file(run_file: Path) -> Path:
    return run_file.with_suffix(".lock")


def lock(run_file: Path) -> bool:
    """Hold the run for this process, which may then start, resume or run its steps; True
    when this call took it (False: this process held it already, and now holds it once more).

    An exclusive ``flock`` on ``RUN_ID.lock`` next to the run file: the kernel lets go when
    the process ends, however it ends, so after a ``kill -9`` the run resumes as before. The
    file says who holds it, for the refusal (RunLocked). Where the lock file cannot be
    opened or the file system does not support ``flock`` (some network file systems), the
    run is driven unlocked, as before there were locks: refusing every run would be worse.
    """
    path = lock_file(run_file).absolute()
    held = _holds.get(path)
    if held is not None:
        held.count += 1
        return False
    fd: int | None = None
    with contextlib.suppress(OSError):  # held read-only, the file system can still go read-only
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)  # not inherited by steps
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunLocked(
                f"run {run_file.stem} is open in another watchdeck{holder}: "
                "finish or close it there first"
            ) from None
        except OSError:
            os.close(fd)
            fd = None
    if fd is not None:
        me = identity()
        about = {"pid": os.getpid(), "user": me["user"], "host": me["host"], "since": time.time()}
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(about), encoding="utf-8")
    _holds[path] = _Hold(fd)
    return True


def unlock(run_file: Path) -> None:
    """Let go of one hold on the run; the last one releases the lock."""
    path = lock_file(run_file).absolute()
    held = _holds.get(path)
    if held is None:
        return
    held.count -= 1
    if held.count == 0:
        del _holds[path]
        if held.fd is not None:
            os.close(held.fd)


def _holder(fd: int) -> str:
    """`` (pid 4242, alice@vm, since 17:02)``, or "" when the file does not say (yet)."""
    try:
        about = json.loads(os.pread(fd, 4096, 0))
        since = datetime.fromtimestamp(float(about["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    shape = "%H:%M" if since.date() == datetime.now().date() else "%Y-%m-%d %H:%M"
    user, host = about.get("user") or "?", about.get("host") or "?"
    return f" (pid {about.get('pid', '?')}, {user}@{host}, since {since.strftime(shape)})"


def _events(file: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = file.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise RunError(f"no run {file.stem} (looked for {file})") from None
    except OSError as exc:
        raise RunError(f"cannot read {file}: {os_reason(exc)}") from None
    with handle:
        yield from json_objects(handle)


def load(state_dir: Path, run_id: str, clock: Callable[[], float] = time.time) -> Run:
    """Rebuild a run from its events; a step left running is now ``interrupted``."""
    file = runs_dir(state_dir) / f"{run_id}.jsonl"
    events = _events(file)
    first = next(events, None)
    if first is None or first.get("event") != "run.started":
        raise RunError(f"{file} does not start with a run.started event")
    snapshot = file.with_suffix("") / SNAPSHOT
    try:
        runbook = parse(snapshot.read_text(encoding="utf-8"), Path(first["path"]))
    except (OSError, RunbookError) as exc:
        raise RunError(f"cannot read the runbook of run {run_id}: {exc}") from None
    values: dict[str, Value] = {}
    given: set[str] = set()
    for name, value in (first.get("variables") or {}).items():
        if isinstance(value, dict):
            given.add(name)
        else:
            values[name] = value
    run = Run(
        id=run_id,
        runbook=runbook,
        source=Path(first["path"]),
        file=file,
        started_at=float(first["at"]),
        who={key: first.get(key) for key in ("user", "host", "ssh_connection")},
        values=values,
        secrets_given=given,
        steps=[StepState() for _ in runbook.steps],
        clock=clock,
    )
    for event in events:
        _replay(run, event)
    for step in run.steps:
        if step.status == "running":
            step.status = "interrupted"
            step.message = "the process running it stopped before the step ended"
    return run


def _replay(run: Run, event: dict[str, Any]) -> None:
    kind = event.get("event")
    index = event.get("step")
    state = run.steps[index - 1] if isinstance(index, int) and 0 < index <= len(run.steps) else None
    if kind == "step.started" and state is not None:
        state.status, state.attempts = "running", int(event.get("attempt") or state.attempts + 1)
        state.started_at, state.command = event.get("at"), event.get("command") or ""
        state.output_file = event.get("output_file")
        state.duration = state.exit_code = state.pgid = state.output_bytes = None
        state.excerpt = state.message = ""
    elif kind == "step.process" and state is not None:
        state.pgid, state.process_start = event.get("pgid"), event.get("process_start")
    elif kind == "step.ended" and state is not None:
        state.status = event.get("status", "failed")
        state.duration, state.message = event.get("duration"), event.get("message", "")
        state.exit_code, state.output_bytes = event.get("exit_code"), event.get("output_bytes")
        state.excerpt = event.get("excerpt", "")
    elif kind == "step.skipped" and state is not None:
        state.status, state.message = "skipped", event.get("reason", "")
    elif kind == "step.ticked" and state is not None:
        state.status = "done-manual" if event.get("done") else "pending"
    elif kind == "variable.set":
        name, value = event.get("name"), event.get("value")
        if isinstance(value, dict):
            run.secrets_given.add(str(name))
            run.values.pop(str(name), None)
        elif name:
            run.values[str(name)] = value
    elif kind == "run.resumed":
        run.resumed.append(event)
        run.closed_at = None
    elif kind == "run.closed":
        run.closed_at = event.get("at")


def still_running(state: StepState) -> bool:
    """Whether an interrupted step's process group is still there (same leader, not reused)."""
    if state.pgid is None:
        return False
    from tui.engine.runbooks.shell import group_alive

    if state.process_start is not None:
        now = process_start(state.pgid)
        if now is not None:
            return now == state.process_start
    return group_alive(state.pgid)


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: str
    runbook: str
    title: str
    path: str
    started_at: float
    user: str | None
    closed: bool


def summaries(state_dir: Path) -> list[RunSummary]:
    """Every run under the state dir, newest first."""
    found = []
    for file in sorted(runs_dir(state_dir).glob("*.jsonl"), reverse=True):
        try:
            events = list(_events(file))
        except RunError:
            continue
        if not events or events[0].get("event") != "run.started":
            continue
        first = events[0]
        found.append(
            RunSummary(
                id=file.stem,
                runbook=str(first.get("runbook", "")),
                title=str(first.get("title", "")),
                path=str(first.get("path", "")),
                started_at=float(first.get("at", 0)),
                user=first.get("user"),
                closed=any(event.get("event") == "run.closed" for event in events),
            )
        )
    return found
