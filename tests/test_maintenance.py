"""Maintenance windows: weekly in a time zone (across midnight and DST), one-off ranges,
matchers, config errors, and what they do to alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tui.engine.alert_book import AlertBook, newly_firing
from tui.engine.config import Maintenance
from tui.engine.loader import ConfigError, load_config_text
from tui.engine.maintenance import Window, WindowError, active, compile_window
from tui.engine.samples import Alert


def at(text: str) -> float:
    """An ISO time with offset, as epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


def window(**fields) -> Maintenance:
    return Maintenance(**{"name": "w", **fields})


def test_weekly_window_in_a_time_zone_crosses_midnight():
    w = compile_window(
        window(start="22:00", duration=4 * 3600, days=["fri"], timezone="America/New_York")
    )
    # Friday 2025-06-06, New York is UTC-4 in June.
    assert w.occurrence(at("2025-06-06T21:59:00-04:00")) is None
    start, end = w.occurrence(at("2025-06-06T22:00:00-04:00"))
    assert (start, end) == (at("2025-06-07T02:00:00+00:00"), at("2025-06-07T06:00:00+00:00"))
    assert w.occurrence(at("2025-06-07T01:59:59-04:00")) == (start, end)  # Saturday, same one
    assert w.occurrence(at("2025-06-07T02:00:00-04:00")) is None
    assert w.occurrence(at("2025-06-05T22:30:00-04:00")) is None  # Thursday: not listed


def test_weekly_window_keeps_its_wall_clock_across_daylight_saving():
    w = compile_window(window(start="01:00", duration=3600, timezone="Europe/Paris"))
    # Paris moved from UTC+1 to UTC+2 on 2025-03-30 at 02:00.
    before = w.occurrence(at("2025-03-29T01:30:00+01:00"))
    after = w.occurrence(at("2025-03-31T01:30:00+02:00"))
    assert before == (at("2025-03-29T00:00:00+00:00"), at("2025-03-29T01:00:00+00:00"))
    assert after == (at("2025-03-30T23:00:00+00:00"), at("2025-03-31T00:00:00+00:00"))
    assert w.occurrence(at("2025-03-31T00:30:00+00:00")) is None  # 01:30 UTC+1 no longer is


def test_every_day_when_days_are_omitted_and_seconds_allowed():
    w = compile_window(window(start="23:59:30", duration=60))
    assert w.occurrence(at("2025-01-01T23:59:45+00:00"))
    assert w.occurrence(at("2025-01-02T00:00:15+00:00"))  # from the day before
    assert w.occurrence(at("2025-01-02T00:00:31+00:00")) is None


def test_one_off_windows_naive_in_their_zone_or_with_an_offset():
    paris = compile_window(
        window(start="2025-03-01 22:00", end="2025-03-02T02:00", timezone="Europe/Paris")
    )
    assert paris.occurrence(at("2025-03-01T20:59:59+00:00")) is None
    assert paris.occurrence(at("2025-03-01T21:00:00+00:00")) == (
        at("2025-03-01T21:00:00+00:00"),
        at("2025-03-02T01:00:00+00:00"),
    )
    assert paris.occurrence(at("2025-03-02T01:00:00+00:00")) is None
    offset = compile_window(window(start="2025-03-01T22:00:00+05:30", duration=1800))
    assert offset.occurrence(at("2025-03-01T16:45:00+00:00"))
    assert offset.occurrence(at("2025-03-01T17:00:00+00:00")) is None


@pytest.mark.parametrize(
    ("fields", "key", "message"),
    [
        ({"start": "02:00"}, "start", 'needs "duration"'),
        ({"start": "02:00", "duration": 60, "end": "03:00"}, "end", "takes duration, not end"),
        ({"start": "2025-01-01", "days": ["mon"], "duration": 60}, "days", "weekly window"),
        ({"start": "2025-01-01"}, "start", 'either "end" or "duration"'),
        ({"start": "2025-01-02", "end": "2025-01-01"}, "end", "ends before it starts"),
        ({"start": "soon", "duration": 60}, "start", "expected"),
        ({"start": "02:00", "duration": 60, "timezone": "Mars/Olympus"}, "timezone", "unknown"),
        ({"start": "02:00", "duration": 0}, "duration", "greater than 0"),
    ],
)
def test_bad_windows_name_the_key(fields, key, message):
    with pytest.raises(WindowError, match=message) as caught:
        compile_window(window(**fields))
    assert caught.value.key == key


