"""The ``watchdeck`` command line. Heavy modules (Textual, psycopg, redis) load only when needed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tui import __version__

if TYPE_CHECKING:
    from tui.engine.config import Config
    from tui.engine.engine import Engine
    from tui.engine.recording import Recorder

EXIT_UNKNOWN = 3
USAGE_EXIT = {"check": EXIT_UNKNOWN, "validate": 1}
"""A usage error's exit code where argparse's 2 would mislead: for ``check`` 2 is CRITICAL."""


class UsageError(Exception):
    """An invalid command line, already described on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


def _named(value: str) -> str:
    """An explicitly given path may not be empty: falling through would pick another one."""
    if not value:
        raise argparse.ArgumentTypeError("empty: name a path (or leave the option out)")
    return value


def _common(parser: argparse.ArgumentParser, *, sub: bool = True) -> None:
    # Sub-commands accept the options too; SUPPRESS keeps a value given before the command.
    default = argparse.SUPPRESS if sub else None
    parser.add_argument(
        "--config", "-c", metavar="FILE", type=_named, default=default, help="config file"
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        type=_named,
        default=default,
        help="journal, alert history, progress",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=default or "info",
        help="of watchdeck.log in the state dir (default info)",
    )


def _console_options(parser: argparse.ArgumentParser, *, sub: bool = True) -> None:
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="hide every write action",
    )
    parser.add_argument(
        "--theme",
        metavar="NAME",
        default=argparse.SUPPRESS if sub else None,
        help="a Textual theme, e.g. nord",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="watchdeck",
        description="An on-call console: health checks, queues, PostgreSQL, alerts, runbooks.",
    )
    parser.add_argument("--version", action="version", version=f"watchdeck {__version__}")
    _common(parser, sub=False)
    _console_options(parser, sub=False)
    _record_option(parser, sub=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="start the embedded demo environment and its console")
    _console_options(demo)
    _record_option(demo)
    demo.add_argument(
        "--no-ui", action="store_true", help="only run the environment (for check or a 2nd shell)"
    )

    check = commands.add_parser("check", help="one poll + rules; exit 0 ok 1 warn 2 crit 3 unknown")
    _common(check)
    check.add_argument("--json", action="store_true", help="print the JSON contract")

    validate = commands.add_parser("validate", help="validate the config; exit 0 valid, 1 invalid")
    _common(validate)

    commands.add_parser("schema", help="print the JSON Schema of the config")

    init = commands.add_parser("init", help="write a commented starter config")
    init.add_argument(
        "path",
        nargs="?",
        default="watchdeck.yaml",
        help="the file to write, its directories created (default ./watchdeck.yaml); "
        "an existing directory gets DIR/watchdeck.yaml",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _runbook_parser(commands)
    _timeline_parser(commands)
    _serve_parser(commands)
    _replay_parser(commands)
    return parser


# --- runbook ----------------------------------------------------------------------------
def _runbook_parser(commands: argparse._SubParsersAction) -> None:
    runbook = commands.add_parser("runbook", help="list, show, run, resume runbooks headless")
    _common(runbook)
    actions = runbook.add_subparsers(dest="runbook_command", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help)
        _common(parser)
        return parser

    listing = action("list", "the runbooks under runbooks.paths")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = action("show", "title, variables and steps of a runbook")
    show.add_argument("runbook", metavar="NAME_OR_PATH")
    show.add_argument("--json", action="store_true", help="print JSON")
    run = action("run", "run a runbook's steps; exit 0 when every executed step passed")
    run.add_argument("runbook", metavar="NAME_OR_PATH")
    run.add_argument("--dry-run", action="store_true", help="show what would run; run nothing")
    resume = action("resume", "go on with a run after a failure, a crash or a disconnect")
    resume.add_argument("run_id", metavar="RUN_ID", nargs="?", help="default: the latest open")
    resume.add_argument(
        "--interrupted",
        choices=["retry", "skip"],
        help="what to do with a step that was running when watchdeck died",
    )
    for parser in (run, resume):
        parser.add_argument(
            "--var", action="append", metavar="NAME=VALUE", help="a variable (NAME alone: $NAME)"
        )
        parser.add_argument("--yes", action="store_true", help="confirm steps that ask")
        parser.add_argument(
            "--danger-ok",
            metavar="RUNBOOK",
            help="also run danger steps: repeat the runbook's name",
        )
        parser.add_argument("--json", action="store_true", help="print the run as JSON at the end")
        parser.add_argument(
            "--read-only", action="store_true", default=argparse.SUPPRESS, help="run nothing"
        )
    action("runs", "recorded runs, newest first")
    report = action("report", "a run as Markdown, for the change record")
    report.add_argument("run_id", metavar="RUN_ID")


def cmd_runbook(args: argparse.Namespace) -> int:
    from tui.engine import logs
    from tui.engine.config import Config
    from tui.engine.loader import ConfigError
    from tui.engine.paths import state_dir
    from tui.engine.runbooks.headless import Context, main

    try:
        config, path = _load(args)
        base_dir = path.resolve().parent
    except ConfigError as exc:
        _err(str(exc))
        return 1
    except LookupError:  # runbooks given by path work without a config
        config, base_dir = Config(), Path.cwd()
    directory = state_dir(args.state_dir)
    logs.setup(directory, args.log_level)  # warnings go to the log file, not the terminal
    context = Context(
        config=config,
        base_dir=base_dir,
        state_dir=directory,
        read_only=getattr(args, "read_only", False) or config.settings.read_only,
        runbook_paths=[
            candidate if (candidate := Path(p).expanduser()).is_absolute() else base_dir / candidate
            for p in config.runbooks.paths
        ],
    )
    return main(args, context)


# --- timeline ---------------------------------------------------------------------------
def _timeline_parser(commands: argparse._SubParsersAction) -> None:
    timeline = commands.add_parser("timeline", help="what happened and what was done, by time")
    _common(timeline)
    actions = timeline.add_subparsers(dest="timeline_command", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="a window as a post-mortem document, or JSON")
    show = actions.add_parser("show", help="a window's entries, one line each")
    for parser, since in ((export, "2h"), (show, "1h")):
        _common(parser)
        parser.add_argument(
            "--since",
            metavar="TIME",
            default=since,
            help=f"a duration ago (30m, 2h, 1d) or a time (2026-03-04T13:00); default {since}",
        )
        parser.add_argument("--until", metavar="TIME", help="the window's end; default now")
    export.add_argument("--format", choices=("markdown", "json"), default="markdown")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE, not stdout")


def cmd_timeline(args: argparse.Namespace) -> int:
    from tui.engine.loader import ConfigError
    from tui.engine.paths import find_config, state_dir
    from tui.engine.timeline.command import main

    try:
        config = find_config(args.config)  # only named in the document's header
    except ConfigError as exc:
        _err(str(exc))
        return 1
    return main(args, state_dir(args.state_dir), str(config) if config else "none found")


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _load(args: argparse.Namespace) -> tuple[Config, Path]:
    """Find and load the config; raises ConfigError (printable) or LookupError (none found)."""
    from tui.engine.loader import load_config
    from tui.engine.paths import find_config

    path = find_config(args.config)
    if path is None:
        raise LookupError
    return load_config(path), path


def _engine(args: argparse.Namespace, config: Config, path: Path) -> Engine:
    from tui.engine import logs
    from tui.engine.engine import Engine
    from tui.engine.paths import state_dir

    directory = state_dir(args.state_dir)
    logs.setup(directory, args.log_level)
    read_only = getattr(args, "read_only", False)
    logs.log("start", command=args.command or "console", config=str(path), read_only=read_only)
    return Engine(config, base_dir=path.resolve().parent, read_only=read_only, state_dir=directory)


# --- commands ---------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    """The config, and the runbooks under its ``runbooks.paths``: a runbook that does not load
    is an error (exit 1: the console could not run it); a rule naming a runbook that is not
    there is a warning, as in ``check`` (the exit code stays 0)."""
    from tui.engine.loader import ConfigError
    from tui.engine.paths import no_config_message
    from tui.engine.runbooks.catalog import discover

    try:
        config, path = _load(args)
    except ConfigError as exc:
        _err(str(exc))
        return 1
    except LookupError:
        _err(no_config_message())
        return 1
    base_dir = path.resolve().parent

    def resolved(name: str) -> Path:
        candidate = Path(name).expanduser()
        return candidate if candidate.is_absolute() else base_dir / candidate

    for i, check in enumerate(config.checks):  # the check would be down for it, every poll
        if check.ca_file and not resolved(check.ca_file).is_file():
            _err(f"warning: checks[{i}].ca_file: no file {resolved(check.ca_file)}")
    for name in config.runbooks.paths:
        if not resolved(name).is_dir():
            _err(f"warning: runbooks.paths: no directory {resolved(name)}")
    entries = discover([resolved(name) for name in config.runbooks.paths])
    names = {entry.name for entry in entries}
    for rule in config.alerts.rules:
        if rule.runbook and rule.runbook not in names:  # in the words of Engine.alert_warnings
            missing = f"no runbook named {rule.runbook!r} under runbooks.paths"
            _err(f"warning: rule {rule.name}: {missing}")
    broken = [entry.error for entry in entries if entry.error]
    for error in broken:
        _err(error)
    if broken:
        return 1
    print(f"{path}: valid")
    return 0


def cmd_schema(_: argparse.Namespace) -> int:
    from tui.engine.loader import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from tui.engine.loader import ConfigError
    from tui.engine.paths import no_config_message
    from tui.engine.report import EXIT_CODES, build_report, render_text

    try:
        config, path = _load(args)
        engine = _engine(args, config, path)
    except (ConfigError, ValueError) as exc:
        return _check_failed(args.json, str(exc))
    except LookupError:
        return _check_failed(args.json, no_config_message())

    async def run() -> dict:
        # The engine loads the alert state file and saves it on stop: `for` spans cron runs.
        try:
            alerts = await engine.check_once()
        finally:
            await engine.stop()
        sources = list(engine.state.sources.values())
        return build_report(sources, alerts, engine.clock(), engine.alert_warnings())

    report = asyncio.run(run())
    code = EXIT_CODES[report["status"]]
    try:
        _emit(json.dumps(report, indent=2) if args.json else render_text(report))
    except BrokenPipeError:  # the reader left (`| head`); the status is still the answer
        _stdout_gone()
    return code


def _check_failed(as_json: bool, message: str) -> int:
    """No poll happened: ``unknown`` (3), with the whole JSON shape so scripts need no special
    case, and the error."""
    if as_json:
        import time

        from tui.engine.report import build_report

        report = {**build_report([], (), time.time()), "status": "unknown", "error": message}
        _emit(json.dumps(report, indent=2))
    _err(message)
    return EXIT_UNKNOWN


def _emit(text: str) -> None:
    print(text)
    sys.stdout.flush()  # a closed pipe raises here, not at exit


def _stdout_gone() -> None:
    """Point stdout at /dev/null so the flush at exit cannot fail (Python would exit 120)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def cmd_init(args: argparse.Namespace) -> int:
    from tui.engine.paths import bundled_config_dir

    target = Path(args.path).expanduser()
    if target.is_dir():
        target /= "watchdeck.yaml"
    example = bundled_config_dir() / "watchdeck.example.yaml"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w" if args.force else "x", encoding="utf-8") as out:
            out.write(example.read_text(encoding="utf-8"))
    except OSError as exc:  # mkdir also raises FileExistsError, for a file in the way
        if isinstance(exc, FileExistsError) and target.is_file():
            _err(f"{target} already exists (use --force to overwrite)")
        else:
            _err(f"watchdeck init: cannot write {target}: {exc.strerror or exc}")
        return 1
    print(f"wrote {target}; edit it, then run: watchdeck validate --config {target}")
    return 0


def run_console(config_path: Path | None, args: argparse.Namespace) -> int:
    """Open the console; SIGTERM and SIGHUP (an SSH disconnect) quit it cleanly."""
    from tui.engine.loader import ConfigError, load_config
    from tui.engine.paths import find_config, no_config_message

    try:
        path = config_path or find_config(args.config)
        if path is None:
            _err(no_config_message())
            return 1
        engine = _engine(args, load_config(path), path)
        recorder = _recorder(args, engine, path)
    except (ConfigError, ValueError) as exc:  # RecordingError is a ValueError
        _err(str(exc))
        return 1

    from tui.app import WatchdeckApp

    app = WatchdeckApp(engine, theme=args.theme)

    async def run() -> int | None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, app.exit, 0)
        return await app.run_async()

    try:
        return asyncio.run(run()) or 0
    finally:
        if recorder is not None:
            _err(recorder.close())


