"""A real HTTP webhook receiver for the notifier tests (aiohttp, in its own thread).

It records every request (headers, body, arrival time), answers from a script of
responses (status, headers, delay) and then with 200, and dedupes like a well-behaved
receiver: on the comma-separated ``Idempotency-Key`` values.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: str = "ok"


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what we answered (0: the client gave up first)

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def keys(self) -> list[str]:
        raw = self.headers.get("Idempotency-Key", "")
        return [k.strip() for k in raw.split(",") if k.strip()]


class WebhookReceiver:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        #: Optional per-request choice (by body) that wins over the script and default.
        self.decide: Callable[[bytes], Reply | None] = lambda body: None
        self.requests: list[Received] = []
        self.seen_keys: dict[str, int] = {}  # idempotency key -> times received with 2xx
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # --- control from the test -----------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered_keys(self) -> set[str]:
        with self._lock:
            return set(self.seen_keys)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received {len(self.requests)} request(s)")
            time.sleep(0.01)

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.monotonic()
        with self._lock:
            reply = self.decide(body) or (self._script.popleft() if self._script else self.default)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        received = Received(arrived, request.path, dict(request.headers), body, reply.status)
        with self._lock:
            self.requests.append(received)
            if 200 <= reply.status < 300:
                for key in received.keys:
                    self.seen_keys[key] = self.seen_keys.get(key, 0) + 1
        return web.Response(status=reply.status, headers=reply.headers, text=reply.body)
