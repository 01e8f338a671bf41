"""External alert sources: Alertmanager (API v2) and Prometheus (``/api/v1/alerts``).

Each is an ordinary source polled by the scheduler, so an unreachable one is a status (and
a backoff) while the rules go on. Answers are parsed as plain JSON and every field beyond an
alert's labels is optional: Alertmanager and Prometheus add fields from version to version
(``mutedBy``, ``keepFiringSince``...), and an older or newer server must not break the pane.

Credentials (basic auth, bearer token) are sent, never shown: error messages are redacted
and scrubbed of them. Every text an answer carries (labels, annotations, links, ids, error
messages) goes through ``printable`` here, where it enters the engine: an alert's summary is
written to the operator's terminal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from tui import __version__
from tui.engine.alert_book import fingerprint
from tui.engine.config import AlertSource, Settings
from tui.engine.errors import redact
from tui.engine.printable import printable
from tui.engine.samples import Alert, AlertsSample
from tui.engine.sources import tls
from tui.engine.sources.asyncio_transport import asyncio_client
from tui.engine.sources.http import OUTER_GRACE, describe_transport_error, resolve_path

ERROR_BODY_SHOWN = 200
"""Characters of an error answer shown in a message."""
SEVERITIES = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "high": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
}
"""Severity labels seen in the wild, mapped to watchdeck's three; anything else is a warning
(the label keeps its own value)."""
MATCHER_OPERATORS = {
    (True, False): "=",
    (False, False): "!=",
    (True, True): "=~",
    (False, True): "!~",
}
"""A silence matcher's operator by its ``(isEqual, isRegex)``."""
_EPOCH_MIN = 86400.0
"""Times before this are Go's zero time (``0001-01-01T00:00:00Z``): unknown."""


class ApiError(Exception):
    """The source answered, but not with what was asked for (or not at all)."""


@dataclass(frozen=True, slots=True)
class Silence:
    """One Alertmanager silence (``GET /api/v2/silence/{id}``)."""

    id: str
    matchers: tuple[str, ...]
    """As Alertmanager writes them: ``cluster="prod-eu"``, ``team=~"db.*"``."""
    created_by: str
    comment: str
    ends_at: float | None
    state: str
    """``active``, ``pending`` or ``expired`` (empty when not said)."""


def normalise_severity(label: str | None) -> str:
    return SEVERITIES.get((label or "").strip().lower(), "warning")


def parse_time(value: object) -> float | None:
    """An RFC 3339 time (nanoseconds and ``Z`` allowed) in epoch seconds, or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    return seconds if seconds > _EPOCH_MIN else None


def format_time(seconds: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds, as the Alertmanager API takes them."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        printable(str(key)): printable(str(item)) for key, item in value.items() if item is not None
    }


def _ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        printable(str(item)) for item in value if isinstance(item, str | int) and item != ""
    )


def _number(value: object) -> float | None:
    """Prometheus sends values as strings (``"1e+00"``); NaN and infinities are no data."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _summary(annotations: Mapping[str, str], name: str) -> str:
    for key in ("summary", "message", "description"):
        text = annotations.get(key, "").strip()
        if text:
            return text.splitlines()[0]
    return name


