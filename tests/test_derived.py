"""Derived check metrics: percentiles, rates over a window, changes and flapping."""

from __future__ import annotations

import pytest

from tui.engine.derived import (
    DERIVED_METRICS,
    FLAP_RESULTS,
    RECENT_RESULTS,
    CheckHistory,
    percent_state_change,
    percentile,
)
from tui.engine.samples import METRICS


def test_nearest_rank_percentiles_are_observed_values():
    values = [float(n) for n in range(1, 21)]  # 1..20
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([], 50) is None


def test_percent_state_change_weights_recent_changes_more():
    assert percent_state_change([True] * FLAP_RESULTS) == 0.0
    alternating = [n % 2 == 0 for n in range(FLAP_RESULTS)]
    assert percent_state_change(alternating) == pytest.approx(100.0)
    # one change, newest (weight 1.2) or oldest (weight 0.8), out of 20 possible
    assert percent_state_change([True] * 20 + [False]) == pytest.approx(6.0)
    assert percent_state_change([True] + [False] * 20) == pytest.approx(4.0)
    # only the last 21 results count
    assert percent_state_change(alternating + [True] * FLAP_RESULTS) == 0.0
    assert percent_state_change([]) == 0.0


def test_derived_metric_names_are_known_to_rules():
    assert set(DERIVED_METRICS) <= set(METRICS["check"])


def feed(history: CheckHistory, results: list[tuple[float, bool, float | None]]) -> None:
    for at, up, latency in results:
        history.record(at, up, latency)


def test_percentiles_use_successful_responses_with_a_latency_only():
    history = CheckHistory(720)
    feed(history, [(float(n), True, float(n * 10)) for n in range(1, 21)])
    feed(history, [(21.0, False, 5000.0), (22.0, False, None), (23.0, True, None)])
    stats = history.stats(now=23.0, window=300.0)
    assert (stats.p50_ms, stats.p95_ms) == (100.0, 190.0)
    assert stats.polls == 23
    assert stats.last_latency_ms is None


def test_error_rate_of_one_in_twenty_is_five_percent():
    history = CheckHistory(720)
    feed(history, [(float(n), n != 7, 10.0) for n in range(20)])
    stats = history.stats(now=19.0, window=300.0)
    assert stats.error_rate == pytest.approx(0.05)
    assert stats.uptime == pytest.approx(0.95)


def test_old_results_fall_out_of_the_window():
    history = CheckHistory(720)
    feed(history, [(0.0, False, None), (10.0, True, 100.0), (20.0, True, 300.0)])
    assert history.stats(now=20.0, window=30.0).polls == 3
    stats = history.stats(now=30.0, window=30.0)  # the result at 0 is exactly 30 s old: out
    assert (stats.polls, stats.error_rate, stats.p50_ms) == (2, 0.0, 100.0)
    stats = history.stats(now=45.0, window=30.0)
    assert (stats.polls, stats.uptime, stats.p95_ms) == (1, 1.0, 300.0)


def test_an_empty_window_is_no_data_never_zero():
    history = CheckHistory(720)
    feed(history, [(0.0, False, None), (5.0, False, None)])
    stats = history.stats(now=1000.0, window=300.0)
    assert stats.polls == 0
    assert (stats.error_rate, stats.uptime, stats.p50_ms, stats.p95_ms) == (None,) * 4
    assert stats.metrics(1000.0) == dict.fromkeys(DERIVED_METRICS)
    # what happened before the window is still known to the detail view
    assert stats.consecutive_failures == 2


def test_consecutive_failures_reset_on_success():
    history = CheckHistory(720)
    feed(history, [(0.0, False, None), (1.0, False, None), (2.0, False, None)])
    assert history.stats(2.0, 300.0).consecutive_failures == 3
    history.record(3.0, True, 10.0)
    assert history.stats(3.0, 300.0).consecutive_failures == 0
    history.record(4.0, False, None)
    assert history.stats(4.0, 300.0).metrics(4.0)["consecutive_failures"] == 1.0


def test_the_first_result_is_not_a_change_each_flip_is():
    """What came before the first poll is not known: no made-up "changed just now"."""
    history = CheckHistory(720)
    feed(history, [(100.0, True, 10.0), (105.0, True, 10.0)])
    stats = history.stats(110.0, 300.0)
    assert stats.last_change_at is None
    assert stats.metrics(110.0)["last_change_s"] is None
    feed(history, [(110.0, False, None), (115.0, False, None)])
    assert history.stats(115.0, 300.0).last_change_at == 110.0
    history.record(120.0, True, 10.0)
    assert history.stats(130.0, 300.0).metrics(130.0)["last_change_s"] == 10.0


def test_flapping_starts_on_alternation_and_stops_after_a_stable_run():
    history = CheckHistory(720)
    states = []
    for n in range(FLAP_RESULTS):
        history.record(float(n), n % 2 == 0, 10.0)
        states.append(history.flapping)
    # 9 changes in 10 results weigh 50.2 %: flapping starts at the 10th result, not before
    assert states.index(True) == 9
    assert all(states[9:])
    at = float(FLAP_RESULTS)
    changes = []
    while history.flapping and len(changes) < 2 * FLAP_RESULTS:
        history.record(at, True, 10.0)
        at += 1
        changes.append(percent_state_change([r.up for r in history.results]))
    assert not history.flapping
    assert changes[-1] < 25.0
    # hysteresis: it kept flapping while the change was between the thresholds
    assert any(25.0 <= change <= 50.0 for change in changes[:-1])
    assert history.stats(at, 300.0).metrics(at)["flapping"] == 0.0


def test_between_the_thresholds_the_past_decides():
    was_flapping = CheckHistory(720)
    feed(was_flapping, [(float(n), n % 2 == 0, 10.0) for n in range(FLAP_RESULTS)])
    feed(was_flapping, [(float(n), True, 10.0) for n in range(FLAP_RESULTS, FLAP_RESULTS + 9)])
    change = percent_state_change([r.up for r in was_flapping.results])
    assert 25.0 <= change <= 50.0
    assert was_flapping.flapping

    never_flapped = CheckHistory(720)  # a change every third result: about a third
    feed(never_flapped, [(float(n), n // 3 % 2 == 0, 10.0) for n in range(FLAP_RESULTS)])
    change = percent_state_change([r.up for r in never_flapped.results])
    assert 25.0 <= change <= 50.0
    assert not never_flapped.flapping


def test_recent_results_are_the_last_thirty_oldest_first():
    history = CheckHistory(720)
    feed(history, [(float(n), n % 3 != 0, float(n)) for n in range(100)])
    recent = history.stats(99.0, 10.0).recent
    assert len(recent) == RECENT_RESULTS
    assert [r.at for r in recent] == [float(n) for n in range(70, 100)]
    at, up, latency = recent[-1]
    assert (at, up, latency) == (99.0, False, 99.0)


def test_buffers_stay_at_their_caps():
    history = CheckHistory(50)
    feed(history, [(float(n), n % 5 != 0, 1.0) for n in range(10_000)])
    assert len(history.results) == 50
    assert history.stats(9999.0, 1e9).polls == 50
    small = CheckHistory(10)  # the flapping and recent views still have what they need
    feed(small, [(float(n), True, 1.0) for n in range(10_000)])
    assert len(small.results) == max(FLAP_RESULTS, RECENT_RESULTS)
