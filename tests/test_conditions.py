"""Conditions: every form parsed once, evaluated with actual values; no data is never 0."""

from __future__ import annotations

import json

import pytest

from tui.engine.conditions import (
    NO_DATA,
    Observation,
    applies,
    conditions_for,
    evaluate,
    mask_header_value,
    parse_condition,
)
from tui.engine.config import Check
from tui.engine.loader import ConfigError, load_config_text

DOCUMENT = {
    "status": "degraded",
    "system": {"memory": {"used_pct": 81.5}, "disk": {"free_ratio": 0.04}},
    "items": [{"id": 7}, {"id": None}],
    "ready": True,
    "count": 0,
    "odd key": "x",
}
SEEN = Observation(
    latency_ms=812.4,
    http_status=500,
    headers={
        "x-frame-options": ("DENY",),
        "content-security-policy": ("default-src 'self'",),
        "set-cookie": ("session=s3cr3t; Secure; HttpOnly", "theme=dark"),
    },
    body=json.dumps(DOCUMENT).encode(),
    cert_days_left=9.63,
)


def result(text: str, seen: Observation = SEEN):
    return parse_condition(text).evaluate(seen)


@pytest.mark.parametrize(
    ("text", "ok", "message"),
    [
        ("status == 500", True, "status == 500"),
        ("status == 200", False, "status (500) == 200"),
        ("status != 500", False, "status (500) != 500"),
        ("status >= 500", True, "status >= 500"),
        ("status < 400", False, "status (500) < 400"),
        ("status == 5xx", True, "status == 5xx"),
        ("status == 2xx", False, "status (500) == 2xx"),
        ("status != 5XX", False, "status (500) != 5xx"),
        ("status in [204,200]", False, "status (500) in [200, 204]"),
        ("status in [500, 503]", True, "status in [500, 503]"),
        ("latency < 500ms", False, "latency (812ms) < 500ms"),
        ("latency <= 1s", True, "latency <= 1s"),
        ("latency > 0.8s", True, "latency > 0.8s"),
        ("latency >= 900ms", False, "latency (812ms) >= 900ms"),
        ('json $.status == "ok"', False, 'json $.status ("degraded") == "ok"'),
        ('json $.status != "ok"', True, 'json $.status != "ok"'),
        ("json $.system.memory.used_pct < 80", False, "json $.system.memory.used_pct (81.5) < 80"),
        ("json $.system.memory.used_pct <= 81.5", True, "json $.system.memory.used_pct <= 81.5"),
        ("json $.system.disk.free_ratio > 5%", False, "json $.system.disk.free_ratio (0.04) > 5%"),
        ("json $.system.disk.free_ratio >= 4%", True, "json $.system.disk.free_ratio >= 4%"),
        ("json $.items[0].id exists", True, "json $.items[0].id exists"),
        ("json $.items[-1].id == null", True, "json $.items[-1].id == null"),
        ("json $.items[5].id exists", None, "json $.items[5].id (no data) exists"),
        ('json $["odd key"] == "x"', True, 'json $["odd key"] == "x"'),
        ("json $.ready == true", True, "json $.ready == true"),
        ("json $.ready == 1", False, "json $.ready (true) == 1"),
        ("json $.count == false", False, "json $.count (0) == false"),
        ("json $.count == 0", True, "json $.count == 0"),
        ("json $.items[1].id != null", False, "json $.items[1].id (null) != null"),
        ("json $.status < 5", False, 'json $.status ("degraded") < 5'),
        ("json $.missing != null", None, "json $.missing (no data) != null"),
        ("json $.system exists", True, "json $.system exists"),
        ('body contains "degraded"', True, 'body contains "degraded"'),
        ('body matches "used_pct\\": 8\\\\d"', True, 'body matches "used_pct\\": 8\\\\d"'),
        ("header X-Frame-Options exists", True, "header X-Frame-Options exists"),
        ("header x-frame-options == \"DENY\"", True, 'header x-frame-options == "DENY"'),
        ('header X-Frame-Options == "SAMEORIGIN"', False,
         'header X-Frame-Options ("DENY") == "SAMEORIGIN"'),
        ("header X-Content-Type-Options exists", False,
         "header X-Content-Type-Options (absent) exists"),
        ('header X-Content-Type-Options == "nosniff"', False,
         'header X-Content-Type-Options (absent) == "nosniff"'),
        ("header Server absent", True, "header Server absent"),
        ("header Content-Security-Policy absent", False,
         "header Content-Security-Policy (\"default-src 'self'\") absent"),
        ('header Content-Security-Policy matches "default-src"', True,
         'header Content-Security-Policy matches "default-src"'),
        ('header Content-Security-Policy contains "unsafe-inline"', False,
         "header Content-Security-Policy (\"default-src 'self'\") contains \"unsafe-inline\""),
        ('header Set-Cookie matches "Secure"', True, 'header Set-Cookie matches "Secure"'),
        ('header Set-Cookie contains "SameSite"', False,
         'header Set-Cookie ("session=***; Secure; HttpOnly, theme=***") contains "SameSite"'),
        ("cert_days_left > 30", False, "cert_days_left (9.6) > 30"),
        ("cert_days_left >= 9.5", True, "cert_days_left >= 9.5"),
    ],
)  # fmt: skip
def test_every_form_with_its_actual_value(text, ok, message):
    outcome = result(text)
    assert (outcome.ok, outcome.message) == (ok, message)
    assert outcome.text == text


