"""The health checks: HTTP requests, TCP connects and TLS handshakes.

A target that is down, slow or refuses TLS is data: ``poll()`` returns a sample saying so
instead of raising. The check's own timeout bounds the whole poll (connect, TLS, headers and
the capped body read); the scheduler's outer timeout is only a safety net, which is why a
source's ``timeout`` is the check timeout plus a grace.

Request header values come from the config and may be secrets: they never reach a sample or
an error message.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from tui import __version__
from tui.engine.conditions import (
    Observation,
    conditions_for,
    evaluate,
    mask_header_value,
    parse_condition,
)
from tui.engine.config import Check, Settings
from tui.engine.errors import describe
from tui.engine.printable import printable
from tui.engine.samples import CertInfo, CheckSample
from tui.engine.sources import tls
from tui.engine.sources.asyncio_transport import HAPPY_EYEBALLS_DELAY, asyncio_client
from tui.engine.units import format_duration

BODY_CAP = 1024 * 1024
"""Bytes of a response body read at most; the rest is never downloaded."""
EXCERPT_CAP = 16 * 1024
"""Bytes of the body kept as text for the detail screen."""
MAX_IN_FLIGHT = 32
"""Checks polled at once across all clients, and the pool's size, so no request queues inside
httpcore, whose pool assignment grows quadratically with queued requests (1,000 checks at
once starve the event loop). More in flight adds no throughput on a busy loop, only latency:
measured with tests/perf/bench_checks.py, 100 gave fast checks a p99 of 1.3 s, 32 of 0.3 s."""
OUTER_GRACE = 1.0
"""Seconds the scheduler's timeout allows beyond the check's own, so ours fires first."""
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
_SECRET_MIN = 4
"""Header values at least this long are scrubbed from error messages."""
_ATTEMPT = re.compile(r"\[Errno (?P<errno>\d+)\] (?:Connect call failed \('(?P<address>[^']*)')?")
"""One address's failure in asyncio's ``Multiple exceptions: ...`` error."""
_CODEC_FAILED = re.compile(r"^encoding with '[\w-]+' codec failed \(\w+: (?P<reason>.*)\)$")
HOME = "watchdeck.home"
"""Request extension of a check that follows redirects: its URL and its own headers' names
(see ``headers_stay_home``)."""


async def headers_stay_home(request: httpx.Request) -> None:
    """A check's own headers go to its origin only: header values may be secrets (a token from
    ``${VAR}``), and a redirect to another host, port or scheme (an SSO login, a CDN) would
    hand them over. httpx drops Authorization and cookies there, no other header. The same
    host from http on port 80 to https on 443 is the same service: headers kept, as httpx
    keeps Authorization. The check's ``server_name`` is not the other host's either: that
    hop's TLS names and verifies its own host."""
    home = request.extensions.get(HOME)
    if home is None:
        return
    url, names = home
    if _same_service(url, request.url):
        return
    for name in names:
        request.headers.pop(name, None)
    if "sni_hostname" in request.extensions:  # a copy: the hops share the check's dict
        request.extensions = {
            key: value for key, value in request.extensions.items() if key != "sni_hostname"
        }


def _same_service(home: httpx.URL, url: httpx.URL) -> bool:
    if (home.scheme, home.host, _port(home)) == (url.scheme, url.host, _port(url)):
        return True
    upgrade = (home.scheme, _port(home), url.scheme, _port(url)) == ("http", 80, "https", 443)
    return home.host == url.host and upgrade


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def header_problem(name: str, value: str) -> str | None:
    """Why a request header cannot be sent, without repeating its value (it may be a secret)."""
    if not _HEADER_NAME.match(name):
        return f"header name {name!r} is not a valid HTTP header name"
    if not _HEADER_VALUE.match(value):
        return f"header {name}: the value has a line break, a control or a non-ASCII character"
    return None


