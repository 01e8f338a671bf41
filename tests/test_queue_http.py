"""RabbitMQ and Prometheus queues, parsed from responses shaped as the documented APIs send them.

``tests/fixtures/queues/`` holds a RabbitMQ 3.13 ``GET /api/queues/%2F`` answer (classic and
quorum queues, Celery's pidbox and event queues, an idle queue without message stats, a queue
that is down), its 401 and 404 answers, and Prometheus ``/api/v1/query`` answers (vector,
scalar, empty, NaN, two series, matrix, a 400 ``bad_data`` error). A real HTTP server on
127.0.0.1 serves them, checking basic auth and applying RabbitMQ's ``columns`` parameter.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tui.engine.config import Queue, Settings
from tui.engine.sources.queue_http import (
    RABBITMQ_COLUMNS,
    PrometheusReader,
    QueueHttpError,
    RabbitBatch,
    http_client,
    rabbit_reading,
)
from tui.engine.sources.queue_shared import QueueSource

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "queues"
SETTINGS = Settings(interval=5.0, timeout=3.0)
USER, PASSWORD = "watchdeck", "s3cret-Pw"
PROMETHEUS = {
    'sum(celery_queue_length{queue="emails"})': "prometheus_vector.json",
    "time() - min(celery_oldest_task_timestamp)": "prometheus_age.json",
    "scalar(count(up))": "prometheus_scalar.json",
    "absent_metric": "prometheus_empty.json",
    "0/0": "prometheus_nan.json",
    "celery_queue_length": "prometheus_two_series.json",
    "celery_queue_length[1m]": "prometheus_matrix.json",
}


def select(item: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """RabbitMQ's ``columns``: keep only the listed (dot-separated) fields of an item."""
    out: dict[str, Any] = {}
    for column in columns:
        source, target = item, out
        *parents, leaf = column.split(".")
        for part in parents:
            source = source.get(part) if isinstance(source, dict) else None
            if not isinstance(source, dict):
                break
            target = target.setdefault(part, {})
        else:
            if leaf in source:
                target[leaf] = source[leaf]
    return out


