"""Internal alert rules with Prometheus semantics.

``when`` is ``METRIC OP VALUE`` (``queue.emails.depth > 1000``). States follow Prometheus:
inactive -> pending (condition true, ``for`` not yet elapsed; if it clears, the timer
restarts) -> firing -> resolved (kept visible for ``RESOLVED_RETENTION``). A metric with no
data follows the rule's ``on_no_data``: ``ok`` treats it as false, ``alert`` as true,
``keep`` leaves the state as it is.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tui.engine.config import Rule
from tui.engine.samples import Alert
from tui.engine.state import State
from tui.engine.units import parse_duration, parse_percent

RESOLVED_RETENTION = 15 * 60.0
SECTIONS = ("check", "db", "queue")
RATIO_METRICS = {"pct_of_usable", "error_rate", "uptime"}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXPRESSION = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_.-]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>\S+)\s*$"
)
_TEMPLATE = re.compile(r"\{\{\s*\$?(?P<field>value|name|metric|threshold)\s*\}\}")


class RuleError(ValueError):
    """A rule expression that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Condition:
    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](float(value), self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {format_value(self.metric, self.threshold)}"


def _threshold(metric: str, text: str) -> float:
    leaf = metric.rsplit(".", 1)[-1]
    if text.endswith("%"):
        return float(parse_percent(text))
    if re.fullmatch(r"\d+(\.\d+)?(ms|s|m|h|d)", text):
        seconds = float(parse_duration(text))
        if leaf.endswith("_ms"):
            return seconds * 1000.0
        if leaf.endswith("_s"):
            return seconds
        raise RuleError(f"{metric} is not a duration; compare it with a plain number")
    try:
        value = float(text)
    except ValueError:
        raise RuleError(f"expected a number, a duration or a percentage, got {text!r}") from None
    if leaf in RATIO_METRICS and value > 1:
        raise RuleError(f"{metric} is a ratio: write {text}% instead of {text}")
    return value


def parse_condition(expression: str) -> Condition:
    """Parse ``METRIC OP VALUE``; raises ``RuleError`` with a one-line reason."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise RuleError(
            f"expected `METRIC OP VALUE` such as `queue.emails.depth > 1000`, got {expression!r}"
        )
    metric = match["metric"]
    parts = metric.split(".")
    if len(parts) < 3 or parts[0] not in SECTIONS:
        raise RuleError(
            f"metric {metric!r} must look like check.NAME.METRIC, db.NAME.METRIC"
            " or queue.NAME.METRIC"
        )
    return Condition(metric, match["op"], _threshold(metric, match["value"]))


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "no data"
    leaf = metric.rsplit(".", 1)[-1]
    if leaf in RATIO_METRICS:
        return f"{value * 100:.1f}%"
    if leaf.endswith("_ms"):
        return f"{value:.0f}ms"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


@dataclass(slots=True)
class _RuleState:
    state: str = "inactive"
    active_since: float | None = None
    since: float | None = None
    value: float | None = None


@dataclass
class RuleEngine:
    rules: Sequence[Rule]
    state: State
    conditions: dict[str, Condition] = field(init=False)
    _states: dict[str, _RuleState] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.conditions = {rule.name: parse_condition(rule.when) for rule in self.rules}
        self._states = {rule.name: _RuleState() for rule in self.rules}

    def evaluate(self, now: float) -> tuple[Alert, ...]:
        alerts = []
        for rule in self.rules:
            condition = self.conditions[rule.name]
            current = self._states[rule.name]
            value = self.state.metric(condition.metric)
            if value is None:
                verdict = {"ok": False, "alert": True, "keep": None}[rule.on_no_data]
            else:
                verdict = condition.holds(value)
                current.value = value
            if verdict is not None:
                self._step(rule, current, verdict, now)
            alert = self._alert(rule, condition, current, now)
            if alert is not None:
                alerts.append(alert)
        order = {"firing": 0, "pending": 1, "resolved": 2}
        severity = {"critical": 0, "warning": 1, "info": 2}
        alerts.sort(key=lambda a: (order[a.state], severity.get(a.severity, 3), -a.since))
        return tuple(alerts)

    def _step(self, rule: Rule, current: _RuleState, active: bool, now: float) -> None:
        if active:
            if current.state in ("inactive", "resolved"):
                current.state, current.active_since, current.since = "pending", now, now
            if current.state == "pending" and now - (current.active_since or now) >= rule.for_:
                current.state, current.since = "firing", now
        elif current.state == "pending":
            current.state, current.active_since, current.since = "inactive", None, None
        elif current.state == "firing":
            current.state, current.since = "resolved", now

    def _alert(
        self, rule: Rule, condition: Condition, current: _RuleState, now: float
    ) -> Alert | None:
        if current.state == "inactive" or current.since is None:
            return None
        if current.state == "resolved" and now - current.since > RESOLVED_RETENTION:
            current.state = "inactive"
            return None
        fields = {
            "value": format_value(condition.metric, current.value),
            "name": rule.name,
            "metric": condition.metric,
            "threshold": format_value(condition.metric, condition.threshold),
        }
        summary = _TEMPLATE.sub(lambda m: fields[m["field"]], rule.summary) or str(condition)
        return Alert(
            name=rule.name,
            source="watchdeck",
            state=current.state,  # type: ignore[arg-type]
            severity=rule.severity,
            since=current.since,
            summary=summary,
            labels={"severity": rule.severity, **rule.labels},
            runbook=rule.runbook or rule.runbook_url,
            value=current.value,
            active_since=current.active_since,
        )
