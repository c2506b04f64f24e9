"""The retry stage: send one notification until it is delivered, rejected or given up.

Classification lives in :func:`pipeline.notify.retry.check`; this loop only sends, measures,
reports every attempt and sleeps. Each attempt is bounded by the request timeout as a
whole (httpx's own timeouts bound each phase only, so a receiver trickling bytes could
hold a request open for ever). Error texts never carry the receiver's URL or secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from pipeline.notify.payloads import Request
from pipeline.notify.retry import RetryPolicy, Verdict, check, parse_retry_after

logger = logging.getLogger(__name__)
# httpx logs every request at INFO with its full URL, and a receiver's URL is a secret
# (a Slack webhook's path is its token): keep that logger to warnings. Our own log lines
# name the receiver and its redacted URL instead.
logging.getLogger("httpx").setLevel(logging.WARNING)

_BODY_SNIPPET = 200


@dataclass(frozen=True)
class Attempt:
    number: int
    outcome: str  # delivered | retry | failed | gave_up
    http_status: int  # 0: no response
    latency_ms: float
    error: str


@dataclass(frozen=True)
class _Response:
    status: int  # 0: none
    retry_after: float | None
    error: str


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Remove every secret (URLs, their paths, HMAC secrets) from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def send_once(
    client: httpx.AsyncClient, request: Request, timeout_s: float, secrets: Sequence[str]
) -> _Response:
    """POST once; every failure becomes a status (0 for none) and a scrubbed reason."""
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.post(request.url, content=request.body, headers=request.headers)
    except (TimeoutError, httpx.TimeoutException):
        return _Response(0, None, f"timeout after {timeout_s:g}s")
    except httpx.HTTPError as exc:
        return _Response(0, None, scrub(f"{type(exc).__name__}: {exc}", secrets))
    if 200 <= response.status_code < 300:
        return _Response(response.status_code, None, "")
    snippet = " ".join(response.text[:_BODY_SNIPPET].split())
    reason = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return _Response(response.status_code, retry_after, scrub(reason, secrets))


BuildRequest = Callable[[datetime], Request]
OnAttempt = Callable[[Attempt], None]
Sleep = Callable[[float], Awaitable[None]]


async def deliver(
    client: httpx.AsyncClient,
    build: BuildRequest,
    policy: RetryPolicy,
    queued_at: float,
    on_attempt: OnAttempt,
    secrets: Sequence[str] = (),
    *,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
    limit: asyncio.Semaphore | None = None,
) -> Attempt:
    """Attempt until delivered, permanently failed or given up; returns the last attempt.

    ``queued_at`` (``time.monotonic()``) starts the give-up clock; ``on_attempt`` sees
    every attempt, the final one included; ``limit`` bounds the receiver's concurrent
    requests.
    """
    number = 0
    while True:
        number += 1
        async with limit or contextlib.nullcontext():  # held while sending, not sleeping
            started = time.perf_counter()
            response = await send_once(
                client, build(datetime.now(UTC)), policy.request_timeout_s, secrets
            )
            latency_ms = (time.perf_counter() - started) * 1000
        verdict = check(response.status) if response.status else Verdict.retry
        if verdict is not Verdict.retry:
            final = Attempt(number, verdict.value, response.status, latency_ms, response.error)
            on_attempt(final)
            return final
        delay = policy.next_delay(number, response.retry_after, rng)
        elapsed = time.monotonic() - queued_at
        if policy.should_give_up(number, elapsed, delay):
            error = f"gave up after {number} attempt(s) in {elapsed:.1f}s; last: {response.error}"
            final = Attempt(number, "gave_up", response.status, latency_ms, error)
            on_attempt(final)
            return final
        on_attempt(Attempt(number, "retry", response.status, latency_ms, response.error))
        await sleep(delay)
