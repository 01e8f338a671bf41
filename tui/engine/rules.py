"""Internal alert rules with Prometheus semantics.

``when`` is ``METRIC OP VALUE`` (``queue.emails.depth > 1000``), optionally several joined
with ``and`` / ``or`` (``and`` binds tighter; no parentheses). States follow Prometheus:
inactive -> pending (condition true, ``for`` not yet elapsed; if it clears, the timer
restarts) -> firing -> resolved (kept visible for ``retention``). A firing alert whose
condition clears keeps firing for ``keep_firing_for``. A metric with no data follows the
rule's ``on_no_data``: ``ok`` treats it as false, ``alert`` as true, ``keep`` leaves the state
as it is. With several comparisons, no data is "unknown" (Kleene logic): ``A or B`` holds when
either holds, whatever the other.

Each rule also keeps its last ``FLAP_RESULTS`` verdicts for a Nagios-style flapping badge:
one per new reading of its metrics, however often it is evaluated between two polls.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields

from tui.engine.alert_book import fingerprint
from tui.engine.config import Flapping, Rule
from tui.engine.derived import FLAP_RESULTS, percent_state_change, still_flapping
from tui.engine.samples import METRICS, Alert, DatabaseSample
from tui.engine.state import State
from tui.engine.templates import render
from tui.engine.units import format_duration, parse_duration, parse_percent

RESOLVED_RETENTION = 15 * 60.0
SOURCE = "watchdeck"
"""The ``source`` of alerts raised by rules."""
SECTIONS = ("check", "db", "queue")
SOURCE_SECTIONS = {"check": "check", "db": "database", "queue": "queue"}
"""A metric path's first part -> the section of the source it reads."""
RATIO_METRICS = {"pct_of_usable", "error_rate", "uptime"}
"""Built-in metrics holding a fraction (0.05 is 5 %): compared with percentages."""
NUMBER_METRICS = {name for names in METRICS.values() for name in names} - RATIO_METRICS
"""Built-in metrics that are counts or measures, never fractions: a percentage is a mistake."""
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_COMPARISON = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_./-]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>\S+)\s*$"
)
_DURATION = re.compile(r"\d+(\.\d+)?(ms|s|m|h|d)")
_STATES = ("inactive", "pending", "firing", "resolved")


class RuleError(ValueError):
    """A rule expression that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Comparison:
    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](float(value), self.threshold)

    def test(self, value: float | None) -> bool | None:
        """``holds``, or ``None`` without data."""
        return None if value is None else self.holds(value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {format_value(self.metric, self.threshold)}"


@dataclass(frozen=True, slots=True)
class When:
    """A rule's condition: comparisons joined by ``and`` inside ``or`` clauses."""

    clauses: tuple[tuple[Comparison, ...], ...]

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return tuple(comparison for clause in self.clauses for comparison in clause)

    @property
    def metric(self) -> str:
        """The first metric: its value is the alert's ``{{ value }}``."""
        return self.clauses[0][0].metric

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(comparison.metric for comparison in self.comparisons))

    def verdict(self, values: Mapping[str, float | None]) -> bool | None:
        """True, False, or ``None`` when missing data leaves it undecided."""
        undecided = False
        for clause in self.clauses:
            results = [comparison.test(values.get(comparison.metric)) for comparison in clause]
            if False in results:
                continue
            if None in results:
                undecided = True
                continue
            return True
        return None if undecided else False

    def __str__(self) -> str:
        return " or ".join(" and ".join(str(c) for c in clause) for clause in self.clauses)


def _threshold(metric: str, text: str) -> float:
    leaf = metric.rsplit(".", 1)[-1]
    if text.endswith("%"):
        if leaf in NUMBER_METRICS:
            raise RuleError(f"{metric} is not a ratio; compare it with a plain number")
        if leaf not in RATIO_METRICS and leaf.endswith(("_pct", "_percent")):
            raise RuleError(
                f"{metric} holds percent numbers (0-100): write {text[:-1]} instead of {text}"
            )
        try:
            return float(parse_percent(text))
        except ValueError as exc:
            raise RuleError(str(exc)) from None
    if _DURATION.fullmatch(text):
        seconds = float(parse_duration(text))
        if leaf.endswith("_ms"):
            return seconds * 1000.0
        if leaf.endswith("_s"):
            return seconds
        if leaf.endswith(("_days", "days_left")):
            return seconds / 86400.0
        raise RuleError(f"{metric} is not a duration; compare it with a plain number")
    try:
        value = float(text)
    except ValueError:
        raise RuleError(f"expected a number, a duration or a percentage, got {text!r}") from None
    if not math.isfinite(value):
        raise RuleError(f"expected a finite number, got {text!r}")
    if leaf in RATIO_METRICS and value > 1:
        raise RuleError(f"{metric} is a ratio: write {text}% instead of {text}")
    return value


