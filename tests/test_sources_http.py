"""HTTP and TCP checks against real servers on 127.0.0.1: request options, every condition
form on real responses, and every failure mode as a clear down sample."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from servers import (
    BIG_BODY,
    DUAL_STACK,
    NESTED,
    TRICKLE_EVERY,
    closed_dual_stack_port,
    dual_stack_getaddrinfo,
    unanswered_ipv6,
)

from tui import __version__
from tui.engine.config import Check, Settings
from tui.engine.scheduler import Scheduler
from tui.engine.sources.http import (
    BODY_CAP,
    EXCERPT_CAP,
    HOME,
    CheckClients,
    HttpCheckSource,
    TcpCheckSource,
    check_source,
    describe_transport_error,
    headers_stay_home,
    read_capped,
)
from tui.engine.state import State

SETTINGS = Settings(interval=7.0, timeout=2.0)


@pytest.fixture
async def clients() -> AsyncIterator[CheckClients]:
    clients = CheckClients(SETTINGS)
    yield clients
    await clients.aclose()


async def poll(clients: CheckClients, url: str, *expect: str, **options: object):
    check = Check(name="api", url=url, expect=list(expect), **options)
    return await HttpCheckSource(check, SETTINGS, clients).poll()


def failed_results(sample) -> dict[str, str]:
    return {result.text: result.message for result in sample.conditions if not result.ok}


# --- construction --------------------------------------------------------------------------
def test_source_identity_and_timing(clients):
    source = HttpCheckSource(Check(name="api", url="http://127.0.0.1/"), SETTINGS, clients)
    assert (source.id, source.section, source.kind, source.name) == (
        "check:api",
        "check",
        "http",
        "api",
    )
    assert (source.interval, source.check_timeout) == (7.0, 2.0)
    assert source.timeout > source.check_timeout, "the scheduler's timeout must be the backstop"
    own = Check(name="api", url="http://127.0.0.1/", interval=1.0, timeout=0.5)
    assert (
        HttpCheckSource(own, SETTINGS, clients).interval,
        HttpCheckSource(own, SETTINGS, clients).check_timeout,
    ) == (1.0, 0.5)


def test_bad_checks_are_rejected_when_the_source_is_built(clients):
    with pytest.raises(ValueError, match="http"):
        HttpCheckSource(Check(name="api", url="ftp://127.0.0.1/"), SETTINGS, clients)
    with pytest.raises(ValueError, match=r"^check 'api': unsupported condition 'body has x'"):
        HttpCheckSource(
            Check(name="api", url="http://127.0.0.1/", expect=["body has x"]), SETTINGS, clients
        )
    for value in ("s3cr3t\nX: y", "s3cr3t-\u00e9"):
        bad_header = Check(name="api", url="http://127.0.0.1/", headers={"X-Token": value})
        with pytest.raises(ValueError, match="line break, a control or a non-ASCII") as caught:
            HttpCheckSource(bad_header, SETTINGS, clients)
        assert "s3cr3t" not in str(caught.value)


def test_check_source_builds_each_kind(clients):
    kinds = {
        "http": Check(name="a", url="http://127.0.0.1/"),
        "tcp": Check(name="b", kind="tcp", host="127.0.0.1", port=1),
        "tls": Check(name="c", kind="tls", host="127.0.0.1"),
    }
    for kind, check in kinds.items():
        assert check_source(check, SETTINGS, clients).kind == kind


async def test_clients_are_shared_per_tls_setting(clients, tmp_path, https_server):
    plain = clients.client(True)
    assert plain is clients.client(True, None)
    assert plain.headers["User-Agent"] == f"watchdeck/{__version__}"
    assert plain.follow_redirects is False
    unverified = clients.client(False)
    assert unverified is not plain and unverified is clients.client(False, tmp_path / "ignored")
    with_ca = clients.client(True, https_server.ca_file)
    assert with_ca not in (plain, unverified)
    named = clients.client(True, None, "example.com")
    assert named not in (plain, unverified, with_ca), "pooled connections carry their SNI name"
    assert clients.context(True, https_server.ca_file) is clients.context(
        True, https_server.ca_file
    )
    await clients.aclose()
    assert all(client.is_closed for client in (plain, unverified, with_ca, named))


# --- healthy responses and what a sample carries -------------------------------------------
async def test_healthy_endpoint(clients, http_server):
    sample = await poll(clients, f"{http_server}/ok")
    assert (sample.name, sample.kind, sample.up, sample.status) == ("api", "http", True, "ok")
    assert sample.http_status == 200 and sample.error is None
    assert sample.latency_ms is not None and sample.latency_ms > 0
    (default,) = sample.conditions
    assert (default.text, default.ok, default.actual) == ("status == 2xx", True, "200")
    assert sample.failed_conditions == ()
    assert ("Content-Type", "application/json") in sample.headers
    assert json.loads(sample.body_excerpt) == {"status": "ok"}
    assert (sample.body_bytes, sample.body_truncated) == (len(sample.body_excerpt), False)
    assert (sample.cert_chain, sample.cert_days_left) == ((), None)


async def test_json_conditions_on_a_nested_document(clients, http_server):
    holding = [
        'json $.status == "ok"',
        'json $.version != "1.0"',
        "json $.system.memory.used_pct < 80",
        "json $.system.memory.used_pct >= 42.5",
        "json $.system.disk.free_ratio < 5%",
        "json $.items[0].id exists",
        'json $.items[1].name == "second"',
        "json $.items[-1].id == 8",
        "json $.ready == true",
        "json $.maintenance == null",
        'json $["odd key"] == "spaced"',
        "json $ exists",
    ]
    sample = await poll(clients, f"{http_server}/json/nested", *holding)
    assert sample.up, sample.failed_conditions
    assert [r.ok for r in sample.conditions] == [True] * len(holding)
    assert sample.conditions[2].actual == str(NESTED["system"]["memory"]["used_pct"])

    failing = {
        'json $.status == "degraded"': 'json $.status ("ok") == "degraded"',
        "json $.system.memory.used_pct < 40": "json $.system.memory.used_pct (42.5) < 40",
        "json $.items[2].id exists": "json $.items[2].id (no data) exists",
        "json $.maintenance != null": "json $.maintenance (null) != null",
        "json $.ready == 1": "json $.ready (true) == 1",
    }
    sample = await poll(clients, f"{http_server}/json/nested", *failing)
    assert not sample.up and sample.status == "critical"
    assert sample.failed_conditions == tuple(failing.values())
    assert sample.error is None, "a failed condition is not a transport error"


async def test_a_degraded_service_fails_with_actual_values(clients, http_server):
    sample = await poll(
        clients,
        f"{http_server}/json/degraded",
        "status == 200",
        "status != 5xx",
        'json $.status == "ok"',
        "json $.system.memory.used_pct < 80",
    )
    assert sample.http_status == 503
    assert sample.failed_conditions == (
        "status (503) == 200",
        "status (503) != 5xx",
        'json $.status ("degraded") == "ok"',
        "json $.system.memory.used_pct (no data) < 80",
    )


async def test_invalid_json_is_no_data_but_the_check_got_a_response(clients, http_server):
    sample = await poll(
        clients, f"{http_server}/json/invalid", "status == 200", 'json $.status == "ok"'
    )
    assert sample.http_status == 200 and sample.error is None
    assert sample.failed_conditions == ('json $.status (no data) == "ok"',)
    assert (sample.conditions[0].ok, sample.conditions[1].ok) == (True, None)
    assert sample.body_excerpt == '{"status": "ok",'


async def test_status_and_latency_forms_on_real_responses(clients, http_server):
    passing = ["status == 200", "status != 500", "status == 2xx", "status in [200, 204]"]
    sample = await poll(clients, f"{http_server}/ok", *passing, "latency < 30s", "status < 300")
    assert sample.up, sample.failed_conditions
    sample = await poll(clients, f"{http_server}/status/204", "status in [200, 204]")
    assert sample.up and sample.http_status == 204 and sample.body_bytes == 0
    sample = await poll(
        clients, f"{http_server}/slow?ms=150", "latency >= 150ms", "latency < 100ms"
    )
    (message,) = sample.failed_conditions
    assert message.startswith("latency (") and message.endswith("ms) < 100ms")
    assert int(message.split("(")[1].split("ms")[0]) >= 150


async def test_security_headers_present_and_absent(clients, http_server):
    expect = [
        "header X-Frame-Options exists",
        'header X-Content-Type-Options == "nosniff"',
        'header Content-Security-Policy matches "default-src"',
        'header content-security-policy contains "frame-ancestors"',
        "header Server absent",
        'header Set-Cookie matches "HttpOnly"',
    ]
    secure = await poll(clients, f"{http_server}/headers/secure", *expect)
    assert secure.up, secure.failed_conditions

    bare = await poll(clients, f"{http_server}/headers/bare", *expect, severity="warning")
    assert (bare.up, bare.status) == (False, "warning")
    assert bare.failed_conditions == (
        "header X-Frame-Options (absent) exists",
        'header X-Content-Type-Options (absent) == "nosniff"',
        'header Content-Security-Policy (absent) matches "default-src"',
        'header content-security-policy (absent) contains "frame-ancestors"',
        'header Server ("legacy/0.9") absent',
        'header Set-Cookie (absent) matches "HttpOnly"',
    )


async def test_cookie_values_are_masked_everywhere(clients, http_server):
    sample = await poll(clients, f"{http_server}/headers/secure", 'header Set-Cookie == "x"')
    assert ("Set-Cookie", "session=***; Path=/; Secure; HttpOnly") in sample.headers
    assert sample.failed_conditions == (
        'header Set-Cookie ("session=***; Path=/; Secure; HttpOnly") == "x"',
    )
    assert "s3cr3t-cookie" not in repr(sample)


async def test_body_conditions_on_text(clients, http_server):
    sample = await poll(
        clients,
        f"{http_server}/text",
        'body contains "healthy ✓"',
        'body matches "uptime \\\\d+d"',
        'body contains "degraded"',
        'body matches "^down"',
    )
    assert sample.failed_conditions == (
        'body ("Service healthy ✓ uptime 3d") contains "degraded"',
        'body ("Service healthy ✓ uptime 3d") matches "^down"',
    )
    assert sample.body_excerpt == "Service healthy ✓\nuptime 3d\n"


async def test_what_a_server_sends_cannot_drive_the_terminal(clients, http_server):
    """Escape sequences in a body or a header (OSC 52 writes the operator's clipboard) reach
    the sample as visible symbols: the excerpt, the headers and the failed conditions."""
    sample = await poll(
        clients, f"{http_server}/hostile", 'body contains "healthy"', 'header X-Evil == "1"'
    )
    shown = [sample.body_excerpt, *sample.failed_conditions, *(v for _, v in sample.headers)]
    assert not [text for text in shown if any(ord(c) < 32 and c not in "\t\n" for c in text)]
    assert not [text for text in shown if any(0x7F <= ord(c) < 0xA0 for c in text)]
    assert sample.body_excerpt.startswith("ok ␛]52;c;ZWNobw==␇␛]2;PWNED␛")
    assert "X-Evil" in dict(sample.headers)


async def test_a_binary_body_has_no_excerpt(clients, http_server):
    sample = await poll(clients, f"{http_server}/binary")
    assert sample.up and sample.body_bytes == 256 and sample.body_excerpt is None


# --- request options -----------------------------------------------------------------------
async def test_method_headers_and_body_reach_the_server(clients, http_server):
    sample = await poll(
        clients,
        f"{http_server}/echo",
        'json $.method == "POST"',
        'json $.body == "{\\"ping\\": 1}"',
        'json $.probe == "hello"',
        method="POST",
        headers={"X-Probe": "hello"},
        body='{"ping": 1}',
    )
    assert sample.up, sample.failed_conditions


async def test_redirects_are_followed_only_when_asked(clients, http_server):
    sample = await poll(clients, f"{http_server}/redirect")
    assert sample.http_status == 302
    assert sample.failed_conditions == ("status (302) == 2xx",)
    assert (await poll(clients, f"{http_server}/redirect", "status == 302")).up

    followed = await poll(clients, f"{http_server}/redirect", follow_redirects=True)
    assert followed.up and followed.http_status == 200

    loop = await poll(clients, f"{http_server}/redirect/loop", follow_redirects=True)
    assert (loop.up, loop.error, loop.http_status) == (False, "too many redirects", None)


async def test_a_check_keeps_no_cookies(clients, http_server):
    """Each poll is a fresh client, as curl without a cookie jar: a cookie an answer sets is
    never sent back, not on the redirect it came with, not by the next poll, not by another
    check (one client serves every check with the same TLS setting). A cookie the check names
    in its headers goes to its URL, not on the redirects."""

    async def cookie_seen(url: str, **options: object) -> str | None:
        sample = await poll(clients, url, **options)
        assert sample.up and sample.body_excerpt, sample.failed_conditions
        return json.loads(sample.body_excerpt)["cookie"]

    moved = await poll(clients, f"{http_server}/redirect/cookie")  # a 302 setting hop=1
    assert moved.http_status == 302
    assert await cookie_seen(f"{http_server}/echo") is None
    assert await cookie_seen(f"{http_server}/redirect/cookie", follow_redirects=True) is None
    named = await cookie_seen(f"{http_server}/echo", headers={"Cookie": "team=ops"})
    assert named == "team=ops"
    redirected = f"{http_server}/redirect/cookie"
    assert await cookie_seen(redirected, follow_redirects=True, headers={"Cookie": "a=1"}) is None


async def test_a_plain_check_redirected_to_https_verifies_the_certificate(
    clients, http_server, https_server
):
    """http://site redirecting to https://site is the common case: the https hop is verified
    as an https check's would be (the check's ``ca_file``, ``verify_tls``)."""
    moved = f"{http_server}/redirect/to?url={https_server.url}/ok"
    untrusted = await poll(clients, moved, follow_redirects=True)
    assert not untrusted.up and untrusted.error is not None
    assert untrusted.error.startswith("TLS: certificate issuer is not trusted"), untrusted.error
    trusted = await poll(clients, moved, follow_redirects=True, ca_file=https_server.ca_file)
    assert trusted.up and trusted.http_status == 200, trusted.error
    unverified = await poll(clients, moved, follow_redirects=True, verify_tls=False)
    assert unverified.up, unverified.error


async def test_a_redirect_to_another_origin_carries_none_of_the_checks_headers(
    clients, http_server, https_server
):
    """Header values may be secrets (a token from ``${VAR}``): a redirect that leaves the
    check's scheme, host and port does not take them along (httpx drops only Authorization),
    one on the same origin does. Nor the check's ``server_name``: TLS there names that host."""
    probe = {"X-Probe": "token-from-env"}
    here = f"{http_server}/redirect/to?url=/echo"
    sample = await poll(clients, here, 'json $.probe == "token-from-env"', headers=probe,
                        follow_redirects=True)  # fmt: skip
    assert sample.up, sample.failed_conditions
    away = f"{http_server}/redirect/to?url={https_server.url}/echo"
    sample = await poll(clients, away, headers=probe, follow_redirects=True,
                        ca_file=https_server.ca_file)  # fmt: skip
    assert sample.up and sample.body_excerpt, sample.error
    assert json.loads(sample.body_excerpt)["probe"] is None
    named = await poll(clients, away, follow_redirects=True, ca_file=https_server.ca_file,
                       server_name="api.internal")  # fmt: skip
    assert named.up, "the hop to another origin is verified by its own name"


