"""`watchdeck serve`: the console in headless Chromium, and the server's guards and cleanup.

The browser is Debian's Chromium driven by Playwright (its wheel carries its own driver, so
nothing is downloaded). textual-serve draws the terminal with xterm.js on a canvas and keeps
the Terminal in a closure: an init script catches it as it is stored, and the test reads the
screen from the terminal's own buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tui.serve import is_loopback

WATCHDECK = [sys.executable, "-m", "tui.cli"]
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BANNER = "watchdeck serve: http://"
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    });
    if (value && value.buffer && value.buffer.active) window.watchdeckTerminal = value;
  },
});
"""
READ_SCREEN = """() => {
  const terminal = window.watchdeckTerminal;
  if (!terminal) return "";
  const buffer = terminal.buffer.active;
  const lines = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
}"""
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run does)"
)


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (zombies are already gone for our purpose)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    """Start `watchdeck serve` on a free loopback port and wait until it listens."""
    port = free_port()
    output = tmp_path / f"serve-{port}.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*WATCHDECK, "serve", "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    served = Served(process, f"http://127.0.0.1:{port}", output)
    try:
        wait_until(lambda: BANNER in served.text() or process.poll() is not None, 20, "the banner")
        assert process.poll() is None, served.text()
    except BaseException:
        stop(served, signal.SIGKILL)
        raise
    return served


def stop(served: Served, signum: int = signal.SIGTERM) -> list[int]:
    """Signal the server, wait for it; return the consoles that outlived it (none, we hope)."""
    consoles = children(served.process.pid)
    served.process.send_signal(signum)
    try:
        served.process.wait(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.process.pid, signal.SIGKILL)  # only ever needed on a failure
            served.process.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in consoles) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in consoles if alive(pid)]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, http_server: str) -> Path:
    path = tmp_path_factory.mktemp("serve") / "watchdeck.yaml"
    path.write_text(
        "settings: {interval: 1s, timeout: 2s}\n"
        f'checks: [{{name: api, url: "{http_server}/ok", expect: [status == 200]}}]\n'
    )
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, config: Path) -> Iterator[Served]:
    server = serve(
        tmp_path_factory.mktemp("served"),
        *("--config", str(config), "--read-only", "--log-level", "debug"),
    )
    yield server
    assert stop(server) == []
    assert server.process.returncode == 0, server.text()
    assert "Traceback" not in server.text()


def screen(page) -> str:
    return page.evaluate(READ_SCREEN)


def wait_for_screen(page, condition: Callable[[str], bool], what: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not condition(text := screen(page)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}; screen:\n{text}"
        time.sleep(0.2)
    return text


@pytest.fixture
def page(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1200, "height": 800},
        )
        try:
            context.add_init_script(CATCH_TERMINAL)
            elsewhere: list[str] = []  # the page must ask nothing of any other host

            def only_loopback(route) -> None:
                if route.request.url.startswith("http://127.0.0.1:"):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            context.route("**/*", only_loopback)
            yield context.new_page()
            assert elsewhere == []
        finally:
            context.close()


@needs_chromium
def test_the_console_runs_in_the_browser(served: Served, page) -> None:
    page.goto(served.url, wait_until="domcontentloaded")
    text = wait_for_screen(
        page,
        lambda text: any("api" in line and "200" in line for line in text.splitlines()),
        "the api check's result",
    )
    for pane in ("1 Health", "2 Queues", "3 Database", "4 Alerts", "5 Runbooks"):
        assert pane in text
    assert "read-only" in text  # the status line of a console started with --read-only
    assert "watchdeck · keys" not in text

    (console,) = children(served.process.pid)
    argv = cmdline(console)
    assert argv[1:4] == ["-m", "tui.cli", "--config"]
    assert "--read-only" in argv
    assert argv[argv.index("--log-level") + 1] == "debug"

    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.press("?")
    text = wait_for_screen(page, lambda text: "watchdeck · keys" in text, "the help screen")
    assert "focus Health, Queues, Database, Alerts, Runbooks" in text
    page.keyboard.press("Escape")
    wait_for_screen(page, lambda text: "watchdeck · keys" not in text, "the help to close")

    page.close()  # closing the tab quits its console
    wait_until(lambda: not alive(console), 10, "the console to quit with its tab")


