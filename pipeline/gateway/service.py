"""A running gateway: settings -> Kafka producer, join log, mapper, HTTP server.

``serve`` (:func:`serve`) is what ``megawatch gateway`` calls: it creates the contract's
topics if missing, starts an aiokafka producer (``acks=all``; idempotent on a real
Kafka, not on the embedded broker, which refuses it: ../shared/MEASURED.md), reloads
the join log, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path

import yaml
from aiohttp import web

from pipeline.errors import ConfigError
from pipeline.gateway.joins import Joiner
from pipeline.gateway.mapper import SeriesMapper
from pipeline.gateway.partial_log import PartialLog
from pipeline.gateway.sender import KafkaSender
from pipeline.gateway.server import Gateway, Limits
from pipeline.kafka.endpoint import KafkaEndpoint, aiokafka_options
from pipeline.settings import Settings
from pipeline.sources.mapping import Mapping, parse_mapping
from pipeline.worker.parameters import decode_limits

logger = logging.getLogger(__name__)

SWEEP_S = 1.0
#: aiokafka: the produce request carries headers around the batch
_REQUEST_OVERHEAD = 64 * 1024


def load_places(path: Path | None) -> tuple[Mapping, str | None]:
    """The ``--map`` file: the agents' ``hosts:``/``racks:``/``links:``, plus an optional
    ``site:`` for series without a ``site`` label."""
    if path is None:
        return Mapping(), None
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--map {path}: cannot read it: {exc}".splitlines()[0]) from None
    site = data.pop("site", None) if isinstance(data, dict) else None
    if site is not None and not isinstance(site, str):
        raise ConfigError(f"--map {path}: site: expected a site id")
    return parse_mapping(data, path), site


def bearer_token(settings: Settings) -> str | None:
    """MEGAWATCH_GATEWAY_TOKEN, or the first line of MEGAWATCH_GATEWAY_TOKEN_FILE."""
    if settings.gateway_token is not None and settings.gateway_token_file is not None:
        raise ConfigError("set MEGAWATCH_GATEWAY_TOKEN or MEGAWATCH_GATEWAY_TOKEN_FILE, not both")
    if settings.gateway_token is not None:
        token = settings.gateway_token.get_secret_value().strip()
    elif settings.gateway_token_file is not None:
        try:
            token = settings.gateway_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"MEGAWATCH_GATEWAY_TOKEN_FILE: cannot read {settings.gateway_token_file}: "
                f"{exc.strerror}"
            ) from None
    else:
        return None
    if not token:
        raise ConfigError("the gateway's bearer token is empty (MEGAWATCH_GATEWAY_TOKEN[_FILE])")
    return token


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS with MEGAWATCH_GATEWAY_TLS_CERTFILE/KEYFILE; client certificates required
    when MEGAWATCH_GATEWAY_TLS_CLIENT_CAFILE names their CA."""
    cert, key = settings.gateway_tls_certfile, settings.gateway_tls_keyfile
    client_ca = settings.gateway_tls_client_cafile
    if cert is None:
        if key is not None or client_ca is not None:
            raise ConfigError("MEGAWATCH_GATEWAY_TLS_CERTFILE is needed for TLS (key, client CA)")
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.load_verify_locations(cafile=client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load the gateway's TLS files (MEGAWATCH_GATEWAY_TLS_*): {exc}"
        ) from None
    return context


def state_dir(settings: Settings, port: int) -> Path:
    return settings.gateway_state_dir or settings.data_dir / f"gateway-{port}"


@dataclass(frozen=True)
class GatewayConfig:
    """What a gateway needs besides Kafka, checked before anything starts."""

    host: str
    port: int
    mapping: Mapping
    site: str | None
    token: str | None
    tls: ssl.SSLContext | None


def gateway_config(
    settings: Settings, host: str, port: int, site: str | None, map_file: Path | None
) -> GatewayConfig:
    """The settings and options checked: a ConfigError names the first one wrong."""
    mapping, map_site = load_places(map_file or settings.gateway_map_file)
    return GatewayConfig(
        host,
        port,
        mapping,
        site or map_site or settings.gateway_site,
        bearer_token(settings),
        tls_context(settings),
    )


async def serve(
    settings: Settings,
    endpoint: KafkaEndpoint,
    config: GatewayConfig,
) -> None:
    """Serve until cancelled or signalled."""
    from aiokafka import AIOKafkaProducer

    host, port, context = config.host, config.port, config.tls
    log = PartialLog(state_dir(settings, port) / "joins.jsonl")
    joiner = Joiner(settings.gateway_join_window_s, log)
    joiner.replay(log.read())
    log.snapshot = joiner.snapshot
    log.compact()
    producer = AIOKafkaProducer(
        **{
            **aiokafka_options(settings, endpoint, "producer"),  # acks=all, idempotent
            "compression_type": "lz4",
            "linger_ms": 5,
            "max_request_size": settings.max_message_bytes + _REQUEST_OVERHEAD,
            "request_timeout_ms": int(settings.gateway_kafka_timeout_s * 1000),
            "client_id": "megawatch-gateway",
        }
    )
    await producer.start()
    sender = KafkaSender(producer, decode_limits(settings), settings.gateway_kafka_timeout_s)
    gateway = Gateway(
        SeriesMapper(config.mapping, config.site),
        joiner,
        sender,
        Limits(settings.gateway_max_body_bytes, settings.gateway_retry_after_s),
        config.token,
    )
    # auto_decompress off: bodies are decompressed here, under the size limit (aiohttp's
    # own gzip decoding would inflate them unbounded first)
    runner = web.AppRunner(
        gateway.app(), access_log=None, handle_signals=False, auto_decompress=False
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True).start()
        scheme = "https" if context else "http"
        logger.warning(
            "gateway on %s://%s:%d (remote_write /api/v1/write, OTLP /v1/metrics) -> %s; "
            "%d events waiting from the join log",
            scheme,
            host,
            port,
            endpoint.bootstrap,
            len(joiner.waiting),
        )
        await _until_stopped(gateway)
    finally:
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await producer.stop()
        log.close()


async def _until_stopped(gateway: Gateway) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_S)
        await gateway.sweep()