def json_metric(path: str) -> Callable[[Observation], float | None]:
    """A reader of one number in the JSON body (``$.disk.free_pct``): the reading half of a
    ``json PATH exists`` condition, so a path means what it means in ``expect``. A boolean
    reads as 1 or 0, a numeric string as its number; anything else is no data."""
    text = path.strip()
    try:
        if not text.startswith("$"):
            raise ValueError
        condition = parse_condition(f"json {text} exists")
    except ValueError:
        raise ValueError(
            f'expected a JSON path such as $.disk.free_pct or $.items[0]["used %"], got {path!r}'
        ) from None

    def read(seen: Observation) -> float | None:
        value = condition.read(seen)
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
                return number if number == number and abs(number) != float("inf") else None
        return None

    return read


def resolve_path(path: str, base_dir: Path | None) -> Path:
    """``~`` expanded; relative paths are relative to the config file's directory."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (base_dir or Path.cwd()) / candidate


class CheckClients:
    """What the checks share: one httpx client and one SSL context per TLS setting.

    httpx fixes TLS verification per client, so checks are grouped by setting (verify with
    the default trust store, with a given CA file, or not at all) instead of each check
    getting a client of its own. A check's ``server_name`` is part of the setting: pooled
    connections are keyed by host and port only, so a connection opened for one name must
    not serve a check that verifies another.
    """

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.timeout
        self.admission = asyncio.Semaphore(MAX_IN_FLIGHT)
        """Entered by the scheduler before a check's time budget starts (see Source)."""
        self._contexts: dict[tuple[bool, Path | None], ssl.SSLContext] = {}
        self._clients: dict[tuple[bool, Path | None, str | None], httpx.AsyncClient] = {}

    def context(self, verify: bool, ca_file: Path | None = None) -> ssl.SSLContext:
        """The shared context for a setting; a ValueError when the CA file cannot be loaded."""
        key = (verify, ca_file if verify else None)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = tls.client_context(*key)
        return context

    def client(
        self, verify: bool, ca_file: Path | None = None, server_name: str | None = None
    ) -> httpx.AsyncClient:
        key = (verify, ca_file if verify else None, server_name)
        client = self._clients.get(key)
        if client is None:
            limits = httpx.Limits(
                max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
            )
            client = self._clients[key] = asyncio_client(
                self.context(verify, ca_file),
                limits,
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                headers={"User-Agent": f"watchdeck/{__version__}"},
                event_hooks={"request": [headers_stay_home]},
            )
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def check_source(
    check: Check, settings: Settings, clients: CheckClients, base_dir: Path | None = None
) -> HttpCheckSource | TcpCheckSource | TlsCheckSource:
    if check.kind == "tcp":
        return TcpCheckSource(check, settings, clients.admission)
    if check.kind == "tls":
        return TlsCheckSource(check, settings, clients, base_dir)
    return HttpCheckSource(check, settings, clients, base_dir)


# --- errors ----------------------------------------------------------------------------------
def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def _failed_verification(exc: BaseException) -> bool:
    return any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _chain(exc))


def describe_transport_error(
    exc: BaseException,
    host: str,
    timeout: float,
    chain: tuple[CertInfo, ...] = (),
    now: float | None = None,
    server_name: str | None = None,
) -> str:
    """One line for a failure to reach a target: refused, DNS, TLS, timeout, protocol.

    ``chain`` (the certificates, if they could be fetched) and ``server_name`` (the name the
    certificate had to match, ``host`` by default) make TLS messages precise.
    """
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, TimeoutError | httpx.TimeoutException):
            return f"timed out after {format_duration(timeout)}"
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            when = time.time() if now is None else now
            return tls.describe_tls_error(cause, server_name or host, chain, when)
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for {host}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and (attempts := _attempts_failed(cause)):
            return attempts
        if isinstance(cause, UnicodeError):
            match = _CODEC_FAILED.match(str(cause))
            reason = match["reason"] if match else str(cause)
            return printable(f"invalid host name: {reason[:1].lower()}{reason[1:]}")
        if isinstance(cause, httpx.TooManyRedirects):
            return "too many redirects"
        if isinstance(cause, httpx.LocalProtocolError):
            return "invalid request: a header or the body cannot be sent as HTTP/1.1"
        if isinstance(cause, httpx.RemoteProtocolError):
            return f"protocol error: {describe(cause).rstrip('.').lower()}"
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return describe(cause)
    return describe(exc)


