"""Which Kafka megawatch talks to, and the client options to talk to it.

:func:`resolve_kafka` picks the endpoint: ``MEGAWATCH_KAFKA_BOOTSTRAP`` when set (a real
Kafka cluster, used as is: none of the embedded broker's workarounds apply), else the
embedded broker running for ``MEGAWATCH_DATA_DIR``, else a new one the caller owns.

One option builder per client library turns the endpoint, the TLS/SASL settings and
the client's role (:data:`Role`: admin, producer or consumer) into keyword arguments:
:func:`kafka_python_options`, :func:`aiokafka_options` and :func:`faust_options` (a
Faust app has one role). The embedded broker speaks PLAINTEXT only and differs from
Kafka in ways measured in ../shared/MEASURED.md; only the ``embedded`` endpoint gets:

* no idempotent producer (Tansu half-supports InitProducerId: aiokafka's v0 request is
  rejected; kafka-python 3.0.12 enables idempotence by default and gets an id, but we do
  not rely on Tansu's sequence checks);
* session timeout 6 s for consumers in a group, Faust's with heartbeat 1 s (Tansu's
  joins take half the session timeout), at-least-once processing (no transactions);
* the end-offset fix of :mod:`pipeline.kafka.tansu` (chosen by ``MegawatchApp``).
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.broker.process import EmbeddedBroker, broker_lock, discover
from pipeline.errors import BrokerError, ConfigError
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

#: Faust settings that make group joins quick on Tansu (see module doc).
EMBEDDED_FAUST_OPTIONS: dict[str, Any] = {
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 1.0,
    "processing_guarantee": "at_least_once",
}

#: The same for kafka-python and aiokafka consumers in a group.
EMBEDDED_GROUP_TIMEOUTS_MS: dict[str, int] = {"session_timeout_ms": 6000}


@dataclass(frozen=True)
class KafkaEndpoint:
    """A Kafka to connect to: ``bootstrap`` is ``host:port[,host:port...]``."""

    bootstrap: str
    embedded: bool
    cluster_id: str | None = None  # known up front for the embedded broker only

    @property
    def servers(self) -> list[str]:
        return [part.strip() for part in self.bootstrap.split(",") if part.strip()]


def _check_bootstrap(bootstrap: str) -> str:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit() or "/" in server:
            raise ConfigError(
                "invalid setting: MEGAWATCH_KAFKA_BOOTSTRAP: expected host:port[,host:port...] "
                f"(got {bootstrap!r})"
            )
    return bootstrap


def resolve_kafka(
    settings: Settings, *, start_if_missing: bool
) -> tuple[KafkaEndpoint, EmbeddedBroker | None]:
    """The Kafka to use, and the embedded broker this call started (caller stops it)."""
    if settings.kafka_bootstrap:
        return KafkaEndpoint(_check_bootstrap(settings.kafka_bootstrap), embedded=False), None
    if settings.kafka_security_protocol != "PLAINTEXT":
        raise ConfigError(
            "MEGAWATCH_KAFKA_SECURITY_PROTOCOL="
            f"{settings.kafka_security_protocol} needs MEGAWATCH_KAFKA_BOOTSTRAP: "
            "the embedded broker speaks PLAINTEXT only"
        )
    no_broker = BrokerError(
        f"no Kafka broker: none runs for data dir {settings.data_dir}; start one with "
        "`megawatch broker` (same MEGAWATCH_DATA_DIR) or set MEGAWATCH_KAFKA_BOOTSTRAP"
    )
    if not start_if_missing and not settings.data_dir.is_dir():
        raise no_broker  # the lock would create the data dir only to find nothing in it
    with broker_lock(settings.data_dir):
        info = discover(settings.data_dir)
        if info is not None:
            logger.info("using the embedded broker at %s (pid %s)", info.bootstrap, info.pid)
            return KafkaEndpoint(info.bootstrap, embedded=True, cluster_id=info.cluster_id), None
        if not start_if_missing:
            raise no_broker
        broker = EmbeddedBroker(settings.data_dir)
        info = broker.start()
    return KafkaEndpoint(info.bootstrap, embedded=True, cluster_id=info.cluster_id), broker


# --- security settings -----------------------------------------------------------------
def _uses_ssl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def _uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def _sasl_fields(settings: Settings) -> tuple[str, str, str]:
    """(mechanism, username, password), or a ConfigError naming what is missing."""
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        raise ConfigError(
            f"MEGAWATCH_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "MEGAWATCH_KAFKA_SASL_USERNAME and MEGAWATCH_KAFKA_SASL_PASSWORD"
        )
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    return mechanism, settings.kafka_sasl_username, settings.kafka_sasl_password.get_secret_value()


def _ssl_files(settings: Settings) -> dict[str, str]:
    """The configured TLS files that exist (a missing one is a ConfigError naming it)."""
    files = {
        "cafile": settings.kafka_ssl_cafile,
        "certfile": settings.kafka_ssl_certfile,
        "keyfile": settings.kafka_ssl_keyfile,
    }
    found: dict[str, str] = {}
    for name, path in files.items():
        if path is None:
            continue
        if not path.is_file():
            raise ConfigError(f"MEGAWATCH_KAFKA_SSL_{name.upper()}: no such file: {path}")
        found[name] = str(path)
    if "keyfile" in found and "certfile" not in found:
        raise ConfigError("MEGAWATCH_KAFKA_SSL_KEYFILE is set without MEGAWATCH_KAFKA_SSL_CERTFILE")
    return found


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context: system CAs or the CA file, plus the client certificate."""
    files = _ssl_files(settings)
    try:
        context = ssl.create_default_context(cafile=files.get("cafile"))
        if "certfile" in files:
            context.load_cert_chain(files["certfile"], files.get("keyfile"))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load the Kafka TLS files (MEGAWATCH_KAFKA_SSL_*): {exc}") from (
            exc
        )
    return context


