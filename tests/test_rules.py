"""Alert rules: expression parsing and the Prometheus state machine."""

from __future__ import annotations

import pytest

from tui.engine.config import Rule
from tui.engine.rules import RuleEngine, RuleError, parse_comparison, parse_when
from tui.engine.samples import Connections, CustomMetric, DatabaseSample, QueueSample
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
        ("check.web.cert_days_left < 30d", "check.web.cert_days_left", "<", 30.0),
        ("check.api.last_change_s > 1h", "check.api.last_change_s", ">", 3600.0),
        ("check.api.uptime < 90%", "check.api.uptime", "<", 0.9),
        ("db.main.ratio_cached < 5%", "db.main.ratio_cached", "<", 0.05),
    ],
)
def test_conditions_parse_units_as_floats(expression, metric, op, threshold):
    condition = parse_comparison(expression)
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
        ("queue.emails.depth > 5%", "is not a ratio"),
        ("check.api.disk_free_pct < 20%", r"holds percent numbers \(0-100\): write 20 instead"),
        ("queue.emails.depth > 1 and", "need a comparison on each side"),
        ("queue.emails.depth > 1 or  or check.a.up < 1", "need a comparison on each side"),
        ("queue.emails.depth > nan", "expected a finite number"),
    ],
)
def test_bad_conditions_say_why(expression, message):
    with pytest.raises(RuleError, match=message):
        parse_when(expression)


def test_five_percent_is_not_truncated_to_zero():
    condition = parse_comparison("check.api.error_rate > 5%")
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
    assert alert.labels == {"alertname": "Backlog", "severity": "critical", "team": "x"}


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


def test_keep_firing_for_holds_the_alert_after_the_condition_clears():
    rule = Rule(name="Backlog", when="queue.emails.depth > 100", keep_firing_for=60.0)
    engine, state = _engine(rule)
    _depth(state, 150, 0)
    assert engine.evaluate(0)[0].state == "firing"
    _depth(state, 10, 10)
    (alert,) = engine.evaluate(10)
    assert (alert.state, alert.since) == ("firing", 0)  # still firing, same since
    assert engine.evaluate(69)[0].state == "firing"
    _depth(state, 150, 40)  # back above: the keep-firing clock starts over when it clears again
    engine.evaluate(40)
    _depth(state, 10, 50)
    assert engine.evaluate(50)[0].state == "firing"
    assert engine.evaluate(109)[0].state == "firing"
    (alert,) = engine.evaluate(110)  # 60 s after it last cleared
    assert (alert.state, alert.since) == ("resolved", 110)


def test_a_resolved_alert_that_comes_back_starts_pending_again():
    engine, state = _engine(Rule(name="Backlog", when="queue.emails.depth > 100", for_=30.0))
    _depth(state, 150, 0)
    engine.evaluate(0)
    engine.evaluate(30)
    _depth(state, 10, 40)
    assert engine.evaluate(40)[0].state == "resolved"
    _depth(state, 150, 50)
    (alert,) = engine.evaluate(50)
    assert (alert.state, alert.active_since) == ("pending", 50)


def test_resolved_retention_is_configurable():
    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    rule = Rule(name="Backlog", when="queue.emails.depth > 1")
    engine = RuleEngine([rule], state, retention=60.0)
    _depth(state, 5, 0)
    engine.evaluate(0)
    _depth(state, 0, 10)
    assert engine.evaluate(10)[0].state == "resolved"
    assert engine.evaluate(70)[0].state == "resolved"
    assert engine.evaluate(71) == ()


def test_no_data_with_keep_does_not_advance_a_pending_timer():
    engine, state = _engine(Rule(name="Backlog", when="queue.emails.depth > 1", for_=60.0))
    _depth(state, 5, 0)
    engine.evaluate(0)
    _depth(state, None, 10)
    assert engine.evaluate(100)[0].state == "pending"  # nobody saw it hold: still pending
    _depth(state, 5, 110)
    assert engine.evaluate(110)[0].state == "firing"  # held since 0, seen again now


def test_no_data_with_alert_fires_after_for_and_says_no_data():
    rule = Rule(
        name="Gone",
        when="queue.emails.depth > 1",
        for_=20.0,
        on_no_data="alert",
        summary="{{value}}",
    )
    engine, state = _engine(rule)
    _depth(state, None, 0)
    assert engine.evaluate(0)[0].state == "pending"
    (alert,) = engine.evaluate(20)
    assert (alert.state, alert.summary, alert.value) == ("firing", "no data", None)