def _attempts_failed(exc: OSError) -> str | None:
    """asyncio's error when each address of a host failed, of which Python 3.11 keeps only the
    text: the reason when all gave the same (``connection refused``), else each reason once
    with the first address that gave it."""
    text = str(exc)
    if exc.errno is not None or not text.startswith("Multiple exceptions: "):
        return None
    reasons: dict[str, str | None] = {}
    for attempt in _ATTEMPT.finditer(text):
        reasons.setdefault(os.strerror(int(attempt["errno"])).lower(), attempt["address"])
    if len(reasons) < 2:
        return next(iter(reasons), None)
    return ", ".join(
        f"{reason} ({address})" if address else reason for reason, address in reasons.items()
    )


def _unbracketed(host: str) -> str:
    """``::1`` for ``[::1]``, the URL form of an IPv6 address, which no resolver takes."""
    if host.startswith("[") and host.endswith("]"):
        with contextlib.suppress(ValueError):
            return str(ipaddress.IPv6Address(host[1:-1]))
    return host


# --- sources ---------------------------------------------------------------------------------
class _CheckSource:
    section = "check"
    kind: str

    def __init__(
        self, check: Check, settings: Settings, admission: asyncio.Semaphore | None = None
    ) -> None:
        self.admission = admission
        self.check = check
        self.id = f"check:{check.name}"
        self.name = check.name
        self.interval = float(check.interval or settings.interval)
        self.check_timeout = float(check.timeout or settings.timeout)
        self.timeout = self.check_timeout + OUTER_GRACE
        self.conditions = conditions_for(check)

    def _result(self, at: float, seen: Observation, **fields: object) -> CheckSample:
        results = evaluate(self.conditions, seen)
        failed = tuple(result.message for result in results if result.ok is not True)
        return CheckSample(
            name=self.name,
            kind=self.kind,
            at=at,
            up=not failed,
            status="ok" if not failed else self.check.severity,
            latency_ms=seen.latency_ms,
            conditions=results,
            failed_conditions=failed,
            **fields,
        )

    def _down(self, at: float, error: str, chain: tuple[CertInfo, ...] = ()) -> CheckSample:
        return CheckSample(
            name=self.name,
            kind=self.kind,
            at=at,
            up=False,
            status=self.check.severity,
            error=error,
            cert_chain=chain,
            cert_days_left=tls.days_left(chain, at),
        )

    async def _down_after(
        self,
        exc: BaseException,
        at: float,
        deadline: float,
        host: str,
        port: int,
        server_name: str,
        clients: CheckClients,
    ) -> CheckSample:
        """A down sample for ``exc``; a certificate that failed verification is fetched again,
        unverified, so the message can say what the certificate is and the sample can carry
        its chain (an expired certificate still has a days-left figure)."""
        chain: tuple[CertInfo, ...] = ()
        if _failed_verification(exc):
            with contextlib.suppress(OSError):
                async with asyncio.timeout_at(deadline):
                    ders = await tls.handshake(host, port, clients.context(False), server_name)
                chain = tls.cert_infos(ders)
        error = describe_transport_error(
            exc, host, self.check_timeout, chain, at, server_name=server_name
        )
        return self._down(at, error, chain)

    async def aclose(self) -> None:
        """Connections belong to the shared clients (the engine closes them) or to one poll."""