async def test_a_redirect_to_another_host_that_fails_tls_is_told_by_that_hosts_name(
    clients, http_server, tls_lab
):
    """The message names what the hop was verified against: its own host, not the check's
    ``server_name``."""
    away = f"{http_server}/redirect/to?url={tls_lab.url('wrong_host')}/ok"
    sample = await poll(clients, away, follow_redirects=True, ca_file=str(tls_lab.ca_file),
                        server_name="api.internal")  # fmt: skip
    assert sample.error == "TLS: certificate is for other.example, not 127.0.0.1"


@pytest.mark.parametrize(
    ("hop", "kept"),
    [
        ("http://api.example/next", True),
        ("https://api.example/next", True),  # the upgrade from 80 to 443: the same service
        ("http://api.example:80/next", True),
        ("https://api.example:8443/next", False),
        ("http://api.example:8080/next", False),
        ("https://sso.example/login", False),
    ],
)
async def test_which_redirects_keep_the_checks_headers(hop: str, kept: bool):
    home = httpx.URL("http://api.example/health")
    request = httpx.Request("GET", hop, headers={"X-Token": "t0ken", "Accept": "text/plain"},
                            extensions={HOME: (home, ("X-Token",))})  # fmt: skip
    await headers_stay_home(request)
    assert ("X-Token" in request.headers) is kept
    assert request.headers["Accept"] == "text/plain"