def test_a_long_gap_restarts_a_pending_timer():
    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    rule = Rule(name="Backlog", when="queue.emails.depth > 1", for_=600.0)
    engine = RuleEngine([rule], state, max_gap=300.0)
    _depth(state, 5, 0)
    engine.evaluate(0)
    engine.evaluate(240)  # gaps up to 300 s keep the timer
    (alert,) = engine.evaluate(2000)  # 1760 s without an evaluation: nobody saw it hold
    assert (alert.state, alert.active_since) == ("pending", 2000)


def test_and_or_with_missing_data_follow_kleene_logic():
    state = State()
    for name in ("emails", "sms"):
        state.register(f"queue:{name}", "queue", name, "redis_list")
    state.record_sample(
        "queue:emails", QueueSample("emails", "redis_list", 0, depth=500, workers=0), 0
    )
    when = parse_when(
        "queue.emails.depth > 100 and queue.emails.workers == 0 or queue.sms.depth > 5"
    )
    assert when.metrics == ("queue.emails.depth", "queue.emails.workers", "queue.sms.depth")
    values = {metric: state.metric(metric) for metric in when.metrics}
    assert values["queue.sms.depth"] is None
    assert when.verdict(values) is True  # one clause holds: the missing one does not matter
    assert when.verdict({**values, "queue.emails.workers": 2.0}) is None  # undecided
    assert when.verdict({**values, "queue.emails.workers": 2.0, "queue.sms.depth": 1.0}) is False
    assert (
        parse_when("queue.a.depth > 1 and queue.b.depth > 1").verdict({"queue.a.depth": 0.0})
        is False
    )  # false and unknown is false
    assert str(when) == (
        "queue.emails.depth > 100 and queue.emails.workers == 0 or queue.sms.depth > 5"
    )


def test_compound_rule_fires_with_the_first_metric_as_value():
    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    state.record_sample(
        "queue:emails", QueueSample("emails", "redis_list", 0, depth=500, workers=0), 0
    )
    rule = Rule(
        name="Stuck",
        when="queue.emails.depth > 100 and queue.emails.workers < 1",
        summary="{{ value }} jobs and nobody working",
    )
    (alert,) = RuleEngine([rule], state).evaluate(0)
    assert (alert.state, alert.value, alert.summary) == (
        "firing",
        500.0,
        "500 jobs and nobody working",
    )


def test_templates_fill_value_name_labels_and_annotations():
    rule = Rule(
        name="Backlog",
        when="queue.emails.oldest_age_s > 5m",
        severity="critical",
        labels={"team": "mail"},
        summary="{{ name }}: oldest job {{ value }} (limit {{ threshold }}) for {{ labels.team }}",
        description="{{ $labels.severity }} on {{ metric }} {{ $value }}",
        annotations={"dashboard": "https://grafana/d/q?team={{labels.team}}"},
        runbook="queue-backlog",
        runbook_url="https://wiki/queue-backlog",
    )
    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    sample = QueueSample("emails", "redis_list", 0, depth=3, oldest_age_s=400.0)
    state.record_sample("queue:emails", sample, 0)
    (alert,) = RuleEngine([rule], state).evaluate(0)
    assert alert.summary == "Backlog: oldest job 6m40s (limit 5m00s) for mail"
    assert alert.description == "critical on queue.emails.oldest_age_s 6m40s"
    assert alert.annotations == {
        "summary": alert.summary,
        "description": alert.description,
        "dashboard": "https://grafana/d/q?team=mail",
    }
    assert (alert.runbook, alert.runbook_url) == ("queue-backlog", "https://wiki/queue-backlog")
    assert alert.source == "watchdeck" and alert.source_kind == "rule"
    assert len(alert.fingerprint) == 16


def test_template_problems_are_found_before_rendering():
    from tui.engine.templates import problem, render

    labels = {"alertname": "", "severity": "", "team": "x"}
    assert problem("{{ value }} {{ labels.team }} {{ $labels.team }}", labels) is None
    assert "unknown placeholder {{ valeu }}" in problem("{{ valeu }}", labels)
    assert "no label 'owner'" in problem("{{ labels.owner }}", labels)
    assert "unbalanced" in problem("{{ value }", labels)
    assert render("{{ value }}{{ value }}", {"value": "{{ name }}"}, {}) == "{{ name }}{{ name }}"


