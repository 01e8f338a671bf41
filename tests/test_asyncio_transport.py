"""httpx on asyncio's own sockets (the checks' transport), against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import trustme
from servers import MIB, TlsEndpoint

from tui.engine.config import Settings
from tui.engine.sources.asyncio_transport import READ_LIMIT, AsyncioStream, AsyncioTransport
from tui.engine.sources.http import CheckClients

LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def client(context: ssl.SSLContext | None = None, timeout: float = 5.0) -> httpx.AsyncClient:
    context = context or ssl.create_default_context()
    return httpx.AsyncClient(
        transport=AsyncioTransport(context, LIMITS), timeout=httpx.Timeout(timeout)
    )


def causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it came from (httpcore's pool re-raises ``from None``)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


@contextlib.asynccontextmanager
async def serving(serve: Serve, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A server on this test's loop, for conversations the shared test server does not have."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def test_the_checks_clients_use_it(http_server: str) -> None:
    clients = CheckClients(Settings(interval=5.0, timeout=2.0))
    try:
        response = await clients.client(verify=True).get(f"{http_server}/ok")
        assert response.status_code == 200
        assert isinstance(response.extensions["network_stream"], AsyncioStream)
    finally:
        await clients.aclose()


async def test_keeps_the_connection_alive_between_requests(http_server: str) -> None:
    async with client() as http:
        first = await http.get(f"{http_server}/ok")
        second = await http.get(f"{http_server}/ok")
    streams = [response.extensions["network_stream"] for response in (first, second)]
    assert first.json() == second.json() == {"status": "ok"}
    assert streams[0].get_extra_info("client_addr") == streams[1].get_extra_info("client_addr")


async def test_https_peer_certificate_stays_readable_after_close(
    https_server: TlsEndpoint,
) -> None:
    async with client(ssl.create_default_context(cafile=https_server.ca_file)) as http:
        response = await http.get(f"{https_server.url}/ok")
    assert response.status_code == 200
    ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
    assert isinstance(ssl_object, ssl.SSLObject)


async def test_body_ended_by_close_without_tls_close_notify() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    body = b"y" * 300_000

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.transport.abort()  # the socket closes under TLS: a "ragged" end

    async with serving(serve, server_context) as port, client(client_context) as http:
        response = await http.get(f"https://127.0.0.1:{port}/")
    assert response.content == body
    stream = response.extensions["network_stream"]  # the TLS transport is gone by now
    assert isinstance(stream.get_extra_info("ssl_object"), ssl.SSLObject)


async def test_an_idle_connection_the_server_spoke_on_is_not_reused() -> None:
    """Servers may send a 408 on an idle keep-alive connection and close it; the next request
    must go out on a new connection, not read that 408 as its answer."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)  # bytes waiting, the connection still open
        writer.close()

    async with serving(serve) as port, client() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200
        await asyncio.sleep(0.2)
        assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200
    assert connections == 2


async def test_a_silent_server_is_a_read_timeout(silent_server: tuple[str, int]) -> None:
    host, port = silent_server
    async with client(timeout=0.3) as http:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://{host}:{port}/")
    assert 0.3 <= time.monotonic() - started < 2.0


async def test_a_refused_connection_keeps_its_errno(refused_url: str) -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as raised:
            await http.get(refused_url)
    errnos = [getattr(cause, "errno", None) for cause in causes(raised.value)]
    assert errno.ECONNREFUSED in errnos


async def test_a_slow_reader_holds_a_bounded_amount(http_server: str) -> None:
    async with client() as http, http.stream("GET", f"{http_server}/big?mb=8") as response:
        chunks = response.aiter_raw()
        received = len(await anext(chunks))
        await asyncio.sleep(0.5)  # the server keeps sending meanwhile
        held = len(response.extensions["network_stream"]._connection.received)
        async for chunk in chunks:
            received += len(chunk)
    assert held <= 2 * READ_LIMIT
    assert received == 8 * MIB


async def test_a_large_body_is_sent_as_the_server_reads_it(http_server: str) -> None:
    async with client() as http:
        response = await http.post(f"{http_server}/echo", content=b"z" * (2 * MIB))
    assert len(response.json()["body"]) == 2 * MIB


async def test_a_server_that_never_reads_is_a_write_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # never accepts: the kernel's buffers fill
    port = listener.getsockname()[1]
    try:
        async with client(timeout=0.5) as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.post(f"http://127.0.0.1:{port}/", content=b"w" * (64 * MIB))
    finally:
        listener.close()