def _common(labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    runbook_url = annotations.get("runbook_url") or None
    return {
        "name": labels.get("alertname", "(no alertname)"),
        "severity": normalise_severity(labels.get("severity")),
        "labels": labels,
        "annotations": annotations,
        "summary": _summary(annotations, labels.get("alertname", "(no alertname)")),
        "description": annotations.get("description", ""),
        "runbook": annotations.get("runbook") or runbook_url,
        "runbook_url": runbook_url,
    }


def alertmanager_alert(item: object, source: str, at: float) -> Alert | None:
    """One alert of ``GET /api/v2/alerts``; ``None`` when it is not one."""
    if not isinstance(item, dict):
        return None
    labels = _strings(item.get("labels"))
    if not labels:
        return None
    annotations = _strings(item.get("annotations"))
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    silenced = _ids(status.get("silencedBy"))
    inhibited = _ids(status.get("inhibitedBy"))
    muted = _ids(status.get("mutedBy"))
    starts = parse_time(item.get("startsAt"))
    given = item.get("fingerprint")
    generator = item.get("generatorURL")
    return Alert(
        source=source,
        source_kind="alertmanager",
        state="firing",
        since=starts or at,
        active_since=starts,
        fingerprint=printable(given) if isinstance(given, str) and given else fingerprint(labels),
        generator_url=printable(generator) if isinstance(generator, str) and generator else None,
        suppressed=status.get("state") == "suppressed" or bool(silenced or inhibited or muted),
        silenced_by=silenced,
        inhibited_by=inhibited,
        muted_by=muted,
        **_common(labels, annotations),
    )


def prometheus_alert(item: object, source: str, at: float) -> Alert | None:
    """One alert of ``GET /api/v1/alerts``; ``None`` when it is not one (or inactive)."""
    if not isinstance(item, dict) or item.get("state") not in ("pending", "firing"):
        return None
    labels = _strings(item.get("labels"))
    if not labels:
        return None
    active = parse_time(item.get("activeAt"))
    return Alert(
        source=source,
        source_kind="prometheus",
        state=item["state"],
        since=active or at,
        active_since=active,
        value=_number(item.get("value")),
        fingerprint=fingerprint(labels),
        **_common(labels, _strings(item.get("annotations"))),
    )


def _matcher(item: object) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    equal = item.get("isEqual") is not False  # absent before Alertmanager 0.22: equal
    operator = MATCHER_OPERATORS[equal, item.get("isRegex") is True]
    return printable(f'{item["name"]}{operator}"{item.get("value", "")}"')


def _text(value: object) -> str:
    return printable(value) if isinstance(value, str) else ""


def silence_from(data: object, silence_id: str) -> Silence:
    """A silence as ``GET /api/v2/silence/{id}`` answers it; raises ``ApiError`` if not one."""
    if not isinstance(data, dict):
        raise ApiError(f"unexpected answer for silence {silence_id}: not a silence")
    matchers = data.get("matchers")
    status = data.get("status") if isinstance(data.get("status"), dict) else {}
    written = (_matcher(item) for item in (matchers if isinstance(matchers, list) else ()))
    return Silence(
        id=silence_id,
        matchers=tuple(matcher for matcher in written if matcher),
        created_by=_text(data.get("createdBy")),
        comment=_text(data.get("comment")),
        ends_at=parse_time(data.get("endsAt")),
        state=_text(status.get("state")),
    )


def _error_text(body: bytes) -> str:
    """What an error answer says: its ``message`` / ``error`` (JSON), else its first characters."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        data = body.decode("utf-8", errors="replace")
    if isinstance(data, dict):
        data = data.get("message") or data.get("error") or ""
    return printable(" ".join(str(data).split())[:ERROR_BODY_SHOWN])


class AlertApi:
    """The HTTP side of one alert source: one client, its credentials, its errors."""

    def __init__(self, config: AlertSource, settings: Settings, base_dir: Path | None) -> None:
        self.config = config
        self.base = config.url.rstrip("/")
        try:
            self.host = httpx.URL(config.url).host
        except httpx.InvalidURL as exc:
            raise ValueError(
                f"alert source {config.name!r}: invalid url: {redact(str(exc))}"
            ) from None
        self.timeout = float(config.timeout or settings.timeout)
        self.ca_file = resolve_path(config.ca_file, base_dir) if config.ca_file else None
        self._secrets = sorted(
            (s for s in (config.password, config.bearer_token) if s and len(s) >= 4),
            key=len,
            reverse=True,
        )
        self._client: httpx.AsyncClient | None = None

    def _connect(self) -> httpx.AsyncClient:
        """The client, made on first use: a bad CA file is the source's status, not a crash."""
        if self._client is None:
            headers = {"User-Agent": f"watchdeck/{__version__}", "Accept": "application/json"}
            if self.config.bearer_token:
                headers["Authorization"] = f"Bearer {self.config.bearer_token}"
            auth = None
            if self.config.username is not None:
                auth = httpx.BasicAuth(self.config.username, self.config.password or "")
            self._client = asyncio_client(
                tls.client_context(self.config.verify_tls, self.ca_file),
                timeout=httpx.Timeout(self.timeout),
                headers=headers,
                auth=auth,
            )
        return self._client

    def scrub(self, text: str) -> str:
        """``text`` without passwords or this source's credentials."""
        text = redact(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def request(self, method: str, path: str, **options: Any) -> object:
        """The decoded JSON answer (``None`` for an empty one); raises ``ApiError``."""
        try:
            client = self._connect()
            response = await client.request(method, self.base + path, **options)
        except ValueError as exc:  # the CA file
            raise ApiError(self.scrub(str(exc))) from None
        except (OSError, httpx.HTTPError) as exc:
            message = describe_transport_error(exc, self.host, self.timeout)
            raise ApiError(self.scrub(message)) from None
        if response.status_code >= 400:
            reason = _error_text(response.content)
            raise ApiError(
                self.scrub(f"HTTP {response.status_code}{': ' if reason else ''}{reason}")
            )
        if not response.content:
            return None
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            raise ApiError(f"the answer to {method} {path} is not JSON") from None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class _AlertSource:
    section = "alertsource"
    admission = None

    def __init__(self, config: AlertSource, settings: Settings, base_dir: Path | None) -> None:
        self.config = config
        self.id = f"alertsource:{config.name}"
        self.name = config.name
        self.kind = config.kind
        self.api = AlertApi(config, settings, base_dir)
        self.interval = float(config.interval or settings.interval)
        self.timeout = self.api.timeout + OUTER_GRACE

    def _matches(self, alert: Alert) -> bool:
        return all(alert.labels.get(key) == value for key, value in self.config.match.items())

    async def aclose(self) -> None:
        await self.api.aclose()


class AlertmanagerSource(_AlertSource):
    async def poll(self) -> AlertsSample:
        params = [("active", "true"), ("silenced", "true"), ("inhibited", "true")]
        for key, value in self.config.match.items():
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            params.append(("filter", f'{key}="{escaped}"'))
        data = await self.api.request("GET", "/api/v2/alerts", params=params)
        if not isinstance(data, list):
            raise ApiError("unexpected answer from /api/v2/alerts: not a list of alerts")
        at = time.time()
        alerts = (alertmanager_alert(item, self.name, at) for item in data)
        return AlertsSample(
            self.name, self.kind, at, tuple(a for a in alerts if a and self._matches(a))
        )

    async def create_silence(
        self, labels: Mapping[str, str], starts: float, ends: float, created_by: str, comment: str
    ) -> str:
        """A silence matching exactly these labels; returns its id."""
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(labels.items())
            ],
            "startsAt": format_time(starts),
            "endsAt": format_time(ends),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = await self.api.request("POST", "/api/v2/silences", json=body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise ApiError("Alertmanager did not return a silence id")
        return silence_id

    async def silence(self, silence_id: str) -> Silence:
        path = f"/api/v2/silence/{quote(silence_id, safe='')}"
        return silence_from(await self.api.request("GET", path), silence_id)

    async def expire_silence(self, silence_id: str) -> None:
        await self.api.request("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")


class PrometheusAlertsSource(_AlertSource):
    async def poll(self) -> AlertsSample:
        data = await self.api.request("GET", "/api/v1/alerts")
        if not isinstance(data, dict) or data.get("status") != "success":
            error = data.get("error") if isinstance(data, dict) else None
            reason = printable(str(error or "unexpected answer from /api/v1/alerts"))
            raise ApiError(self.api.scrub(reason))
        payload = data.get("data")
        items = payload.get("alerts") if isinstance(payload, dict) else None
        at = time.time()
        listed = items if isinstance(items, list) else []
        alerts = (prometheus_alert(item, self.name, at) for item in listed)
        return AlertsSample(
            self.name, self.kind, at, tuple(a for a in alerts if a and self._matches(a))
        )


def alert_source(
    config: AlertSource, settings: Settings, base_dir: Path | None
) -> AlertmanagerSource | PrometheusAlertsSource:
    if config.kind == "prometheus":
        return PrometheusAlertsSource(config, settings, base_dir)
    return AlertmanagerSource(config, settings, base_dir)
