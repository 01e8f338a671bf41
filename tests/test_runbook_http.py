"""HTTP steps through httpx against a local server, and check steps on configured checks."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from runbook_helpers import config, everything_written, executor, runbook

from tui.engine.runbooks.httprequest import RequestProblem, parse_request, render


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        status = 503 if self.path.startswith("/down") else 200
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "token": self.headers.get("X-Token"),
                "auth": self.headers.get("Authorization"),
                "body": body,
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=abcdef123456; HttpOnly")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


STEP = """---
variables:
  NAME: {required: true}
  Q: {required: true}
  TOKEN: {secret: true, required: true}
---
# Call the API

```http {name="Post it"}
# a comment line
POST $BASE/items/$NAME?q=$Q&fixed=1 HTTP/1.1
X-Token: $TOKEN
Content-Type: application/json

{"name": "$NAME", "note": "$UNKNOWN_THING stays"}
```

```http
GET $BASE/down
```
"""


async def test_http_step_encodes_values_as_data(
    tmp_path: Path, echo_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BASE", echo_url)
    secret = "tok-SECRET-123456"
    state = tmp_path / "state"
    runner = executor(state)
    name, query = 'a b/c?d"e', "1&x=2"
    run = runner.start(runbook(tmp_path, STEP), {"NAME": name, "Q": query, "TOKEN": secret})
    plan = runner.plan(run, 1)
    assert plan.target == f"POST {echo_url}/items/a%20b%2Fc%3Fd%22e?q=1%26x%3D2&fixed=1"
    assert "X-Token: ***" in plan.command and secret not in plan.command
    result = await runner.run_step(run, 1)
    assert result.status == "ok", result.message
    assert result.message.startswith("HTTP 200 in ")
    head, _, body = result.output.partition("\n\n")
    assert head.startswith("HTTP/1.0 200 OK")
    assert "set-cookie: session=***; HttpOnly" in head
    echoed = json.loads(body.replace("***", secret))  # the output masks the echoed secret
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/items/a%20b%2Fc%3Fd%22e?q=1%26x%3D2&fixed=1"
    assert echoed["token"] == secret
    sent = json.loads(echoed["body"])  # JSON-escaped into the body: still valid JSON
    assert sent == {"name": name, "note": "$UNKNOWN_THING stays"}
    failed = await runner.run_step(run, 2)
    assert (failed.status, failed.message[:8]) == ("failed", "HTTP 503")
    assert secret not in everything_written(state)
    await runner.aclose()


def test_request_text_and_its_problems():
    template = parse_request("\n// comment\nhttps://h.example/x\nAccept: */*\n")
    assert (template.method, template.url, template.headers) == (
        "GET",
        "https://h.example/x",
        (("Accept", "*/*"),),
    )
    values = {"HOST": "h.example:8443", "EVIL": "h.example/evil?", "BASE": "ftp://x"}
    lookup = values.get
    assert render(parse_request("GET https://$HOST/p"), lookup).url == "https://h.example:8443/p"
    with pytest.raises(RequestProblem, match="must be a host or port"):
        render(parse_request("GET https://$EVIL/p"), lookup)
    with pytest.raises(RequestProblem, match="must be a base URL"):
        render(parse_request("GET $BASE/p"), lookup)
    with pytest.raises(RequestProblem, match="line break into header X"):
        render(parse_request("GET https://h/\nX: $V"), {"V": "a\r\nInjected: 1"}.get)
    with pytest.raises(RequestProblem, match="expected a header"):
        parse_request("GET https://h/\nnot a header line")


async def test_check_steps_poll_the_configured_check(tmp_path: Path, http_server: str):
    cfg = config(
        "checks:\n"
        f"  - {{name: up, url: '{http_server}/ok'}}\n"
        f"  - {{name: down, url: '{http_server}/status/500', timeout: 1s, interval: 1s}}\n"
    )
    book = runbook(
        tmp_path,
        "# Checks\n\n- [ ] Up {check=up}\n- [ ] Down {check=down}\n"
        "- [ ] Down, waiting {check=down, timeout=2s}\n- [ ] Missing {check=nope}\n\n"
        "```sh {check=up}\necho restarted\n```\n",
    )
    runner = executor(tmp_path / "state", cfg)
    run = runner.start(book, {})
    up = await runner.run_step(run, 1)
    assert up.status == "ok" and up.message.startswith("up healthy (HTTP 200")
    down = await runner.run_step(run, 2)
    assert down.status == "failed"
    assert down.message == "down critical: status (500) == 2xx"
    waited = await runner.run_step(run, 3)
    assert waited.status == "failed" and "polls over 2.0s" in waited.message
    assert waited.output.count("check down:") == 1  # one line per change, not per poll
    assert "no health check named 'nope' (checks: up, down)" in (runner.plan(run, 4).problem or "")
    both = await runner.run_step(run, 5)
    assert both.status == "ok" and both.message.startswith("exit 0 in ")
    assert "; up healthy" in both.message and "restarted" in both.output
    await runner.aclose()


async def test_http_step_follows_no_redirect(
    tmp_path: Path, http_server: str, monkeypatch: pytest.MonkeyPatch
):
    """A 3xx is the step's answer: following it would take the step's headers elsewhere."""
    monkeypatch.setenv("BASE", http_server)
    runner = executor(tmp_path / "state")
    run = runner.start(runbook(tmp_path, "# Moved\n\n```http\nGET $BASE/redirect\n```\n"), {})
    result = await runner.run_step(run, 1)
    assert (result.status, result.message[:8]) == ("ok", "HTTP 302"), result.message
    head, _, body = result.output.partition("\n\n")
    assert "location: /ok" in head.lower()
    assert json.loads(body) == {"location": "/ok"}  # /ok would answer {"status": "ok"}
    await runner.aclose()


ENV_TOKEN = """# Pause with the admin token

