"""Each link-health rule fires on a fault injected through `megawatch gateway`, into a real
worker and its store, and stays quiet on a healthy link sending the same names.

remote_write requests (the real protobuf runtime, snappy) carry what node_exporter
publishes for a mlx5 NIC (its ethtool collector's names, its carrier counters) and
megawatch's own optics metrics, at event times of the last hour: a post-FEC BER ramp
(``link_ber`` warning), a flap then a 40 s outage (``link_flap`` warning, critical), a
PFC pause storm and the NIC giving up (``pfc_storm`` warning, critical), a lane of a
WAN module fading under its low warning and falling 2 dB an hour (``optics_rx_power``,
``optics_drift``). The OpenTelemetry SDK's OTLP/HTTP exporter, with OpenConfig's leaf
names, reports uncorrectable FEC codewords on a switch port (``link_ber`` critical).
The first minute of every link is sent, then the worker's warm-up is waited out, then
the faults: rules judge the whole history.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_process import GatewayProcess
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource
from worker_harness import WorkerProcess, now_ms, read_topic, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.gateway import remote_write
from pipeline.gateway.series import Series

pytestmark = pytest.mark.integration

TOKEN = "link-health-token"
SITE = "fra-1"
MAP = """links:
  n1/ens1f0np0: {link: spine-1, class: fabric}
  n1/ens1f1np1: {link: spine-2, class: fabric}
  n2/ens2f0np0: {link: leaf-2, class: fabric}
  n3/ens3f0np0: {link: dci-1, class: wan, peer: ams-2}
  n9/ens9f0np0: {link: spine-9, class: fabric}
  swp3: {link: dci-3, class: wan, peer: ams-2}
"""
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "Authorization": f"Bearer {TOKEN}",
}
WINDOWS = {
    "MEGAWATCH_BER_WINDOW_S": "20",
    "MEGAWATCH_FLAP_WINDOW_S": "60",
    "MEGAWATCH_PFC_WINDOW_S": "20",
    "MEGAWATCH_OPTICS_DRIFT_WINDOW_S": "3600",
}
PHASE_S = 60  # the first minute of each link: sent before the warm-up is waited out


class Scrapes:
    """Series of node_exporter names per interface, a point per scrape."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], list[Any]] = {}

    def add(self, host: str, device: str, ts: int, values: dict[str, float], **extra: str):
        for name, value in values.items():
            key = (name, host, device, tuple(sorted(extra.items())))
            self.points.setdefault(key, []).append((ts, float(value)))

    def series(self, before: int | None = None, since: int | None = None) -> list[Series]:
        out = []
        for (name, host, device, extra), points in self.points.items():
            kept = [
                p
                for p in points
                if (before is None or p[0] < before) and (since is None or p[0] >= since)
            ]
            labels = {"site": SITE, "instance": f"{host}:9100", "device": device, **dict(extra)}
            if kept:
                out.append(Series(name, labels, kept))
        return out


def packets(i: int) -> dict[str, float]:
    return {
        "node_network_transmit_packets_total": 10_000 * i,
        "node_network_transmit_drop_total": 0,
        "node_network_receive_packets_total": 10_000 * i,
        "node_network_receive_drop_total": 0,
    }


