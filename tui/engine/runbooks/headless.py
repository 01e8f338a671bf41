"""``watchdeck runbook``: list, show, run, resume and report without the console.

Same executor, run files and journal as the console. Safety rules for a run:

- a ``confirm`` step asks on a terminal; without one it needs ``--yes``, else it is refused
  and the run stops there (resume it later);
- a ``danger`` step needs the runbook's name: typed at the prompt on a terminal, or given
  as ``--danger-ok NAME`` (``--yes`` alone never runs a danger step, and naming the runbook
  keeps a flag copied from another command from authorising this one);
- a manual step is ticked only by a person answering on a terminal; otherwise it is
  reported as not done, never faked;
- an interrupted step (the process died while it ran) is retried or skipped only on an
  explicit answer or ``--interrupted retry|skip``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tui.engine.actions import ActionRefused, ActionRunner
from tui.engine.config import Config
from tui.engine.journal import Journal
from tui.engine.runbooks.catalog import RunbookEntry, discover, find
from tui.engine.runbooks.executor import InteractiveCommand, RunbookExecutor, StepResult
from tui.engine.runbooks.model import Runbook, RunbookError, Step, Value
from tui.engine.runbooks.parse import load
from tui.engine.runbooks.report import GLYPHS, render_report
from tui.engine.runbooks.run import FINAL, Run, RunError, StepState, summaries
from tui.engine.runbooks.variables import VariableProblem, coerce, shown, text
from tui.engine.units import format_duration

JOURNAL = "journal.jsonl"


class Stop(Exception):
    """The run stops here; the message says why and how to go on."""


@dataclass
class Context:
    config: Config
    base_dir: Path
    state_dir: Path
    read_only: bool
    runbook_paths: list[Path]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def tty(self) -> bool:
        return sys.stdin.isatty()

    def entries(self) -> list[RunbookEntry]:
        return discover(self.runbook_paths)

    def executor(self) -> RunbookExecutor:
        actions = ActionRunner(Journal(self.state_dir / JOURNAL), read_only=self.read_only)
        return RunbookExecutor(
            self.config, actions, state_dir=self.state_dir, base_dir=self.base_dir
        )


def main(args: argparse.Namespace, context: Context) -> int:
    action = args.runbook_command
    try:
        if action == "list":
            return cmd_list(args, context)
        if action == "show":
            return cmd_show(args, context)
        if action == "runs":
            return cmd_runs(args, context)
        if action == "report":
            return cmd_report(args, context)
        return asyncio.run(
            _guarded(cmd_run(args, context) if action == "run" else cmd_resume(args, context))
        )
    except (RunbookError, RunError, LookupError, VariableProblem) as exc:
        print(f"watchdeck runbook {action}: {exc}", file=context.err)
        return 1


async def _guarded(work) -> int:  # type: ignore[no-untyped-def]
    """SIGTERM and SIGHUP (an SSH disconnect) stop the running step's process group and
    record the step before exiting, like Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await work
    except asyncio.CancelledError:
        return 130
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)


# --- list, show, runs, report -------------------------------------------------------------
def cmd_list(args: argparse.Namespace, context: Context) -> int:
    entries = context.entries()
    if args.json:
        payload = [
            {
                "name": entry.name,
                "title": entry.title,
                "path": str(entry.path),
                "steps": entry.steps,
                "alerts": list(entry.alerts),
                "error": entry.error,
            }
            for entry in entries
        ]
        print(json.dumps(payload, indent=2), file=context.out)
        return 0
    if not entries:
        where = ", ".join(map(str, context.runbook_paths)) or "no runbooks.paths in the config"
        print(f"no runbooks found ({where})", file=context.err)
        return 0
    width = max(len(entry.name) for entry in entries)
    for entry in entries:
        if entry.error:
            print(f"{entry.name:<{width}}  ERROR  {entry.error}", file=context.out)
        else:
            print(f"{entry.name:<{width}}  {entry.steps:>5}  {entry.title}", file=context.out)
    return 0


def _runbook(name_or_path: str, context: Context) -> Runbook:
    return load(find(name_or_path, context.entries(), Path.cwd()))