def parse_comparison(text: str) -> Comparison:
    """Parse ``METRIC OP VALUE``; raises ``RuleError`` with a one-line reason."""
    match = _COMPARISON.match(text)
    if not match:
        raise RuleError(
            f"expected `METRIC OP VALUE` such as `queue.emails.depth > 1000`, got {text.strip()!r}"
        )
    metric = match["metric"]
    parts = metric.split(".")
    if len(parts) < 3 or parts[0] not in SECTIONS:
        raise RuleError(
            f"metric {metric!r} must look like check.NAME.METRIC, db.NAME.METRIC"
            " or queue.NAME.METRIC"
        )
    return Comparison(metric, match["op"], _threshold(metric, match["value"]))


def parse_when(expression: str) -> When:
    """Parse a rule's ``when``; raises ``RuleError`` with a one-line reason."""
    pieces = re.split(r"(?<!\S)(and|or)(?!\S)", expression)
    texts, joiners = pieces[::2], pieces[1::2]
    if not all(text.strip() for text in texts):
        raise RuleError(f"`and` / `or` need a comparison on each side, got {expression!r}")
    clauses: list[list[Comparison]] = [[parse_comparison(texts[0])]]
    for joiner, text in zip(joiners, texts[1:], strict=True):
        if joiner == "or":
            clauses.append([])
        clauses[-1].append(parse_comparison(text))
    return When(tuple(tuple(clause) for clause in clauses))


def format_value(metric: str, value: float | None) -> str:
    """A metric's value as people read it in a summary: ``5.1%``, ``1503ms``, ``3m12s``."""
    if value is None:
        return "no data"
    leaf = metric.rsplit(".", 1)[-1]
    if leaf in RATIO_METRICS:
        return f"{value * 100:.1f}%"
    if leaf.endswith("_ms"):
        return f"{value:.0f}ms"
    if leaf.endswith("_s"):
        return format_duration(value)
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


@dataclass(slots=True)
class RuleState:
    """Where one rule stands; saved in the state file so ``for`` survives restarts."""

    state: str = "inactive"
    active_since: float | None = None
    """When the condition became true (start of pending)."""
    since: float | None = None
    """When the current state began."""
    keep_firing_since: float | None = None
    """When the condition of a firing alert cleared (``keep_firing_for`` counts from here)."""
    value: float | None = None
    evaluated_at: float | None = None
    results: list[bool] = field(default_factory=list)
    """The last verdicts, oldest first (flapping)."""
    flapping: bool = False


def _restored(data: object) -> RuleState | None:
    """A saved rule state, or ``None`` when it is not one (a damaged or foreign file)."""
    if not isinstance(data, dict) or data.get("state") not in _STATES:
        return None
    restored = RuleState(state=data["state"])
    for spec in fields(RuleState):
        value = data.get(spec.name)
        if spec.name in ("state", "results", "flapping"):
            continue
        if value is not None and not isinstance(value, int | float):
            return None
        setattr(restored, spec.name, None if value is None else float(value))
    results = data.get("results", [])
    if isinstance(results, list):
        restored.results = [bool(result) for result in results[-FLAP_RESULTS:]]
    restored.flapping = data.get("flapping") is True
    if restored.state != "inactive" and restored.since is None:
        return None
    if restored.state in ("pending", "firing") and restored.active_since is None:
        return None
    return restored