class HttpCheckSource(_CheckSource):
    kind = "http"

    def __init__(
        self,
        check: Check,
        settings: Settings,
        clients: CheckClients,
        base_dir: Path | None = None,
    ) -> None:
        try:
            url = httpx.URL(check.url or "")
        except httpx.InvalidURL as exc:
            raise ValueError(f"check {check.name!r}: invalid url: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"check {check.name!r}: an http check needs an http(s) url")
        for name, value in check.headers.items():
            if problem := header_problem(name, value):
                raise ValueError(f"check {check.name!r}: {problem}")
        super().__init__(check, settings, clients.admission)
        self.url = url
        self.clients = clients
        self.ca_file = resolve_path(check.ca_file, base_dir) if check.ca_file else None
        self.tls: tuple[bool, Path | None, str | None] = (
            (check.verify_tls, self.ca_file, check.server_name)
            if url.scheme == "https" or check.follow_redirects
            else (False, None, None)
        )
        """The client's TLS setting. A plain HTTP check that follows no redirect shares the one
        that loads no trust store (loading it is 20 ms of every start, and such a check never
        uses it); one that follows redirects is verified where they lead (http to https)."""
        self.extensions: dict[str, Any] = {}
        if check.server_name:
            self.extensions["sni_hostname"] = check.server_name
        if check.follow_redirects:
            self.extensions[HOME] = (url, tuple(check.headers))
        self._secrets = sorted(
            (value for value in check.headers.values() if len(value) >= _SECRET_MIN),
            key=len,
            reverse=True,
        )
        try:
            self.metric_readers = {name: json_metric(path) for name, path in check.metrics.items()}
        except ValueError as exc:
            raise ValueError(f"check {check.name!r}: {exc}") from None

    async def poll(self) -> CheckSample:
        at = time.time()
        deadline = asyncio.get_running_loop().time() + self.check_timeout
        started = time.perf_counter()
        try:
            client = self.clients.client(*self.tls)
        except ValueError as exc:
            return self._down(at, str(exc))
        try:
            async with asyncio.timeout_at(deadline):
                request = client.build_request(
                    self.check.method,
                    self.url,
                    headers=self.check.headers,
                    content=self.check.body,
                    timeout=self.check_timeout,
                    extensions=self.extensions,
                )
                response = await client.send(
                    request, follow_redirects=self.check.follow_redirects, stream=True
                )
                try:
                    ders = _peer_chain(response)
                    body, truncated = await read_capped(response, BODY_CAP)
                finally:
                    await response.aclose()
        except (OSError, httpx.HTTPError, UnicodeError) as exc:
            url = _request_url(exc) or self.url
            home = _same_service(self.url, url)  # a redirect elsewhere is verified by its host
            sample = await self._down_after(
                exc,
                at,
                deadline,
                url.host,
                _port(url),
                (self.check.server_name if home else None) or url.host,
                self.clients,
            )
            return _scrubbed(sample, self._secrets)
        latency_ms = (time.perf_counter() - started) * 1000.0
        chain = tls.cert_infos(ders)
        days_left = tls.days_left(chain, at)
        encoding = _encoding(response.charset_encoding)
        seen = Observation(
            latency_ms=latency_ms,
            http_status=response.status_code,
            headers=_grouped(response.headers),
            body=body,
            encoding=encoding,
            cert_days_left=days_left,
        )
        return self._result(
            at,
            seen,
            http_status=response.status_code,
            headers=tuple(
                (printable(name), printable(mask_header_value(name, value)))
                for name, value in _raw(response.headers)
            ),
            body_excerpt=_excerpt(body, encoding),
            body_bytes=len(body),
            body_truncated=truncated,
            cert_chain=chain,
            cert_days_left=days_left,
            json_metrics=tuple((name, read(seen)) for name, read in self.metric_readers.items()),
        )


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """The decoded body up to ``cap`` bytes, and whether there was more (never downloaded).

    Memory stays at ``cap`` plus one network chunk however large the body is.
    """
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        received += len(chunk)
        if received > cap:
            break
    return b"".join(chunks)[:cap], received > cap


def _peer_chain(response: httpx.Response) -> tuple[bytes, ...]:
    """The certificates of an https response's connection, read while it is still open."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    return tls.presented_chain(ssl_object) if ssl_object is not None else ()


def _request_url(exc: BaseException) -> httpx.URL | None:
    """The URL that failed (after redirects it is not the configured one)."""
    try:
        return exc.request.url
    except (AttributeError, RuntimeError):
        return None


def _encoding(charset: str | None) -> str:
    if charset:
        with contextlib.suppress(LookupError):
            return codecs.lookup(charset).name
    return "utf-8"


def _raw(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Headers as received: names in their own case, repeated headers kept apart."""
    return [
        (name.decode(headers.encoding), value.decode(headers.encoding))
        for name, value in headers.raw
    ]


def _grouped(headers: httpx.Headers) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, tuple[str, ...]] = {}
    for name, value in headers.multi_items():
        grouped[name] = (*grouped.get(name, ()), value)
    return grouped