def _alert(name: str = "DiskFull", source: str = "watchdeck", **labels: str) -> Alert:
    return Alert(
        name=name,
        source=source,
        state="firing",
        severity="critical",
        since=0.0,
        summary="",
        labels={"alertname": name, **labels},
        fingerprint=name + source,
    )


def covering(windows: list[Window], alert: Alert, now: float) -> tuple[str, ...]:
    return tuple(w.name for w in windows if w.covers(alert) and w.occurrence(now) is not None)


def test_matchers_choose_the_alerts_a_window_covers():
    now = at("2025-01-01T12:00:00+00:00")
    windows = [
        compile_window(window(name="all", start="11:00", duration=7200)),
        compile_window(window(name="db", start="11:00", duration=7200, alerts=["Db*", "Pg?"])),
        compile_window(window(name="am", start="11:00", duration=7200, sources=["am"])),
        compile_window(window(name="team", start="11:00", duration=7200, labels={"team": "x"})),
        compile_window(window(name="later", start="13:00", duration=60)),
    ]
    assert covering(windows, _alert("DbSlow"), now) == ("all", "db")
    assert covering(windows, _alert("PgX", source="am"), now) == ("all", "db", "am")
    assert covering(windows, _alert("Other", team="x"), now) == ("all", "team")
    assert [w.name for w in active(windows, now)] == ["all", "db", "am", "team"]


def test_the_book_marks_covered_alerts_suppressed_and_they_notify_nobody():
    now = at("2025-01-01T12:00:00+00:00")
    nightly = compile_window(window(name="deploy", start="11:30", duration=3600, alerts=["Db*"]))
    book = AlertBook(retention=900, windows=[nightly])
    book.set_internal([_alert("DbSlow"), _alert("ApiDown")])
    shown = {alert.name: alert for alert in book.publish(now)}
    assert (shown["DbSlow"].suppressed, shown["DbSlow"].maintenance) == (True, ("deploy",))
    assert (shown["ApiDown"].suppressed, shown["ApiDown"].maintenance) == (False, ())
    assert [a.name for a in newly_firing((), tuple(shown.values()))] == ["ApiDown"]
    later = {alert.name: alert for alert in book.publish(now + 3600)}  # the window closed
    assert later["DbSlow"].suppressed is False


def test_the_config_takes_unquoted_times_and_reports_bad_windows_where_they_are():
    config = load_config_text(
        """
maintenance:
  - name: nightly
    start: 02:00
    duration: 1h
    days: [mon, tue]
    timezone: Europe/Paris
  - {name: migration, start: 2030-01-01T22:00:00, end: 2030-01-02 02:00}
""",
        "t.yaml",
        {},
    )
    assert [(w.start, w.end) for w in config.maintenance] == [
        ("02:00", None),
        ("2030-01-01T22:00:00", "2030-01-02 02:00"),
    ]
    with pytest.raises(ConfigError) as caught:
        load_config_text(
            """
maintenance:
  - {name: a, start: 02:00, duration: 1h, timezone: Europe/Pariss}
  - {name: a, start: 25:00, duration: 1h, days: [mon, fun]}
""",
            "t.yaml",
            {},
        )
    found = [str(issue) for issue in caught.value.issues]
    assert any(
        "t.yaml:3:" in issue and "maintenance[0].timezone: unknown time zone" in issue
        for issue in found
    )
    assert any("maintenance[1].days[1]: expected one of mon" in issue for issue in found)
    assert any('maintenance[1].name: duplicate name "a"' in issue for issue in found)


def test_a_window_that_started_yesterday_is_still_found():
    w = compile_window(window(start="20:00", duration=30 * 3600, days=["sun"]))
    sunday = datetime(2025, 1, 5, 20, 0, tzinfo=UTC).timestamp()
    assert w.occurrence(sunday + 29 * 3600)
    assert w.occurrence(sunday + 30 * 3600) is None
