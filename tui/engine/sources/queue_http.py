"""Queues read over HTTP: RabbitMQ's management API and Prometheus instant queries.

RabbitMQ: one ``GET /api/queues/VHOST`` per vhost and pass serves every queue configured on
it, asking only for the columns used. ``messages_ready`` is the depth, ``messages_unacknowledged``
the active messages, ``consumers`` the workers; the broker's own publish and deliver rates are
the rates, and ``head_message_timestamp`` (when publishers set the timestamp property) the
oldest message's age. The management plugin refreshes these figures every 5 seconds, so a
RabbitMQ queue is never polled faster than that. Credentials come from the URL (or ``${VAR}``
in it), are sent as basic auth and never appear in messages.

Prometheus: ``GET /api/v1/query`` per configured query, all of a queue's queries at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from tui import __version__
from tui.engine.config import Queue
from tui.engine.printable import printable
from tui.engine.queues_derived import QueueReading
from tui.engine.sources import tls
from tui.engine.sources.asyncio_transport import asyncio_client
from tui.engine.sources.http import describe_transport_error
from tui.engine.sources.queue_shared import SKIPPED, Outcomes, SharedPass, excluded, reuse_window

RABBITMQ_MIN_INTERVAL = 5.0
"""The management plugin's default statistics interval: polling faster shows the same figures."""
RABBITMQ_COLUMNS = (
    "name",
    "state",
    "type",
    "messages_ready",
    "messages_unacknowledged",
    "consumers",
    "head_message_timestamp",
    "message_stats.publish_details.rate",
    "message_stats.deliver_get_details.rate",
)


