"""Debian's Prometheus remote-writes what it scrapes to `megawatch gateway`, through a real
worker into the real embedded store, and the stored readings are the scraped ones.

Prometheus scrapes Debian's node_exporter (this machine's netdev counters) and a
dcgm-exporter page in the exporter's own format (every default counter, values that
change at each scrape, plus a rack power series), with ``external_labels: {site: ...}``
and ``remote_write`` to the gateway with a bearer token. ``max_samples_per_send`` is
small, so one scrape's series of one GPU are cut over several requests (the gateway
joins them). The gateway is SIGKILLed while Prometheus writes and restarted on the same
port: Prometheus retries, and every sample in Prometheus' own TSDB is then stored
exactly once, with its own value. The expected rows are computed here from Prometheus'
samples (its query API returns the raw samples with their timestamps).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gateway_process import GatewayProcess
from prometheus_server import (
    NODE_EXPORTER,
    PROMETHEUS,
    SKIP_REASON,
    binary,
    running_node_exporter,
    running_prometheus,
)
from test_source_dcgm import MODEL, default_counters
from worker_harness import WorkerProcess, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        binary(PROMETHEUS) is None or binary(NODE_EXPORTER) is None, reason=SKIP_REASON
    ),
]

SITE = "atl-1"
TOKEN = "remote-write-token-1"
HOST = "gpu-node-01"
MAP = f"""\
hosts:
  {HOST}: {{rack: r12}}
links:
  eth0: {{link: atl-wan-1, class: wan, peer: dfw-1}}
"""


def page(n: int) -> str:
    """dcgm-exporter's page at scrape ``n``: every default counter for two GPUs, values
    exact in Float32, plus one rack's power."""
    values = {
        "DCGM_FI_DEV_GPU_UTIL": lambda g: (n * 7 + g * 13) % 101,
        "DCGM_FI_DEV_POWER_USAGE": lambda g: 300 + n * 0.25 + g,
        "DCGM_FI_DEV_GPU_TEMP": lambda g: 40 + n % 30 + g,
        "DCGM_FI_DEV_FB_USED": lambda g: 1000 + n,
        "DCGM_FI_DEV_FB_FREE": lambda g: 80000 - n,
        "DCGM_FI_DEV_FB_RESERVED": lambda g: 500,
    }
    lines = []
    for field, prom_type, help_text in default_counters():
        lines += [f"# HELP {field} {help_text}", f"# TYPE {field} {prom_type}"]
        for gpu in range(2):
            labels = (
                f'gpu="{gpu}",UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e5{gpu}",'
                f'device="nvidia{gpu}",modelName="{MODEL}",Hostname="{HOST}"'
            )
            value = values.get(field, lambda g: 1)(gpu)
            lines.append(f"{field}{{{labels}}} {value}")
    lines += [
        "# TYPE megawatch_rack_power_watts gauge",
        f'megawatch_rack_power_watts{{rack="r12"}} {20000 + n * 10}',
    ]
    return "\n".join(lines) + "\n"


class DcgmPage:
    """A real HTTP server: /metrics answers the next page."""

    def __init__(self) -> None:
        outer = self
        self.scrapes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.scrapes += 1
                body = page(outer.scrapes).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    with EmbeddedBroker(tmp_path / "data"):
        proc = WorkerProcess(tmp_path / "data").start()
        try:
            yield proc
        finally:
            proc.stop()


def prometheus_config(gateway_url: str, node: str, dcgm: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "external_labels": {"site": SITE}},
        "scrape_configs": [
            {"job_name": "node", "static_configs": [{"targets": [node]}]},
            {"job_name": "dcgm", "static_configs": [{"targets": [dcgm]}]},
        ],
        "remote_write": [
            {
                "url": f"{gateway_url}/api/v1/write",
                "authorization": {"credentials": TOKEN},
                "queue_config": {
                    "max_samples_per_send": 50,  # a scrape of one GPU spans requests
                    "batch_send_deadline": "500ms",
                    "min_backoff": "50ms",
                    "max_backoff": "500ms",
                },
            }
        ],
    }