def test_a_failed_body_condition_shows_the_start_of_the_body():
    seen = Observation(body=b"  Service\n\n  Unavailable  ")
    assert result('body contains "healthy"', seen).message == (
        'body ("Service Unavailable") contains "healthy"'
    )
    long = result('body contains "healthy"').actual
    assert long.startswith('"{"status": "degraded",') and long.endswith('…"')


def test_no_data_fails_and_is_never_zero():
    nothing = Observation()
    for text in (
        "status == 200",
        "latency < 1s",
        "json $.count == 0",
        "json $.count < 1",
        'body contains ""',
        "header Server absent",
        "cert_days_left < 1",
    ):
        outcome = result(text, nothing)
        assert (outcome.ok, outcome.actual) == (None, NO_DATA), text
        assert f"({NO_DATA})" in outcome.message


@pytest.mark.parametrize("body", [b"", b"not json", b'{"status": "ok"', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_no_data(body):
    outcome = result('json $.status == "ok"', Observation(http_status=200, body=body))
    assert outcome.ok is None
    assert outcome.message == 'json $.status (no data) == "ok"'


def test_percentages_and_durations_are_floats_never_truncated():
    seen = Observation(body=b'{"rate": 0.049, "ms": 250}')
    assert result("json $.rate < 5%", seen).ok is True
    assert result("json $.rate > 4.8%", seen).ok is True
    assert result("json $.ms == 250", seen).ok is True
    assert result("json $.ms > 0.2s", seen).ok is True


def test_body_text_uses_the_declared_encoding():
    seen = Observation(body="état: prêt".encode("latin-1"), encoding="latin-1")
    assert result('body contains "prêt"', seen).ok is True
    broken = Observation(body=b"\xff ok", encoding="no-such-codec")
    assert result('body contains "ok"', broken).ok is True


def test_evaluate_keeps_the_order_of_the_conditions():
    conditions = tuple(parse_condition(t) for t in ("status == 500", "latency < 1ms"))
    results = evaluate(conditions, SEEN)
    assert [r.ok for r in results] == [True, False]


def test_a_long_actual_value_is_clipped():
    seen = Observation(body=json.dumps({"s": "x" * 500}).encode())
    outcome = result('json $.s == "y"', seen)
    assert len(outcome.actual) == 60 and outcome.actual.endswith("…")


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("status = 200", "write status == 200"),
        ("status == 20x", "write status == 200"),
        ("status in []", "write status == 200"),
        ("latency < 500", "give the latency a unit"),
        ("latency == 5s", "write latency < 500ms"),
        ("latency < 5parsecs", "expected a duration"),
        ("json status == 1", "write json $.path"),
        ("json $.a == ok", 'expected a "quoted string"'),
        ('json $.a < "x"', "< compares numbers"),
        ("json $.a", "after $.a write exists"),
        ("json $.a[x] exists", "bad JSON path"),
        ("body contains ok", 'write body contains "text"'),
        ('body matches "("', "invalid regular expression"),
        ("header", "write header NAME exists"),
        ("header X-Frame-Options is set", "after header X-Frame-Options write"),
        ("header X == DENY", "after header X write"),
        ("cert_days_left > 30d", "write cert_days_left > 30"),
        ("uptime > 99%", "a condition starts with status, latency, json, body, header or"),
        ("", "a condition starts with"),
    ],
)
def test_bad_conditions_say_what_to_write(text, hint):
    with pytest.raises(ValueError) as caught:
        parse_condition(text)
    message = str(caught.value)
    assert message.startswith(f"unsupported condition {text!r}: ")
    assert hint in message
    assert "\n" not in message