def cmd_demo(args: argparse.Namespace) -> int:
    import importlib
    import threading

    from tui.demo.run import run_demo

    if not args.no_ui:  # import Textual while the servers start, not after
        threading.Thread(target=importlib.import_module, args=("tui.app",), daemon=True).start()
    if args.no_ui:
        return run_demo(None)

    def console(path: Path) -> int:
        # The demo's journal and alert history live and die with the demo, unless asked.
        if getattr(args, "state_dir", None) is None and "WATCHDECK_STATE_DIR" not in os.environ:
            args.state_dir = str(path.parent / "state")
        return run_console(path, args)

    return run_demo(console)


# --- record and replay -----------------------------------------------------------------
def _record_option(parser: argparse.ArgumentParser, *, sub: bool = True) -> None:
    parser.add_argument(
        "--record",
        metavar="FILE",
        default=argparse.SUPPRESS if sub else None,
        help="keep what the panes receive in FILE (gzip if it ends in .gz), for replay",
    )


def _recorder(args: argparse.Namespace, engine: Engine, path: Path) -> Recorder | None:
    if getattr(args, "record", None) is None:
        return None
    from tui.engine.recording import open_recorder

    return open_recorder(args.record, engine, path)


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    if not 0 < speed <= 1000:
        raise argparse.ArgumentTypeError(f"not a speed: {value!r} (a number like 0.5, 1 or 8)")
    return speed


