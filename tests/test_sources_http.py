"""HTTP and TCP checks against real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from tui import __version__
from tui.engine.config import Check, Settings
from tui.engine.scheduler import Scheduler
from tui.engine.sources.http import (
    BODY_CAP,
    HttpCheckSource,
    TcpCheckSource,
    WatchdeckClient,
    describe_transport_error,
    make_http_client,
    parse_condition,
    read_capped,
)
from tui.engine.state import State

SETTINGS = Settings(interval=7.0, timeout=2.0)


@pytest.fixture
async def client() -> AsyncIterator[WatchdeckClient]:
    client = make_http_client(SETTINGS)
    yield client
    await client.aclose()


async def poll(client: WatchdeckClient, url: str, *expect: str, **options: object):
    check = Check(name="api", url=url, expect=list(expect or ["status == 2xx"]), **options)
    return await HttpCheckSource(check, SETTINGS, client).poll()


# --- conditions --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "status", "latency_ms", "failure"),
    [
        ("status == 200", 200, 5.0, None),
        ("status == 200", 500, 5.0, "status (500) == 200"),
        ("status != 500", 500, 5.0, "status (500) != 500"),
        ("status != 500", 502, 5.0, None),
        ("status == 2xx", 204, 5.0, None),
        ("status == 2xx", 302, 5.0, "status (302) == 2xx"),
        ("status != 5xx", 503, 5.0, "status (503) != 5xx"),
        ("status in [200, 204]", 204, 5.0, None),
        ("status in [204,200]", 404, 5.0, "status (404) in [200, 204]"),
        ("latency < 500ms", 200, 499.0, None),
        ("latency < 500ms", 200, 812.4, "latency (812ms) < 500ms"),
        ("latency <= 2s", 200, 2000.0, None),
        ("latency > 1s", 200, 1000.0, "latency (1000ms) > 1s"),
        ("latency >= 1.5s", 200, 1500.0, None),
    ],
)
def test_condition_forms(text, status, latency_ms, failure):
    assert parse_condition(text).failure(status, latency_ms) == failure


@pytest.mark.parametrize(
    "text", ["status ~= 200", "status == 20x", "latency < 500", "body contains ok", "status in []"]
)
def test_unsupported_conditions_are_rejected_when_the_source_is_built(client, text):
    with pytest.raises(ValueError, match=r"check 'api': .*(unsupported condition|unit)"):
        HttpCheckSource(Check(name="api", url="http://127.0.0.1/", expect=[text]), SETTINGS, client)


def test_source_identity_and_timing(client):
    source = HttpCheckSource(Check(name="api", url="http://127.0.0.1/"), SETTINGS, client)
    assert (source.id, source.section, source.name) == ("check:api", "check", "api")
    assert (source.interval, source.check_timeout) == (7.0, 2.0)
    assert source.timeout > source.check_timeout, "the scheduler's timeout must be the backstop"
    own = Check(name="api", url="http://127.0.0.1/", interval=1.0, timeout=0.5)
    source = HttpCheckSource(own, SETTINGS, client)
    assert (source.interval, source.check_timeout) == (1.0, 0.5)


def test_a_check_needs_an_http_url(client):
    with pytest.raises(ValueError, match="http"):
        HttpCheckSource(Check(name="api", url="ftp://127.0.0.1/"), SETTINGS, client)


def test_client_identifies_itself_and_does_not_follow_redirects(client):
    assert client.headers["User-Agent"] == f"watchdeck/{__version__}"
    assert client.follow_redirects is False


# --- against the real server -------------------------------------------------------------
async def test_healthy_endpoint(client, http_server):
    before = time.time()
    sample = await poll(client, f"{http_server}/ok")
    assert before <= sample.at <= time.time()
    assert (sample.name, sample.kind, sample.up, sample.status) == ("api", "http", True, "ok")
    assert sample.http_status == 200
    assert sample.latency_ms is not None and sample.latency_ms > 0
    assert sample.failed_conditions == ()
    assert sample.error is None


async def test_every_condition_form_against_real_responses(client, http_server):
    passing = ["status == 200", "status != 500", "status == 2xx", "status in [200, 204]"]
    sample = await poll(client, f"{http_server}/ok", *passing, "latency < 30s", "latency <= 30s")
    assert sample.up and sample.failed_conditions == ()

    sample = await poll(client, f"{http_server}/status/204", "status in [200, 204]")
    assert sample.up and sample.http_status == 204

    sample = await poll(client, f"{http_server}/slow?ms=150", "latency > 100ms", "latency >= 150ms")
    assert sample.up and sample.latency_ms >= 150


async def test_server_error_fails_with_actual_values(client, http_server):
    sample = await poll(
        client, f"{http_server}/status/500", "status == 200", "status != 500", "status == 2xx"
    )
    assert not sample.up
    assert sample.status == "critical"
    assert sample.http_status == 500
    assert sample.failed_conditions == (
        "status (500) == 200",
        "status (500) != 500",
        "status (500) == 2xx",
    )
    assert sample.error is None


async def test_slow_response_fails_a_latency_condition(client, http_server):
    sample = await poll(client, f"{http_server}/slow?ms=120", "latency < 100ms", severity="warning")
    assert not sample.up and sample.status == "warning"
    (failure,) = sample.failed_conditions
    assert failure.startswith("latency (") and failure.endswith("ms) < 100ms")
    assert int(failure.split("(")[1].split("ms")[0]) >= 120


async def test_redirects_are_reported_not_followed(client, http_server):
    sample = await poll(client, f"{http_server}/redirect")
    assert sample.http_status == 302
    assert sample.failed_conditions == ("status (302) == 2xx",)
    assert (await poll(client, f"{http_server}/redirect", "status == 302")).up


async def test_connection_refused_is_a_down_sample(client, refused_url):
    sample = await poll(client, f"{refused_url}/ok")
    assert not sample.up and sample.status == "critical"
    assert sample.error == "connection refused"
    assert (sample.http_status, sample.latency_ms, sample.failed_conditions) == (None, None, ())


async def test_hanging_server_times_out_as_a_down_sample(client, http_server):
    check = Check(name="api", url=f"{http_server}/hang", timeout=0.3)
    source = HttpCheckSource(check, SETTINGS, client)
    state = State()
    scheduler = Scheduler([source], state)
    await scheduler.run_pass(source)
    recorded = state.sources["check:api"]
    assert recorded.error is None, "a hanging target is data, not a failed pass"
    assert recorded.sample is not None and not recorded.sample.up
    assert recorded.sample.error == "timed out after 300ms"


async def test_big_body_is_capped(client, http_server):
    sample = await poll(client, f"{http_server}/big")
    assert sample.up and sample.http_status == 200

    async with client.stream("GET", f"{http_server}/big") as response:
        await read_capped(response, BODY_CAP)
        assert BODY_CAP <= response.num_bytes_downloaded < BODY_CAP + 256 * 1024


# --- TLS ---------------------------------------------------------------------------------
async def test_https_verified_against_the_ca(https_server, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", https_server.ca_file)
    client = make_http_client(SETTINGS)
    try:
        sample = await poll(client, f"{https_server.url}/ok")
    finally:
        await client.aclose()
    assert sample.up, sample.error
    assert sample.http_status == 200


async def test_https_with_an_untrusted_certificate_is_down(client, https_server):
    sample = await poll(client, f"{https_server.url}/ok")
    assert not sample.up
    assert sample.error is not None
    assert sample.error.startswith("TLS: certificate verify failed")


async def test_verify_tls_false_accepts_the_certificate(client, https_server):
    sample = await poll(client, f"{https_server.url}/ok", verify_tls=False)
    assert sample.up, sample.error
    unverified = client.for_tls(False)
    assert unverified is client.for_tls(False) and unverified is not client
    await client.aclose()
    assert unverified.is_closed and client.is_closed


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


# --- TCP ---------------------------------------------------------------------------------
def tcp_check(url: str, **options: object) -> Check:
    parts = urlsplit(url)
    return Check(name="db-port", kind="tcp", host=parts.hostname, port=parts.port, **options)


async def test_tcp_up(http_server):
    source = TcpCheckSource(tcp_check(http_server, expect=["latency < 30s"]), SETTINGS)
    assert source.id == "check:db-port"
    sample = await source.poll()
    assert (sample.kind, sample.up, sample.status, sample.error) == ("tcp", True, "ok", None)
    assert sample.latency_ms is not None and sample.latency_ms > 0


async def test_tcp_latency_condition_fails_with_actual_value(http_server):
    sample = await TcpCheckSource(tcp_check(http_server, expect=["latency > 30s"]), SETTINGS).poll()
    assert not sample.up
    assert sample.failed_conditions[0].endswith("ms) > 30s")


async def test_tcp_down(refused_url):
    sample = await TcpCheckSource(tcp_check(refused_url, severity="warning"), SETTINGS).poll()
    assert (sample.up, sample.status, sample.error) == (False, "warning", "connection refused")
    assert sample.latency_ms is None


def test_tcp_rejects_status_conditions(http_server):
    with pytest.raises(ValueError, match="no status"):
        TcpCheckSource(tcp_check(http_server, expect=["status == 200"]), SETTINGS)
