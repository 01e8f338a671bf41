"""Real HTTP(S) servers on 127.0.0.1 for the tests, each on its own event loop in a thread.

A thread keeps them serving whatever the test does meanwhile: async tests on pytest's loop,
sync tests, or a ``watchdeck`` subprocess.

Endpoints: ``/ok`` (200 JSON), ``/status/<code>``, ``/slow?ms=N``, ``/hang`` (never answers),
``/big?mb=N`` (streams N MiB, 20 by default), ``/trickle?bytes=N`` (a byte every 200 ms),
``/redirect`` (302 to ``/ok``), ``/redirect/loop`` (302 to itself), ``/redirect/cookie``
(302 to ``/echo``, setting a cookie), ``/redirect/to?url=U`` (302 to ``U``), ``/json/nested``,
``/json/degraded``, ``/json/invalid``, ``/headers/secure`` and ``/headers/bare`` (security
headers present / absent; ``secure`` sets a cookie), ``/text`` (plain text), ``/hostile``
(escape sequences in the body and a header), ``/binary``,
``/echo`` (the method, body, ``X-Probe`` and ``Cookie`` headers it got, as JSON); anything
else is 404.

``SilentServer`` accepts connections and never says a word. ``TlsLab`` runs HTTPS servers whose
certificates are good or go wrong in the common ways, all made here with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MIB = 1024 * 1024
BIG_BODY = 20 * MIB
TRICKLE_EVERY = 0.2
_CHUNK = b"x" * 65536
_NO_BODY = {204, 304}
NESTED = {
    "status": "ok",
    "version": "1.4.2",
    "system": {"memory": {"used_pct": 42.5}, "disk": {"free_ratio": 0.04}},
    "items": [{"id": 7, "name": "first"}, {"id": 8, "name": "second"}],
    "ready": True,
    "maintenance": None,
    "odd key": "spaced",
}
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Set-Cookie": "session=s3cr3t-cookie; Path=/; Secure; HttpOnly",
}


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
            await self._converse(reader, writer)
        except (ConnectionError, ssl.SSLError, EOFError, asyncio.LimitOverrunError, ValueError):
            pass  # the client hung up, or sent something that is not a request
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _answer(reader, writer):
            pass


class SilentServer(HttpServer):
    """Accepts connections, reads whatever comes, and never answers (not even a TLS hello)."""

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass

    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port


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
    body = b""
    if length := int(headers.get("content-length", "0")):
        body = await reader.readexactly(length)
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
        size = int(float(query.get("mb", [BIG_BODY / MIB])[0]) * MIB)
        await _stream_big(writer, size, method == "HEAD")
    elif path == "/trickle":
        await _trickle(writer, int(query.get("bytes", ["50"])[0]))
    elif path == "/redirect":
        await _respond(writer, 302, {"location": "/ok"}, keep_alive, {"Location": "/ok"})
    elif path == "/redirect/loop":
        await _respond(writer, 302, {}, keep_alive, {"Location": "/redirect/loop"})
    elif path == "/redirect/to":
        moved = {"Location": query["url"][0]}
        await _respond(writer, 302, {}, keep_alive, moved)
    elif path == "/redirect/cookie":
        moved = {"Location": "/echo", "Set-Cookie": "hop=1; Path=/"}
        await _respond(writer, 302, {}, keep_alive, moved)
    elif path == "/json/nested":
        await _respond(writer, 200, NESTED, keep_alive)
    elif path == "/json/degraded":
        await _respond(writer, 503, {"status": "degraded", "system": {}}, keep_alive)
    elif path == "/json/invalid":
        await _send(writer, 200, b'{"status": "ok",', "application/json", keep_alive)
    elif path == "/headers/secure":
        await _respond(writer, 200, {"status": "ok"}, keep_alive, SECURITY_HEADERS)
    elif path == "/headers/bare":
        await _respond(writer, 200, {"status": "ok"}, keep_alive, {"Server": "legacy/0.9"})
    elif path == "/text":
        text = "Service healthy \u2713\nuptime 3d\n".encode()
        await _send(writer, 200, text, "text/plain; charset=utf-8", keep_alive)
    elif path == "/hostile":  # what a terminal would obey: OSC 52, a title, CSI in C1 form
        text = "ok \x1b]52;c;ZWNobw==\x07\x1b]2;PWNED\x1b\\\x1b[2J\r\x9b31m".encode()
        extra = {"X-Evil": "\x9b2J"}
        await _send(writer, 200, text, "text/plain; charset=utf-8", keep_alive, extra)
    elif path == "/binary":
        await _send(writer, 200, bytes(range(256)), "application/octet-stream", keep_alive)
    elif path == "/echo":
        echoed = {
            "method": method,
            "body": body.decode(),
            "probe": headers.get("x-probe"),
            "cookie": headers.get("cookie"),
        }
        await _respond(writer, 200, echoed, keep_alive)
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
    await _send(writer, status, body, "application/json", keep_alive, extra)


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    keep_alive: bool,
    extra: dict[str, str] | None = None,
) -> None:
    headers = {"Content-Type": content_type, **(extra or {})}
    if status not in _NO_BODY:
        headers["Content-Length"] = str(len(body))
    if not keep_alive:
        headers["Connection"] = "close"
    writer.write(_head(status, headers) + body)
    await writer.drain()


async def _stream_big(writer: asyncio.StreamWriter, size: int, head_only: bool) -> None:
    """``size`` bytes, a chunk at a time: the server never holds the body either."""
    writer.write(
        _head(200, {"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    )
    if not head_only:
        for _ in range(size // len(_CHUNK)):
            writer.write(_CHUNK)
            await writer.drain()
        writer.write(_CHUNK[: size % len(_CHUNK)])
    await writer.drain()


async def _trickle(writer: asyncio.StreamWriter, size: int) -> None:
    writer.write(_head(200, {"Content-Type": "text/plain", "Content-Length": str(size)}))
    for _ in range(size):
        writer.write(b".")
        await writer.drain()
        await asyncio.sleep(TRICKLE_EVERY)


def _head(status: int, headers: dict[str, str]) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _quiet_about_disconnects(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Clients that reject our certificate or hang up mid-body are expected here, and so are
    handlers cancelled at ``stop()`` (which Python 3.11's streams report as errors)."""
    if isinstance(
        context.get("exception"), ssl.SSLError | ConnectionError | asyncio.CancelledError
    ):
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