```http
POST $BASE/pause?t=$ADMIN_TOKEN
Authorization: Bearer $ADMIN_TOKEN
Content-Type: application/json

{"token": "$ADMIN_TOKEN"}
```

```http
GET $BASE/queues/$Q/pause
```
"""


async def test_values_from_the_environment_are_sent_not_shown(
    tmp_path: Path, echo_url: str, monkeypatch: pytest.MonkeyPatch
):
    """A token the environment holds goes in the request, never in the confirm, the journal or
    the run file; the base URL still says where the request goes. A value of `..` in the
    path is refused (the client would walk up the path)."""
    token = "env-token-abcdef-123"
    monkeypatch.setenv("BASE", echo_url)
    monkeypatch.setenv("ADMIN_TOKEN", token)
    state = tmp_path / "state"
    runner = executor(state)
    run = runner.start(runbook(tmp_path, ENV_TOKEN), {})
    plan = runner.plan(run, 1)
    assert plan.target == f"POST {echo_url}/pause?t=${{ADMIN_TOKEN}}"
    assert "Authorization: Bearer ***" in plan.command
    assert '{"token": "${ADMIN_TOKEN}"}' in plan.command and token not in plan.command
    result = await runner.run_step(run, 1)
    assert result.status == "ok", result.message
    echoed = json.loads(result.output.partition("\n\n")[2])
    assert echoed["auth"] == f"Bearer {token}" and echoed["path"] == f"/pause?t={token}"
    assert json.loads(echoed["body"]) == {"token": token}
    shown = [  # what the journal and the run file say was run (the answer echoes the token)
        json.dumps([entry.get("summary"), entry.get("details"), entry.get("command")])
        for path in state.rglob("*.jsonl")
        for entry in map(json.loads, path.read_text().splitlines())
        if entry["event"] in ("action.requested", "step.started")
    ]
    assert len(shown) == 2 and not [line for line in shown if token in line]
    monkeypatch.setenv("Q", "..")
    refused = runner.plan(run, 2)
    assert refused.problem == "$Q is '..', which cannot go in the URL's path"
    assert (await runner.run_step(run, 2)).status == "failed"
    await runner.aclose()


async def test_a_form_body_keeps_each_value_in_its_field(
    tmp_path: Path, echo_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BASE", echo_url)
    runner = executor(tmp_path / "state")
    text = (
        "---\nvariables:\n  REASON: {required: true}\n---\n"
        "# Form\n\n```http\nPOST $BASE/form\n"
        "Content-Type: application/x-www-form-urlencoded\n\nreason=$REASON&by=me\n```\n"
    )
    run = runner.start(runbook(tmp_path, text), {"REASON": "disk full&admin=1"})
    result = await runner.run_step(run, 1)
    assert result.status == "ok", result.message
    sent = json.loads(result.output.partition("\n\n")[2])["body"]
    assert urllib.parse.parse_qs(sent) == {"reason": ["disk full&admin=1"], "by": ["me"]}
    await runner.aclose()
