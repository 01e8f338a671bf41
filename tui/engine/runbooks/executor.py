"""Runs runbook steps for both faces: plan (what would run), run, cancel, skip, tick.

Every executed step is a write action: it goes through ``ActionRunner`` (refused under
``--read-only``; ``action.requested`` journaled before anything runs, ``action.done`` or
``action.failed`` after), and in between a ``runbook.step.result`` entry records the exit
code, duration, output size, SHA-256 and file, and the output's end. Progress goes to the
run's own file (``run.py``) before and after, so a crash leaves a trace in both.

Confirmation belongs to the face: ``plan()`` gives the command with values filled in and
secrets masked, and whether the step asks for a confirm or is ``danger``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tui.engine.actions import Action, ActionRunner
from tui.engine.config import Config, Database
from tui.engine.errors import describe, os_reason
from tui.engine.journal import JournalError
from tui.engine.runbooks import run as runs
from tui.engine.runbooks.checks import CheckRunner
from tui.engine.runbooks.httprequest import (
    RequestProblem,
    parse_request,
    render,
    shown_request,
)
from tui.engine.runbooks.model import Runbook, Step, StepKind, Value
from tui.engine.runbooks.output import CAPTURE_CAP, StepOutput
from tui.engine.runbooks.run import Run, RunError, StepStatus
from tui.engine.runbooks.shell import ProcessResult, run_process, shell_argv
from tui.engine.runbooks.sqltext import SqlProblem, Statement, display, prepare
from tui.engine.runbooks.variables import (
    coerce,
    environment,
    fill_shell,
    resolve,
    secret_names,
    shown,
)
from tui.engine.units import format_duration

if TYPE_CHECKING:
    from tui.engine.sources.http import CheckClients

DEFAULT_TIMEOUT = 300.0
"""Seconds a shell, SQL or HTTP step may take when it sets no ``timeout``."""
KILL_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL to a stopped step's process group."""


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What running a step would do, for the confirm (and ``--dry-run``)."""

    index: int
    kind: StepKind
    title: str
    command: str
    """The command, query or request with values filled in and secrets as ``***``."""
    target: str
    """Where it runs: ``sh``, ``database main``, ``GET https://...``, ``check api``."""
    confirm: bool
    danger: bool
    interactive: bool
    timeout: float | None
    problem: str | None = None
    """Why it cannot run as things are (a variable without value, no such database...)."""


@dataclass(frozen=True, slots=True)
class StepResult:
    index: int
    status: StepStatus
    """``ok`` or ``failed``; ``pending`` when ``needs_terminal`` (nothing ran)."""
    message: str
    duration: float = 0.0
    exit_code: int | None = None
    output: str = ""
    """The end of the output kept in memory (at most 1 MiB, secrets masked)."""
    output_file: Path | None = None
    needs_terminal: bool = False
    """An interactive step: run it again with ``attach`` once the terminal is handed over."""


@dataclass(frozen=True, slots=True)
class InteractiveCommand:
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: Path | None
    display: str

    def call_on_terminal(self) -> int:
        """Run on this process's terminal; Ctrl-C goes to the command, not to watchdeck."""
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *_: None)  # not SIG_IGN: the child would inherit it
        try:
            return subprocess.call(self.argv, env=self.env, cwd=self.cwd)
        finally:
            signal.signal(signal.SIGINT, previous)


Attach = Callable[[InteractiveCommand], Awaitable[int]]
"""Runs an interactive command on the terminal and returns its exit status."""


class StepFailed(Exception):
    """A step ran and did not pass (its message is what the journal records)."""


@dataclass
class _Ending:
    ok: bool = False
    message: str = ""
    exit_code: int | None = None
    capture: str | None = None
    interrupted: bool = False
    """watchdeck stopped while the step ran: a person decides whether it runs again."""