def scrapes(base: int) -> Scrapes:
    """Two minutes of every faulty link and the healthy one, a scrape a second (optics:
    the last 52 minutes, a sample a minute)."""
    s = Scrapes()
    errors = pause_us = 0
    changes = 4
    for i in range(121):
        ts = base + i * 1000
        late = i >= PHASE_S
        errors += 20 if late and i else 0  # 20 post-FEC errors/s of 1e11 bits: BER 2e-10
        s.add(
            "n1",
            "ens1f0np0",
            ts,
            packets(i)
            | {
                "node_ethtool_received_bits_phy": 100_000_000_000 * i,
                "node_ethtool_received_pcs_symbol_err_phy": errors,
            },
        )
        pause_us += (300_000 if late else 10_000) if i else 0  # 30 % of the time paused
        s.add(
            "n1",
            "ens1f1np1",
            ts,
            packets(i)
            | {
                "node_ethtool_received_prio3_pause": pause_us // 100,
                "node_ethtool_received_prio3_pause_duration": pause_us,
                "node_ethtool_transmitted_pause_storm_error_events": int(i >= 100),
            },
        )
        s.add(
            "n9",
            "ens9f0np0",
            ts,
            packets(i)
            | {
                "node_ethtool_received_bits_phy": 100_000_000_000 * i,
                "node_ethtool_received_pcs_symbol_err_phy": 0,
                "node_ethtool_link_down_events_phy": 1,
                "node_ethtool_received_prio3_pause_duration": 100 * i,
                "node_ethtool_transmitted_pause_storm_error_events": 0,
                "node_network_carrier_changes_total": 2,
                "node_network_up": 1,
            },
        )
        if i % 5 == 0:  # the flapping link, scraped every 5 s
            up = not (65 <= i < 70 or i >= 80)
            changes += i in (65, 70, 80)
            s.add(
                "n2",
                "ens2f0np0",
                ts,
                packets(i)
                | {
                    "node_network_carrier_changes_total": changes,
                    "node_network_up": int(up),
                },
            )
    for k in range(53):  # optics: lane 1 falls 2 dB an hour from -8.5 dBm
        ts = base - 3_000_000 + k * 60_000
        fading = -8.5 - 2.0 * (k * 60) / 3600
        s.add("n3", "ens3f0np0", ts, packets(k) | {"node_network_up": 1})
        for lane, dbm in enumerate((-2.0, round(fading, 3))):
            s.add("n3", "ens3f0np0", ts, {"megawatch_link_rx_power_dbm": dbm}, lane=str(lane))
        for level, dbm in (("low_warn", -10.0), ("low_alarm", -13.0)):
            s.add(
                "n3", "ens3f0np0", ts, {"megawatch_link_rx_power_threshold_dbm": dbm}, level=level
            )
        s.add("n9", "ens9f0np0", ts - 1, {"megawatch_link_rx_power_dbm": -2.2}, lane="0")
    return s


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, WorkerProcess, GatewayProcess]]:
    (tmp_path / "map.yaml").write_text(MAP)
    with EmbeddedBroker(tmp_path / "data") as broker:
        worker = WorkerProcess(tmp_path / "data", WINDOWS).start()
        env = {**worker.env, "MEGAWATCH_GATEWAY_TOKEN": TOKEN}
        gateway = GatewayProcess(env, tmp_path / "gw", ("--map", str(tmp_path / "map.yaml")))
        try:
            yield broker, worker, gateway.start()
        finally:
            gateway.stop()
            worker.stop()


def write(gateway: GatewayProcess, series: list[Series]) -> None:
    for start in range(0, len(series), 40):
        body = remote_write.encode(series[start : start + 40])
        response = httpx.post(
            f"{gateway.url}/api/v1/write", content=body, headers=HEADERS, timeout=30
        )
        assert response.status_code == 204, response.text