async def _handshake(url: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(f"{url}/ws", headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_websockets_from_other_sites_are_refused(served: Served) -> None:
    port = served.url.rsplit(":", 1)[1]
    other_site = asyncio.run(_handshake(served.url, {"Origin": "http://evil.example"}))
    rebound = asyncio.run(
        _handshake(
            served.url,
            {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
        )
    )
    assert (other_site, rebound) == (403, 403)
    assert children(served.process.pid) == []
    assert "cross-origin websocket from http://evil.example refused" in served.text()


def test_rebound_names_are_refused_on_a_non_loopback_bind(tmp_path: Path, config: Path) -> None:
    """A 0.0.0.0 bind also listens on loopback, where a rebound name reaches it.

    ``127.1`` is 127.0.0.1 to the kernel but not a loopback spelling to watchdeck, so it
    stands in for 0.0.0.0 without opening a port to the network.
    """
    served = serve(
        tmp_path,
        *("--config", str(config), "--read-only", "--host", "127.1"),
        env={"WATCHDECK_ALLOWED_HOSTS": "Console.Example, other.example"},
    )
    port = served.url.rsplit(":", 1)[1]

    def handshake(host: str) -> int:
        origin = f"http://{host}:{port}"
        return asyncio.run(_handshake(served.url, {"Host": f"{host}:{port}", "Origin": origin}))

    try:
        assert handshake("rebind.evil.example") == 403
        assert handshake("localhost.evil.example") == 403
        assert handshake("console.example") == 101  # named in WATCHDECK_ALLOWED_HOSTS
        assert handshake(socket.gethostname()) == 101
        assert handshake("127.0.0.1") == 101
    finally:
        assert stop(served) == []
    assert "websocket for host 'rebind.evil.example:" in served.text()
    assert "Traceback" not in served.text()


async def _headers(url: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url + path, headers=headers) as r:
        return r.status, dict(r.headers)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/", {}, 200),
        ("/static/js/textual.js", {}, 200),
        ("/nowhere", {}, 404),
        ("/ws", {"Origin": "http://evil.example"}, 403),
    ],
)
def test_no_response_can_be_framed(
    served: Served, path: str, headers: dict[str, str], status: int
) -> None:
    got, response_headers = asyncio.run(_headers(served.url, path, headers))
    assert got == status
    assert response_headers["X-Frame-Options"] == "DENY"
    assert response_headers["Content-Security-Policy"] == "frame-ancestors 'none'"


async def _open_console(url: str, opened: asyncio.Event, done: asyncio.Event) -> int | None:
    """Hold a console open like a browser tab until the server closes it."""
    port = url.rsplit(":", 1)[1]
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/ws", origin=f"http://127.0.0.1:{port}") as ws,
    ):
        async for message in ws:
            if message.type is aiohttp.WSMsgType.BINARY and b"Health" in message.data:
                opened.set()
        done.set()
        return ws.close_code


def test_a_disconnect_stops_the_server_and_its_consoles(tmp_path: Path, config: Path) -> None:
    """SIGHUP (the SSH session went away) with a console open: all quits, no traceback."""
    served = serve(tmp_path, "--config", str(config))

    async def scenario() -> tuple[int | None, list[int]]:
        opened, done = asyncio.Event(), asyncio.Event()
        client = asyncio.create_task(_open_console(served.url, opened, done))
        await asyncio.wait_for(opened.wait(), 20)
        assert len(children(served.process.pid)) == 1
        leftover = await asyncio.to_thread(stop, served, signal.SIGHUP)
        return await asyncio.wait_for(client, 10), leftover

    close_code, leftover = asyncio.run(scenario())
    assert leftover == []
    assert close_code is not None
    assert served.process.returncode == 0, served.text()
    output = served.text()
    assert "console opened" in output and "console closed" in output
    assert "Traceback" not in output


def test_serve_demo_starts_and_stops_the_demo(tmp_path: Path) -> None:
    served = serve(tmp_path, "--demo")

    async def scenario() -> list[int]:
        opened, done = asyncio.Event(), asyncio.Event()
        client = asyncio.create_task(_open_console(served.url, opened, done))
        await asyncio.wait_for(opened.wait(), 20)
        leftover = await asyncio.to_thread(stop, served)
        await asyncio.wait_for(client, 10)
        return leftover

    assert asyncio.run(scenario()) == []
    output = served.text()
    assert served.process.returncode == 0, output
    demo_dir = Path(output.split(", config ", 1)[1].split()[0]).parent
    assert output.splitlines()[-1] == "watchdeck demo: stopped", output
    assert not demo_dir.exists(), "the demo's servers and files are cleaned up"
    assert "Traceback" not in output


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WATCHDECK, "serve", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_a_non_loopback_address_warns_that_there_is_no_auth(config: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the warning, then the bind fails.
    result = run("--config", str(config), "--host", "192.0.2.1", "--port", str(free_port()))
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 2, result.stderr
    assert "WARNING: no authentication" in lines[0] and "192.0.2.1" in lines[0]
    assert lines[1].startswith("watchdeck serve: cannot listen on 192.0.2.1:")


def test_a_taken_port_is_one_line(config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("--config", str(config), "--port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1:" in result.stderr
    assert "WARNING" not in result.stderr  # loopback: nothing to warn about


def test_a_bad_config_is_refused_before_serving(tmp_path: Path) -> None:
    missing = run("--config", str(tmp_path / "nope.yaml"), "--port", str(free_port()))
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr
    demo = run("--demo", "--config", str(tmp_path / "nope.yaml"))
    assert demo.returncode == 2
    assert "drop --config" in demo.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("ops.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