class RunbookExecutor:
    def __init__(
        self,
        config: Config,
        actions: ActionRunner,
        *,
        state_dir: Path | None,
        base_dir: Path,
        clock: Callable[[], float] = time.time,
        kill_grace: float = KILL_GRACE,
    ) -> None:
        self.config = config
        self.actions = actions
        self.state_dir = state_dir
        self.base_dir = base_dir
        self.clock = clock
        self.kill_grace = kill_grace
        self.checks = CheckRunner(config, base_dir, self._clients)
        self._http: CheckClients | None = None
        self._cancel: asyncio.Event | None = None
        self._held: set[Path] = set()
        """The files of the runs this executor holds (``hold``) until ``aclose``."""

    # --- runs ----------------------------------------------------------------------------
    def start(self, runbook: Runbook, given: Mapping[str, Value]) -> Run:
        """A new run with checked values; raises VariableProblem or RunError."""
        if self.state_dir is None:
            raise RunError("no state directory: runbook runs are recorded there")
        values = resolve(runbook, given)
        run = runs.create(self.state_dir, runbook, values, self.clock)  # held from the start
        try:
            self._journal(
                "runbook.run.started",
                run,
                sha256=runbook.sha256,
                variables=shown(runbook, values),
                window=runbook.window,
            )
        except RunError:
            runs.discard(run)
            raise
        self._held.add(run.file)
        return run

    def hold(self, run: Run) -> None:
        """Hold the run until ``aclose``: every write here (resume, a step, skip, tick,
        close) takes it first, and a face takes it before asking anything. Raises RunLocked
        while another process drives the run, RunError when another process moved it on
        since it was loaded (then let go): what a person saw must be what is on disk."""
        if run.file in self._held:
            return
        if runs.lock(run.file):
            assert self.state_dir is not None  # a run is recorded there
            try:
                current = runs.load(self.state_dir, run.id, self.clock)
            except RunError:
                runs.unlock(run.file)
                raise
            if _progress(current) != _progress(run):
                runs.unlock(run.file)
                raise RunError(
                    f"run {run.id} went on in another watchdeck since it was opened here: "
                    "open it again"
                )
        self._held.add(run.file)

    def open(self, run_id: str) -> Run:
        if self.state_dir is None:
            raise RunError("no state directory: runbook runs are recorded there")
        return runs.load(self.state_dir, run_id, self.clock)

    def latest_open(self) -> str | None:
        """The most recent run not closed, for ``resume`` without an id."""
        if self.state_dir is None:
            return None
        return next((s.id for s in runs.summaries(self.state_dir) if not s.closed), None)

    # A person's resume, skip, tick or close goes to the journal first: one the journal
    # cannot take is refused (RunError) and the run stays as it was.
    def resume(self, run: Run, secrets: Mapping[str, Value]) -> list[int]:
        """Go on with a loaded run: secrets given again, recorded in journal and run file;
        returns the interrupted steps (each to be retried or skipped by a person)."""
        self._writable("resuming a run")
        self.hold(run)
        self._journal("runbook.run.resumed", run, interrupted=run.interrupted())
        for var in run.missing_secrets():
            if var.name in secrets:
                run.provide({var.name: coerce(var, secrets[var.name])})
        return run.resume()

    def skip(self, run: Run, index: int, reason: str) -> None:
        self._writable("skipping a step")
        self.hold(run)
        self._journal("runbook.step.skipped", run, step=index, reason=reason)
        run.skip(index, reason)

    def tick(self, run: Run, index: int, done: bool = True) -> None:
        self._writable("ticking a step")
        self.hold(run)
        self._journal("runbook.step.ticked", run, step=index, done=done)
        run.tick(index, done)

    def close(self, run: Run) -> None:
        self._writable("closing a run")
        self.hold(run)
        self._journal("runbook.run.closed", run, counts=run.counts())
        run.close()

    def _writable(self, what: str) -> None:
        """Under --read-only a run is only read, whichever screen opened it (the timeline
        opens any run); a step is refused by the action runner, the rest here."""
        if self.actions.read_only:
            raise RunError(f"read-only mode: {what} is not recorded")

    def _journal(self, event: str, run: Run, **fields: object) -> None:
        journal = self.actions.journal
        if journal is None:
            raise RunError("no state directory: runbook runs are journaled there")
        try:
            journal.append(
                event, run=run.id, runbook=run.runbook.name, path=str(run.source), **fields
            )
        except JournalError as exc:
            raise RunError(str(exc)) from None

    # --- planning ------------------------------------------------------------------------
    def _database(self, step: Step) -> tuple[Database | None, str | None]:
        databases = self.config.databases
        names = ", ".join(db.name for db in databases)
        if step.db:
            found = next((db for db in databases if db.name == step.db), None)
            if found is None:
                return None, f"no database named {step.db!r} in the config ({names or 'none'})"
            return found, None
        if len(databases) == 1:
            return databases[0], None
        if not databases:
            return None, "no database in the config: SQL steps run on a configured database"
        return None, f"several databases ({names}): say which with ```sql {{db=NAME}}"

    def _statements(self, run: Run, step: Step) -> list[Statement]:
        runbook = run.runbook
        captures = runbook.captures

        def missing(name: str) -> str:
            if name in captures:
                return f"${name} is captured by step {captures[name]}, which has not passed yet"
            return f"${name} has no value"

        known = {var.name for var in runbook.variables} | set(captures)
        return prepare(step.code, run.values, known, secret_names(runbook), missing)

    def _lookup(self, run: Run) -> Callable[[str], str | None]:
        def lookup(name: str) -> str | None:
            if name in run.values:
                value = run.values[name]
                return "true" if value is True else "false" if value is False else str(value)
            return os.environ.get(name)

        return lookup

    def plan(self, run: Run, index: int) -> StepPlan:
        step = run.runbook.step(index)
        secrets = secret_names(run.runbook)
        problem: str | None = None
        target = step.language
        command = step.text
        if step.kind == "shell":
            command = fill_shell(step.code, run.values, secrets).rstrip("\n")
            if step.language == "bash":
                try:
                    shell_argv("bash", "")
                except FileNotFoundError as exc:
                    problem = str(exc)
        elif step.kind == "sql":
            db, problem = self._database(step)
            target = f"database {db.name}" if db else "database ?"
            try:
                command = display(self._statements(run, step))
            except SqlProblem as exc:
                command, problem = step.code.rstrip("\n"), problem or str(exc)
        elif step.kind == "http":
            try:
                request = shown_request(
                    parse_request(step.code),
                    self._lookup(run),
                    secrets,
                    lambda name: name not in run.values,
                )
                command, target = request.text(), f"{request.method} {request.url}"
            except RequestProblem as exc:
                command, problem = step.code.rstrip("\n"), str(exc)
        if step.check:
            target = f"check {step.check}" if step.kind == "check" else target
            wait = f" (waiting up to {format_duration(step.timeout)})" if step.timeout else ""
            verdict = f"check {step.check} is healthy{wait}"
            command = verdict if step.kind == "check" else f"{command}\n# then: {verdict}"
            if step.check not in self.checks.names():
                known = ", ".join(self.checks.names()) or "none configured"
                problem = problem or f"no health check named {step.check!r} (checks: {known})"
        missing = [var.name for var in run.missing_secrets()]
        if missing and step.runnable:
            problem = f"secret{'s' if len(missing) > 1 else ''} to give again: {', '.join(missing)}"
        timeout = step.timeout
        if timeout is None and step.kind in ("shell", "sql", "http") and not step.interactive:
            timeout = DEFAULT_TIMEOUT
        return StepPlan(
            index=index,
            kind=step.kind,
            title=step.title,
            command=run.masker()(command),
            target=target,
            confirm=step.needs_confirm,
            danger=step.danger,
            interactive=step.interactive,
            timeout=timeout,
            problem=problem,
        )

    # --- running -------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def cancel(self) -> bool:
        """Stop the running step (its whole process group, or its query); False when idle."""
        if self._cancel is None:
            return False
        self._cancel.set()
        return True

    async def run_step(
        self,
        run: Run,
        index: int,
        *,
        on_output: Callable[[str], None] | None = None,
        attach: Attach | None = None,
    ) -> StepResult:
        """Run one step (confirmed by the caller). Raises ActionRefused under read-only or
        without a journal, ValueError for a manual step, RunError when another step runs
        (RunLocked when another process drives the run)."""
        step = run.runbook.step(index)
        if not step.runnable:
            raise ValueError(f"step {index} is a manual step: tick it or skip it")
        if self._cancel is not None:
            raise RunError("another step is running; cancel it first")
        self.hold(run)
        plan = self.plan(run, index)
        if plan.problem:
            problem = run.masker()(plan.problem)
            run.ended(index, "failed", duration=0.0, message=problem)
            return StepResult(index, "failed", problem)
        if step.interactive and attach is None:
            return StepResult(index, "pending", "needs the terminal", needs_terminal=True)
        first_line = plan.command.strip().splitlines()[0] if plan.command.strip() else plan.target
        action = Action(
            kind="runbook.step",
            target=f"{run.runbook.name} step {index}: {step.title}",
            summary=first_line[:200],
            details={
                "run": run.id,
                "runbook": run.runbook.name,
                "path": str(run.source),
                "step": index,
                "title": step.title,
                "kind": step.kind,
                "target": plan.target,
                "command": plan.command,
                "attempt": run.state(index).attempts + 1,
            },
            danger=step.danger,
        )
        results: list[StepResult] = []

        async def perform() -> str:
            result = await self._perform(run, step, plan, on_output, attach)
            results.append(result)
            if result.status != "ok":
                raise StepFailed(result.message)
            return result.message

        self._cancel = asyncio.Event()
        try:
            outcome = await self.actions.run(action, perform)
        finally:
            self._cancel = None
        if results:
            return results[0]
        return StepResult(index, "failed", outcome.message)

    async def _perform(
        self,
        run: Run,
        step: Step,
        plan: StepPlan,
        on_output: Callable[[str], None] | None,
        attach: Attach | None,
    ) -> StepResult:
        index = step.index
        attempt = run.state(index).attempts + 1
        output_file = None if step.interactive else run.dir / f"{index:02d}-{attempt}.out"
        try:
            output = StepOutput(
                output_file,
                _guarded(on_output),
                (str(run.values[name]) for name in secret_names(run.runbook) if name in run.values),
                capture=bool(step.capture) and step.kind == "shell",
            )
        except OSError as exc:
            reason = os_reason(exc)
            raise RunError(f"cannot write {output_file}: {reason}") from None
        try:
            run.started(index, plan.command, output_file)  # refused: the step does not run
        except RunError:
            output.close()
            raise
        started = time.perf_counter()
        cancel = self._cancel or asyncio.Event()
        ending = _Ending()
        try:
            ending = await self._execute(run, step, plan, output, cancel, attach)
        except asyncio.CancelledError:
            output.note("stopped: watchdeck was interrupted")
            ending = _Ending(
                False, "interrupted: watchdeck was stopped while the step ran", interrupted=True
            )
            raise
        except Exception as exc:
            ending = _Ending(False, describe(exc))
        finally:
            output.close()
            result = self._record(run, step, plan, output, ending, time.perf_counter() - started)
        return result

    async def _execute(
        self,
        run: Run,
        step: Step,
        plan: StepPlan,
        output: StepOutput,
        cancel: asyncio.Event,
        attach: Attach | None,
    ) -> _Ending:
        timeout = plan.timeout or DEFAULT_TIMEOUT
        ending = _Ending(ok=True)
        began = time.perf_counter()
        if step.kind == "shell":
            argv = shell_argv(step.language, step.code)
            env = environment(run.values)
            cwd = run.source.parent if run.source.parent.is_dir() else None
            if step.interactive:
                assert attach is not None
                code = await attach(InteractiveCommand(argv, env, cwd, plan.command))
                took = format_duration(time.perf_counter() - began)
                ending = _Ending(code == 0, f"exit {code} in {took} (interactive)", code)
            else:
                result = await run_process(
                    argv,
                    env,
                    output,
                    cwd=cwd,
                    timeout=timeout,
                    cancel=cancel,
                    grace=self.kill_grace,
                    started=lambda pid: _record_process(run, step.index, pid, output),
                )
                ending = self._process_ending(result, timeout, output, time.perf_counter() - began)
                ending.capture = output.capture_text()
        elif step.kind == "sql":
            from tui.engine.runbooks.sqlstep import run_sql

            db, _ = self._database(step)
            assert db is not None
            sql = await run_sql(
                db.dsn,
                self._statements(run, step),
                run.values,
                output,
                timeout=timeout,
                cancel=cancel,
            )
            ending = _Ending(sql.ok, sql.message, capture=sql.capture)
        elif step.kind == "http":
            from tui.engine.runbooks.httpstep import run_http

            request = render(parse_request(step.code), self._lookup(run))
            http = await run_http(
                self._clients().client(True), request, output, timeout=timeout, cancel=cancel
            )
            ending = _Ending(http.ok, http.message, capture=http.capture)
        if ending.ok and step.check and not cancel.is_set():
            ok, verdict = await self.checks.until_healthy(step.check, output, step.timeout, cancel)
            message = verdict if step.kind == "check" else f"{ending.message}; {verdict}"
            ending = _Ending(ok, message, ending.exit_code, ending.capture)
        if ending.ok and step.capture:
            value = run.masker()(ending.capture or "")  # a shell capture is masked already
            if output.capture_overflow or len(value.encode()) > CAPTURE_CAP:
                limit = f"{CAPTURE_CAP // 1024} KiB"
                return _Ending(False, f"output too large for capture={step.capture} ({limit})")
            run.set_value(step.capture, value)
        return ending

    def _process_ending(
        self, result: ProcessResult, timeout: float, output: StepOutput, took: float
    ) -> _Ending:
        if result.stopped == "timeout":
            message = f"timed out after {format_duration(timeout)}: process group stopped"
            output.note(message)
            return _Ending(False, message)
        if result.stopped == "cancelled":
            output.note("cancelled: process group stopped")
            return _Ending(False, "cancelled: process group stopped")
        if result.stopped == "signal":
            return _Ending(False, f"killed by signal {result.signal}")
        message = f"exit {result.exit_code} in {format_duration(took)}"
        return _Ending(result.exit_code == 0, message, result.exit_code)

    def _record(
        self,
        run: Run,
        step: Step,
        plan: StepPlan,
        output: StepOutput,
        ending: _Ending,
        duration: float,
    ) -> StepResult:
        message = run.masker()(ending.message)  # a server's error may quote a secret value
        if output.error:
            message += f" (output file incomplete: {output.error})"
        status: StepStatus = (
            "ok" if ending.ok else "interrupted" if ending.interrupted else "failed"
        )
        excerpt = output.tail.excerpt()
        try:
            run.ended(
                step.index,
                status,
                duration=duration,
                message=message,
                exit_code=ending.exit_code,
                output_bytes=output.written if output.path else None,
                excerpt=excerpt,
            )
        except RunError as exc:  # it ran and ended all the same; a reload shows it interrupted
            message += f" (run file: {exc})"
        journal = self.actions.journal
        if journal is not None:
            try:
                journal.append(
                    "runbook.step.result",
                    run=run.id,
                    runbook=run.runbook.name,
                    step=step.index,
                    title=step.title,
                    attempt=run.state(step.index).attempts,
                    status=status,
                    exit_code=ending.exit_code,
                    duration_s=round(duration, 3),
                    message=message,
                    output_file=str(output.path) if output.path else None,
                    output_bytes=output.written if output.path else None,
                    output_sha256=output.digest.hexdigest() if output.path else None,
                    output_excerpt=run.masker()(excerpt),
                )
            except JournalError as exc:
                message += f" (journal: {exc})"
        return StepResult(
            index=step.index,
            status=status,
            message=message,
            duration=duration,
            exit_code=ending.exit_code,
            output=output.tail.text(),
            output_file=output.path,
        )

    # --- resources -----------------------------------------------------------------------
    def _clients(self) -> CheckClients:
        if self._http is None:
            from tui.engine.sources.http import CheckClients

            self._http = CheckClients(self.config.settings)
        return self._http

    async def aclose(self) -> None:
        for file in self._held:
            runs.unlock(file)
        self._held.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _progress(run: Run) -> tuple[bool, list[tuple[str, int]]]:
    """What a person decides on: whether the run is closed, each step's status and attempts."""
    return run.closed_at is not None, [(step.status, step.attempts) for step in run.steps]


def _record_process(run: Run, index: int, pgid: int, output: StepOutput) -> None:
    """Record the step's process group; the process runs on (and is stopped on a timeout or
    a cancel) even when the run file refuses the entry."""
    try:
        run.process(index, pgid)
    except RunError as exc:
        output.note(f"process group {pgid} not recorded: {exc}")


def _guarded(callback: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """The live callback, dropped after it fails once (a terminal gone after SIGHUP)."""
    if callback is None:
        return None
    alive = [True]

    def call(text: str) -> None:
        if alive[0]:
            try:
                callback(text)
            except Exception:
                alive[0] = False

    return call