def export_fec(gateway: GatewayProcess) -> None:
    """A switch port's OpenConfig counters through the SDK's OTLP/HTTP exporter: two
    exports without an uncorrectable codeword, then one with two."""
    exporter = OTLPMetricExporter(
        endpoint=f"{gateway.url}/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"site": SITE}), metric_readers=[reader])
    meter = provider.get_meter("switch")
    tick = {"n": 0}
    base = "interfaces/interface/state/counters"
    for leaf, value in (
        (f"{base}/out-pkts", lambda n: 5000 * n),
        (f"{base}/out-discards", lambda n: 0),
        (f"{base}/in-pkts", lambda n: 5000 * n),
        (f"{base}/in-discards", lambda n: 0),
        (
            "interfaces/interface/ethernet/state/counters/fec-uncorrectable-blocks",
            lambda n: 2 if n >= 3 else 0,
        ),
    ):

        def observe(options: CallbackOptions, value: Any = value) -> list[Observation]:
            return [Observation(value(tick["n"]), {"name": "swp3"})]

        meter.create_observable_counter(leaf, [observe])
    for n in (1, 2, 3):
        tick["n"] = n
        assert exporter.export(reader.get_metrics_data()) == MetricExportResult.SUCCESS
        time.sleep(1.1)
    provider.shutdown()


def test_each_link_health_rule_fires_through_the_gateway(
    stack: tuple[EmbeddedBroker, WorkerProcess, GatewayProcess],
) -> None:
    broker, worker, gateway = stack
    base = now_ms() - 600_000
    data = scrapes(base)
    write(gateway, data.series(before=base + PHASE_S * 1000))
    time.sleep(5)  # the site warms up (MEGAWATCH_STALE_AFTER_S=3) on the first events
    write(gateway, data.series(since=base + PHASE_S * 1000))
    export_fec(gateway)

    wanted = {
        ("link_ber", "warning", "spine-1"),
        ("link_ber", "critical", "dci-3"),
        ("link_flap", "warning", "leaf-2"),
        ("link_flap", "critical", "leaf-2"),
        ("pfc_storm", "warning", "spine-2"),
        ("pfc_storm", "critical", "spine-2"),
        ("optics_rx_power", "warning", "dci-1"),
        ("optics_drift", "warning", "dci-1"),
    }

    def fired() -> dict[tuple[str, str, str], dict[str, Any]]:
        alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
        got = {
            (a["rule"], a["severity"], a["link"]): a
            for a in alerts
            if a["status"] == "firing" and a["rule"] in {k[0] for k in wanted}
        }
        return got if wanted <= set(got) else {}

    got = wait_for(fired, 60, f"the link-health alerts ({worker.tail(5)})")
    assert set(got) == wanted  # nothing on the healthy spine-9, nothing else anywhere
    ber = got[("link_ber", "warning", "spine-1")]
    assert 1e-10 <= ber["value"] <= 2e-10 and ber["threshold"] == 1e-10
    assert got[("link_ber", "critical", "dci-3")]["value"] == 2
    assert got[("link_flap", "critical", "leaf-2")]["value"] >= 30
    pause = got[("pfc_storm", "warning", "spine-2")]
    assert 0.2 <= pause["value"] <= 0.3 and "priority 3" in pause["summary"]
    assert "gave up pausing" in got[("pfc_storm", "critical", "spine-2")]["summary"]
    drift = got[("optics_drift", "warning", "dci-1")]
    assert drift["value"] == pytest.approx(48.0, rel=0.01)  # 2 dB an hour
    assert got[("optics_rx_power", "warning", "dci-1")]["threshold"] == -10.0
    assert drift["peer_site"] == "ams-2"

    # stored as scraped: spine-1's post-FEC errors (20 a second from second 60 to 120)
    # and bits add up to what was sent; spine-2's pause time likewise
    rows = worker.sql(
        "SELECT link, sum(d_symbol_errors) AS errors, sum(d_rx_bits) AS bits, count() AS n, "
        "countIf(via = 'gateway') AS via FROM link_samples WHERE link IN ('spine-1', 'spine-2') "
        "GROUP BY link ORDER BY link"
    )
    assert rows[0] == {
        "link": "spine-1",
        "errors": 20 * 61,
        "bits": 10**11 * 120,
        "n": 121,
        "via": 121,
    }
    pauses = worker.sql(
        "SELECT sumMap(d_rx_pause_us) AS us FROM link_samples WHERE link = 'spine-2'"
    )
    assert pauses[0]["us"] == {"3": 59 * 10_000 + 61 * 300_000}  # JSON keys