def show_json(runbook: Runbook) -> dict:
    return {
        "name": runbook.name,
        "title": runbook.title,
        "path": str(runbook.path),
        "sha256": runbook.sha256,
        "description": runbook.description,
        "alerts": list(runbook.alerts),
        "window_s": runbook.window,
        "variables": [
            {
                "name": var.name,
                "type": var.type,
                "default": var.default,
                "choices": list(var.choices) or None,
                "secret": var.secret,
                "required": var.required,
                "description": var.description,
            }
            for var in runbook.variables
        ],
        "steps": [
            {
                "index": step.index,
                "title": step.title,
                "kind": step.kind,
                "language": step.language or None,
                "line": step.line,
                "code": step.code if step.runnable and step.kind != "check" else None,
                "text": step.text or None,
                "confirm": step.needs_confirm,
                "danger": step.danger,
                "timeout_s": step.timeout,
                "db": step.db,
                "capture": step.capture,
                "interactive": step.interactive,
                "check": step.check,
            }
            for step in runbook.steps
        ],
    }


def cmd_show(args: argparse.Namespace, context: Context) -> int:
    runbook = _runbook(args.runbook, context)
    if args.json:
        print(json.dumps(show_json(runbook), indent=2), file=context.out)
        return 0
    out = context.out
    print(f"{runbook.title}  ({runbook.name}, {runbook.path})", file=out)
    extras = []
    if runbook.alerts:
        extras.append("alerts: " + ", ".join(runbook.alerts))
    if runbook.window:
        extras.append(f"window: {format_duration(runbook.window)}")
    if extras:
        print(" · ".join(extras), file=out)
    if runbook.variables:
        print("\nvariables:", file=out)
        for var in runbook.variables:
            kind = f"one of {', '.join(var.choices)}" if var.choices else var.type
            flags = [kind]
            if var.default is not None:
                flags.append(f"default {text(var.default)}")
            flags += [flag for flag in ("secret", "required") if getattr(var, flag)]
            about = f" — {var.description}" if var.description else ""
            print(f"  {var.name}: {', '.join(flags)}{about}", file=out)
    print("\nsteps:", file=out)
    for step in runbook.steps:
        print(f"  {step.index:>2}. [{_kind(step)}] {step.title}{_flags(step)}", file=out)
        if step.runnable and step.kind != "check":
            for line in step.code.rstrip("\n").splitlines():
                print(f"      | {line}", file=out)
    return 0


def _kind(step: Step) -> str:
    if step.kind == "check":
        return f"check {step.check}"
    return step.language or step.kind


def _flags(step: Step) -> str:
    flags = [flag for flag in ("danger", "confirm", "interactive") if getattr(step, flag)]
    if step.danger and "confirm" in flags:
        flags.remove("confirm")
    if step.timeout:
        flags.append(f"timeout {format_duration(step.timeout)}")
    flags += [f"{key} {getattr(step, key)}" for key in ("db", "capture") if getattr(step, key)]
    if step.check and step.kind != "check":
        flags.append(f"then check {step.check}")
    return "".join(f"  [{flag}]" for flag in flags)


def cmd_runs(args: argparse.Namespace, context: Context) -> int:
    from tui.engine.runbooks.report import when

    for summary in summaries(context.state_dir):
        state = "closed" if summary.closed else "open"
        print(
            f"{summary.id}  {state:<6}  {when(summary.started_at)}  {summary.user or '?':<10}  "
            f"{summary.runbook}",
            file=context.out,
        )
    return 0


def cmd_report(args: argparse.Namespace, context: Context) -> int:
    run = context.executor().open(args.run_id)
    context.out.write(render_report(run))
    return 0


# --- values -------------------------------------------------------------------------------
def parse_vars(pairs: list[str] | None) -> dict[str, str]:
    """``--var NAME=VALUE``; ``--var NAME`` alone takes the environment variable NAME (so a
    secret need not appear in the process list or the shell history)."""
    import os

    values: dict[str, str] = {}
    for pair in pairs or []:
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals:
            if name not in os.environ:
                raise VariableProblem(f"--var {name}: no environment variable {name} to read")
            value = os.environ[name]
        if not name:
            raise VariableProblem(f"--var {pair!r}: expected NAME=VALUE")
        values[name] = value
    return values


def _ask(prompt: str, context: Context, *, secret: bool = False) -> str:
    if secret:
        return _interruptible(lambda: getpass.getpass(prompt, stream=context.err))

    def read() -> str:
        context.err.write(prompt)
        context.err.flush()
        return sys.stdin.readline()

    line = _interruptible(read)
    if not line:
        raise Stop("no answer (end of input)")
    return line.strip()


def _interruptible(read: Callable[[], str]) -> str:
    """A prompt blocks the event loop, so the loop's handlers would only see SIGTERM, SIGHUP
    or Ctrl-C once it is answered, and then stop the step just started. While it waits, they
    interrupt the prompt instead (CancelledError, as for a running step): nothing runs."""
    stopped = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True
        raise asyncio.CancelledError

    stops = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {signum: signal.signal(signum, stop) for signum in stops}
    answer = ""
    try:
        answer = read()
    except Exception:
        if not stopped:
            raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopped:  # getpass may turn the interruption into an error, or read again
        raise asyncio.CancelledError
    return answer


