"""What a real gateway answers to what writers may send: a wrong token, a truncated
protobuf, a body that is not snappy, an oversize body, Kafka away; each refusal is
counted by cause (/metrics). And the worker stores a gateway reading once per identity,
however often it is published, where agents' readings keep their offsets' meaning."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from gateway_process import GatewayProcess
from prometheus_client.parser import text_string_to_metric_families
from worker_harness import WorkerProcess, now_ms, producer, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.gateway import remote_write
from pipeline.gateway.series import Series

pytestmark = pytest.mark.integration

TOKEN = "t0ken-of-the-test"
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "Authorization": f"Bearer {TOKEN}",
}


def gpu_series(ts: int, host: str = "n1") -> list[Series]:
    labels = {"Hostname": host, "gpu": "0", "site": "fra-1"}
    return [
        Series("DCGM_FI_DEV_GPU_UTIL", labels, [(ts, 50.0)]),
        Series("DCGM_FI_DEV_POWER_USAGE", labels, [(ts, 400.0)]),
    ]


def refusals(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        sample.labels["cause"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "megawatch_gateway_refused_requests_total"
    }


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    env = {
        "PATH": "/usr/bin:/bin",
        "MEGAWATCH_DATA_DIR": str(tmp_path / "data"),
        "MEGAWATCH_GATEWAY_TOKEN": TOKEN,
        "MEGAWATCH_GATEWAY_MAX_BODY_BYTES": "65536",
        "MEGAWATCH_GATEWAY_KAFKA_TIMEOUT_S": "2",
        "MEGAWATCH_GATEWAY_RETRY_AFTER_S": "7",
        "MEGAWATCH_KAFKA_PARTITIONS": "4",
    }
    with EmbeddedBroker(tmp_path / "data") as broker:
        proc = GatewayProcess(env, tmp_path / "gw").start()
        proc.broker = broker  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            proc.stop()


def test_refusals_get_their_status_and_a_counted_cause(gateway: GatewayProcess) -> None:
    url = f"{gateway.url}/api/v1/write"
    good = remote_write.encode(gpu_series(now_ms()))
    raw = remote_write.decompress(good, 1 << 20)
    cases = [
        # (headers, body, status, cause)
        ({**HEADERS, "Authorization": "Bearer wrong"}, good, 401, "unauthorized"),
        ({k: v for k, v in HEADERS.items() if k != "Authorization"}, good, 401, "unauthorized"),
        # cut inside the last sample's double: a snappy body of a truncated protobuf
        (HEADERS, remote_write.compress(raw[:-3]), 400, "bad_protobuf"),
        (HEADERS, raw, 400, "not_snappy"),  # the protobuf, not compressed
        (HEADERS, b"\x00" * 70_000, 413, "too_large"),
        # small on the wire, over the limit once uncompressed
        (HEADERS, remote_write.compress(b"\x0a\x00" * 40_000), 413, "too_large"),
        ({**HEADERS, "Content-Encoding": "gzip"}, good, 415, "unsupported_encoding"),
    ]
    for headers, body, status, cause in cases:
        before = refusals(gateway.url).get(cause, 0)
        response = httpx.post(url, content=body, headers=headers, timeout=10)
        assert response.status_code == status, (cause, response.text)
        assert refusals(gateway.url)[cause] == before + 1, cause
    assert httpx.post(url, content=good, headers=HEADERS, timeout=10).status_code == 204
    figures = gateway.status()
    assert figures["events_produced"] == {"gpu": 1}
    assert figures["requests"]["remote_write 204"] == 1
    # Kafka away: 503 with Retry-After, and counted; Prometheus retries it
    gateway.broker.stop()  # type: ignore[attr-defined]
    started = time.monotonic()
    response = httpx.post(url, content=good, headers=HEADERS, timeout=30)
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert time.monotonic() - started < 15
    assert refusals(gateway.url)["kafka_unavailable"] == 1
    assert httpx.get(f"{gateway.url}/health", timeout=5).status_code == 503


def test_a_gateway_reading_is_stored_once_however_often_it_is_published(tmp_path: Path) -> None:
    """The same messages published twice, at new offsets (a retried request): gateway
    rows once; an agent's message published twice is stored twice, as before."""
    with EmbeddedBroker(tmp_path / "data") as broker:
        worker = WorkerProcess(tmp_path / "data").start()
        try:
            prod = producer(broker.bootstrap)
            ts = now_ms()
            events = [
                {
                    "site": "fra-1",
                    "rack": "r1",
                    "host": "n1",
                    "gpu": str(g),
                    "ts": ts,
                    "util_pct": 10.0,
                    "power_w": 300.0,
                }
                for g in range(3)
            ]
            body = orjson.dumps({"events": events})
            via = [("megawatch-via", b"gateway")]
            for _ in range(2):  # the same request twice
                prod.send("telemetry.gpu", key=b"fra-1", value=body, headers=via)
                prod.flush()
                time.sleep(1.2)  # in separate flushes as well as within one below
            prod.send("telemetry.gpu", key=b"fra-1", value=body, headers=via)
            prod.send("telemetry.gpu", key=b"fra-1", value=body, headers=via)
            agent = orjson.dumps({"events": [{**e, "rack": "r2", "host": "n2"} for e in events]})
            prod.send("telemetry.gpu", key=b"fra-1", value=agent)
            prod.send("telemetry.gpu", key=b"fra-1", value=agent)
            prod.flush()
            counts = "SELECT rack, count() AS n FROM gpu_samples GROUP BY rack ORDER BY rack"
            rows = wait_for(
                lambda: (
                    (r := worker.sql(counts)) and r[-1]["rack"] == "r2" and r[-1]["n"] == 6 and r
                ),
                30,
                "the agent's copies stored",
            )
            assert rows == [{"rack": "r1", "n": 3}, {"rack": "r2", "n": 6}]
        finally:
            worker.stop()