class QueueHttpError(Exception):
    """An HTTP backend answered, but not with what was asked for (said without credentials;
    what the server said in it made ``printable``)."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


def http_client(timeout: float) -> httpx.AsyncClient:
    return asyncio_client(
        tls.client_context(verify=True),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": f"watchdeck/{__version__}", "Accept": "application/json"},
    )


def split_credentials(url: str, path: str) -> tuple[str, httpx.BasicAuth | None, str]:
    """The URL with ``path`` appended to its path (its query kept after it) and without user
    and password, basic auth from them, and ``host:port`` to name it."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit(parts._replace(netloc=netloc, path=parts.path.rstrip("/") + path))
    auth = None
    if parts.username is not None:
        auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    return bare, auth, netloc


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, str],
    auth: httpx.BasicAuth | None,
    what: str,
) -> Any:
    try:
        # Merged into the URL's own query: httpx's ``params=`` would replace it.
        asked = httpx.URL(url).copy_merge_params(params)
        response = await client.get(asked, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except httpx.HTTPError as exc:
        host = urlsplit(url).hostname or ""
        timeout = client.timeout.read or 0.0
        raise QueueHttpError(f"{what}: {describe_transport_error(exc, host, timeout)}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        detail = _error_detail(body) or response.reason_phrase
        raise QueueHttpError(f"{what}: HTTP {response.status_code} {detail}".rstrip())
    if body is None:
        raise QueueHttpError(f"{what}: the answer is not JSON")
    return body


def _error_detail(body: Any) -> str:
    """RabbitMQ says ``{"error", "reason"}``, Prometheus ``{"errorType", "error"}``."""
    if not isinstance(body, dict):
        return ""
    parts = [body.get("errorType") or body.get("error"), body.get("reason") or body.get("error")]
    words = [str(part) for part in dict.fromkeys(parts) if part]
    return ": ".join(words)


class RabbitBatch:
    """The RabbitMQ queues of one vhost with one cadence: one request per pass for all."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, vhost: str, *, interval: float, timeout: float
    ) -> None:
        self.client = client
        self.url, self.auth, where = split_credentials(url, f"/api/queues/{quote(vhost, safe='')}")
        self.what = f"rabbitmq at {where} (vhost {vhost})"
        self.vhost = vhost
        self.members: dict[str, Queue] = {}
        self.shared: SharedPass[Outcomes] = SharedPass(
            self._read, timeout=timeout, reuse_for=reuse_window(interval)
        )

    def add(self, source_id: str, queue: Queue) -> None:
        self.members[source_id] = queue

    async def read(self, member: str) -> Outcomes:
        return await self.shared.get(member)

    async def _read(self) -> Outcomes:
        at = time.time()
        params = {"columns": ",".join(RABBITMQ_COLUMNS)}
        body = await get_json(self.client, self.url, params=params, auth=self.auth, what=self.what)
        if not isinstance(body, list):
            raise QueueHttpError(f"{self.what}: expected a list of queues")
        found = {str(item.get("name")): item for item in body if isinstance(item, dict)}
        outcomes: dict[str, Any] = {}
        for source_id, queue in self.members.items():
            if queue.discover:
                skip = (*SKIPPED, *queue.exclude)
                outcomes[source_id] = {
                    name: rabbit_reading(item, at)
                    for name, item in found.items()
                    if not excluded(name, skip)
                }
            elif queue.key in found:
                outcomes[source_id] = rabbit_reading(found[queue.key], at)
            else:
                outcomes[source_id] = QueueHttpError(f"{self.what}: no queue named {queue.key!r}")
        return at, outcomes


def _per_minute(stats: Any, key: str) -> float | None:
    details = stats.get(key) if isinstance(stats, dict) else None
    rate = details.get("rate") if isinstance(details, dict) else None
    return float(rate) * 60.0 if isinstance(rate, int | float) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def rabbit_reading(item: dict[str, Any], now: float) -> QueueReading:
    """One queue of ``/api/queues/VHOST``; figures the broker leaves out stay unknown."""
    stats = item.get("message_stats")
    head = item.get("head_message_timestamp")
    notes = []
    state = item.get("state")
    if isinstance(state, str) and state != "running":
        notes.append(f"queue state: {printable(state)}")
    if stats is None:
        notes.append("no message rates: nothing published since the broker's stats began")
    return QueueReading(
        depth=_int(item.get("messages_ready")),
        active=_int(item.get("messages_unacknowledged")),
        workers=_int(item.get("consumers")),
        oldest_age_s=max(0.0, now - head) if isinstance(head, int | float) else None,
        rate_in=_per_minute(stats, "publish_details"),
        rate_out=_per_minute(stats, "deliver_get_details"),
        notes=tuple(notes),
    )


class PrometheusReader:
    """A queue's fields as instant queries: ``query`` is the depth, ``queries`` the rest."""

    def __init__(self, client: httpx.AsyncClient, queue: Queue) -> None:
        self.client = client
        self.url, self.auth, where = split_credentials(queue.endpoint, "/api/v1/query")
        self.what = f"prometheus at {where}"
        self.id = f"queue:{queue.name}"
        self.queries = {"depth": queue.query or "", **queue.queries}

    async def read(self, member: str) -> Outcomes:
        at = time.time()
        values = await asyncio.gather(*(self._value(q) for q in self.queries.values()))
        fields = dict(zip(self.queries, values, strict=True))
        counts = {f: None if fields.get(f) is None else round(fields[f]) for f in _COUNTS}
        reading = QueueReading(
            depth=counts["depth"],
            active=counts["active"],
            failed=counts["failed"],
            delayed=counts["delayed"],
            workers=counts["workers"],
            oldest_age_s=fields.get("oldest_age_s"),
        )
        return at, {self.id: reading}

    async def _value(self, query: str) -> float | None:
        params = {"query": query}
        body = await get_json(self.client, self.url, params=params, auth=self.auth, what=self.what)
        return prometheus_value(body, query)


_COUNTS = ("depth", "active", "failed", "delayed", "workers")


def prometheus_value(body: Any, query: str) -> float | None:
    """The single value of an instant query's answer; ``None`` for no series or NaN."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(data, dict):
        raise QueueHttpError(f"prometheus: {_error_detail(body) or 'unexpected answer'}")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return _sample_value(result)
    if kind != "vector" or not isinstance(result, list):
        raise QueueHttpError(f"prometheus: {query} returned a {kind}, not one number")
    if not result:
        return None
    if len(result) > 1:
        raise QueueHttpError(
            f"prometheus: {query} returned {len(result)} series; aggregate it (sum, max)"
        )
    series = result[0]
    return _sample_value(series.get("value") if isinstance(series, dict) else None)


def _sample_value(pair: Any) -> float | None:
    """``[timestamp, "value"]``: Prometheus sends numbers as text (``"NaN"``, ``"+Inf"``)."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise QueueHttpError("prometheus: a sample is not [time, value]")
    value = float(pair[1])
    return value if math.isfinite(value) else None
