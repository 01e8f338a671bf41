"""The demo HTTP service on 127.0.0.1, over HTTP and (with certificates) HTTPS.

Endpoints, chosen so every kind of trouble the health pane shows is on screen at once:

- ``/healthz``  200, nested JSON (``$.system.memory.used_pct``...), security headers
- ``/slow``     200, usually in ~50-120 ms, but every 8th request takes 1.5 s (a p95 breach)
- ``/fail``     503 with a JSON error
- ``/flaky``    200 and 500 alternating every 3 s: with a 2 s poll, a change every poll or two
- ``/legacy``   200 HTML without any security header

``ThreadingHTTPServer``s in daemon threads, so the service never blocks the console's event
loop when both run in one process, and a slow request never holds up another.
"""

from __future__ import annotations

import json
import math
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tui.demo.certs import DemoCertificates

SLOW_SECONDS = 1.5
SLOW_EVERY = 8
"""Every 8th ``/slow`` request takes ``SLOW_SECONDS``: 12.5 % of polls, so p95 breaches."""
FAST_SECONDS = (0.05, 0.12)
FLAP_SECONDS = 3
"""``/flaky`` is up for 3 s, down for 3 s, and so on."""
ENDPOINTS = ("/healthz", "/slow", "/fail", "/flaky", "/legacy")
VERSION = "1.4.2"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'",
}
HSTS = {"Strict-Transport-Security": "max-age=31536000"}
LEGACY_PAGE = (
    b"<!doctype html>\n<html><head><title>billing admin</title></head>\n"
    b"<body><p>legacy billing admin: status ok</p></body></html>\n"
)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    secure: bool = True
    """Sends ``SECURITY_HEADERS`` (and HSTS over HTTPS); ``/legacy`` sends none."""


def _json(status: int, body: object) -> Response:
    return Response(status, json.dumps(body).encode())


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-answer (or after a TLS handshake, like a tcp or tls
        check) is normal here; the console owns the terminal."""


class DemoService:
    """Serves HTTP on ``port`` and, given certificates, the same endpoints over HTTPS on
    ``tls_port``. ``clock`` drives ``/flaky`` (tests pass a fake one)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        slow_seconds: float = SLOW_SECONDS,
        fast_seconds: tuple[float, float] = FAST_SECONDS,
        certificates: DemoCertificates | None = None,
    ) -> None:
        self.clock = clock
        self.slow_seconds = slow_seconds
        self.fast_seconds = fast_seconds
        self._started = time.monotonic()
        self._slow_requests = 0
        self._lock = threading.Lock()
        self._servers = [_QuietServer(("127.0.0.1", 0), _handler_for(self, tls=False))]
        if certificates is not None:
            self._servers.append(_https_server(self, certificates))
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"watchdeck-demo-{'https' if index else 'http'}",
                daemon=True,
            )
            for index, server in enumerate(self._servers)
        ]
        self._closed = False

    @property
    def port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_port(self) -> int | None:
        return self._servers[1].server_address[1] if len(self._servers) > 1 else None

    @property
    def tls_base_url(self) -> str | None:
        return f"https://127.0.0.1:{self.tls_port}" if self.tls_port else None

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        for server, thread in zip(self._servers, self._threads, strict=True):
            if thread.is_alive():
                server.shutdown()
            server.server_close()

    def respond(self, path: str) -> Response:
        """The answer for ``path`` (runs in the request's thread)."""
        route = path.split("?", 1)[0].rstrip("/") or "/"
        if route == "/healthz":
            return _json(200, self._health())
        if route == "/slow":
            took = self._slow_delay()
            time.sleep(took)
            return _json(200, {"status": "ok", "took_ms": round(took * 1000)})
        if route == "/fail":
            return _json(503, {"status": "down", "error": "payment provider unreachable"})
        if route == "/flaky":
            if int(self.clock() // FLAP_SECONDS) % 2:
                return _json(500, {"status": "error", "error": "upstream connection reset"})
            return _json(200, {"status": "ok"})
        if route == "/legacy":
            return Response(200, LEGACY_PAGE, "text/html; charset=utf-8", secure=False)
        if route == "/":
            return _json(200, {"endpoints": list(ENDPOINTS)})
        return _json(404, {"status": "not found", "path": route})

    def _health(self) -> dict[str, object]:
        drift = math.sin(self.clock() / 90.0)
        return {
            "status": "ok",
            "version": VERSION,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "system": {
                "memory": {"used_pct": round(41.5 + 4.0 * drift, 1)},
                "disk": {"free_pct": 63},
            },
            "checks": {"database": "ok", "cache": "ok"},
        }

    def _slow_delay(self) -> float:
        with self._lock:
            self._slow_requests += 1
            count = self._slow_requests
        # The 3rd request is the first slow one, so the breach shows within the first polls.
        if count % SLOW_EVERY == 3:
            return self.slow_seconds
        return random.uniform(*self.fast_seconds)


def _https_server(service: DemoService, certificates: DemoCertificates) -> _QuietServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert_file, certificates.key_file)
    server = _QuietServer(("127.0.0.1", 0), _handler_for(service, tls=True))
    # The handshake happens in the request's thread on first read, not in accept(): a client
    # that connects and never speaks TLS cannot stall the listener.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    return server


def _handler_for(service: DemoService, *, tls: bool) -> type[BaseHTTPRequestHandler]:
    secure_headers = {**SECURITY_HEADERS, **HSTS} if tls else SECURITY_HEADERS

    class Handler(BaseHTTPRequestHandler):
        server_version = "watchdeck-demo"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._send(service.respond(self.path))

        def do_HEAD(self) -> None:
            self._send(service.respond(self.path), include_body=False)

        def _send(self, response: Response, *, include_body: bool = True) -> None:
            self.send_response(response.status, HTTPStatus(response.status).phrase)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in (secure_headers if response.secure else {}).items():
                self.send_header(name, value)
            self.end_headers()
            if include_body:
                self.wfile.write(response.body)

        def log_message(self, format: str, *args: object) -> None:
            """Silent: the console owns the terminal."""

    return Handler