def _replay_parser(commands: argparse._SubParsersAction) -> None:
    replay = commands.add_parser("replay", help="the console, read-only, on a recording")
    replay.add_argument("file", metavar="FILE", help="made by watchdeck --record FILE")
    replay.add_argument(
        "--speed", type=_speed, default=1.0, help="times the recorded pace (default 1)"
    )
    replay.add_argument(
        "--theme", metavar="NAME", default=argparse.SUPPRESS, help="a Textual theme, e.g. nord"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from tui.replay import replay

    return replay(args.file, speed=args.speed, theme=args.theme)


# --- serve ------------------------------------------------------------------------------
def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value!r} (1-65535)")
    return int(value)


def _serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="the console in a browser (no auth: loopback)")
    _common(serve)
    _console_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    serve.add_argument("--demo", action="store_true", help="start the demo environment; serve it")


def cmd_serve(args: argparse.Namespace) -> int:
    from tui.engine.loader import ConfigError
    from tui.engine.paths import no_config_message

    if args.demo:
        return _serve_demo(args)
    try:
        _, path = _load(args)  # a bad config is one line here, not a broken browser tab
    except ConfigError as exc:
        _err(str(exc))
        return 1
    except LookupError:
        _err(no_config_message())
        return 1
    from tui.serve import serve

    return serve(path, args)


