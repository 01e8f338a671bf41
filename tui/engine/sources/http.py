"""HTTP and TCP health checks.

A target that is down, slow or refuses TLS is data: ``poll()`` returns a sample saying so
instead of raising. The check's own timeout is enforced here; the scheduler's outer timeout
is only a safety net, which is why a source's ``timeout`` is the check timeout plus a grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from tui import __version__
from tui.engine.config import Check, Settings
from tui.engine.errors import describe
from tui.engine.samples import CheckSample
from tui.engine.units import format_duration, parse_duration

BODY_CAP = 1024 * 1024
"""Bytes of a response body read at most; the rest is never downloaded."""
OUTER_GRACE = 1.0
"""Seconds the scheduler's timeout allows beyond the check's own, so ours fires first."""

_STATUS_CODE = re.compile(r"^\s*status\s*(==|!=)\s*(\d{3})\s*$", re.I)
_STATUS_CLASS = re.compile(r"^\s*status\s*(==|!=)\s*([1-5])xx\s*$", re.I)
_STATUS_IN = re.compile(r"^\s*status\s+in\s*\[\s*(\d{3}(?:\s*,\s*\d{3})*)\s*,?\s*\]\s*$", re.I)
_LATENCY = re.compile(r"^\s*latency\s*(<=|>=|<|>)\s*(\S+)\s*$", re.I)
_HAS_UNIT = re.compile(r"[a-z]\s*$", re.I)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_SUPPORTED = (
    "status == 200, status != 500, status == 2xx, status in [200, 204], "
    "latency < 500ms (also <=, >, >=)"
)


class WatchdeckClient(httpx.AsyncClient):
    """The shared client (verifies TLS) plus a lazily created twin that does not.

    httpx fixes TLS verification per client, so checks with ``verify_tls: false`` share a
    second client instead of each getting their own.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._options = options
        self._unverified: httpx.AsyncClient | None = None

    def for_tls(self, verify: bool) -> httpx.AsyncClient:
        if verify:
            return self
        if self._unverified is None:
            self._unverified = httpx.AsyncClient(**{**self._options, "verify": False})
        return self._unverified

    async def aclose(self) -> None:
        if self._unverified is not None:
            await self._unverified.aclose()
        await super().aclose()