DUAL_STACK = "dual-stack.test"
"""A name that ``dual_stack_getaddrinfo`` resolves to ::1, then 127.0.0.1, as ``localhost`` is
on most machines (not on every test machine: /etc/hosts may give it 127.0.0.1 only)."""
_getaddrinfo = socket.getaddrinfo


def dual_stack_getaddrinfo(host: object, port: object, *args: Any, **kwargs: Any) -> list:
    """``socket.getaddrinfo`` that knows ``DUAL_STACK``; other names go to the real one."""
    if host == DUAL_STACK:
        return [
            *_getaddrinfo("::1", port, *args, **kwargs),
            *_getaddrinfo("127.0.0.1", port, *args, **kwargs),
        ]
    return _getaddrinfo(host, port, *args, **kwargs)


def _ipv6_listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind(("::1", port))
    return sock


@contextlib.contextmanager
def closed_dual_stack_port() -> Iterator[int]:
    """A port that refuses connections on both ::1 and 127.0.0.1 (``closed_port`` twice)."""
    for _ in range(20):
        ipv4, port = closed_port()
        try:
            ipv6 = _ipv6_listener(port)
        except OSError:  # taken on ::1: another port
            ipv4.close()
            continue
        with ipv4, ipv6:
            yield port
        return
    raise RuntimeError("no port free on both ::1 and 127.0.0.1")


@contextlib.contextmanager
def unanswered_ipv6(port: int) -> Iterator[None]:
    """``[::1]:port`` as behind a firewall that drops packets: a connect there gets no answer.

    A listener that never accepts, its backlog filled: the kernel drops further SYNs.
    """
    listener = _ipv6_listener(port)
    queued: list[socket.socket] = []
    try:
        listener.listen(0)
        for _ in range(16):
            probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            probe.settimeout(0.2)
            try:
                probe.connect(("::1", port))
            except TimeoutError:
                probe.close()
                break
            queued.append(probe)
        else:
            raise RuntimeError(f"[::1]:{port} kept accepting connections")
        yield
    finally:
        for sock in (*queued, listener):
            sock.close()


# --- certificates ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def not_after(self) -> float:
        return self.cert.not_valid_after_utc.timestamp()

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def issue(
    common_name: str,
    *,
    issuer: Issued | None = None,
    names: tuple[str, ...] = (),
    days: tuple[float, float] = (-1, 365),
    ca: bool = False,
) -> Issued:
    """A certificate valid from ``days[0]`` to ``days[1]`` days from now; self-signed when no
    issuer is given. EC P-256 keys take milliseconds to make."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(usage, critical=True)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False
        )
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def server_context(directory: Path, leaf: Issued, *chain: Issued) -> ssl.SSLContext:
    """A server context presenting ``leaf`` followed by ``chain``."""
    stem = directory / leaf.cert.serial_number.to_bytes(20, "big").hex()[:16]
    cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
    cert_file.write_bytes(b"".join(cert.pem() for cert in (leaf, *chain)))
    key_file.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class TlsLab:
    """HTTPS servers on 127.0.0.1, all under one root CA (``ca_file``) unless said otherwise.

    - ``chain``: a leaf for 127.0.0.1 and localhost valid ``LEAF_DAYS``, sent with an
      intermediate that expires in ``INTERMEDIATE_DAYS`` (earlier than the leaf);
    - ``expired``: a leaf that expired a day ago;
    - ``self_signed``: a self-signed leaf for 127.0.0.1;
    - ``wrong_host``: a leaf for ``other.example`` only.
    """

    LEAF_DAYS = 200
    INTERMEDIATE_DAYS = 20

    def __init__(self, directory: Path) -> None:
        local = ("127.0.0.1", "localhost")
        root = issue("watchdeck test root", ca=True, days=(-1, 3650))
        self.intermediate = issue(
            "watchdeck test intermediate", issuer=root, ca=True, days=(-1, self.INTERMEDIATE_DAYS)
        )
        self.leaf = issue(
            "chain.test", issuer=self.intermediate, names=local, days=(-1, self.LEAF_DAYS)
        )
        self.expired_leaf = issue("expired.test", issuer=root, names=local, days=(-30, -1))
        self.self_signed_leaf = issue("self-signed.test", names=local)
        self.wrong_host_leaf = issue("other.example", issuer=root, names=("other.example",))
        self.ca_file = directory / "root.pem"
        self.ca_file.write_bytes(root.pem())
        self._servers = {
            "chain": HttpServer(server_context(directory, self.leaf, self.intermediate)),
            "expired": HttpServer(server_context(directory, self.expired_leaf)),
            "self_signed": HttpServer(server_context(directory, self.self_signed_leaf)),
            "wrong_host": HttpServer(server_context(directory, self.wrong_host_leaf)),
        }
        self.urls = {name: server.start() for name, server in self._servers.items()}

    def url(self, name: str) -> str:
        return self.urls[name]

    def address(self, name: str) -> tuple[str, int]:
        parts = urlsplit(self.urls[name])
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
