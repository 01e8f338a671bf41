"""Where the config and the state live.

Config: ``--config``, ``$WATCHDECK_CONFIG``, ``./watchdeck.yaml``, then the user config dir
(``$XDG_CONFIG_HOME/watchdeck/config.yaml``). A path the user named explicitly must exist:
falling through to another file would silently monitor the wrong thing.
State: ``--state-dir``, ``$WATCHDECK_STATE_DIR``, then the user state dir (``$XDG_STATE_HOME``).
platformdirs reads the XDG variables from the process environment and is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import tui
from tui.engine.loader import ConfigError, ConfigIssue

APP = "watchdeck"
LOCAL_NAME = "watchdeck.yaml"
CONFIG_ENV = "WATCHDECK_CONFIG"
STATE_ENV = "WATCHDECK_STATE_DIR"


def user_config_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP, appauthor=False)) / "config.yaml"


def _named(value: str, cwd: Path | None) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or cwd is None else cwd / path


def _must_exist(path: Path, given_by: str) -> Path:
    if path.is_file():
        return path
    reason = "is not a file" if path.exists() else "does not exist"
    message = f"config file {reason} (given by {given_by})"
    raise ConfigError([ConfigIssue(str(path), 1, 1, "", message)])


def find_config(
    explicit: str | None, environ: Mapping[str, str] = os.environ, cwd: Path | None = None
) -> Path | None:
    """The config to load, or None when there is none anywhere; see the module docstring."""
    if explicit == "":  # named, but as nothing: falling through would load another file
        raise ConfigError([ConfigIssue('--config ""', 1, 1, "", "empty: name a config file")])
    if explicit is not None:
        return _must_exist(_named(explicit, cwd), "--config")
    from_env = environ.get(CONFIG_ENV)
    if from_env:
        return _must_exist(_named(from_env, cwd), f"${CONFIG_ENV}")
    for candidate in ((cwd or Path.cwd()) / LOCAL_NAME, user_config_file()):
        if candidate.is_file():
            return candidate
    return None


def searched_locations(
    explicit: str | None = None, environ: Mapping[str, str] = os.environ, cwd: Path | None = None
) -> list[str]:
    """Every place ``find_config`` looks, in order, as lines for the "no config" message."""
    from_env = environ.get(CONFIG_ENV)
    return [
        f"--config {explicit}" if explicit else "--config FILE (not given)",
        f"${CONFIG_ENV}={from_env}" if from_env else f"${CONFIG_ENV} (not set)",
        str((cwd or Path.cwd()) / LOCAL_NAME),
        str(user_config_file()),
    ]


def no_config_message(environ: Mapping[str, str] = os.environ, cwd: Path | None = None) -> str:
    example = bundled_config_dir() / "watchdeck.example.yaml"
    searched = "\n".join(f"  - {place}" for place in searched_locations(None, environ, cwd))
    return (
        "watchdeck: no config file found. Looked at, in order:\n"
        f"{searched}\n"
        "To get started, either:\n"
        "  - run `watchdeck demo` to see the console on an embedded demo environment,\n"
        f"  - copy {example} to ./{LOCAL_NAME} and edit it,\n"
        f"  - or run `watchdeck init` to write a commented starter ./{LOCAL_NAME}."
    )


def state_dir(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """Journal, alert history and runbook progress (not created here; see ensure_state_dir)."""
    if explicit is not None:
        if not explicit:
            raise ValueError("--state-dir is empty: name a directory (or leave it out)")
        return Path(explicit).expanduser()
    from_env = environ.get(STATE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP, appauthor=False))


def ensure_state_dir(path: Path) -> Path:
    """Create the state dir private to the user (it holds commands and their output): 0700
    whatever the umask. One that exists is left as it is, since ``--state-dir`` may name a
    directory shared on purpose; watchdeck's files in it are 0600 either way."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise
        return path
    path.chmod(0o700)
    return path


def bundled_config_dir() -> Path:
    """``config/`` of a checkout, else the copy the wheel ships as ``tui/_config``."""
    package = Path(tui.__file__).parent
    checkout = package.parent / "config"
    return checkout if checkout.is_dir() else package / "_config"


__all__ = [
    "bundled_config_dir",
    "ensure_state_dir",
    "find_config",
    "no_config_message",
    "searched_locations",
    "state_dir",
    "user_config_file",
]
