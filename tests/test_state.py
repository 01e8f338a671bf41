"""The state store's derived check metrics as rules, the report and the UI read them."""

from __future__ import annotations

import pytest

from tui.engine.config import Check, Config, Rule, Settings
from tui.engine.derived import FLAP_RESULTS, RECENT_RESULTS
from tui.engine.engine import Engine
from tui.engine.loader import load_config_text
from tui.engine.report import build_report, iso
from tui.engine.rules import RuleEngine
from tui.engine.samples import CheckSample, QueueSample
from tui.engine.state import Series, State

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_state(clock: Clock, **options) -> State:
    state = State(clock=clock, **options)
    state.register("check:api", "check", "api", "http")
    return state


def poll(state: State, clock: Clock, up: bool, latency_ms: float | None = 50.0) -> None:
    sample = CheckSample(
        "api", "http", clock.now, up=up, status="ok" if up else "critical", latency_ms=latency_ms
    )
    state.record_sample("check:api", sample, clock.now)


def test_derived_metrics_by_rule_path():
    clock = Clock()
    state = make_state(clock)
    assert state.check_stats("api") is None
    assert state.metric("check.api.error_rate") is None
    for n in range(20):
        poll(state, clock, up=n != 3, latency_ms=float(100 + n))
        clock.now += 5
    assert state.metric("check.api.error_rate") == pytest.approx(0.05)
    assert state.metric("check.api.uptime") == pytest.approx(0.95)
    assert state.metric("check.api.latency_p50_ms") == 110.0  # 10th of the 19 up latencies
    assert state.metric("check.api.latency_p95_ms") == 119.0
    assert state.metric("check.api.consecutive_failures") == 0.0
    assert state.metric("check.api.last_change_s") == 5 * 20 - 5 * 4  # up again at poll 4
    assert state.metric("check.api.flapping") == 0.0
    assert state.metric("check.api.latency_ms") == 119.0
    assert state.metric("check.nope.error_rate") is None


def test_the_window_follows_the_clock_and_the_check():
    clock = Clock()
    state = make_state(clock, window=60.0, windows={"api": 20.0})
    poll(state, clock, up=False)
    clock.now += 10
    poll(state, clock, up=True)
    assert state.check_stats("api").window_s == 20.0
    assert state.metric("check.api.error_rate") == 0.5
    clock.now += 15  # the failure is now 25 s old
    assert state.metric("check.api.error_rate") == 0.0
    clock.now += 10
    assert state.metric("check.api.error_rate") is None  # nothing polled in the window
    assert state.metric("check.api.last_change_s") is None
    stats = state.check_stats("api")
    assert (stats.polls, stats.last_change_at) == (0, T0 + 10)
    assert state.check_stats("api", now=T0 + 10).polls == 2
    assert State().window_of("api") == 300.0


def test_a_source_in_error_has_no_derived_data_and_counts_as_a_failed_poll():
    clock = Clock()
    state = make_state(clock)
    poll(state, clock, up=True)
    clock.now += 5
    source = state.record_error("check:api", "timed out after 4s", clock.now)
    assert state.metric("check.api.error_rate") is None
    assert source.stats.error_rate == 0.5
    assert source.stats.consecutive_failures == 1
    assert source.stats.recent[-1] == (clock.now, False, None)


def test_only_checks_carry_stats():
    state = State()
    state.register("queue:emails", "queue", "emails", "redis_list")
    source = state.record_sample("queue:emails", QueueSample("emails", "redis_list", T0, 3), T0)
    assert source.stats is None
    assert state.check_stats("emails") is None


def test_error_rate_rule_goes_pending_then_firing():
    clock = Clock()
    state = make_state(clock)
    rule = Rule(name="ApiErrors", when="check.api.error_rate > 5%", for_=60.0)
    rules = RuleEngine([rule], state)
    for _ in range(19):
        poll(state, clock, up=True)
        clock.now += 5
    assert rules.evaluate(clock.now) == ()
    poll(state, clock, up=False)  # 1 of 20 is 5 %: not above it
    assert rules.evaluate(clock.now) == ()
    clock.now += 5
    poll(state, clock, up=False)
    (alert,) = rules.evaluate(clock.now)
    assert (alert.state, alert.value) == ("pending", pytest.approx(2 / 21))
    pending_at = clock.now
    while clock.now - pending_at < 60:
        clock.now += 5
        poll(state, clock, up=True)
        assert rules.evaluate(clock.now)[0].state == (
            "pending" if clock.now - pending_at < 60 else "firing"
        )
    (alert,) = rules.evaluate(clock.now)
    assert (alert.state, alert.active_since) == ("firing", pending_at)