def _ask_missing(runbook: Runbook, given: dict[str, Value], context: Context) -> None:
    """Required variables without a value: asked on a terminal (secrets without echo)."""
    for var in runbook.variables:
        if var.name in given or var.default is not None or not var.required:
            continue
        if not context.tty:
            return  # resolve() lists what is missing
        hint = f" ({var.description})" if var.description else ""
        choices = f" [{'/'.join(var.choices)}]" if var.choices else ""
        while True:
            raw = _ask(f"{var.name}{hint}{choices}: ", context, secret=var.secret)
            try:
                given[var.name] = coerce(var, raw)
                break
            except ValueError as exc:
                print(exc, file=context.err)


# --- run and resume -----------------------------------------------------------------------
@dataclass
class Options:
    yes: bool
    danger_ok: str | None
    interrupted: str | None
    json: bool


def _options(args: argparse.Namespace) -> Options:
    return Options(
        yes=args.yes,
        danger_ok=args.danger_ok,
        interrupted=getattr(args, "interrupted", None),
        json=args.json,
    )


def _refuse_read_only(context: Context) -> None:
    if context.read_only:
        raise Stop("read-only mode: runbook steps are not run (see them with show or --dry-run)")


async def cmd_run(args: argparse.Namespace, context: Context) -> int:
    runbook = _runbook(args.runbook, context)
    given: dict[str, Value] = dict(parse_vars(args.var))
    options = _options(args)
    if options.danger_ok and options.danger_ok != runbook.name:
        print(
            f"--danger-ok names {options.danger_ok!r}; this runbook is {runbook.name!r}",
            file=context.err,
        )
        return 1
    executor = context.executor()
    try:
        if args.dry_run:
            return _dry_run(executor, runbook, given, context)
        try:
            _refuse_read_only(context)
            _ask_missing(runbook, given, context)
        except Stop as exc:
            print(exc, file=context.err)
            return 1
        run = executor.start(runbook, given)
        _say(context, options, f"run {run.id}: {runbook.title} ({runbook.path})")
        return await _drive(executor, run, context, options)
    finally:
        await executor.aclose()


async def cmd_resume(args: argparse.Namespace, context: Context) -> int:
    options = _options(args)
    executor = context.executor()
    try:
        run_id = args.run_id or executor.latest_open()
        if run_id is None:
            print("no open run to resume (watchdeck runbook runs lists them)", file=context.err)
            return 1
        run = executor.open(run_id)
        given = parse_vars(args.var)
        try:
            _refuse_read_only(context)
            executor.hold(run)  # refused while another watchdeck drives it: nothing written
            secrets = _secrets_again(run, given, context)
        except Stop as exc:
            print(exc, file=context.err)
            return 1
        if options.danger_ok and options.danger_ok != run.runbook.name:
            print(
                f"--danger-ok names {options.danger_ok!r}; this runbook is {run.runbook.name!r}",
                file=context.err,
            )
            return 1
        _say(context, options, f"resuming run {run.id}: {run.runbook.title}")
        _note_changed(run, context, options)
        for index in executor.resume(run, secrets):
            state = run.state(index)
            alive = " (its processes may still be running)" if _still_running(state) else ""
            _say(context, options, f"step {index} was interrupted{alive}: {state.message}")
        return await _drive(executor, run, context, options)
    finally:
        await executor.aclose()


def _still_running(state: StepState) -> bool:
    from tui.engine.runbooks.run import still_running

    return still_running(state)


def _secrets_again(run: Run, given: dict[str, str], context: Context) -> dict[str, Value]:
    missing = {var.name: var for var in run.missing_secrets()}
    for name in given:
        if name not in missing:
            raise Stop(
                f"--var {name}: only secrets are given again on resume (values are fixed "
                "when a run starts; start a new run to change them)"
            )
    secrets: dict[str, Value] = {}
    for name, var in missing.items():
        if name in given:
            secrets[name] = coerce(var, given[name])
        elif context.tty:
            secrets[name] = coerce(
                var, _ask(f"{name} (secret, asked again): ", context, secret=True)
            )
        else:
            raise Stop(
                f"secret {name} must be given again: --var {name}=... or --var {name} "
                "(from the environment)"
            )
    return secrets