async def test_request_header_values_never_reach_samples_or_errors(clients, http_server):
    secret = "Bearer s3cr3t-token-value"
    headers = {"Authorization": secret, "X-Api-Key": "k3y-s3cr3t"}
    ok = await poll(clients, f"{http_server}/ok", headers=headers)
    hung = await poll(clients, f"{http_server}/hang", headers=headers, timeout=0.2)
    assert ok.up and hung.error == "timed out after 200ms"
    for sample in (ok, hung):
        assert "s3cr3t" not in repr(sample)


# --- failure modes -------------------------------------------------------------------------
async def test_connection_refused_is_a_down_sample(clients, refused_url):
    sample = await poll(clients, f"{refused_url}/ok", "status == 200")
    assert (sample.up, sample.status, sample.error) == (False, "critical", "connection refused")
    assert (sample.http_status, sample.latency_ms, sample.failed_conditions) == (None, None, ())


async def test_a_server_that_never_answers_times_out(clients, http_server, silent_server):
    sample = await poll(clients, f"{http_server}/hang", timeout=0.3)
    assert (sample.up, sample.error) == (False, "timed out after 300ms")
    host, port = silent_server
    sample = await poll(clients, f"http://{host}:{port}/", timeout=0.3)
    assert (sample.up, sample.error) == (False, "timed out after 300ms")


