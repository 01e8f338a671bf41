"""HTTP steps: one request through httpx, the response (status, headers, body) as output.

The step passes on a status below 400. Redirects are not followed (a runbook says where it
goes); the body is read up to 1 MiB; credentials in response headers are masked.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from tui.engine.conditions import mask_header_value
from tui.engine.runbooks.httprequest import Request
from tui.engine.runbooks.output import StepOutput
from tui.engine.sources.http import BODY_CAP, describe_transport_error, read_capped
from tui.engine.units import format_duration


@dataclass(frozen=True, slots=True)
class HttpResult:
    ok: bool
    message: str
    capture: str = ""
    """The response body."""


async def run_http(
    client: httpx.AsyncClient,
    request: Request,
    output: StepOutput,
    *,
    timeout: float,
    cancel: asyncio.Event,
) -> HttpResult:
    started = time.perf_counter()

    async def exchange() -> tuple[httpx.Response, bytes, bool]:
        built = client.build_request(
            request.method,
            request.url,
            headers=list(request.headers),
            content=request.body.encode() if request.body else None,
            timeout=timeout,
        )
        response = await client.send(built, stream=True)
        try:
            body, truncated = await read_capped(response, BODY_CAP)
        finally:
            await response.aclose()
        return response, body, truncated

    work = asyncio.create_task(exchange())
    cancelled = asyncio.create_task(cancel.wait())
    try:
        done, _ = await asyncio.wait(
            {work, cancelled}, timeout=timeout + 1, return_when=asyncio.FIRST_COMPLETED
        )
        if work not in done:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            if cancelled in done:
                return HttpResult(False, "cancelled")
            return HttpResult(False, f"timed out after {format_duration(timeout)}")
        response, body, truncated = work.result()
    except asyncio.CancelledError:
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        raise
    except (OSError, httpx.HTTPError) as exc:
        host = httpx.URL(request.url).host
        return HttpResult(False, describe_transport_error(exc, host, timeout))
    finally:
        cancelled.cancel()
    head = [f"{response.http_version} {response.status_code} {response.reason_phrase}"]
    head.extend(
        f"{name}: {mask_header_value(name, value)}" for name, value in response.headers.items()
    )
    output.write(("\n".join(head) + "\n\n").encode())
    output.write(body)
    if truncated:
        output.note(f"body cut at {BODY_CAP} bytes")
    elif body and not body.endswith(b"\n"):
        output.write(b"\n")
    elapsed = format_duration(time.perf_counter() - started)
    text = body.decode(response.encoding or "utf-8", errors="replace").strip()
    return HttpResult(response.status_code < 400, f"HTTP {response.status_code} in {elapsed}", text)