def make_http_client(settings: Settings) -> WatchdeckClient:
    return WatchdeckClient(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        timeout=httpx.Timeout(settings.timeout),
        follow_redirects=False,
        headers={"User-Agent": f"watchdeck/{__version__}"},
    )


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed ``expect`` line: ``subject op expected``, tested against a number."""

    subject: Literal["status", "latency"]
    op: str
    expected: str
    """The right-hand side as the user wrote it, for messages."""
    holds: Callable[[float], bool]

    def failure(self, http_status: int | None, latency_ms: float) -> str | None:
        """``None`` when the condition holds, else the condition with its actual value."""
        if self.subject == "latency":
            actual, shown = latency_ms, f"{latency_ms:.0f}ms"
        else:
            actual, shown = http_status, str(http_status)
        if actual is not None and self.holds(actual):
            return None
        return f"{self.subject} ({shown}) {self.op} {self.expected}"


def evaluate(
    conditions: tuple[Condition, ...], http_status: int | None, latency_ms: float
) -> tuple[str, ...]:
    """The failed conditions, each with its actual value."""
    return tuple(
        failure
        for condition in conditions
        if (failure := condition.failure(http_status, latency_ms)) is not None
    )


def parse_condition(text: str) -> Condition:
    """Parse one condition; a ValueError names the supported forms."""
    if match := _STATUS_CODE.match(text):
        op, code = match[1], int(match[2])
        return Condition("status", op, match[2], lambda s: _COMPARE[op](s, code))
    if match := _STATUS_CLASS.match(text):
        op, klass = match[1], int(match[2])
        return Condition("status", op, f"{klass}xx", lambda s: _COMPARE[op](s // 100, klass))
    if match := _STATUS_IN.match(text):
        codes = frozenset(int(code) for code in match[1].split(","))
        listed = ", ".join(str(code) for code in sorted(codes))
        return Condition("status", "in", f"[{listed}]", lambda s: s in codes)
    if match := _LATENCY.match(text):
        op, written = match[1], match[2]
        if not _HAS_UNIT.search(written):
            raise ValueError(f"condition {text!r}: give the latency a unit, e.g. 500ms or 2s")
        limit_ms = parse_duration(written) * 1000.0
        return Condition("latency", op, written, lambda ms: _COMPARE[op](ms, limit_ms))
    raise ValueError(f"unsupported condition {text!r}; supported forms: {_SUPPORTED}")


def _parse_conditions(name: str, expect: list[str]) -> tuple[Condition, ...]:
    try:
        return tuple(parse_condition(text) for text in expect)
    except ValueError as exc:
        raise ValueError(f"check {name!r}: {exc}") from None


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


def describe_transport_error(exc: BaseException, host: str, timeout: float) -> str:
    """One line for a failure to reach a target: refused, DNS, TLS or timeout."""
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, TimeoutError | httpx.TimeoutException):
            return f"timed out after {format_duration(timeout)}"
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: certificate verify failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS: {(cause.reason or str(cause)).lower().replace('_', ' ')}"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for {host}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return describe(cause)
    return describe(exc)


def _check_timeout(check: Check, settings: Settings) -> float:
    return float(check.timeout or settings.timeout)


class HttpCheckSource:
    section = "check"
    kind = "http"

    def __init__(self, check: Check, settings: Settings, client: WatchdeckClient) -> None:
        try:
            url = httpx.URL(check.url or "")
        except httpx.InvalidURL as exc:
            raise ValueError(f"check {check.name!r}: invalid url: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"check {check.name!r}: an http check needs an http(s) url")
        self.check = check
        self.id = f"check:{check.name}"
        self.name = check.name
        self.interval = float(check.interval or settings.interval)
        self.check_timeout = _check_timeout(check, settings)
        self.timeout = self.check_timeout + OUTER_GRACE
        self.conditions = _parse_conditions(check.name, check.expect or ["status == 2xx"])
        self.url = url
        self.client = client

    async def poll(self) -> CheckSample:
        at = time.time()
        started = time.perf_counter()
        client = self.client.for_tls(self.check.verify_tls)
        try:
            async with asyncio.timeout(self.check_timeout):
                request = client.build_request(
                    self.check.method, self.url, timeout=self.check_timeout
                )
                response = await client.send(request, stream=True)
                try:
                    await read_capped(response, BODY_CAP)
                finally:
                    await response.aclose()
        except (OSError, httpx.HTTPError) as exc:
            error = describe_transport_error(exc, self.url.host, self.check_timeout)
            return self._down(at, error)
        latency_ms = (time.perf_counter() - started) * 1000.0
        failed = evaluate(self.conditions, response.status_code, latency_ms)
        return CheckSample(
            name=self.name,
            kind="http",
            at=at,
            up=not failed,
            status="ok" if not failed else self.check.severity,
            latency_ms=latency_ms,
            http_status=response.status_code,
            failed_conditions=failed,
        )

    def _down(self, at: float, error: str) -> CheckSample:
        return CheckSample(
            name=self.name, kind="http", at=at, up=False, status=self.check.severity, error=error
        )

    async def aclose(self) -> None:
        """The client is shared; the engine closes it."""


async def read_capped(response: httpx.Response, cap: int) -> None:
    """Read the body (undecoded) up to ``cap`` bytes, so latency covers the transfer."""
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received >= cap:
            return


class TcpCheckSource:
    """Up when a TCP connection opens; only latency conditions apply."""

    section = "check"
    kind = "tcp"

    def __init__(self, check: Check, settings: Settings) -> None:
        if not check.host or not check.port:
            raise ValueError(f"check {check.name!r}: a tcp check needs host and port")
        self.check = check
        self.id = f"check:{check.name}"
        self.name = check.name
        self.host = check.host
        self.port = check.port
        self.interval = float(check.interval or settings.interval)
        self.check_timeout = _check_timeout(check, settings)
        self.timeout = self.check_timeout + OUTER_GRACE
        self.conditions = _parse_conditions(check.name, check.expect)
        if any(condition.subject == "status" for condition in self.conditions):
            raise ValueError(f"check {check.name!r}: a tcp check has no status to test")

    async def poll(self) -> CheckSample:
        at = time.time()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.check_timeout):
                _, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            error = describe_transport_error(exc, self.host, self.check_timeout)
            return CheckSample(
                name=self.name, kind="tcp", at=at, up=False, status=self.check.severity, error=error
            )
        latency_ms = (time.perf_counter() - started) * 1000.0
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        failed = evaluate(self.conditions, None, latency_ms)
        return CheckSample(
            name=self.name,
            kind="tcp",
            at=at,
            up=not failed,
            status="ok" if not failed else self.check.severity,
            latency_ms=latency_ms,
            failed_conditions=failed,
        )

    async def aclose(self) -> None:
        """Nothing is kept open between polls."""
