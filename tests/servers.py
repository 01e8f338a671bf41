"""Real HTTP(S) servers on 127.0.0.1 for the tests, each on its own event loop in a thread.

A thread keeps them serving whatever the test does meanwhile: async tests on pytest's loop,
sync tests, or a ``watchdeck`` subprocess.

Endpoints: ``/ok`` (200 JSON), ``/status/<code>``, ``/slow?ms=N``, ``/hang`` (never answers),
``/big`` (streams 20 MiB), ``/redirect`` (302 to ``/ok``); anything else is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

BIG_BODY = 20 * 1024 * 1024
_CHUNK = b"x" * 65536
_NO_BODY = {204, 304}


class TlsEndpoint(NamedTuple):
    url: str
    ca_file: str
    """PEM file of the CA that signed the server's certificate."""


class HttpServer:
    """Serves the test endpoints until ``stop()``; ``start()`` returns the base URL."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def start(self) -> str:
        self._loop.set_exception_handler(_quiet_about_disconnects)
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await _answer(reader, writer):
                pass
        except (ConnectionError, ssl.SSLError, EOFError, asyncio.LimitOverrunError, ValueError):
            pass  # the client hung up, or sent something that is not a request
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Answer one request; ``False`` when the client is gone or asked to close."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines if line)
    }
    if length := int(headers.get("content-length", "0")):
        await reader.readexactly(length)
    keep_alive = headers.get("connection", "").lower() != "close"
    url = urlsplit(target)
    path, query = url.path, parse_qs(url.query)

    if path == "/ok":
        await _respond(writer, 200, {"status": "ok"}, keep_alive)
    elif path.startswith("/status/") and path[8:].isdigit() and 200 <= int(path[8:]) <= 599:
        await _respond(writer, int(path[8:]), {"status": int(path[8:])}, keep_alive)
    elif path == "/slow":
        await asyncio.sleep(int(query.get("ms", ["0"])[0]) / 1000)
        await _respond(writer, 200, {"status": "ok"}, keep_alive)
    elif path == "/hang":
        await asyncio.Future()
    elif path == "/big":
        await _stream_big(writer, method == "HEAD")
    elif path == "/redirect":
        await _respond(writer, 302, {"location": "/ok"}, keep_alive, {"Location": "/ok"})
    else:
        await _respond(writer, 404, {"error": "not found"}, keep_alive)
    return keep_alive


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    payload: object,
    keep_alive: bool,
    extra: dict[str, str] | None = None,
) -> None:
    body = b"" if status in _NO_BODY else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **(extra or {})}
    if status not in _NO_BODY:
        headers["Content-Length"] = str(len(body))
    if not keep_alive:
        headers["Connection"] = "close"
    writer.write(_head(status, headers) + body)
    await writer.drain()


async def _stream_big(writer: asyncio.StreamWriter, head_only: bool) -> None:
    writer.write(
        _head(200, {"Content-Type": "application/octet-stream", "Content-Length": str(BIG_BODY)})
    )
    if not head_only:
        for _ in range(BIG_BODY // len(_CHUNK)):
            writer.write(_CHUNK)
            await writer.drain()
    await writer.drain()


def _head(status: int, headers: dict[str, str]) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _quiet_about_disconnects(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Clients that reject our certificate or hang up mid-body are expected here."""
    if isinstance(context.get("exception"), ssl.SSLError | ConnectionError):
        return
    loop.default_exception_handler(context)


def closed_port() -> tuple[socket.socket, int]:
    """A port on 127.0.0.1 that refuses connections while the returned socket stays open.

    The socket is bound but never listens, so the kernel answers connects with a reset and
    no other process can take the port meanwhile.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]