def _serve_demo(args: argparse.Namespace) -> int:
    if args.config:
        _err("watchdeck serve: --demo serves the demo's own config; drop --config")
        return 2
    from tui.demo.run import run_demo
    from tui.serve import serve

    def console(path: Path) -> int:
        # As in `watchdeck demo`: the demo's state lives and dies with it, unless asked.
        if args.state_dir is None and "WATCHDECK_STATE_DIR" not in os.environ:
            args.state_dir = str(path.parent / "state")
        return serve(path, args)

    return run_demo(console)


COMMANDS = {
    "check": cmd_check,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "init": cmd_init,
    "demo": cmd_demo,
    "runbook": cmd_runbook,
    "timeline": cmd_timeline,
    "serve": cmd_serve,
    "replay": cmd_replay,
}


def _usage_failed(namespace: argparse.Namespace, error: UsageError, argv: list[str]) -> int:
    command = getattr(namespace, "command", None)
    if command == "check" and "--json" in argv:
        return _check_failed(True, str(error))
    _err(str(error))
    return USAGE_EXIT.get(command, 2)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    namespace = argparse.Namespace()  # the command is known even when its options are not
    try:
        args = build_parser().parse_args(argv, namespace)
    except UsageError as exc:
        return _usage_failed(namespace, exc, argv)
    command = COMMANDS.get(args.command)
    if command is None:
        return run_console(None, args)
    try:
        return command(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `watchdeck schema | head`
        sys.stderr.close()
        return EXIT_UNKNOWN if args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