def test_a_rule_that_keeps_changing_flaps_and_settles_with_hysteresis():
    from tui.engine.config import Flapping

    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    rule = Rule(name="Backlog", when="queue.emails.depth > 1")
    engine = RuleEngine([rule], state, flapping=Flapping(high=0.5, low=0.25))
    t = 0.0

    def step(depth: int) -> bool | None:
        nonlocal t
        t += 10
        _depth(state, depth, t)
        alerts = engine.evaluate(t)
        return alerts[0].flapping if alerts else None

    for _ in range(10):  # steady: never flapping
        step(5)
    assert step(5) is False
    seen = [step(depth) for depth in [0, 5] * 8]  # a change at every evaluation
    assert seen[-1] is True
    assert seen.index(True) > 3  # it takes a few changes, weighted newest first
    steady = [step(5) for _ in range(20)]
    assert steady[0] is True  # hysteresis: between low and high it stays flapping
    assert steady[-1] is False


def test_flapping_counts_each_reading_once_however_often_rules_are_evaluated():
    """A queue polled every 15 s, rules evaluated every 5 s: three evaluations see one reading,
    which is one result, not three (repeated results diluted the changes: no badge)."""

    def evaluated(every_poll: int) -> tuple[list[bool], bool]:
        engine, state = _engine(Rule(name="Backlog", when="queue.emails.depth > 1"))
        t = 0.0
        for poll in range(30):
            _depth(state, 5 if poll % 2 else 0, t)  # the result changes at every poll
            for _ in range(every_poll):
                engine.evaluate(t)
                t += 5
        rule = engine.states["Backlog"]
        return rule.results, rule.flapping

    results, flapping = evaluated(3)
    assert (results, flapping) == evaluated(1)
    assert flapping and results == [poll % 2 == 1 for poll in range(9, 30)]


def test_a_custom_sql_metric_is_one_reading_per_run_of_its_query():
    """The database is polled every pass; its custom metric runs on its own interval."""
    state = State()
    state.register("database:main", "database", "main", "postgres")
    engine = RuleEngine([Rule(name="Idle", when="db.main.rows_1h == 0")], state)
    connections = Connections(total=1, active=1, idle=0, idle_in_transaction=0, waiting_on_lock=0)
    for t in range(0, 120, 5):  # the query runs every 30 s, alternating 0 and 10 rows
        ran = t - t % 30
        metric = CustomMetric("rows_1h", 10.0 if ran % 60 else 0.0, at=float(ran))
        sample = DatabaseSample("main", t, "16.2", 100, 97, connections, custom_metrics=(metric,))
        state.record_sample("database:main", sample, t)
        engine.evaluate(t)
    assert engine.states["Idle"].results == [True, False, True, False]


def test_flapping_thresholds_change_when_it_starts():
    from tui.engine.config import Flapping

    def first_flap(high: float) -> int:
        state = State()
        state.register("queue:emails", "queue", "emails", "redis_list")
        engine = RuleEngine(
            [Rule(name="B", when="queue.emails.depth > 1")],
            state,
            flapping=Flapping(high=high, low=high / 2),
        )
        for n in range(40):
            _depth(state, 5 if n % 2 else 0, n)
            engine.evaluate(n)
            if engine.states["B"].flapping:
                return n
        return -1

    assert 0 < first_flap(0.2) < first_flap(0.5) < first_flap(0.8)


def test_snapshot_and_restore_carry_pending_timers_but_not_changed_rules():
    engine, state = _engine(Rule(name="Backlog", when="queue.emails.depth > 100", for_=60.0))
    _depth(state, 150, 0)
    engine.evaluate(0)
    saved = engine.snapshot()
    import json

    saved = json.loads(json.dumps(saved))  # as the state file keeps it

    again, state2 = _engine(Rule(name="Backlog", when="queue.emails.depth > 100", for_=60.0))
    again.restore(saved)
    assert again.current(30)[0].state == "pending"
    _depth(state2, 150, 60)
    (alert,) = again.evaluate(60)
    assert (alert.state, alert.active_since) == ("firing", 0)

    changed, _ = _engine(Rule(name="Backlog", when="queue.emails.depth > 500", for_=60.0))
    changed.restore(saved)
    assert changed.current(30) == ()

    damaged, _ = _engine(Rule(name="Backlog", when="queue.emails.depth > 100", for_=60.0))
    damaged.restore({"Backlog": {"when": "queue.emails.depth > 100", "state": "exploded"}})
    damaged.restore(
        {"Backlog": {"when": "queue.emails.depth > 100", "state": "firing", "since": "x"}}
    )
    damaged.restore(["not", "a", "mapping"])
    assert damaged.current(30) == ()


def test_a_discovered_queue_can_be_named_in_a_rule():
    comparison = parse_comparison("queue.rq/emails.depth > 100")
    assert comparison.metric == "queue.rq/emails.depth"
