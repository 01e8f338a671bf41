"""The demo HTTP service on 127.0.0.1: one healthy, one slow, one failing, one flaky endpoint.

A ``ThreadingHTTPServer`` in a daemon thread, so it never blocks the console's event loop
when both run in one process, and a slow request never holds up another.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_SECONDS = 1.2
FLAKY_PERIOD = 60
FLAKY_BAD_SECONDS = 20
"""``/flaky`` answers 500 for the last 20 seconds of every minute."""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-answer is normal here; the console owns the terminal."""


class DemoService:
    """``/healthz`` 200, ``/slow`` 200 after ~1.2 s, ``/fail`` 503, ``/flaky`` 200 or 500."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, slow_seconds: float = SLOW_SECONDS
    ) -> None:
        self.clock = clock
        self.slow_seconds = slow_seconds
        self._started = time.monotonic()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="watchdeck-demo-http",
            daemon=True,
        )
        self._closed = False

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def respond(self, path: str) -> tuple[int, dict[str, object]]:
        """Status and JSON body for ``path`` (runs in the request's thread)."""
        route = path.split("?", 1)[0].rstrip("/") or "/"
        if route == "/healthz":
            uptime = round(time.monotonic() - self._started, 1)
            return 200, {"status": "ok", "version": "2.14.1", "uptime_s": uptime}
        if route == "/slow":
            time.sleep(self.slow_seconds)
            return 200, {"status": "ok", "note": "search index warming up"}
        if route == "/fail":
            return 503, {"status": "down", "error": "payment provider unreachable"}
        if route == "/flaky":
            if self.clock() % FLAKY_PERIOD >= FLAKY_PERIOD - FLAKY_BAD_SECONDS:
                return 500, {"status": "error", "error": "upstream connection reset"}
            return 200, {"status": "ok"}
        if route == "/":
            return 200, {"endpoints": ["/healthz", "/slow", "/fail", "/flaky"]}
        return 404, {"status": "not found", "path": route}


def _handler_for(service: DemoService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "watchdeck-demo"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, body = service.respond(self.path)
            self._send(status, body)

        def do_HEAD(self) -> None:
            status, body = service.respond(self.path)
            self._send(status, body, include_body=False)

        def _send(self, status: int, body: dict[str, object], *, include_body: bool = True) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if include_body:
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Silent: the console owns the terminal."""

    return Handler
