"""What a parsed runbook is: its variables, its steps, and where each came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

RUNNABLE = frozenset({"sh", "bash", "shell", "sql", "http"})
"""Fence languages whose blocks are steps; any other block is shown, not run."""
SHELLS = frozenset({"sh", "bash", "shell"})

StepKind = Literal["manual", "shell", "sql", "http", "check"]
VariableType = Literal["string", "int", "bool", "choice"]
VARIABLE_TYPES: tuple[VariableType, ...] = ("string", "int", "bool", "choice")
Value = str | int | bool


class RunbookError(Exception):
    """A runbook that cannot be used as written, located at ``file:line``."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: VariableType = "string"
    default: Value | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    """Never persisted, masked as ``***`` wherever it would be shown."""
    required: bool = False
    description: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    """1-based, in document order."""
    kind: StepKind
    title: str
    line: int
    """1-based line of the step in the file (the fence or the checklist item)."""
    language: str = ""
    """``sh``, ``bash``, ``shell``, ``sql`` or ``http`` for code steps."""
    code: str = ""
    text: str = ""
    """The checklist item's full text (manual and checklist check steps)."""
    checked: bool = False
    """Written ``- [x]`` in the document."""
    confirm: bool = False
    danger: bool = False
    timeout: float | None = None
    db: str | None = None
    capture: str | None = None
    interactive: bool = False
    check: str | None = None
    """A configured health check that must be healthy for the step to pass."""

    @property
    def runnable(self) -> bool:
        return self.kind != "manual"

    @property
    def needs_confirm(self) -> bool:
        return self.confirm or self.danger


@dataclass(frozen=True, slots=True)
class Runbook:
    path: Path
    name: str
    """The file stem: what an alert rule's ``runbook:`` names."""
    title: str
    text: str
    """The whole document (newlines normalised), front matter included."""
    body: str
    """The Markdown after the front matter: what a viewer renders."""
    body_line: int
    """1-based file line where ``body`` starts."""
    sha256: str
    variables: tuple[Variable, ...] = ()
    alerts: tuple[str, ...] = ()
    """Alert names the front matter attaches the runbook to."""
    window: float | None = None
    """Planned maintenance window length in seconds."""
    description: str = ""
    steps: tuple[Step, ...] = ()

    def variable(self, name: str) -> Variable | None:
        return next((var for var in self.variables if var.name == name), None)

    def step(self, index: int) -> Step:
        if not 1 <= index <= len(self.steps):
            raise IndexError(f"{self.name} has no step {index} (steps 1-{len(self.steps)})")
        return self.steps[index - 1]

    @property
    def captures(self) -> dict[str, int]:
        """Variables set by a step's ``capture=``, with the step that sets each."""
        return {step.capture: step.index for step in self.steps if step.capture}