def _note_changed(run: Run, context: Context, options: Options) -> None:
    try:
        current = load(run.source).sha256
    except RunbookError:
        current = None
    if current != run.runbook.sha256:
        _say(
            context,
            options,
            f"note: {run.source} changed since this run started; "
            "resuming the version it started with",
        )


def _say(context: Context, options: Options, message: str) -> None:
    print(message, file=context.err if options.json else context.out, flush=True)


async def _drive(executor: RunbookExecutor, run: Run, context: Context, options: Options) -> int:
    """Walk the steps not yet final, in order; stop at the first failure or refusal."""
    total = len(run.runbook.steps)
    stream = context.err if options.json else context.out
    stopped: str | None = None
    failed = False
    try:
        for step in run.runbook.steps:
            state = run.state(step.index)
            if state.status in FINAL:
                continue
            prefix = f"[{step.index}/{total}]"
            try:
                result = await _step(executor, run, step, context, options, prefix, stream)
            except Stop as exc:
                stopped = str(exc)
                break
            if result is not None and result.status != "ok":
                failed = True
                break
    except asyncio.CancelledError:
        print(f"\ninterrupted; resume with: watchdeck runbook resume {run.id}", file=context.err)
        raise
    runnable_done = all(
        state.status in FINAL
        for step, state in zip(run.runbook.steps, run.steps, strict=True)
        if step.runnable
    )
    if runnable_done and not stopped and not failed:
        executor.close(run)
    if stopped:
        print(f"stopped: {stopped}", file=context.err)
    code = 1 if (failed or stopped) else 0
    if options.json:
        print(json.dumps(run_json(run, code), indent=2), file=context.out)
    else:
        _summary(run, context, code)
    return code


async def _step(
    executor: RunbookExecutor,
    run: Run,
    step: Step,
    context: Context,
    options: Options,
    prefix: str,
    stream: TextIO,
) -> StepResult | None:
    state = run.state(step.index)
    if state.status == "interrupted" and not _decide_interrupted(
        executor, run, step, context, options
    ):
        return None
    if step.kind == "manual":
        _manual(executor, run, step, context, prefix, stream, options)
        return None
    plan = executor.plan(run, step.index)
    print(f"{prefix} ▶ {_kind(step)}: {step.title}  ({plan.target})", file=stream)
    for line in plan.command.splitlines():
        print(f"    {line}", file=stream)
    stream.flush()
    if not plan.problem:
        _confirm(run, step, plan.danger, plan.confirm, context, options)
        if step.interactive and not context.tty:
            raise Stop(f"step {step.index} is interactive: it needs a terminal")

    def live(chunk: str) -> None:
        stream.write(chunk)
        stream.flush()

    try:
        result = await executor.run_step(run, step.index, on_output=live, attach=_attach)
    except ActionRefused as exc:
        raise Stop(str(exc)) from None
    glyph = GLYPHS["ok" if result.status == "ok" else "failed"]
    print(f"{prefix} {glyph} {result.status}: {result.message}", file=stream, flush=True)
    return result


def _decide_interrupted(
    executor: RunbookExecutor, run: Run, step: Step, context: Context, options: Options
) -> bool:
    """Whether to retry an interrupted step (False: skipped); Stop when nobody decided."""
    choice = options.interrupted
    if choice is None and context.tty:
        answer = _ask(
            f"step {step.index} ({step.title}) was interrupted: [r]etry, [s]kip or [q]uit? ",
            context,
        ).lower()
        choice = {"r": "retry", "s": "skip"}.get(answer[:1])
    if choice == "retry":
        return True
    if choice == "skip":
        executor.skip(run, step.index, "interrupted, skipped on resume")
        return False
    raise Stop(
        f"step {step.index} was interrupted: decide with --interrupted retry or "
        "--interrupted skip (or resume from a terminal)"
    )


def _manual(
    executor: RunbookExecutor,
    run: Run,
    step: Step,
    context: Context,
    prefix: str,
    stream: TextIO,
    options: Options,
) -> None:
    print(f"{prefix} ☐ manual: {step.text or step.title}", file=stream, flush=True)
    if not context.tty or options.yes:
        return  # reported, left for a person
    answer = _ask("    done? [d]one, [s]kip, [l]ater, [q]uit: ", context).lower()[:1]
    if answer == "d":
        executor.tick(run, step.index)
    elif answer == "s":
        reason = _ask("    why skip? ", context) or "skipped by the operator"
        executor.skip(run, step.index, reason)
    elif answer == "q":
        raise Stop("quit at a manual step")