def _excerpt(body: bytes, encoding: str) -> str | None:
    """The start of the body as text; ``None`` for a binary body (a NUL byte in it)."""
    head = body[:EXCERPT_CAP]
    if b"\x00" in head:
        return None
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return printable(decoder.decode(head, final=len(body) <= EXCERPT_CAP))


def _scrubbed(sample: CheckSample, secrets: list[str]) -> CheckSample:
    """The sample with any request header value masked out of its error."""
    error = sample.error
    if not error or not secrets:
        return sample
    for secret in secrets:
        error = error.replace(secret, "***")
    return replace(sample, error=error)


class TcpCheckSource(_CheckSource):
    """Up when a TCP connection opens; only latency conditions apply."""

    kind = "tcp"

    def __init__(
        self, check: Check, settings: Settings, admission: asyncio.Semaphore | None = None
    ) -> None:
        if not check.host or not check.port:
            raise ValueError(f"check {check.name!r}: a tcp check needs host and port")
        super().__init__(check, settings, admission)
        self.host = _unbracketed(check.host)
        self.port = check.port

    async def poll(self) -> CheckSample:
        at = time.time()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.check_timeout):
                _, writer = await asyncio.open_connection(
                    self.host, self.port, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY
                )
        except (OSError, UnicodeError) as exc:
            return self._down(at, describe_transport_error(exc, self.host, self.check_timeout))
        latency_ms = (time.perf_counter() - started) * 1000.0
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return self._result(at, Observation(latency_ms=latency_ms))


class TlsCheckSource(_CheckSource):
    """A TLS handshake: up when it succeeds (verified unless ``verify_tls: false``); the sample
    carries the presented chain and the days until its earliest expiry."""

    kind = "tls"

    def __init__(
        self,
        check: Check,
        settings: Settings,
        clients: CheckClients,
        base_dir: Path | None = None,
    ) -> None:
        if not check.host:
            raise ValueError(f"check {check.name!r}: a tls check needs host")
        super().__init__(check, settings, clients.admission)
        self.host = _unbracketed(check.host)
        self.port = check.port or 443
        self.server_name = check.server_name or self.host
        self.clients = clients
        self.ca_file = resolve_path(check.ca_file, base_dir) if check.ca_file else None

    async def poll(self) -> CheckSample:
        at = time.time()
        deadline = asyncio.get_running_loop().time() + self.check_timeout
        started = time.perf_counter()
        try:
            context = self.clients.context(self.check.verify_tls, self.ca_file)
        except ValueError as exc:
            return self._down(at, str(exc))
        try:
            async with asyncio.timeout_at(deadline):
                ders = await tls.handshake(self.host, self.port, context, self.server_name)
        except (OSError, UnicodeError) as exc:
            return await self._down_after(
                exc, at, deadline, self.host, self.port, self.server_name, self.clients
            )
        latency_ms = (time.perf_counter() - started) * 1000.0
        chain = tls.cert_infos(ders)
        days_left = tls.days_left(chain, at)
        seen = Observation(latency_ms=latency_ms, cert_days_left=days_left)
        return self._result(at, seen, cert_chain=chain, cert_days_left=days_left)