class FakeBackends(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict[str, list[str]]]]] = []

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.requests.append((parts.path, query))
        if parts.path.startswith("/api/queues/"):
            self._rabbitmq(parts.path, query)
        elif parts.path == "/api/v1/query":
            name = PROMETHEUS.get(query.get("query", [""])[0], "prometheus_bad_data.json")
            status = 400 if name == "prometheus_bad_data.json" else 200
            self._send(status, (FIXTURES / name).read_bytes())
        else:
            self._send(404, b'{"error":"Object Not Found","reason":"Not Found"}')

    def _rabbitmq(self, path: str, query: dict[str, list[str]]) -> None:
        expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._send(401, (FIXTURES / "rabbitmq_401.json").read_bytes(), auth=True)
            return
        if path != "/api/queues/%2F":
            self._send(404, (FIXTURES / "rabbitmq_404.json").read_bytes())
            return
        items = json.loads((FIXTURES / "rabbitmq_queues.json").read_text())
        if "columns" in query:
            items = [select(item, query["columns"][0].split(",")) for item in items]
        self._send(200, json.dumps(items).encode())

    def _send(self, status: int, body: bytes, *, auth: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if auth:
            self.send_header("WWW-Authenticate", 'Basic realm="RabbitMQ Management"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeBackends)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(3.0) as client:
        yield client


def with_credentials(url: str, user: str = USER, password: str = PASSWORD) -> str:
    return url.replace("http://", f"http://{user}:{password}@")


def rabbit(
    client: httpx.AsyncClient, url: str, *queues: Queue, vhost: str = "/"
) -> list[QueueSource]:
    batch = RabbitBatch(client, url, vhost, interval=5.0, timeout=3.0)
    sources = []
    for queue in queues:
        batch.add(f"queue:{queue.name}", queue)
        sources.append(QueueSource(queue, SETTINGS, batch.read))
    return sources


# --- RabbitMQ ----------------------------------------------------------------------------


async def test_rabbitmq_queues_from_one_request(backend, client):
    url = with_credentials(backend)
    FakeBackends.requests.clear()
    orders, emails, celery, stuck = rabbit(
        client,
        url,
        Queue(name="orders", kind="rabbitmq", url=url),
        Queue(name="emails", kind="rabbitmq", url=url),
        Queue(name="celery", kind="rabbitmq", url=url),
        Queue(name="stuck", kind="rabbitmq", url=url),
    )
    sample = await orders.poll()
    others = [await source.poll() for source in (emails, celery, stuck)]

    assert len(FakeBackends.requests) == 1, "one request serves the vhost's queues"
    path, query = FakeBackends.requests[0]
    assert path == "/api/queues/%2F"
    assert query["columns"] == [",".join(RABBITMQ_COLUMNS)]
    assert (sample.depth, sample.active, sample.workers) == (1234, 3, 4)
    assert (sample.rate_in, sample.rate_out) == (900.0, 744.0)  # 15/s and 12.4/s
    assert sample.oldest_age_s is not None
    assert abs(sample.oldest_age_s - (time.time() - 1717228800)) < 5
    assert (sample.failed, sample.delayed) == (None, None)
    emails_sample, celery_sample, stuck_sample = others
    assert (emails_sample.depth, emails_sample.workers, emails_sample.oldest_age_s) == (57, 0, None)
    assert emails_sample.rate_in == pytest.approx(24.0)
    assert (celery_sample.depth, celery_sample.active) == (12, 4)
    assert stuck_sample.notes == ("queue state: down",)


async def test_rabbitmq_url_with_a_query_keeps_the_api_path_before_it(backend, client):
    url = with_credentials(backend) + "/?via=proxy"
    FakeBackends.requests.clear()
    (orders,) = rabbit(client, url, Queue(name="orders", kind="rabbitmq", url=url))
    assert (await orders.poll()).depth == 1234
    ((path, query),) = FakeBackends.requests
    assert (path, query["via"]) == ("/api/queues/%2F", ["proxy"])


def test_rabbitmq_texts_cannot_drive_the_terminal():
    item = {"name": "q", "state": "down\x1b]2;owned\x07", "messages_ready": 1}
    assert rabbit_reading(item, time.time()).notes[0] == "queue state: down\u241b]2;owned\u2407"
    error = QueueHttpError("rabbitmq at h (vhost /): HTTP 500 \x1b[2Jgone\x9b")
    assert str(error) == "rabbitmq at h (vhost /): HTTP 500 \u241b[2Jgone\ufffd"


async def test_rabbitmq_idle_queue_has_no_rates(backend, client):
    url = with_credentials(backend)
    (reports,) = rabbit(client, url, Queue(name="reports", kind="rabbitmq", url=url))
    sample = await reports.poll()
    assert (sample.depth, sample.rate_in, sample.rate_out, sample.eta_s) == (0, None, None, 0.0)
    assert any("no message rates" in note for note in sample.notes)


async def test_rabbitmq_missing_queue_fails_alone(backend, client):
    url = with_credentials(backend)
    orders, missing = rabbit(
        client,
        url,
        Queue(name="orders", kind="rabbitmq", url=url),
        Queue(name="gone", kind="rabbitmq", url=url),
    )
    assert (await orders.poll()).depth == 1234
    with pytest.raises(QueueHttpError, match="no queue named 'gone'"):
        await missing.poll()


async def test_rabbitmq_refused_login_and_unknown_vhost_never_show_the_password(backend, client):
    wrong = with_credentials(backend, password="not-it-4242")
    (queue,) = rabbit(client, wrong, Queue(name="orders", kind="rabbitmq", url=wrong))
    with pytest.raises(QueueHttpError) as caught:
        await queue.poll()
    host = urlsplit(backend).netloc
    assert str(caught.value) == (
        f"rabbitmq at {host} (vhost /): HTTP 401 not_authorized: Login failed"
    )
    assert "not-it-4242" not in str(caught.value)
    url = with_credentials(backend)
    (other,) = rabbit(client, url, Queue(name="o", kind="rabbitmq", url=url), vhost="prod")
    with pytest.raises(QueueHttpError, match=r"HTTP 404 Object Not Found: Not Found"):
        await other.poll()


async def test_rabbitmq_refused_connection(client, refused_url):
    url = with_credentials(refused_url)
    (queue,) = rabbit(client, url, Queue(name="orders", kind="rabbitmq", url=url))
    with pytest.raises(QueueHttpError) as caught:
        await queue.poll()
    assert str(caught.value).endswith("(vhost /): connection refused")
    assert PASSWORD not in str(caught.value)


# --- Prometheus --------------------------------------------------------------------------


async def prometheus(client: httpx.AsyncClient, backend: str, query: str, **queries: str) -> Any:
    queue = Queue(name="q", kind="prometheus", url=backend, query=query, queries=queries)
    return await QueueSource(queue, SETTINGS, PrometheusReader(client, queue).read).poll()


async def test_prometheus_depth_and_other_fields(backend, client):
    FakeBackends.requests.clear()
    sample = await prometheus(
        client,
        backend,
        'sum(celery_queue_length{queue="emails"})',
        oldest_age_s="time() - min(celery_oldest_task_timestamp)",
        workers="scalar(count(up))",
    )
    assert (sample.depth, sample.oldest_age_s, sample.workers) == (842, 312.5, 3)
    assert (sample.active, sample.failed) == (None, None)
    assert sorted(query["query"][0] for _, query in FakeBackends.requests) == sorted(
        [
            'sum(celery_queue_length{queue="emails"})',
            "time() - min(celery_oldest_task_timestamp)",
            "scalar(count(up))",
        ]
    )


async def test_prometheus_no_series_and_nan_are_no_data(backend, client):
    assert (await prometheus(client, backend, "absent_metric")).depth is None
    assert (await prometheus(client, backend, "0/0")).depth is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("celery_queue_length", "returned 2 series; aggregate it (sum, max)"),
        ("celery_queue_length[1m]", "returned a matrix, not one number"),
        ("sum(x))", 'HTTP 400 bad_data: invalid parameter "query": 1:11: parse error'),
    ],
)
async def test_prometheus_answers_that_are_not_one_number(backend, client, query, message):
    with pytest.raises(QueueHttpError) as caught:
        await prometheus(client, backend, query)
    assert message in str(caught.value)