def _confirm(
    run: Run, step: Step, danger: bool, confirm: bool, context: Context, options: Options
) -> None:
    name = run.runbook.name
    if danger:
        if options.danger_ok == name:
            return
        if not context.tty:
            raise Stop(
                f"step {step.index} is marked danger: run it from a terminal (you will type "
                f"the runbook's name) or pass --danger-ok {name}"
            )
        typed = _ask(f"    DANGER: type the runbook's name ({name}) to run this step: ", context)
        if typed != name:
            raise Stop(f"step {step.index} not run: the name typed does not match")
        return
    if not confirm or options.yes:
        return
    if not context.tty:
        raise Stop(f"step {step.index} asks for confirmation: pass --yes, or run from a terminal")
    answer = _ask("    run this step? [y/N] ", context).lower()
    if answer not in ("y", "yes"):
        raise Stop(f"step {step.index} not confirmed")


async def _attach(command: InteractiveCommand) -> int:
    return command.call_on_terminal()


def run_json(run: Run, exit_code: int) -> dict:
    return {
        "run_id": run.id,
        "runbook": run.runbook.name,
        "title": run.runbook.title,
        "path": str(run.source),
        "exit_code": exit_code,
        "closed": run.closed_at is not None,
        "variables": shown(run.runbook, run.values),
        "steps": [
            {
                "index": step.index,
                "title": step.title,
                "kind": step.kind,
                "status": state.status,
                "message": state.message or None,
                "exit_code": state.exit_code,
                "duration_s": round(state.duration, 3) if state.duration is not None else None,
                "attempts": state.attempts,
                "output_file": state.output_file,
                "output_excerpt": state.excerpt or None,
            }
            for step, state in zip(run.runbook.steps, run.steps, strict=True)
        ],
        "report": f"watchdeck runbook report {run.id}",
    }


def _summary(run: Run, context: Context, code: int) -> None:
    counts = ", ".join(f"{count} {status}" for status, count in run.counts().items())
    print(f"\nrun {run.id}: {counts}", file=context.out)
    pending_manual = [
        step.index
        for step, state in zip(run.runbook.steps, run.steps, strict=True)
        if step.kind == "manual" and state.status == "pending"
    ]
    if pending_manual:
        listed = ", ".join(map(str, pending_manual))
        print(f"manual steps not done: {listed}", file=context.out)
    if code:
        print(f"resume with: watchdeck runbook resume {run.id}", file=context.out)
    print(f"report: watchdeck runbook report {run.id}", file=context.out)


def _dry_run(
    executor: RunbookExecutor, runbook: Runbook, given: dict[str, Value], context: Context
) -> int:
    """Each step as it would run, values filled in; nothing runs, nothing is recorded."""
    from tui.engine.runbooks.variables import resolve

    values = resolve(runbook, given)
    for name, index in runbook.captures.items():
        values.setdefault(name, f"<captured by step {index}>")
    run = Run(
        id="dry-run",
        runbook=runbook,
        source=runbook.path,
        file=Path("/nonexistent/dry-run.jsonl"),
        started_at=0.0,
        who={},
        values=values,
        steps=[StepState() for _ in runbook.steps],
    )
    out = context.out
    problems = 0
    print(f"dry run of {runbook.title} ({runbook.path}): nothing runs", file=out)
    for step in runbook.steps:
        if step.kind == "manual":
            print(f"[{step.index}] ☐ manual: {step.text or step.title}", file=out)
            continue
        plan = executor.plan(run, step.index)
        gate = (
            "needs --danger-ok or the name typed"
            if plan.danger
            else ("asks to confirm" if plan.confirm else "runs without asking")
        )
        timeout = f", timeout {format_duration(plan.timeout)}" if plan.timeout else ""
        print(
            f"[{step.index}] ▶ {_kind(step)}: {step.title} ({plan.target}; {gate}{timeout})",
            file=out,
        )
        for line in plan.command.splitlines():
            print(f"    {line}", file=out)
        problem = plan.problem or ""
        waits = [name for name in runbook.captures if problem.startswith(f"${name} ")]
        if waits:  # checked against the placeholder, not the value the step will capture
            print(f"    ? checked when it runs: ${waits[0]} is captured by then", file=out)
        elif problem:
            problems += 1
            print(f"    ✗ would fail: {plan.problem}", file=out)
    shown_values = shown(runbook, values)
    if shown_values:
        listed = ", ".join(f"{name}={value}" for name, value in shown_values.items())
        print(f"variables: {listed}", file=out)
    with contextlib.suppress(Exception):
        out.flush()
    return 1 if problems else 0
