"""``watchdeck serve``: the console in a browser, through textual-serve.

textual-serve starts the console command once per websocket, so every browser tab gets its own
console process (its own engine and polling) and closing the tab quits it.

It has no authentication: whoever opens the websocket drives a console that can run runbook
steps and signal database backends. So it listens on loopback by default, says so when told
otherwise, and refuses websockets a browser opens from another site's page: the Origin must
be the page's own (cross-site websocket hijacking), and on any bind the Host must be an IP
address, localhost, this machine's name or one in WATCHDECK_ALLOWED_HOSTS (DNS rebinding: a
0.0.0.0 bind listens on loopback too). No other site may frame the page (clickjacking). The
page builds its websocket URL from the Host the browser used, so an SSH tunnel to another
local port works as is.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

DEFAULT_HOST = "127.0.0.1"
TITLE = "watchdeck"
QUIT_GRACE = 5.0
"""Seconds a console gets to quit (engine stopped, state saved) before it is killed."""
ALLOWED_HOSTS_ENV = "WATCHDECK_ALLOWED_HOSTS"
"""Comma-separated extra names a browser may use for this server (a reverse proxy's)."""
FRAMING_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
PAGE = Path(__file__).parent / "serve_page"
"""watchdeck's own page: textual-serve's asks Google for a web font on every visit."""
log = logging.getLogger("watchdeck.serve")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; any other name may resolve anywhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def exposure_warning(host: str, port: int) -> str | None:
    """The one-line warning for a bind that others can reach, or None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"watchdeck serve: WARNING: no authentication: anyone who can reach "
        f"{url_host(host)}:{port} gets the console and its write actions (add --read-only); "
        f"prefer {DEFAULT_HOST} and an SSH tunnel"
    )


def console_command(config: Path, args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per browser tab: this console, same options."""
    argv = [sys.executable, "-m", "tui.cli", "--config", str(config.resolve())]
    argv += ["--log-level", args.log_level]
    if args.state_dir:
        argv += ["--state-dir", str(Path(args.state_dir).expanduser().resolve())]
    if args.read_only:
        argv.append("--read-only")
    if args.theme:
        argv += ["--theme", args.theme]
    return "exec " + shlex.join(argv)  # the shell makes way: the console is the child


def allowed_hosts(extra: Iterable[str]) -> frozenset[str]:
    """The names a browser may reach this server by: ``localhost``, this machine's, ``extra``."""
    names = {"localhost", socket.gethostname(), socket.getfqdn(), *extra}
    return frozenset(name.strip().lower().rstrip(".") for name in names if name.strip())


def host_allowed(hostname: str, allowed: frozenset[str]) -> bool:
    """An IP literal is its own origin; a name must be one no other site can rebind."""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return hostname.lower().rstrip(".") in allowed
    return True


def refusal(request: web.BaseRequest, *, allowed: frozenset[str]) -> str | None:
    """Why a websocket request must be refused, or None to accept it.

    A request without Origin does not come from a browser page, so no other site is behind it.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    host = request.host
    try:
        same_origin = urlsplit(origin).netloc.lower() == host.lower()
        hostname = urlsplit(f"//{host}").hostname or ""
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return f"malformed Origin {origin!r} or Host {host!r} refused"
    if not same_origin:
        return f"cross-origin websocket from {origin} refused"
    if not host_allowed(hostname, allowed):
        return (
            f"websocket for host {host!r} refused: not an address or name of this machine "
            f"(add it to {ALLOWED_HOSTS_ENV} if it is)"
        )
    return None


class ConsoleSession(AppService):
    """One browser tab's console process."""

    async def stop(self) -> None:
        """Quit the console, then reap it while the event loop still runs.

        textual-serve leaves the process to the garbage collector, which closes its pipes
        after the loop is gone and prints a traceback at exit; a console that does not quit
        in time is killed.
        """
        await super().stop()
        if self._process is None:
            return
        self.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), QUIT_GRACE)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


class ConsoleServer(Server):
    """textual-serve's server with watchdeck's banner, signals, URLs and websocket checks."""

    def __init__(self, command: str, host: str, port: int, allowed: frozenset[str]) -> None:
        super().__init__(command, host=host, port=port, title=TITLE, templates_path=PAGE)
        self.allowed = allowed
        self.public_url = f"http://{url_host(host)}:{port}"
        self.websockets: set[web.WebSocketResponse] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.on_response_prepare.append(self.forbid_framing)
        return app

    async def forbid_framing(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every response, errors and static files included, refuses to be framed."""
        response.headers.update(FRAMING_HEADERS)

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: textual-serve prints its logo here; ``announce`` waits for the bind."""

    async def on_shutdown(self, app: web.Application) -> None:
        """Close every tab's websocket, so its console quits now; aiohttp would wait 60 s."""
        for websocket in list(self.websockets):
            await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")

    def initialize_logging(self) -> None:
        """Plain lines from textual-serve and this module only.

        textual-serve's own setup configures the root logger, which would also print every
        request and the demo's server libraries. One line per console opened and closed says
        who is connected.
        """
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("watchdeck serve: %(message)s"))
        for name in ("textual-serve", log.name):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG if self.debug else logging.INFO)
            logger.propagate = False

    def serve(self, debug: bool = False) -> None:
        """Listen until Ctrl-C, SIGTERM or SIGHUP (an SSH disconnect); raises OSError."""
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self.request_exit)
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            handle_signals=False,
            loop=loop,
            print=self.announce,  # called once the port is bound
        )

    def announce(self, _: str) -> None:
        print(
            f"watchdeck serve: {self.public_url} (a console per browser tab); Ctrl+C stops",
            flush=True,
        )

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        """The page, pointing back at the address the browser used (a tunnel's own port)."""
        scheme = "wss" if request.scheme == "https" else "ws"
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        reason = refusal(request, allowed=self.allowed)
        if reason is not None:
            log.warning("%s: %s", request.remote, reason)
            raise web.HTTPForbidden(text=reason)
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        session = ConsoleSession(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        log.info("%s: console opened", request.remote)
        self.websockets.add(websocket)
        try:
            width = to_int(request.query.get("width", "80"), 80)
            await session.start(width, to_int(request.query.get("height", "24"), 24))
            await self._process_messages(websocket, session)
        finally:
            self.websockets.discard(websocket)
            await session.stop()
            await websocket.close()
            log.info("%s: console closed", request.remote)
        return websocket


def serve(config: Path, args: argparse.Namespace) -> int:
    """Serve the console on ``config`` until Ctrl-C, SIGTERM or SIGHUP."""
    warning = exposure_warning(args.host, args.port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    extra = os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")
    server = ConsoleServer(
        console_command(config, args), args.host, args.port, allowed_hosts(extra)
    )
    try:
        server.serve()
    except OSError as exc:  # the port is taken, or the address is not this machine's
        print(f"watchdeck serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
