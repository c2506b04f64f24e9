"""Endpoint resolution without a broker, client option builders, the Tansu app switch."""

from __future__ import annotations

import shutil
import ssl
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipeline.broker.probe import _metadata_request, _parse_cluster_id
from pipeline.errors import BrokerError, ConfigError
from pipeline.kafka.endpoint import (
    KafkaEndpoint,
    aiokafka_options,
    cluster_id,
    faust_options,
    kafka_python_options,
    resolve_kafka,
)
from pipeline.settings import Settings, load_settings

EMBEDDED = KafkaEndpoint("127.0.0.1:19092", embedded=True, cluster_id="megawatch-abc")
REMOTE = KafkaEndpoint("kafka-1:9092,kafka-2:9092", embedded=False)
PASSWORD = "s3cret-sasl-pw"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return load_settings(data_dir=tmp_path, **values)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed CA/client certificate and key, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=megawatch-test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return {"cafile": cert, "certfile": cert, "keyfile": key}


# --- resolve_kafka ---------------------------------------------------------------------
def test_bootstrap_setting_means_real_kafka_and_no_broker(tmp_path: Path) -> None:
    endpoint, owned = resolve_kafka(
        settings(tmp_path, kafka_bootstrap="kafka-1:9092, kafka-2:9093"), start_if_missing=True
    )
    assert owned is None
    assert endpoint.embedded is False and endpoint.cluster_id is None
    assert endpoint.servers == ["kafka-1:9092", "kafka-2:9093"]
    assert not (tmp_path / "broker.json").exists()


@pytest.mark.parametrize("bad", ["kafka-1", "kafka://kafka-1:9092", "kafka-1:port", ":9092"])
def test_malformed_bootstrap_names_the_variable(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="MEGAWATCH_KAFKA_BOOTSTRAP: expected host:port"):
        resolve_kafka(settings(tmp_path, kafka_bootstrap=bad), start_if_missing=False)


def test_no_broker_running_and_not_allowed_to_start_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BrokerError) as caught:
        resolve_kafka(settings(tmp_path), start_if_missing=False)
    message = str(caught.value)
    assert "`megawatch broker`" in message and "MEGAWATCH_KAFKA_BOOTSTRAP" in message
    assert str(tmp_path) in message and "\n" not in message


def test_tls_or_sasl_without_bootstrap_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs MEGAWATCH_KAFKA_BOOTSTRAP"):
        resolve_kafka(settings(tmp_path, kafka_security_protocol="SSL"), start_if_missing=True)


def test_cluster_id_of_the_embedded_broker_needs_no_request(tmp_path: Path) -> None:
    assert cluster_id(EMBEDDED, settings(tmp_path)) == "megawatch-abc"


# --- option builders -------------------------------------------------------------------
BUILDERS = (kafka_python_options, aiokafka_options)
SERVERS = ["kafka-1:9092", "kafka-2:9092"]