#: What a client is for; each library's builder adds that role's options to the
#: security settings. A reader without a group is a ``consumer`` too.
Role = Literal["admin", "producer", "consumer"]

#: The producers' compression: kafka-python supports lz4 through the ``lz4`` package (a
#: dependency), and Tansu and Kafka accept it; zstd would need ``zstandard`` in
#: kafka-python.
COMPRESSION = "lz4"

#: kafka-python producer settings (the site agents, site specs, the demo). Retries are
#: bounded by ``delivery_timeout_ms``, after which the agent's publisher gives the
#: message back to its outbox (:mod:`pipeline.sources.publisher`).
KAFKA_PYTHON_PRODUCER: dict[str, Any] = {
    "compression_type": COMPRESSION,
    "linger_ms": 20,
    "retries": 2**31 - 1,  # bounded by delivery_timeout_ms instead
    "retry_backoff_ms": 200,
    "delivery_timeout_ms": 30_000,
    "request_timeout_ms": 10_000,
    "max_block_ms": 5_000,
    "reconnect_backoff_max_ms": 5_000,
    # Topics are created with the configured partition count (kafka.topics); a broker
    # that auto-created them on a metadata request would pick its own count (Tansu: 4).
    "allow_auto_create_topics": False,
}


def kafka_python_options(settings: Settings, endpoint: KafkaEndpoint, role: Role) -> dict[str, Any]:
    """Keyword arguments for kafka-python's ``KafkaAdminClient``, ``KafkaProducer`` or
    ``KafkaConsumer``: bootstrap servers, security, and the role's options."""
    options: dict[str, Any] = {
        "bootstrap_servers": endpoint.servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if _uses_ssl(settings):
        options.update({f"ssl_{name}": path for name, path in _ssl_files(settings).items()})
    options.update(_sasl_options(settings))
    if role == "producer":
        options.update(KAFKA_PYTHON_PRODUCER)
    return options | _role_options(endpoint, role)


def aiokafka_options(settings: Settings, endpoint: KafkaEndpoint, role: Role) -> dict[str, Any]:
    """Keyword arguments for aiokafka's clients: bootstrap servers, security (an
    ``ssl_context``), and the role's options.

    On the embedded broker a new group with ``auto_offset_reset='latest'`` replays old
    records: seek with :func:`pipeline.kafka.tansu.seek_to_true_end` after the assignment.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": endpoint.servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if _uses_ssl(settings):
        options["ssl_context"] = ssl_context(settings)
    options.update(_sasl_options(settings))
    return options | _role_options(endpoint, role)


def _sasl_options(settings: Settings) -> dict[str, Any]:
    """The SASL options, named alike by kafka-python and aiokafka."""
    if not _uses_sasl(settings):
        return {}
    mechanism, username, password = _sasl_fields(settings)
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def _role_options(endpoint: KafkaEndpoint, role: Role) -> dict[str, Any]:
    """What a role needs of either library (both name these options alike)."""
    if role == "producer":
        # Idempotent on a real cluster (no duplicates from retries; every in-sync
        # replica acks), never on the embedded broker (see the module doc). Said
        # explicitly: kafka-python 3 defaults to idempotence, aiokafka does not.
        return {"acks": "all", "enable_idempotence": not endpoint.embedded}
    if role == "consumer":
        # A member learns of a rebalance at its next heartbeat: every second keeps a
        # rebalance short (the notifier's pause in deliveries).
        timeouts: dict[str, Any] = {"heartbeat_interval_ms": 1000}
        if endpoint.embedded:
            timeouts.update(EMBEDDED_GROUP_TIMEOUTS_MS)
        return timeouts
    return {}


def faust_options(settings: Settings, endpoint: KafkaEndpoint) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` (and ``pipeline.kafka.tansu.MegawatchApp``)."""
    import faust

    options: dict[str, Any] = {
        "broker": [f"kafka://{server}" for server in endpoint.servers],
        "producer_compression_type": COMPRESSION,
    }
    context = ssl_context(settings) if _uses_ssl(settings) else None
    if _uses_sasl(settings):
        mechanism, username, password = _sasl_fields(settings)
        options["broker_credentials"] = faust.SASLCredentials(
            username=username, password=password, ssl_context=context, mechanism=mechanism
        )
    elif context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    if endpoint.embedded:
        options.update(EMBEDDED_FAUST_OPTIONS)
    return options


def cluster_id(endpoint: KafkaEndpoint, settings: Settings, *, timeout: float = 15.0) -> str:
    """The cluster id of the Kafka behind ``endpoint`` (asks a real cluster once)."""
    if endpoint.cluster_id is not None:
        return endpoint.cluster_id
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            **kafka_python_options(settings, endpoint, "admin"),
            client_id="megawatch-cluster-id",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
        try:
            found = admin.describe_cluster().get("cluster_id")
        finally:
            admin.close()
    except (KafkaError, OSError) as exc:
        raise BrokerError(
            f"cannot reach Kafka at {endpoint.bootstrap} (MEGAWATCH_KAFKA_BOOTSTRAP): {exc}"
        ) from exc
    if not found:
        raise BrokerError(f"Kafka at {endpoint.bootstrap} reports no cluster id")
    return str(found)
