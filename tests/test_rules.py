"""Alert rules: expression parsing and the Prometheus state machine."""

from __future__ import annotations

import pytest

from tui.engine.config import Rule
from tui.engine.rules import RuleEngine, RuleError, parse_condition
from tui.engine.samples import QueueSample
from tui.engine.state import State


@pytest.mark.parametrize(
    ("expression", "metric", "op", "threshold"),
    [
        ("queue.emails.depth > 1000", "queue.emails.depth", ">", 1000.0),
        ("check.api.latency_ms > 3s", "check.api.latency_ms", ">", 3000.0),
        ("check.api.latency_ms >= 250ms", "check.api.latency_ms", ">=", 250.0),
        ("queue.emails.oldest_age_s > 5m", "queue.emails.oldest_age_s", ">", 300.0),
        ("db.main.pct_of_usable > 80%", "db.main.pct_of_usable", ">", 0.8),
        ("check.api.error_rate > 5%", "check.api.error_rate", ">", 0.05),
        ("db.main.sessions_1h == 0", "db.main.sessions_1h", "==", 0.0),
        ("check.api.up<1", "check.api.up", "<", 1.0),
    ],
)
def test_conditions_parse_units_as_floats(expression, metric, op, threshold):
    condition = parse_condition(expression)
    assert (condition.metric, condition.op) == (metric, op)
    assert condition.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("queue.emails.depth", "expected `METRIC OP VALUE`"),
        ("emails.depth > 3", "must look like check.NAME.METRIC"),
        ("db.main.pct_of_usable > 80", "write 80% instead of 80"),
        ("queue.emails.depth > 5m", "is not a duration"),
        ("queue.emails.depth > lots", "expected a number"),
    ],
)
def test_bad_conditions_say_why(expression, message):
    with pytest.raises(RuleError, match=message):
        parse_condition(expression)


def test_five_percent_is_not_truncated_to_zero():
    condition = parse_condition("check.api.error_rate > 5%")
    assert condition.holds(0.051)
    assert not condition.holds(0.049)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0


def _engine(rule: Rule) -> tuple[RuleEngine, State]:
    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    return RuleEngine([rule], state), state


def _depth(state: State, depth: int | None, at: float) -> None:
    if depth is None:
        state.record_error("queue:emails", "connection refused", at)
    else:
        sample = QueueSample(name="emails", kind="redis_list", at=at, depth=depth)
        state.record_sample("queue:emails", sample, at)


def test_pending_then_firing_then_resolved():
    rule = Rule(name="Backlog", when="queue.emails.depth > 100", for_=60.0, summary="{{ value }}")
    engine, state = _engine(rule)
    t = 1000.0
    _depth(state, 50, t)
    assert engine.evaluate(t) == ()
    _depth(state, 150, t + 10)
    (alert,) = engine.evaluate(t + 10)
    assert (alert.state, alert.since, alert.summary) == ("pending", t + 10, "150")
    _depth(state, 160, t + 69)
    assert engine.evaluate(t + 69)[0].state == "pending"
    (alert,) = engine.evaluate(t + 70)
    assert (alert.state, alert.since, alert.active_since) == ("firing", t + 70, t + 10)
    _depth(state, 10, t + 80)
    (alert,) = engine.evaluate(t + 80)
    assert (alert.state, alert.since) == ("resolved", t + 80)
    assert engine.evaluate(t + 80 + 15 * 60 + 1) == ()


def test_pending_timer_restarts_when_condition_clears():
    engine, state = _engine(Rule(name="Backlog", when="queue.emails.depth > 100", for_=60.0))
    _depth(state, 150, 0)
    engine.evaluate(0)
    _depth(state, 50, 30)
    assert engine.evaluate(30) == ()
    _depth(state, 150, 40)
    assert engine.evaluate(40)[0].state == "pending"
    assert engine.evaluate(90)[0].state == "pending"  # 50 s since restart, not 90
    assert engine.evaluate(100)[0].state == "firing"


def test_for_zero_fires_at_once_and_severity_is_a_label():
    engine, state = _engine(
        Rule(
            name="Backlog", when="queue.emails.depth > 1", severity="critical", labels={"team": "x"}
        )
    )
    _depth(state, 5, 0)
    (alert,) = engine.evaluate(0)
    assert alert.state == "firing"
    assert alert.labels == {"severity": "critical", "team": "x"}


@pytest.mark.parametrize(
    ("on_no_data", "expected"), [("keep", "firing"), ("ok", "resolved"), ("alert", "firing")]
)
def test_no_data_follows_on_no_data(on_no_data, expected):
    engine, state = _engine(
        Rule(name="Backlog", when="queue.emails.depth > 1", on_no_data=on_no_data)
    )
    _depth(state, 5, 0)
    assert engine.evaluate(0)[0].state == "firing"
    _depth(state, None, 10)  # the queue's Redis is down: no data, never 0
    assert engine.evaluate(10)[0].state == expected


def test_missing_metric_with_alert_on_no_data_fires():
    engine, _ = _engine(Rule(name="Gone", when="queue.emails.depth > 1", on_no_data="alert"))
    (alert,) = engine.evaluate(0)
    assert alert.state == "firing"
    assert alert.value is None


def test_values_in_summaries_are_rounded_for_people():
    from tui.engine.rules import format_value

    assert format_value("check.web.cert_days_left", 9.99995) == "10.0"
    assert format_value("queue.emails.depth", 1240.0) == "1240"
    assert format_value("check.api.latency_p95_ms", 1503.4) == "1503ms"
    assert format_value("check.api.error_rate", 0.051) == "5.1%"