async def test_a_trickling_body_is_bounded_by_the_check_timeout(clients, http_server):
    """Bytes arrive every 200 ms, so no read ever times out; the whole poll must."""
    trickle = 50
    assert trickle * TRICKLE_EVERY > 5 * 0.5
    loop = asyncio.get_running_loop()
    started = loop.time()
    sample = await poll(clients, f"{http_server}/trickle?bytes={trickle}", timeout=0.5)
    assert (sample.up, sample.error) == (False, "timed out after 500ms")
    assert loop.time() - started < trickle * TRICKLE_EVERY / 2


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
async def test_a_huge_body_is_capped_and_memory_stays_flat(clients, http_server):
    hundred_mb = 100
    baseline, peak = _rss(), 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        sample = await poll(clients, f"{http_server}/big?mb={hundred_mb}", timeout=10)
    finally:
        done.set()
        await watcher
    assert sample.up and sample.http_status == 200, sample.error
    assert ("Content-Length", str(hundred_mb * 1024 * 1024)) in sample.headers
    assert (sample.body_bytes, sample.body_truncated) == (BODY_CAP, True)
    assert len(sample.body_excerpt) == EXCERPT_CAP
    assert max(peak, _rss()) - baseline < 20 * 1024 * 1024


async def test_read_capped_stops_downloading_at_the_cap(clients, http_server):
    async with clients.client(True).stream("GET", f"{http_server}/big") as response:
        body, truncated = await read_capped(response, BODY_CAP)
        assert (len(body), truncated) == (BODY_CAP, True)
        assert response.num_bytes_downloaded < BODY_CAP + 256 * 1024 < BIG_BODY
    async with clients.client(True).stream("GET", f"{http_server}/ok") as response:
        body, truncated = await read_capped(response, BODY_CAP)
        assert (json.loads(body), truncated) == ({"status": "ok"}, False)


