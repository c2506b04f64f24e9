"""The gateway's HTTP side (aiohttp): remote_write and OTLP in, health and figures out.

=================  ===========================================================
``POST /api/v1/write``  Prometheus remote_write 1.0 (snappy protobuf): 204
``POST /v1/metrics``    OTLP/HTTP metrics, protobuf or JSON (gzip optional): 200
``GET /health``         ``{"status": "ok", ...}``; 503 while Kafka does not answer
``GET /metrics``        the gateway's figures, Prometheus exposition
``GET /api/status``     the same as JSON (``megawatch gateway status``)
=================  ===========================================================

A write is answered 2xx only once Kafka acknowledged every event it produced and the
parts it left waiting are in the join log (:mod:`pipeline.gateway.joins`); when Kafka is
slow or away, 503 with ``Retry-After`` (Prometheus and OpenTelemetry exporters retry
5xx). A request refused for what it is gets its 4xx (401 token, 413 size, 415 media
type, 400 body): writers drop 4xx, so each is counted by cause and logged once per cause.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.gateway import otlp, remote_write
from pipeline.gateway.joins import Joiner
from pipeline.gateway.mapper import SeriesMapper
from pipeline.gateway.sender import KafkaSender, KafkaUnavailable
from pipeline.gateway.series import BadRequest, Series
from pipeline.gateway.stats import GatewayCollector, RequestStats, registry, status

logger = logging.getLogger(__name__)

WRITE, OTLP = "remote_write", "otlp"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Limits:
    max_body_bytes: int
    retry_after_s: int


class Gateway:
    """One gateway process's state: what it maps, joins, sends and counts."""

    def __init__(
        self,
        mapper: SeriesMapper,
        joiner: Joiner,
        sender: KafkaSender,
        limits: Limits,
        token: str | None = None,
    ) -> None:
        self.mapper, self.joiner, self.sender, self.limits = mapper, joiner, sender, limits
        self.token = token
        self.stats = RequestStats()
        self.collector = GatewayCollector(self.stats, joiner, sender)
        self.registry = registry(self.collector)
        self.kafka_ok = True
        self.remote_write = remote_write.RemoteWriteDecoder()
        self._logged: set[str] = set()

    def app(self) -> web.Application:
        # aiohttp's own limit one above ours: the body is measured (and refused) here
        app = web.Application(client_max_size=self.limits.max_body_bytes + 1)
        app.router.add_post("/api/v1/write", self._endpoint(WRITE, self._remote_write))
        app.router.add_post("/v1/metrics", self._endpoint(OTLP, self._otlp))
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/api/status", self._status)
        return app

    # --- the two write endpoints ---------------------------------------------------------
    def _endpoint(
        self, name: str, decode: Callable[[web.Request, bytes], tuple[list[Series], web.Response]]
    ) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                self._authorize(request)
                body = await self._body(request)
                series, answer = decode(request, body)
            except BadRequest as exc:
                return self._refuse(name, exc)
            self.stats.samples[name] += sum(len(s.points) for s in series)
            if not await self._store(series):
                self.stats.refused[(name, "kafka_unavailable")] += 1
                self.stats.requests[(name, 503)] += 1
                return web.Response(
                    status=503,
                    text="Kafka did not acknowledge in time; retry\n",
                    headers={"Retry-After": str(self.limits.retry_after_s)},
                )
            self.stats.requests[(name, answer.status)] += 1
            return answer

        return handle

    def _remote_write(self, request: web.Request, body: bytes) -> tuple[list[Series], web.Response]:
        encoding = request.headers.get("Content-Encoding", "")
        if encoding.lower() != "snappy":
            raise BadRequest(
                "unsupported_encoding",
                f"remote_write bodies are snappy-compressed (Content-Encoding: {encoding!r})",
                status=415,
            )
        raw = remote_write.decompress(body, self.limits.max_body_bytes)
        return self.remote_write.parse(raw), web.Response(status=204)

    def _otlp(self, request: web.Request, body: bytes) -> tuple[list[Series], web.Response]:
        content_type = request.content_type
        if content_type not in (otlp.PROTOBUF, otlp.JSON):
            raise BadRequest(
                "unsupported_media_type",
                f"OTLP/HTTP takes {otlp.PROTOBUF} or {otlp.JSON} (got {content_type!r})",
                status=415,
            )
        encoding = request.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            body = otlp.gunzip(body, self.limits.max_body_bytes)
        elif encoding not in ("", "identity"):
            raise BadRequest(
                "unsupported_encoding", f"Content-Encoding {encoding!r} (gzip or none)", 415
            )
        series = otlp.parse(body, content_type)
        return series, web.Response(body=otlp.response(content_type), content_type=content_type)

    async def _store(self, series: list[Series]) -> bool:
        """Map, join, send; True once Kafka acknowledged (the waiting parts are logged)."""
        mapped = self.mapper.map(series)
        self.stats.add_unmapped(mapped.unmapped)
        ready = self.joiner.absorb(mapped, time.time())
        try:
            await self.sender.send(self.sender.messages(ready.events))
        except KafkaUnavailable as exc:
            self.joiner.settle(ready.claimed, sent=False, now=time.time())
            self._log_once("kafka_unavailable", str(exc))
            self.kafka_ok = False
            return False
        self.joiner.settle(ready.claimed, sent=True, now=time.time())
        self.kafka_ok = True
        return True

    async def sweep(self) -> None:
        """Send what the join window let go (see :meth:`Joiner.sweep`); run each second."""
        ready = self.joiner.sweep(time.time())
        if not ready.events:
            return
        try:
            await self.sender.send(self.sender.messages(ready.events))
        except KafkaUnavailable as exc:
            self.joiner.settle(ready.claimed, sent=False, now=time.time())
            self._log_once("kafka_unavailable", str(exc))
            return
        self.joiner.settle(ready.claimed, sent=True, now=time.time())

    # --- checks ------------------------------------------------------------------------------
    def _authorize(self, request: web.Request) -> None:
        if self.token is None:
            return
        given = request.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), self.token.encode()
        ):
            raise BadRequest("unauthorized", "missing or wrong bearer token", status=401)

    async def _body(self, request: web.Request) -> bytes:
        limit = self.limits.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise BadRequest("too_large", _too_large(request.content_length, limit), 413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest("too_large", _too_large(None, limit), 413) from None
        except RequestPayloadError as exc:  # a cut-off or malformed chunked body
            raise BadRequest("bad_body", f"the body could not be read: {exc}") from None
        if len(body) > limit:
            raise BadRequest("too_large", _too_large(len(body), limit), 413)
        return body

    def _refuse(self, endpoint: str, exc: BadRequest) -> web.Response:
        self.stats.refused[(endpoint, exc.cause)] += 1
        self.stats.requests[(endpoint, exc.status)] += 1
        self._log_once(exc.cause, f"{endpoint}: {exc}")
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return web.Response(status=exc.status, text=f"{exc}\n", headers=headers)

    def _log_once(self, cause: str, message: str) -> None:
        if cause in self._logged:
            return
        self._logged.add(cause)
        logger.warning("gateway: %s (logged once per cause; counted in /metrics)", message)

    # --- read-only pages -----------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        body: dict[str, object] = {
            "status": "ok" if self.kafka_ok else "kafka_unavailable",
            "waiting_events": len(self.joiner.waiting),
        }
        return web.json_response(body, status=200 if self.kafka_ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0]
        )

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(status(self.collector))


def _too_large(size: int | None, limit: int) -> str:
    what = f"body of {size} bytes" if size is not None else "body"
    return f"{what} over the limit of {limit} bytes (MEGAWATCH_GATEWAY_MAX_BODY_BYTES)"
