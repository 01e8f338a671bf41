"""Rates, trend, ETA and status derived from a queue's reads over time."""

from __future__ import annotations

import pytest

from tui.engine.config import Queue, Rule
from tui.engine.queues_derived import QueueHistory, QueueReading, queue_status
from tui.engine.rules import RuleEngine
from tui.engine.samples import QueueSample
from tui.engine.state import State

T0 = 1_700_000_000.0


def history(window: float = 300.0, **config: object) -> QueueHistory:
    return QueueHistory(Queue(name="q", **config), history=100, window=window)  # type: ignore[arg-type]


def feed(h: QueueHistory, points: list[tuple[float, QueueReading]]) -> QueueSample:
    sample = None
    for offset, reading in points:
        sample = h.sample("q", "rq", T0 + offset, reading)
    assert sample is not None
    return sample


def test_first_read_has_no_rates_yet():
    sample = feed(history(), [(0, QueueReading(depth=10))])
    assert (sample.rate_in, sample.rate_out, sample.rate_net) == (None, None, None)
    assert (sample.eta_s, sample.trend) == (None, None)


def test_empty_queue_has_eta_zero_from_the_first_read():
    sample = feed(history(), [(0, QueueReading(depth=0))])
    assert (sample.eta_s, sample.trend) == (0.0, "empty")


def test_depth_alone_gives_the_net_rate_but_not_in_and_out():
    sample = feed(history(), [(0, QueueReading(depth=100)), (60, QueueReading(depth=160))])
    assert sample.rate_net == 60.0
    assert (sample.rate_in, sample.rate_out) == (None, None)
    assert (sample.trend, sample.eta_s) == ("growing", None)


def test_draining_queue_has_an_eta():
    sample = feed(history(), [(0, QueueReading(depth=400)), (60, QueueReading(depth=300))])
    assert sample.rate_net == -100.0
    assert sample.trend == "draining"
    assert sample.eta_s == pytest.approx(180.0)  # 300 jobs at 100 a minute


def test_a_queue_hovering_around_a_level_is_steady():
    h = history()
    sample = feed(h, [(0, QueueReading(depth=1000)), (30, QueueReading(depth=1020))])
    assert (sample.trend, sample.eta_s) == ("steady", None)
    sample = feed(h, [(60, QueueReading(depth=1200))])
    assert sample.trend == "growing"


def test_rates_compare_with_the_oldest_read_inside_the_window():
    h = history(window=120.0)
    sample = feed(
        h,
        [
            (0, QueueReading(depth=0)),
            (60, QueueReading(depth=1000)),
            (120, QueueReading(depth=1030)),
            (180, QueueReading(depth=1060)),
        ],
    )
    assert sample.rate_net == pytest.approx(30.0)  # from t=60, not the spike from t=0


def test_a_completed_counter_gives_rate_out_and_rate_in_follows_from_the_backlog():
    sample = feed(
        history(),
        [
            (0, QueueReading(depth=50, active=5, delayed=10, done_total=1000)),
            (120, QueueReading(depth=70, active=5, delayed=0, done_total=1400)),
        ],
    )
    assert sample.rate_out == 200.0
    # backlog 65 -> 75: 10 more in than out over 2 minutes
    assert sample.rate_in == pytest.approx(205.0)
    assert sample.rate_net == 10.0


def test_an_added_counter_gives_rate_in_and_rate_out_follows():
    sample = feed(
        history(),
        [
            (0, QueueReading(depth=500, active=10, added_total=7)),
            (60, QueueReading(depth=440, active=10, added_total=67)),
        ],
    )
    assert sample.rate_in == 60.0
    assert sample.rate_out == 120.0
    assert sample.eta_s == pytest.approx(440.0)


def test_both_counters_are_used_as_they_are():
    sample = feed(
        history(),
        [
            (0, QueueReading(depth=0, added_total=10, done_total=5)),
            (30, QueueReading(depth=3, added_total=20, done_total=12)),
        ],
    )
    assert (sample.rate_in, sample.rate_out) == (20.0, 14.0)


def test_a_counter_reset_counts_the_rises_on_both_sides_of_it():
    """A stream recreated (or a Redis restarted without persistence) at t=60: its counters
    start again from 0. Like Prometheus increase(), the rises of every pair of consecutive
    reads add up, the first read after the reset counting as a rise from 0."""
    h = history()
    reads = [(0, 5000), (30, 5300), (60, 0), (90, 3000), (120, 6000)]
    for at, total in reads:
        sample = feed(h, [(at, QueueReading(depth=0, added_total=total, done_total=total))])
        if at == 60:
            assert sample.rate_in == sample.rate_out == pytest.approx(300 / 1.0)
    assert sample.rate_in == sample.rate_out == pytest.approx((300 + 0 + 3000 + 3000) / 2.0)
    sample = feed(
        history(),
        [(0, QueueReading(depth=1, done_total=900)), (60, QueueReading(depth=1, done_total=3))],
    )
    assert (sample.rate_out, sample.rate_in) == (3.0, 3.0)