def test_transport_errors_read_well():
    dns = httpx.ConnectError("failed")
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert describe_transport_error(dns, "nohost.invalid", 2.0) == (
        "DNS lookup failed for nohost.invalid"
    )
    assert describe_transport_error(httpx.ReadTimeout("x"), "h", 2.0) == "timed out after 2.0s"
    refused = OSError("All connection attempts failed")
    refused.__cause__ = ExceptionGroup("attempts", [ConnectionRefusedError(111, "refused")])
    assert describe_transport_error(refused, "h", 2.0) == "connection refused"
    mixed = OSError(
        "Multiple exceptions: [Errno 113] Connect call failed ('::1', 5432, 0, 0), "
        "[Errno 101] Network is unreachable, "
        "[Errno 111] Connect call failed ('10.0.0.5', 5432), "
        "[Errno 111] Connect call failed ('10.0.0.6', 5432)"
    )
    assert describe_transport_error(mixed, "h", 2.0) == (
        "no route to host (::1), network is unreachable, connection refused (10.0.0.5)"
    )
    remote = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    assert describe_transport_error(remote, "h", 2.0) == (
        "protocol error: server disconnected without sending a response"
    )


async def test_a_hanging_check_does_not_delay_another(clients, http_server):
    hanging = HttpCheckSource(
        Check(name="hang", url=f"{http_server}/hang", timeout=30.0), SETTINGS, clients
    )
    healthy = HttpCheckSource(
        Check(name="ok", url=f"{http_server}/ok", interval=0.01), SETTINGS, clients
    )
    scheduler = Scheduler([hanging, healthy], State())
    scheduler.start()
    try:
        for _ in range(1000):
            if scheduler.passes["check:ok"] >= 3:
                break
            await asyncio.sleep(0.01)
        assert scheduler.passes["check:ok"] >= 3
        assert scheduler.passes["check:hang"] == 0, "the hanging check is still in its first pass"
        assert scheduler.state.sources["check:ok"].sample.up
    finally:
        await scheduler.stop()