def test_p95_rule_accepts_a_duration():
    clock = Clock()
    state = make_state(clock)
    rules = RuleEngine([Rule(name="Slow", when="check.api.latency_p95_ms > 3s")], state)
    for n in range(20):
        poll(state, clock, up=True, latency_ms=4000.0 if n == 19 else 200.0)
        clock.now += 1
    assert rules.evaluate(clock.now) == ()  # one slow response of 20 is the 100th percentile
    poll(state, clock, up=True, latency_ms=4000.0)
    (alert,) = rules.evaluate(clock.now)
    assert alert.state == "firing"
    assert alert.summary == "check.api.latency_p95_ms > 3000ms"


def test_config_rules_may_name_derived_metrics():
    config = load_config_text(
        """
checks:
  - {name: api, url: "http://127.0.0.1:9/health", window: 10m}
alerts:
  rules:
    - {name: Errors, when: check.api.error_rate > 5%, for: 5m}
    - {name: Slow, when: check.api.latency_p95_ms > 3s, for: 10m}
    - {name: Flapping, when: check.api.flapping == 1}
    - {name: Down, when: check.api.consecutive_failures >= 3}
    - {name: Stuck, when: check.api.last_change_s > 1h}
""",
        "watchdeck.yaml",
        {},
    )
    assert [rule.name for rule in config.alerts.rules] == [
        "Errors",
        "Slow",
        "Flapping",
        "Down",
        "Stuck",
    ]


def test_report_carries_the_derived_fields():
    clock = Clock()
    state = make_state(clock)
    state.register("check:web", "check", "web", "http")
    for n in range(10):
        poll(state, clock, up=n < 8, latency_ms=100.0 + n)
        clock.now += 5
    report = build_report(list(state.sources.values()), (), clock.now)
    api, web = report["checks"]
    assert {key: api[key] for key in api if key not in ("latency_ms", "http_status")} == {
        "name": "api",
        "kind": "http",
        "status": "critical",
        "cert_days_left": None,
        "failed_conditions": [],
        "error": None,
        "latency_p50_ms": 103.0,
        "latency_p95_ms": 107.0,
        "error_rate": 0.2,
        "uptime_pct": 80.0,
        "consecutive_failures": 2,
        "last_change": iso(T0 + 40),
        "flapping": False,
    }
    assert web["error_rate"] is None and web["last_change"] is None and web["flapping"] is None


def test_buffers_stay_bounded_over_days_of_results():
    clock = Clock()
    state = make_state(clock, history=50)
    for n in range(10_000):
        poll(state, clock, up=n % 7 != 0, latency_ms=float(n % 300))
        clock.now += 1
    assert len(state.checks["api"].results) == 50
    assert all(len(series.points) == 50 for series in state.series.values())
    stats = state.check_stats("api", now=clock.now - 1)
    assert stats.polls == 50 and len(stats.recent) == RECENT_RESULTS
    small = make_state(Clock(), history=10)
    for n in range(10_000):
        small.record_sample("check:api", CheckSample("api", "http", n, up=True, status="ok"), n)
    assert len(small.checks["api"].results) == max(FLAP_RESULTS, RECENT_RESULTS)


def test_engine_gives_each_check_its_window_and_clock():
    settings = Settings(window=120.0)
    checks = [
        Check(name="api", url="http://127.0.0.1:9/health", window=600.0),
        Check(name="web", url="http://127.0.0.1:9/"),
    ]
    engine = Engine(Config(settings=settings, checks=checks), clock=lambda: T0)
    assert (engine.state.window_of("api"), engine.state.window_of("web")) == (600.0, 120.0)
    assert engine.state.clock() == T0


def test_series_keeps_the_newest_points_oldest_first() -> None:
    series = Series(3)
    assert series.last() is None and series.values() == [] and series.points == []
    for at in range(1, 6):
        series.append(float(at), at * 10.0)
    assert series.values() == [30.0, 40.0, 50.0]
    assert series.points == [(3.0, 30.0), (4.0, 40.0), (5.0, 50.0)]
    assert series.last() == 50.0
    series.append(6.0, 60.0)
    assert series.values() == [40.0, 50.0, 60.0] and series.last() == 60.0
