"""httpx's transport on asyncio's own sockets: the same httpcore pool, another network backend.

httpx reaches the network through httpcore's anyio backend. On asyncio, anyio opens a cancel
scope for every read and write and, each time the pool asks whether an idle connection is
still usable, rebuilds a dict of socket attributes (calling ``getpeername``) to find the raw
socket. That was about a quarter of the CPU a health check costs (740 -> 530 us a request on
a local server, five in flight), and it grows with the pool: a large config paid it once per
idle connection for every request that came or went. The backend here implements httpcore's
public ``AsyncNetworkBackend`` on an asyncio ``Protocol``; the transport is httpx's documented
custom-transport interface around an ``httpcore.AsyncConnectionPool`` that uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import httpcore
import httpx

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""httpx's default pool limits."""
READ_LIMIT = 256 * 1024
"""Bytes held for a reader before the socket stops being read (a body read slowly, or never)."""
HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds a connect waits on one address of a host before racing the next (as anyio): without
it a name whose IPv6 address is filtered times out on that address. Every check uses it."""

_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
"""httpcore's errors as httpx raises them, the most specific first (as httpx's transport)."""
_CORE_ERRORS = tuple(core for core, _ in _EXCEPTIONS)


class _Connection(asyncio.Protocol):
    """What arrived on one connection, and whether the peer is gone."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.closed = False
        self.error: Exception | None = None
        self.reading_paused = False
        self.writing_paused = False
        self._waiter: asyncio.Future[bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) > READ_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    async def wait(self, timeout: float | None) -> bool:
        """Until something arrives, the peer closes or writing may go on; False on timeout."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _settle, waiter, False)
        try:
            return await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def take(self, most: int) -> bytes:
        data = bytes(self.received[:most])
        del self.received[:most]
        if self.reading_paused and len(self.received) <= READ_LIMIT // 2:
            assert self.transport is not None
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter, True)


def _settle(waiter: asyncio.Future[bool], woken: bool) -> None:
    if not waiter.done():
        waiter.set_result(woken)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection
        self._extra = {  # read now: a closed TLS transport raises on get_extra_info
            info: transport.get_extra_info(name)
            for info, name in (
                ("ssl_object", "ssl_object"),
                ("client_addr", "sockname"),
                ("server_addr", "peername"),
                ("socket", "socket"),
            )
        }

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        while not connection.received and not connection.closed:
            if not await connection.wait(timeout):
                raise httpcore.ReadTimeout("timed out reading")
        if connection.received:
            return connection.take(max_bytes)
        if connection.error is not None:
            raise httpcore.ReadError(connection.error) from connection.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        connection = self._connection
        if connection.closed or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed") from connection.error
        self._transport.write(buffer)
        while connection.writing_paused and not connection.closed:
            if not await connection.wait(timeout):
                raise httpcore.WriteTimeout("timed out writing")

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            with _connect_errors():
                async with asyncio.timeout(timeout):
                    transport = await loop.start_tls(
                        self._transport,
                        self._connection,
                        ssl_context,
                        server_hostname=server_hostname,
                    )
        except BaseException:
            self._transport.close()
            raise
        assert transport is not None
        self._connection.transport = transport  # type: ignore[assignment]
        return AsyncioStream(transport, self._connection)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle connection with bytes waiting, or gone: not reusable
            return bool(self._connection.received) or self._connection.closed
        return self._extra.get(info)


@contextlib.contextmanager
def _connect_errors() -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(exc) from exc
    except OSError as exc:  # ssl.SSLError too
        raise httpcore.ConnectError(exc) from exc


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        with _connect_errors():
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_connection(
                    _Connection,
                    host,
                    port,
                    local_addr=None if local_address is None else (local_address, 0),
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                )
            for option in socket_options or ():
                transport.get_extra_info("socket").setsockopt(*option)
        return AsyncioStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except _CORE_ERRORS as exc:
        mapped = next(mapped for core, mapped in _EXCEPTIONS if isinstance(exc, core))
        raise mapped(str(exc)) from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class AsyncioTransport(httpx.AsyncBaseTransport):
    """httpx's ``AsyncHTTPTransport`` (HTTP/1.1, no retries) on :class:`AsyncioBackend`."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: httpx stores what an answer sets through ``extract_cookies``."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Dropped."""


class CookielessClient(httpx.AsyncClient):
    """An httpx client that keeps no cookies, so every poll is a fresh client (curl without a
    cookie jar): a cookie an answer sets is never sent back, not on its redirect, not by a
    later poll. httpx keeps one jar per client, and one client serves every check with the
    same TLS setting: a cookie one server set was sent by every later check on that host, a
    session from one check's login authenticating another. A cookie a check names in its
    headers goes with its request (httpx leaves it off the redirects)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies


def asyncio_client(
    ssl_context: ssl.SSLContext, limits: httpx.Limits = LIMITS, **options: Any
) -> httpx.AsyncClient:
    """A cookieless httpx client on :class:`AsyncioTransport` (checks, runbook HTTP steps,
    queue and alert APIs); ``ssl_context`` and ``limits`` also serve a proxy taken from the
    environment, which httpx mounts on its own transport."""
    transport = AsyncioTransport(ssl_context, limits)
    return CookielessClient(transport=transport, verify=ssl_context, limits=limits, **options)
