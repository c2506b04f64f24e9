"""The OpenTelemetry Python SDK's own OTLP/HTTP metric exporter (protobuf, gzip) writes to
`megawatch gateway`, and a real worker stores what it exported: GPU gauges and NIC
counters (cumulative sums) of a resource with ``site`` and ``host.name`` attributes. The
exporter's requests are recorded as it sent them (the encoder's output), so the expected
rows are computed here from its data points; the same request in OTLP's JSON encoding
(protobuf's own JSON printer) is taken as well.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gateway_process import GatewayProcess
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from worker_harness import WorkerProcess, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = pytest.mark.integration

TOKEN = "otlp-token"
MAP = "links:\n  gpu-host-7/eth7: {link: otel-link-1, class: fabric}\n"
COUNTERS = (
    "node_network_transmit_packets_total",
    "node_network_transmit_drop_total",
    "node_network_receive_packets_total",
    "node_network_receive_drop_total",
)


class RecordingExporter(OTLPMetricExporter):
    """The SDK's exporter; keeps each request it sent successfully."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[Any] = []

    def export(self, metrics_data: Any, timeout_millis: float | None = 10_000, **kw: Any) -> Any:
        result = super().export(metrics_data, timeout_millis, **kw)
        if result == MetricExportResult.SUCCESS:
            self.sent.append(encode_metrics(metrics_data))
        return result


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[WorkerProcess, GatewayProcess]]:
    (tmp_path / "map.yaml").write_text(MAP)
    with EmbeddedBroker(tmp_path / "data"):
        worker = WorkerProcess(tmp_path / "data").start()
        env = {**worker.env, "MEGAWATCH_GATEWAY_TOKEN": TOKEN}
        gateway = GatewayProcess(env, tmp_path / "gw", ("--map", str(tmp_path / "map.yaml")))
        try:
            yield worker, gateway.start()
        finally:
            gateway.stop()
            worker.stop()


def instruments(provider: MeterProvider) -> None:
    meter = provider.get_meter("test-gpu-node")
    ticks = {"n": 0}

    def gauge(name: str, value: Any) -> None:
        def observe(options: CallbackOptions) -> list[Observation]:
            n = ticks["n"]
            return [Observation(value(n, g), {"gpu": str(g)}) for g in range(2)]

        meter.create_observable_gauge(name, [observe])

    def counter(name: str, step: int) -> None:
        def observe(options: CallbackOptions) -> list[Observation]:
            ticks["n"] += name == COUNTERS[0]
            return [Observation(1000 + step * ticks["n"], {"device": "eth7"})]

        meter.create_observable_counter(name, [observe])

    for i, name in enumerate(COUNTERS):
        counter(name, 10 + i)
    gauge("DCGM_FI_DEV_GPU_UTIL", lambda n, g: (n * 11 + g) % 100)
    gauge("DCGM_FI_DEV_POWER_USAGE", lambda n, g: 250.5 + n + g)


def test_the_otel_sdk_exporter_is_stored_exactly(
    stack: tuple[WorkerProcess, GatewayProcess],
) -> None:
    worker, gateway = stack
    exporter = RecordingExporter(
        endpoint=f"{gateway.url}/v1/metrics",
        headers={"Authorization": f"Bearer {TOKEN}"},
        compression=Compression.Gzip,
    )
    resource = Resource.create({"site": "otel-1", "host.name": "gpu-host-7"})
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    instruments(provider)
    for _ in range(4):
        assert exporter.export(reader.get_metrics_data()) == MetricExportResult.SUCCESS
        time.sleep(0.05)
    requests = list(exporter.sent)
    assert len(requests) == 4
    # the same export in OTLP/JSON, for another site: the JSON path
    json_request = type(requests[0])()
    json_request.CopyFrom(requests[0])
    for attribute in json_request.resource_metrics[0].resource.attributes:
        if attribute.key == "site":
            attribute.value.string_value = "otel-json-1"
    response = httpx.post(
        f"{gateway.url}/v1/metrics",
        content=json_format.MessageToJson(json_request),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json() == {}
    requests.append(json_request)
    gpu, link = expected(requests)
    rows = wait_for(
        lambda: (r := stored(worker)) and len(r[0]) == len(gpu) and len(r[1]) == len(link) and r,
        30,
        f"{len(gpu)} GPU and {len(link)} link rows",
    )
    assert rows[0] == gpu and rows[1] == link
    provider.shutdown()


def expected(requests: list[Any]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    gpu: dict[Any, dict[str, Any]] = {}
    link: dict[Any, dict[str, Any]] = {}
    for request in requests:
        for rm in request.resource_metrics:
            site = next(a.value.string_value for a in rm.resource.attributes if a.key == "site")
            for scope in rm.scope_metrics:
                for metric in scope.metrics:
                    data = metric.gauge if metric.HasField("gauge") else metric.sum
                    for point in data.data_points:
                        ms = point.time_unix_nano // 1_000_000
                        attrs = {a.key: a.value.string_value for a in point.attributes}
                        value = point.as_int if point.HasField("as_int") else point.as_double
                        if metric.name.startswith("DCGM"):
                            key = (site, attrs["gpu"], ms)
                            field = "util" if "UTIL" in metric.name else "power"
                            gpu.setdefault(key, {})[field] = np.float32(value)
                        else:
                            link.setdefault((site, ms), {})[metric.name] = int(value)
    links = {}
    for key, c in link.items():
        tx_drop, rx_drop = (
            c["node_network_transmit_drop_total"],
            c["node_network_receive_drop_total"],
        )
        links[key] = (
            c["node_network_transmit_packets_total"] + tx_drop,
            c["node_network_receive_packets_total"],
            tx_drop + rx_drop,
        )
    return {k: (v["util"], v["power"]) for k, v in gpu.items()}, links


def stored(worker: WorkerProcess) -> tuple[dict[Any, Any], dict[Any, Any]]:
    gpu = {
        (r["site"], r["gpu"], r["ms"]): (np.float32(r["util_pct"]), np.float32(r["power_w"]))
        for r in worker.sql(
            "SELECT site, gpu, toUnixTimestamp64Milli(ts) AS ms, util_pct, power_w, host, rack "
            "FROM gpu_samples WHERE host = 'gpu-host-7' AND rack = 'gpu-host-7'"
        )
    }
    link = {
        (r["site"], r["ms"]): (r["tx_packets"], r["rx_packets"], r["dropped_packets"])
        for r in worker.sql(
            "SELECT site, toUnixTimestamp64Milli(ts) AS ms, tx_packets, rx_packets, "
            "dropped_packets FROM link_samples WHERE link = 'otel-link-1'"
        )
    }
    return gpu, link