# --- TCP -----------------------------------------------------------------------------------
def tcp_check(url: str, **options: object) -> Check:
    parts = urlsplit(url)
    return Check(name="db-port", kind="tcp", host=parts.hostname, port=parts.port, **options)


async def test_tcp_up(http_server):
    source = TcpCheckSource(tcp_check(http_server, expect=["latency < 30s"]), SETTINGS)
    assert (source.id, source.kind) == ("check:db-port", "tcp")
    sample = await source.poll()
    assert (sample.kind, sample.up, sample.status, sample.error) == ("tcp", True, "ok", None)
    assert sample.latency_ms is not None and sample.latency_ms > 0
    assert [r.ok for r in sample.conditions] == [True]


async def test_tcp_latency_condition_fails_with_actual_value(http_server):
    sample = await TcpCheckSource(tcp_check(http_server, expect=["latency > 30s"]), SETTINGS).poll()
    assert not sample.up
    assert sample.failed_conditions[0].endswith("ms) > 30s")


async def test_tcp_down(refused_url):
    sample = await TcpCheckSource(tcp_check(refused_url, severity="warning"), SETTINGS).poll()
    assert (sample.up, sample.status, sample.error) == (False, "warning", "connection refused")
    assert sample.latency_ms is None


async def test_tcp_races_the_addresses_of_a_host(http_server, monkeypatch):
    """::1 first, unanswered: 127.0.0.1 is tried after 250 ms, not after the timeout."""
    monkeypatch.setattr(socket, "getaddrinfo", dual_stack_getaddrinfo)
    port = urlsplit(http_server).port
    assert port is not None
    with unanswered_ipv6(port):
        check = Check(name="db-port", kind="tcp", host=DUAL_STACK, port=port, timeout=1.0)
        sample = await TcpCheckSource(check, SETTINGS).poll()
    assert (sample.up, sample.error) == (True, None)
    assert sample.latency_ms is not None and sample.latency_ms < 900


async def test_a_host_whose_addresses_all_refuse_is_connection_refused(clients, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", dual_stack_getaddrinfo)
    with closed_dual_stack_port() as port:
        tcp = Check(name="db-port", kind="tcp", host=DUAL_STACK, port=port, timeout=1.0)
        samples = [
            await TcpCheckSource(tcp, SETTINGS).poll(),
            await poll(clients, f"http://{DUAL_STACK}:{port}/ok", timeout=1.0),
        ]
    assert [(sample.up, sample.error) for sample in samples] == [(False, "connection refused")] * 2


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("a" * 64 + ".example", "label empty or too long"),
        ("db..internal", "label empty or too long"),
        ("db\x80.internal", "invalid character '\\x80'"),
    ],
)
async def test_tcp_to_an_invalid_host_name_is_a_down_sample(host, reason):
    check = Check(name="db", kind="tcp", host=host, port=5432)
    sample = await TcpCheckSource(check, SETTINGS).poll()
    assert (sample.up, sample.error) == (False, f"invalid host name: {reason}")


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "db..internal"])
async def test_an_http_check_on_an_invalid_host_name_is_a_down_sample(clients, host):
    sample = await poll(clients, f"http://{host}:1/")
    assert (sample.up, sample.error) == (False, "invalid host name: label empty or too long")


async def test_tcp_to_a_bracketed_ipv6_address():
    server = await asyncio.start_server(lambda reader, writer: writer.close(), "::1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sample = await TcpCheckSource(
            Check(name="db", kind="tcp", host="[::1]", port=port), SETTINGS
        ).poll()
    finally:
        server.close()
        await server.wait_closed()
    assert (sample.up, sample.error) == (True, None)


def test_tcp_tests_latency_only(http_server):
    with pytest.raises(ValueError, match="no status"):
        TcpCheckSource(tcp_check(http_server, expect=["status == 200"]), SETTINGS)
    with pytest.raises(ValueError, match="needs host and port"):
        TcpCheckSource(Check(name="x", kind="tcp", host="h"), SETTINGS)