def _certificates(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""

    def run(*argv: str) -> None:
        subprocess.run(["openssl", *argv], cwd=tmp, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    (tmp / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "san.cnf"]), ("client", [])):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.pem",
            *extra,
        )
    return {n: tmp / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_client_certificates(tmp_path: Path) -> None:
    files = _certificates(tmp_path)
    env = {
        "PATH": "/usr/bin:/bin",
        "MEGAWATCH_DATA_DIR": str(tmp_path / "data"),
        "MEGAWATCH_GATEWAY_TLS_CERTFILE": str(files["server.pem"]),
        "MEGAWATCH_GATEWAY_TLS_KEYFILE": str(files["server.key"]),
        "MEGAWATCH_GATEWAY_TLS_CLIENT_CAFILE": str(files["ca.pem"]),
        "MEGAWATCH_KAFKA_PARTITIONS": "4",
    }
    trusted = ssl.create_default_context(cafile=files["ca.pem"])  # no client certificate
    with_cert = ssl.create_default_context(cafile=files["ca.pem"])
    with_cert.load_cert_chain(files["client.pem"], files["client.key"])
    with EmbeddedBroker(tmp_path / "data"):
        gateway = GatewayProcess(env, tmp_path / "gw")
        gateway.url = f"https://127.0.0.1:{gateway.port}"
        try:
            gateway.start(verify=with_cert)
            url = f"{gateway.url}/api/v1/write"
            body = remote_write.encode(gpu_series(now_ms()))
            headers = {k: v for k, v in HEADERS.items() if k != "Authorization"}  # no token set
            with httpx.Client(verify=with_cert) as http:
                assert http.post(url, content=body, headers=headers).status_code == 204
            with httpx.Client(verify=trusted) as http, pytest.raises(httpx.HTTPError):
                http.post(url, content=body, headers=headers)  # refused in the handshake
        finally:
            gateway.stop()