def test_kinds_test_only_what_they_observe():
    def problem(text: str, kind: str, url: str | None = None) -> str | None:
        return applies(parse_condition(text), kind, url)

    assert problem("status == 200", "tcp") == "a tcp check has no status to test"
    assert problem("cert_days_left > 30", "tcp") == (
        "a tcp check has no certificate to test; use kind: tls"
    )
    assert problem("header Server absent", "tls") == "a tls check has no headers to test"
    assert problem("json $.a exists", "tls") == "a tls check has no JSON body to test"
    assert problem("latency < 1s", "tcp") is None
    assert problem("cert_days_left > 30", "tls") is None
    assert problem("cert_days_left > 30", "http", "http://x/") == (
        "cert_days_left needs an https:// url"
    )
    assert problem("cert_days_left > 30", "http", "https://x/") is None


def test_conditions_for_a_check_default_and_errors():
    (default,) = conditions_for(Check(name="api", url="http://127.0.0.1/"))
    assert default.text == "status == 2xx"
    assert conditions_for(Check(name="t", kind="tls", host="h")) == ()
    with pytest.raises(ValueError, match=r"^check 'db': a tcp check has no status to test$"):
        conditions_for(Check(name="db", kind="tcp", host="h", port=1, expect=["status == 200"]))
    with pytest.raises(ValueError, match=r"^check 'api': unsupported condition 'status = 1'"):
        conditions_for(Check(name="api", url="http://h/", expect=["status = 1"]))


def test_masked_header_values_keep_what_security_checks_look_at():
    assert mask_header_value("Set-Cookie", "sid=abc; Path=/; Secure") == "sid=***; Path=/; Secure"
    assert mask_header_value("cookie", "a=1; b=2") == "a=***; b=***"
    assert mask_header_value("Authorization", "Bearer abc.def") == "Bearer ***"
    assert mask_header_value("Proxy-Authorization", "token") == "***"
    assert mask_header_value("Server", "nginx") == "nginx"


# --- the loader points at the line of a bad condition ---------------------------------------
def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "t.yaml", environ={})
    return [str(issue) for issue in caught.value.issues]


def test_loader_reports_bad_conditions_at_their_line():
    text = (
        "checks:\n"
        "  - name: api\n"
        "    url: http://127.0.0.1/\n"
        "    expect:\n"
        "      - json $.status == ok\n"
        "      - cert_days_left > 30\n"
        "  - name: site\n"
        "    kind: tls\n"
        "    host: example.com\n"
        "    expect: [status == 200, cert_days_left > 30, latency < 1s]\n"
        "  - name: port\n"
        "    kind: tcp\n"
        "    host: 127.0.0.1\n"
        "    port: 22\n"
        "    expect: [cert_days_left > 30]\n"
    )
    found = issues(text)
    assert found[0].startswith(
        "t.yaml:5:9: checks[0].expect[0]: unsupported condition 'json $.status == ok': expected"
    )
    assert found[1] == "t.yaml:6:9: checks[0].expect[1]: cert_days_left needs an https:// url"
    assert found[2] == "t.yaml:10:14: checks[1].expect[0]: a tls check has no status to test"
    assert found[3] == (
        "t.yaml:15:14: checks[2].expect[0]: a tcp check has no certificate to test; use kind: tls"
    )
    assert len(found) == 4


def test_loader_checks_what_each_kind_needs():
    text = (
        "checks:\n"
        "  - {name: a, kind: tls, port: 443}\n"
        "  - {name: b, kind: tls, host: h, url: 'https://h/'}\n"
        "  - {name: c, url: 'https://h/', verify_tls: false, ca_file: ca.pem}\n"
        "  - name: d\n"
        "    url: http://h/\n"
        "    headers:\n"
        '      X-Token: "abc\\r\\nInjected: yes"\n'
        "      'bad name': x\n"
    )
    found = issues(text)
    assert found == [
        't.yaml:2:5: checks[0]: a tls check needs "host"',
        't.yaml:3:40: checks[1].url: a tls check connects to "host" and "port", not a url',
        "t.yaml:4:62: checks[2].ca_file: ca_file is used to verify TLS, but verify_tls is false",
        "t.yaml:8:7: checks[3].headers.X-Token: header X-Token: the value has a line break, a "
        "control or a non-ASCII character",
        "t.yaml:9:7: checks[3].headers[\"bad name\"]: header name 'bad name' is not a valid HTTP "
        "header name",
    ]
    assert not any("Injected" in line for line in found), "header values may be secrets"


def test_a_tls_check_needs_only_a_host():
    config = load_config_text(
        "checks: [{name: site, kind: tls, host: example.com, expect: [cert_days_left > 30]}]\n",
        "t.yaml",
        environ={},
    )
    assert config.checks[0].port is None