def test_plaintext_options(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    for build in BUILDERS:
        assert build(plain, REMOTE, "admin") == {
            "bootstrap_servers": SERVERS,
            "security_protocol": "PLAINTEXT",
        }


def test_producers_are_never_idempotent_on_the_embedded_broker(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    for build in BUILDERS:
        assert build(plain, EMBEDDED, "producer")["enable_idempotence"] is False
        # real Kafka: no duplicates from retries, every in-sync replica acks
        real = build(plain, REMOTE, "producer")
        assert real["enable_idempotence"] is True and real["acks"] == "all"
        assert "enable_idempotence" not in build(plain, REMOTE, "consumer")


def test_kafka_python_producers_compress_and_bound_their_retries(tmp_path: Path) -> None:
    options = kafka_python_options(settings(tmp_path), EMBEDDED, "producer")
    assert options["compression_type"] == "lz4"
    assert options["retries"] > 1_000 and options["delivery_timeout_ms"] == 30_000
    assert options["allow_auto_create_topics"] is False
    assert "compression_type" not in kafka_python_options(settings(tmp_path), EMBEDDED, "admin")


def test_group_timeouts_are_short_on_the_embedded_broker_only(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    for build in BUILDERS:
        assert build(plain, EMBEDDED, "consumer")["session_timeout_ms"] == 6000
        assert build(plain, EMBEDDED, "consumer")["heartbeat_interval_ms"] == 1000
        assert build(plain, REMOTE, "consumer")["heartbeat_interval_ms"] == 1000
        assert "session_timeout_ms" not in build(plain, REMOTE, "consumer")
        assert "session_timeout_ms" not in build(plain, EMBEDDED, "producer")


def test_sasl_scram_options(tmp_path: Path) -> None:
    sasl = settings(
        tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="megawatch",
        kafka_sasl_password=PASSWORD,
    )
    expected = {
        "bootstrap_servers": SERVERS,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "megawatch",
        "sasl_plain_password": PASSWORD,
    }
    assert kafka_python_options(sasl, REMOTE, "admin") == expected
    assert aiokafka_options(sasl, REMOTE, "admin") == expected


def test_sasl_without_credentials_names_the_variables_and_no_secret(tmp_path: Path) -> None:
    sasl = settings(tmp_path, kafka_security_protocol="SASL_SSL", kafka_sasl_password=PASSWORD)
    with pytest.raises(ConfigError) as caught:
        kafka_python_options(sasl, REMOTE, "producer")
    assert "MEGAWATCH_KAFKA_SASL_USERNAME" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_ssl_options_carry_the_files_and_a_loaded_context(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    tls = settings(
        tmp_path,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=tls_files["cafile"],
        kafka_ssl_certfile=tls_files["certfile"],
        kafka_ssl_keyfile=tls_files["keyfile"],
    )
    assert kafka_python_options(tls, REMOTE, "admin") == {
        "bootstrap_servers": SERVERS,
        "security_protocol": "SSL",
        **{f"ssl_{name}": str(path) for name, path in tls_files.items()},
    }
    context = aiokafka_options(tls, REMOTE, "consumer")["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert any("megawatch-test" in str(ca["subject"]) for ca in context.get_ca_certs())


def test_missing_tls_file_names_the_variable(tmp_path: Path) -> None:
    tls = settings(tmp_path, kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "no.pem")
    with pytest.raises(ConfigError, match="MEGAWATCH_KAFKA_SSL_CAFILE: no such file"):
        aiokafka_options(tls, REMOTE, "consumer")


def test_faust_options_embedded_versus_real_kafka(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    embedded = faust_options(plain, EMBEDDED)
    assert embedded["broker"] == ["kafka://127.0.0.1:19092"]
    assert embedded["broker_session_timeout"] == 6.0
    assert embedded["broker_heartbeat_interval"] == 1.0
    assert embedded["processing_guarantee"] == "at_least_once"
    real = faust_options(plain, REMOTE)
    assert real == {
        "broker": ["kafka://kafka-1:9092", "kafka://kafka-2:9092"],
        "producer_compression_type": "lz4",
    }


def test_faust_sasl_ssl_credentials(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    import faust

    secure = settings(
        tmp_path,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="megawatch",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=tls_files["cafile"],
    )
    credentials = faust_options(secure, REMOTE)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert PASSWORD not in repr(credentials)


# --- the Tansu switch in the Faust app ---------------------------------------------------
@pytest.mark.parametrize("embedded", [True, False])
def test_megawatch_app_uses_the_tansu_transport_only_when_embedded(
    tmp_path: Path, embedded: bool
) -> None:
    from faust.transport.drivers import aiokafka as faust_aiokafka

    from pipeline.kafka.faust_fixes import MegawatchConsumer, MegawatchTransport
    from pipeline.kafka.tansu import MegawatchApp, TansuConsumer, TansuTransport

    endpoint = EMBEDDED if embedded else REMOTE
    app = MegawatchApp(
        "mw-unit", embedded_broker=embedded, **faust_options(settings(tmp_path), endpoint)
    )
    transport = app.transport
    if embedded:
        assert type(transport) is TansuTransport
        assert transport.Consumer is TansuConsumer
    else:
        # Faust's own transport, with only the broker-independent seek fix: no Tansu class
        assert type(transport) is MegawatchTransport
        assert transport.Consumer is MegawatchConsumer
        assert issubclass(MegawatchTransport, faust_aiokafka.Transport)
        assert not isinstance(transport, TansuTransport)


# --- the readiness probe's wire format ----------------------------------------------------
def test_metadata_request_and_response_wire_format() -> None:
    request = _metadata_request(7)
    size, api_key, version, correlation = struct.unpack(">ihhi", request[:12])
    assert (size, api_key, version, correlation) == (len(request) - 4, 3, 2, 7)

    def string(text: str | None) -> bytes:
        return (
            struct.pack(">h", -1) if text is None else struct.pack(">h", len(text)) + text.encode()
        )

    response = (
        struct.pack(">ii", 7, 1)  # correlation id, one broker
        + struct.pack(">i", 111)
        + string("127.0.0.1")
        + struct.pack(">i", 19092)
        + string(None)
        + string("megawatch-abc")
        + struct.pack(">i", 111)
        + struct.pack(">i", 0)
    )
    assert _parse_cluster_id(response, 7) == "megawatch-abc"
    with pytest.raises(ValueError):
        _parse_cluster_id(response, 8)
    with pytest.raises(ValueError):
        _parse_cluster_id(response[:20], 7)


def test_replicated_topics_require_two_in_sync_copies() -> None:
    from pipeline.kafka.topics import TopicSpec, topic_configs

    assert topic_configs(TopicSpec("t"), 1) == {}
    assert topic_configs(TopicSpec("t"), 2) == {"min.insync.replicas": "1"}
    assert topic_configs(TopicSpec("s", compacted=True), 3) == {
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
    }