class RuleEngine:
    def __init__(
        self,
        rules: Sequence[Rule],
        state: State,
        *,
        retention: float = RESOLVED_RETENTION,
        flapping: Flapping | None = None,
        max_gap: float = math.inf,
    ) -> None:
        self.rules = list(rules)
        self.state = state
        self.retention = retention
        self.flapping = flapping or Flapping()
        self.max_gap = max_gap
        self.conditions = {rule.name: parse_when(rule.when) for rule in self.rules}
        self.states = {rule.name: RuleState() for rule in self.rules}
        self.readings: dict[str, tuple[float | None, ...]] = {}
        """Per rule, when its metrics were read as of its last flapping verdict."""

    def evaluate(self, now: float) -> tuple[Alert, ...]:
        """Read every rule's metrics, step its state machine, and return the alerts."""
        for rule in self.rules:
            self._evaluate(rule, now)
        return self.current(now)

    def current(self, now: float) -> tuple[Alert, ...]:
        """The alerts as the rules stand, without evaluating (e.g. just restored)."""
        alerts = (self._alert(rule, now) for rule in self.rules)
        return tuple(alert for alert in alerts if alert is not None)

    def _evaluate(self, rule: Rule, now: float) -> None:
        condition = self.conditions[rule.name]
        current = self.states[rule.name]
        values = {metric: self.state.metric(metric) for metric in condition.metrics}
        verdict = condition.verdict(values)
        if verdict is None and rule.on_no_data == "keep":
            current.evaluated_at = now
            return
        active = verdict if verdict is not None else rule.on_no_data == "alert"
        current.value = values[condition.metric]
        gap = now - current.evaluated_at if current.evaluated_at is not None else 0.0
        if current.state == "pending" and gap > self.max_gap:
            current.state, current.active_since, current.since = "inactive", None, None
        self._step(rule, current, active, now)
        readings = tuple(self._read_at(metric) for metric in condition.metrics)
        if readings != self.readings.get(rule.name):
            self.readings[rule.name] = readings
            self._flap(current, active)
        current.evaluated_at = now

    def _read_at(self, metric: str) -> float | None:
        """When ``metric``'s value was read: its source's last pass (a failed one is news too:
        no data), or a custom SQL metric's own run (it has its own interval)."""
        section, _, rest = metric.partition(".")
        name, _, leaf = rest.rpartition(".")
        for source in self.state.sources.values():
            if source.section != SOURCE_SECTIONS[section] or source.name != name:
                continue
            if source.error is None and isinstance(source.sample, DatabaseSample):
                for custom in source.sample.custom_metrics:
                    if custom.name == leaf:
                        return custom.at
            return source.last_attempt
        return None

    @staticmethod
    def _step(rule: Rule, current: RuleState, active: bool, now: float) -> None:
        if active:
            current.keep_firing_since = None
            if current.state in ("inactive", "resolved"):
                current.state, current.active_since, current.since = "pending", now, now
            started = current.active_since if current.active_since is not None else now
            if current.state == "pending" and now - started >= rule.for_:
                current.state, current.since = "firing", now
        elif current.state == "pending":
            current.state, current.active_since, current.since = "inactive", None, None
        elif current.state == "firing":
            if current.keep_firing_since is None:
                current.keep_firing_since = now
            if now - current.keep_firing_since >= rule.keep_firing_for:
                current.state, current.since, current.keep_firing_since = "resolved", now, None

    def _flap(self, current: RuleState, active: bool) -> None:
        current.results = [*current.results[-(FLAP_RESULTS - 1) :], active]
        change = percent_state_change(current.results)
        high, low = self.flapping.high * 100.0, self.flapping.low * 100.0
        current.flapping = still_flapping(current.flapping, change, high, low)

    def _alert(self, rule: Rule, now: float) -> Alert | None:
        current = self.states[rule.name]
        if current.state == "inactive" or current.since is None:
            return None
        if current.state == "resolved" and now - current.since > self.retention:
            current.state = "inactive"
            return None
        condition = self.conditions[rule.name]
        labels = {**rule.labels, "alertname": rule.name, "severity": rule.severity}
        values = {
            "value": format_value(condition.metric, current.value),
            "name": rule.name,
            "metric": condition.metric,
            "threshold": format_value(condition.metric, condition.comparisons[0].threshold),
        }
        summary = render(rule.summary, values, labels) or str(condition)
        description = render(rule.description, values, labels)
        annotations = {
            "summary": summary,
            **({"description": description} if description else {}),
            **{key: render(text, values, labels) for key, text in rule.annotations.items()},
        }
        return Alert(
            name=rule.name,
            source=SOURCE,
            state=current.state,  # type: ignore[arg-type]
            severity=rule.severity,
            since=current.since,
            summary=summary,
            labels=labels,
            runbook=rule.runbook or rule.runbook_url,
            value=current.value,
            active_since=current.active_since,
            fingerprint=fingerprint(labels),
            description=description,
            annotations=annotations,
            runbook_url=rule.runbook_url,
            flapping=current.flapping,
        )

    # --- persistence ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, object]]:
        """Every rule's state, with its ``when`` (a changed rule starts afresh)."""
        return {
            rule.name: {"when": rule.when, **asdict(self.states[rule.name])} for rule in self.rules
        }

    def restore(self, saved: object) -> None:
        """Take back states saved by ``snapshot``; unknown, changed or damaged ones are skipped."""
        if not isinstance(saved, dict):
            return
        for rule in self.rules:
            data = saved.get(rule.name)
            if not isinstance(data, dict) or data.get("when") != rule.when:
                continue
            restored = _restored(data)
            if restored is not None:
                self.states[rule.name] = restored