def test_prometheus_remote_write_is_stored_exactly_once_across_a_gateway_kill(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    (tmp_path / "map.yaml").write_text(MAP)
    env = {**worker.env, "MEGAWATCH_GATEWAY_TOKEN": TOKEN}
    gateway = GatewayProcess(env, tmp_path / "gw", ("--map", str(tmp_path / "map.yaml")))
    gateway.start()
    dcgm = DcgmPage()
    try:
        with (
            running_node_exporter(tmp_path / "node") as node,
            running_prometheus(
                tmp_path / "prom", prometheus_config(gateway.url, node, dcgm.address)
            ) as prom,
        ):
            wait_for(
                lambda: gateway.status()["events_produced"].get("gpu", 0) >= 4, 30, "GPU events"
            )
            time.sleep(2)
            gateway.kill()  # while Prometheus writes: requests cut off mid-way
            time.sleep(2)  # Prometheus' sends fail meanwhile; it retries
            gateway.start()
            time.sleep(5)
            cutoff_s = time.time() - 1
            scraped = {
                name: prom.samples(name, cutoff_s)
                for name in (
                    "DCGM_FI_DEV_GPU_UTIL",
                    "DCGM_FI_DEV_POWER_USAGE",
                    "DCGM_FI_DEV_GPU_TEMP",
                    "DCGM_FI_DEV_FB_USED",
                    "DCGM_FI_DEV_FB_FREE",
                    "DCGM_FI_DEV_FB_RESERVED",
                    "megawatch_rack_power_watts",
                    'node_network_transmit_packets_total{device="eth0"}',
                    'node_network_transmit_drop_total{device="eth0"}',
                    'node_network_receive_packets_total{device="eth0"}',
                    'node_network_receive_drop_total{device="eth0"}',
                    'node_network_receive_errs_total{device="eth0"}',
                    'node_network_transmit_errs_total{device="eth0"}',
                )
            }
            retried = prom.own_metric("prometheus_remote_storage_samples_retried_total")
            dropped = prom.own_metric("prometheus_remote_storage_samples_failed_total")
            expected = expected_rows(scraped)
            cutoff_ms = int(cutoff_s * 1000)  # Prometheus answered with samples up to it
            wait_for(
                lambda: (
                    stored_counts(worker, cutoff_ms) == {k: len(v) for k, v in expected.items()}
                ),
                60,
                f"every scraped reading up to {cutoff_ms} stored",
            )
            status = subprocess.run(
                [sys.executable, "-m", "pipeline", "gateway", "status", "--url", gateway.url],
                capture_output=True,
                text=True,
                timeout=30,
                env=env,
            )
    finally:
        dcgm.close()
        gateway.stop()
    assert retried > 0, "Prometheus retried nothing: the kill did not cut a write"
    assert dropped == 0
    check_gpu_rows(worker, expected["gpu"], cutoff_ms)
    check_link_rows(worker, expected["link"], cutoff_ms)
    check_rack_rows(worker, expected["rack"], cutoff_ms)
    for table, key in (
        ("gpu_samples", "site, rack, host, gpu, ts"),
        ("link_samples", "site, link, ts"),
        ("rack_power", "site, rack, ts"),
    ):
        [row] = worker.sql(f"SELECT count() AS n, uniqExact({key}) AS u FROM {table}")
        assert row["n"] == row["u"] > 0, f"{table}: stored twice"
    [via] = worker.sql("SELECT groupUniqArray(via) AS v FROM gpu_samples")
    assert via["v"] == ["gateway"]
    # what maps to nothing is counted by name and shown, never dropped silently
    assert status.returncode == 0, status.stderr
    assert "DCGM_FI_DEV_SM_CLOCK: unknown_metric" in status.stdout
    assert "scrape_duration_seconds: unknown_metric" in status.stdout
    assert "remote_write 204" in status.stdout


def expected_rows(scraped: dict[str, dict[tuple[Any, ...], float]]) -> dict[str, dict[Any, Any]]:
    """The rows a worker must hold, computed from Prometheus' own samples."""
    parts: dict[tuple[Any, ...], dict[str, float]] = defaultdict(dict)
    for name, samples in scraped.items():
        short = name.split("{")[0]
        for (labels, ts), value in samples.items():
            tags = dict(labels)
            if short.startswith("DCGM"):
                parts[("gpu", tags["gpu"], ts)][short] = value
            elif short.startswith("node_network"):
                parts[("link", ts)][short] = value
            else:
                parts[("rack", ts)][short] = value
    gpu, link, rack = {}, {}, {}
    for key, p in parts.items():
        if key[0] == "gpu":
            used, free, reserved = (
                p.get(f"DCGM_FI_DEV_FB_{x}") for x in ("USED", "FREE", "RESERVED")
            )
            gpu[(key[1], key[2])] = {
                "util_pct": min(p["DCGM_FI_DEV_GPU_UTIL"], 100.0),
                "power_w": p["DCGM_FI_DEV_POWER_USAGE"],
                "temp_c": p.get("DCGM_FI_DEV_GPU_TEMP"),
                "mem_used_pct": round(100 * used / (used + free + reserved), 2)
                if None not in (used, free, reserved)
                else None,
            }
        elif key[0] == "link":
            n = {k.removeprefix("node_network_"): int(v) for k, v in p.items()}
            link[key[1]] = {
                "tx_packets": n["transmit_packets_total"] + n["transmit_drop_total"],
                "rx_packets": n["receive_packets_total"],
                "dropped_packets": n["transmit_drop_total"] + n["receive_drop_total"],
                "error_packets": n["receive_errs_total"] + n["transmit_errs_total"],
            }
        else:
            rack[key[1]] = p["megawatch_rack_power_watts"]
    return {"gpu": gpu, "link": link, "rack": rack}


def stored_counts(worker: WorkerProcess, cutoff_ms: int) -> dict[str, int]:
    out = {}
    for kind, table in (("gpu", "gpu_samples"), ("link", "link_samples"), ("rack", "rack_power")):
        [row] = worker.sql(
            f"SELECT count() AS n FROM {table} WHERE toUnixTimestamp64Milli(ts) <= {cutoff_ms}"
        )
        out[kind] = row["n"]
    return out


def _f32(value: float | None) -> Any:
    return None if value is None else np.float32(value)


def check_gpu_rows(worker: WorkerProcess, expected: dict[Any, Any], cutoff_ms: int) -> None:
    rows = worker.sql(
        "SELECT site, rack, host, gpu, toUnixTimestamp64Milli(ts) AS ms, util_pct, power_w, "
        "temp_c, mem_used_pct, vendor, model FROM gpu_samples "
        f"WHERE toUnixTimestamp64Milli(ts) <= {cutoff_ms} ORDER BY gpu, ms"
    )
    assert {(r["gpu"], r["ms"]) for r in rows} == set(expected)
    first = {}
    for row in rows:
        first.setdefault(row["gpu"], row["ms"])
        want = expected[(row["gpu"], row["ms"])]
        assert (row["site"], row["rack"], row["host"]) == (SITE, "r12", HOST)
        assert (row["vendor"], row["model"]) == ("nvidia", MODEL)
        assert _f32(row["util_pct"]) == _f32(want["util_pct"]), row
        assert _f32(row["power_w"]) == _f32(want["power_w"]), row
        for field in ("temp_c", "mem_used_pct"):
            if row[field] is None and row["ms"] == first[row["gpu"]]:
                continue  # the first reading of a GPU is sent before its optional parts are known
            assert _f32(row[field]) == _f32(want[field]), (field, row, want)


def check_link_rows(worker: WorkerProcess, expected: dict[Any, Any], cutoff_ms: int) -> None:
    rows = worker.sql(
        "SELECT site, link, link_class, peer_site, toUnixTimestamp64Milli(ts) AS ms, "
        "tx_packets, rx_packets, dropped_packets, error_packets FROM link_samples "
        f"WHERE toUnixTimestamp64Milli(ts) <= {cutoff_ms}"
    )
    assert {r["ms"] for r in rows} == set(expected)
    for row in rows:
        assert (row["site"], row["link"], row["link_class"], row["peer_site"]) == (
            SITE,
            "atl-wan-1",
            "wan",
            "dfw-1",
        )
        got = {
            k: int(row[k]) for k in ("tx_packets", "rx_packets", "dropped_packets", "error_packets")
        }
        assert got == expected[row["ms"]]


def check_rack_rows(worker: WorkerProcess, expected: dict[Any, Any], cutoff_ms: int) -> None:
    rows = worker.sql(
        "SELECT site, rack, toUnixTimestamp64Milli(ts) AS ms, power_w FROM rack_power "
        f"WHERE toUnixTimestamp64Milli(ts) <= {cutoff_ms}"
    )
    assert {r["ms"]: r["power_w"] for r in rows} == expected
    assert {(r["site"], r["rack"]) for r in rows} == {(SITE, "r12")}
