"""TLS checks and the certificates of https checks, against real TLS servers on 127.0.0.1
whose certificates are made by the tests (``servers.TlsLab``)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import time
from collections.abc import AsyncIterator

import pytest
from servers import (
    DUAL_STACK,
    TlsLab,
    closed_dual_stack_port,
    dual_stack_getaddrinfo,
    issue,
    server_context,
    unanswered_ipv6,
)

from tui.engine.config import Check, Config, Settings
from tui.engine.engine import Engine
from tui.engine.sources import tls
from tui.engine.sources.http import CheckClients, HttpCheckSource, TlsCheckSource

SETTINGS = Settings(interval=7.0, timeout=2.0)
DAY = 86400.0


@pytest.fixture
async def clients() -> AsyncIterator[CheckClients]:
    clients = CheckClients(SETTINGS)
    yield clients
    await clients.aclose()


async def tls_poll(clients: CheckClients, lab: TlsLab, server: str, *expect: str, **options):
    host, port = lab.address(server)
    options.setdefault("ca_file", str(lab.ca_file))
    check = Check(name="site", kind="tls", host=host, port=port, expect=list(expect), **options)
    return await TlsCheckSource(check, SETTINGS, clients).poll()


async def https_poll(clients: CheckClients, lab: TlsLab, server: str, *expect: str, **options):
    options.setdefault("ca_file", str(lab.ca_file))
    check = Check(name="web", url=f"{lab.url(server)}/ok", expect=list(expect), **options)
    return await HttpCheckSource(check, SETTINGS, clients).poll()


def days_until(epoch: float) -> float:
    return (epoch - time.time()) / DAY


# --- the whole chain, not only the leaf ----------------------------------------------------
async def test_tls_check_reports_the_earliest_expiry_across_the_chain(clients, tls_lab):
    sample = await tls_poll(clients, tls_lab, "chain", "latency < 30s", "cert_days_left > 10")
    assert (sample.kind, sample.up, sample.status, sample.error) == ("tls", True, "ok", None)
    assert sample.latency_ms is not None and sample.latency_ms > 0
    leaf, intermediate = sample.cert_chain
    assert (leaf.subject, leaf.issuer) == ("CN=chain.test", "CN=watchdeck test intermediate")
    assert set(leaf.sans) == {"127.0.0.1", "localhost"}
    assert intermediate.subject == "CN=watchdeck test intermediate"
    assert leaf.not_after == tls_lab.leaf.not_after
    assert intermediate.not_after == tls_lab.intermediate.not_after < leaf.not_after
    assert leaf.not_before < time.time() < leaf.not_after
    assert sample.cert_days_left == pytest.approx(
        days_until(tls_lab.intermediate.not_after), abs=0.01
    ), "the intermediate expires first, so it sets the days left, not the leaf"
    assert sample.cert_days_left < TlsLab.INTERMEDIATE_DAYS < TlsLab.LEAF_DAYS

    failing = await tls_poll(clients, tls_lab, "chain", "cert_days_left > 30")
    assert not failing.up
    assert failing.failed_conditions == (f"cert_days_left ({failing.cert_days_left:.1f}) > 30",)
    assert failing.failed_conditions == ("cert_days_left (20.0) > 30",)


async def test_https_check_carries_the_chain_too(clients, tls_lab):
    sample = await https_poll(clients, tls_lab, "chain", "status == 200", "cert_days_left > 10")
    assert sample.up, sample.error or sample.failed_conditions
    assert [cert.subject for cert in sample.cert_chain] == [
        "CN=chain.test",
        "CN=watchdeck test intermediate",
    ]
    assert sample.cert_days_left == pytest.approx(
        days_until(tls_lab.intermediate.not_after), abs=0.01
    )
    again = await https_poll(clients, tls_lab, "chain", "cert_days_left > 30")
    assert again.failed_conditions == ("cert_days_left (20.0) > 30",)


def test_presented_chain_on_311_and_the_leaf_only_fallback(tls_lab):
    host, port = tls_lab.address("chain")
    context = ssl.create_default_context(cafile=str(tls_lab.ca_file))
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as wrapped,
    ):
        chain = tls.presented_chain(wrapped)
        leaf = wrapped.getpeercert(binary_form=True)

        class LeafOnly:
            """An SSL object without either chain getter (as some Pythons have)."""

            def getpeercert(self, binary_form: bool = False) -> bytes | None:
                return wrapped.getpeercert(binary_form)

        assert tls.presented_chain(LeafOnly()) == (leaf,)
    assert len(chain) == 2 and chain[0] == leaf
    assert [tls.cert_info(der).subject for der in chain] == [
        "CN=chain.test",
        "CN=watchdeck test intermediate",
    ]
    assert tls.cert_info(b"not a certificate") is None


# --- failure modes, each a clear one-line error ---------------------------------------------
@pytest.mark.parametrize("poll", [tls_poll, https_poll], ids=["tls", "https"])
async def test_expired_certificate(clients, tls_lab, poll):
    sample = await poll(clients, tls_lab, "expired")
    assert (sample.up, sample.status) == (False, "critical")
    assert sample.error.startswith("TLS: certificate has expired (expired.test expired ")
    assert sample.cert_days_left == pytest.approx(
        days_until(tls_lab.expired_leaf.not_after), abs=0.01
    )
    assert sample.cert_days_left < 0, "an expired chain still reports its (negative) days left"
    assert sample.cert_chain[0].subject == "CN=expired.test"


@pytest.mark.parametrize("poll", [tls_poll, https_poll], ids=["tls", "https"])
async def test_self_signed_certificate(clients, tls_lab, poll):
    sample = await poll(clients, tls_lab, "self_signed")
    assert (sample.up, sample.error) == (False, "TLS: self-signed certificate")


@pytest.mark.parametrize("poll", [tls_poll, https_poll], ids=["tls", "https"])
async def test_certificate_for_another_host(clients, tls_lab, poll):
    sample = await poll(clients, tls_lab, "wrong_host")
    assert (sample.up, sample.error) == (
        False,
        "TLS: certificate is for other.example, not 127.0.0.1",
    )


@pytest.mark.parametrize("poll", [tls_poll, https_poll], ids=["tls", "https"])
async def test_server_name_sets_the_name_to_verify(clients, tls_lab, poll):
    sample = await poll(clients, tls_lab, "wrong_host", server_name="other.example")
    assert sample.up, sample.error
    sample = await poll(clients, tls_lab, "chain", server_name="localhost")
    assert sample.up, sample.error
    sample = await poll(clients, tls_lab, "chain", server_name="elsewhere.example")
    assert sample.error == "TLS: certificate is for 127.0.0.1, localhost, not elsewhere.example"


@pytest.mark.parametrize("poll", [tls_poll, https_poll], ids=["tls", "https"])
async def test_an_untrusted_issuer(clients, tls_lab, https_server, poll):
    sample = await poll(clients, tls_lab, "chain", ca_file=https_server.ca_file)
    assert sample.error == (
        "TLS: certificate issuer is not trusted (unable to get local issuer certificate)"
    )


async def test_verify_tls_false_accepts_but_still_reads_the_expiry(clients, tls_lab):
    for server in ("expired", "self_signed", "wrong_host"):
        sample = await tls_poll(clients, tls_lab, server, verify_tls=False, ca_file=None)
        assert sample.up and sample.error is None, (server, sample.error)
    expired = await tls_poll(
        clients, tls_lab, "expired", "cert_days_left > 0", verify_tls=False, ca_file=None
    )
    assert expired.failed_conditions == ("cert_days_left (-1.0) > 0",)
    sample = await https_poll(clients, tls_lab, "expired", verify_tls=False, ca_file=None)
    assert sample.up and sample.http_status == 200
    assert sample.cert_days_left == pytest.approx(-1.0, abs=0.01)


async def test_tls_connection_failures(clients, tls_lab, silent_server, refused_url):
    host, port = silent_server
    check = Check(name="site", kind="tls", host=host, port=port, timeout=0.3)
    sample = await TlsCheckSource(check, SETTINGS, clients).poll()
    assert (sample.up, sample.error) == (False, "timed out after 300ms")

    port = int(refused_url.rsplit(":", 1)[1])
    check = Check(name="site", kind="tls", host="127.0.0.1", port=port, severity="warning")
    sample = await TlsCheckSource(check, SETTINGS, clients).poll()
    assert (sample.up, sample.status, sample.error) == (False, "warning", "connection refused")
    assert (sample.cert_chain, sample.cert_days_left) == ((), None)


async def test_a_tls_check_races_the_addresses_of_a_host(clients, tls_lab, monkeypatch):
    """::1 first, unanswered: 127.0.0.1 is tried after 250 ms, not after the timeout."""
    monkeypatch.setattr(socket, "getaddrinfo", dual_stack_getaddrinfo)
    _, port = tls_lab.address("chain")
    check = Check(
        name="site",
        kind="tls",
        host=DUAL_STACK,
        port=port,
        ca_file=str(tls_lab.ca_file),
        server_name="localhost",
        timeout=1.0,
    )
    with unanswered_ipv6(port):
        sample = await TlsCheckSource(check, SETTINGS, clients).poll()
    assert (sample.up, sample.error) == (True, None)
    assert sample.latency_ms is not None and sample.latency_ms < 900


async def test_a_tls_check_on_a_host_whose_addresses_all_refuse(clients, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", dual_stack_getaddrinfo)
    with closed_dual_stack_port() as port:
        check = Check(name="site", kind="tls", host=DUAL_STACK, port=port, timeout=1.0)
        sample = await TlsCheckSource(check, SETTINGS, clients).poll()
    assert (sample.up, sample.error) == (False, "connection refused")


async def test_a_tls_check_on_an_invalid_host_name(clients):
    check = Check(name="site", kind="tls", host="a" * 64 + ".example")
    sample = await TlsCheckSource(check, SETTINGS, clients).poll()
    assert (sample.up, sample.error) == (False, "invalid host name: label empty or too long")


async def test_a_tls_check_on_a_bracketed_ipv6_address(clients, tls_lab, tmp_path):
    """``[::1]`` is connected to, and its certificate verified for, ::1."""
    leaf = issue("ipv6.test", issuer=tls_lab.intermediate, names=("::1",))
    context = server_context(tmp_path, leaf, tls_lab.intermediate)
    server = await asyncio.start_server(
        lambda reader, writer: writer.close(), "::1", 0, ssl=context
    )
    port = server.sockets[0].getsockname()[1]
    check = Check(name="site", kind="tls", host="[::1]", port=port, ca_file=str(tls_lab.ca_file))
    try:
        sample = await TlsCheckSource(check, SETTINGS, clients).poll()
    finally:
        server.close()
        await server.wait_closed()
    assert (sample.up, sample.error) == (True, None)


@pytest.mark.parametrize("poll", [tls_poll, https_poll], ids=["tls", "https"])
async def test_a_missing_ca_file_is_a_clear_error(clients, tls_lab, tmp_path, poll):
    missing = tmp_path / "missing.pem"
    sample = await poll(clients, tls_lab, "chain", ca_file=str(missing))
    assert sample.error == f"cannot load ca_file {missing}: no such file or directory"
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    sample = await poll(clients, tls_lab, "chain", ca_file=str(not_pem))
    assert sample.error == f"cannot load ca_file {not_pem}: no CA certificate in it (PEM expected)"


def test_a_tls_check_defaults_to_port_443(clients):
    source = TlsCheckSource(Check(name="site", kind="tls", host="example.com"), SETTINGS, clients)
    assert (source.host, source.port, source.server_name) == ("example.com", 443, "example.com")
    with pytest.raises(ValueError, match="no status to test"):
        TlsCheckSource(
            Check(name="s", kind="tls", host="h", expect=["status == 200"]), SETTINGS, clients
        )


# --- the engine resolves ca_file against the config file's directory -----------------------
async def test_engine_resolves_ca_file_relative_to_the_config(tmp_path, tls_lab):
    shutil.copy(tls_lab.ca_file, tmp_path / "ca.pem")
    host, port = tls_lab.address("chain")
    config = Config(
        checks=[
            Check(name="web", url=f"{tls_lab.url('chain')}/ok", ca_file="ca.pem"),
            Check(name="cert", kind="tls", host=host, port=port, ca_file="ca.pem"),
        ]
    )
    engine = Engine(config, base_dir=tmp_path)
    try:
        await engine.check_once()
    finally:
        await engine.stop()
    for name in ("web", "cert"):
        sample = engine.state.sources[f"check:{name}"].sample
        assert sample is not None and sample.up, sample.error
        assert sample.cert_days_left == pytest.approx(
            days_until(tls_lab.intermediate.not_after), abs=0.01
        )