def test_the_derived_side_is_never_negative():
    sample = feed(
        history(),
        [
            (0, QueueReading(depth=100, added_total=0)),
            (60, QueueReading(depth=0, added_total=0)),  # jobs deleted by hand
        ],
    )
    assert (sample.rate_in, sample.rate_out) == (0.0, 100.0)
    sample = feed(
        history(),
        [(0, QueueReading(depth=0, done_total=0)), (60, QueueReading(depth=100, done_total=0))],
    )
    assert sample.rate_in == 100.0


def test_rates_the_broker_computes_win():
    sample = feed(
        history(),
        [
            (0, QueueReading(depth=10, rate_in=30.0, rate_out=24.0)),
            (60, QueueReading(depth=16, rate_in=36.0, rate_out=30.0)),
        ],
    )
    assert (sample.rate_in, sample.rate_out, sample.rate_net) == (36.0, 30.0, 6.0)


def test_a_read_seen_twice_is_counted_once():
    h = history()
    feed(h, [(0, QueueReading(depth=10)), (60, QueueReading(depth=20))])
    again = feed(h, [(60, QueueReading(depth=20))])
    assert again.rate_net == 10.0 and len(h.points) == 2


def test_history_is_bounded():
    h = QueueHistory(Queue(name="q"), history=10, window=1e9)
    feed(h, [(n, QueueReading(depth=n)) for n in range(1000)])
    assert len(h.points) == 10


def test_unknown_depth_gives_no_rate_trend_or_eta():
    sample = feed(history(), [(0, QueueReading(depth=None)), (60, QueueReading(depth=None))])
    assert (sample.rate_net, sample.trend, sample.eta_s) == (None, None, None)


# --- status ------------------------------------------------------------------------------


def status_of(sample: QueueSample, **config: object) -> tuple[str, tuple[str, ...]]:
    return queue_status(sample, Queue(name="q", **config))  # type: ignore[arg-type]


def test_thresholds_hold_at_or_above():
    sample = QueueSample("q", "rq", T0, depth=1000, oldest_age_s=90.0, failed=3, workers=2)
    assert status_of(sample) == ("ok", ())
    assert status_of(sample, warn_depth=1000) == ("warning", ("depth 1000 >= 1000",))
    assert status_of(sample, warn_depth=10, crit_depth=1000) == (
        "critical",
        ("depth 1000 >= 1000",),
    )
    status, reasons = status_of(sample, warn_age=60.0, crit_failed=3)
    assert status == "critical"
    assert reasons == ("oldest 1m30s >= 1m00s", "failed 3 >= 3")
    assert status_of(sample, min_workers=3) == ("critical", ("workers 2 < 3",))
    assert status_of(sample, min_workers=2)[0] == "ok"


def test_unrecorded_values_never_cross_a_threshold():
    sample = QueueSample("q", "celery", T0, depth=5)
    assert status_of(sample, warn_age=1.0, crit_failed=0, min_workers=1) == ("ok", ())


def test_history_applies_the_thresholds():
    sample = feed(history(crit_depth=100), [(0, QueueReading(depth=150))])
    assert (sample.status, sample.reasons) == ("critical", ("depth 150 >= 100",))


# --- rules ---------------------------------------------------------------------------------


def test_rules_see_rates_and_eta():
    state = State(clock=lambda: T0 + 120)
    state.register("queue:q", "queue", "q", "rq")
    h = history()
    for offset, depth in ((0, 100), (60, 400), (120, 700)):
        state.record_sample("queue:q", h.sample("q", "rq", T0 + offset, QueueReading(depth)), T0)
    engine = RuleEngine(
        [
            Rule(name="Growing", when="queue.q.rate_net > 100"),
            Rule(name="SlowDrain", when="queue.q.eta_s > 1h"),
        ],
        state,
    )
    alerts = {alert.name: alert for alert in engine.evaluate(T0 + 120)}
    assert alerts["Growing"].state == "firing" and alerts["Growing"].value == 300.0
    assert "SlowDrain" not in alerts, "a growing queue has no ETA: no data, not a number"
    assert state.history_of("queue.q.depth") == [100.0, 400.0, 700.0]
