"""A scripted scenario through a real worker, embedded broker and embedded store.

atl-2 ramps over its 1 MW cap and back; a WAN link has a counter reset, then a loss burst;
bad events are mixed in. The outcome must be exactly: one firing and one resolved event
per alert; every valid reading stored once; every bad event dead-lettered once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from worker_harness import (
    WorkerProcess,
    now_ms,
    producer,
    read_topic,
    send_batch,
    wait_for,
)

from pipeline.broker.process import EmbeddedBroker

pytestmark = pytest.mark.integration
RACKS = 10
SPEC = {
    "site": "atl-2",
    "cap_mw": 1.0,
    "warn_ratio": 0.9,
    "region": "us-east",
    "loss_warn": {"wan": 1e-4},
    "loss_crit": {"wan": 1e-3},
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:
        yield running


@pytest.fixture
def worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


def publish_spec(prod: object, spec: dict) -> None:
    prod.send(
        "control.sites",
        key=spec["site"].encode(),  # type: ignore[attr-defined]
        value=json.dumps(spec).encode(),
    )


def rack_events(mw: float, ts: int) -> list[dict]:
    return [
        {"site": "atl-2", "rack": f"r{i}", "ts": ts, "power_w": mw * 1e6 / RACKS}
        for i in range(RACKS)
    ]


def scrape(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics through the Prometheus client's own parser: (sample, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_scripted_scenario(broker: EmbeddedBroker, worker: WorkerProcess) -> None:
    before = scrape(worker)
    assert not any(name == "megawatch_readings_total" for name, _ in before)
    prod = producer(broker.bootstrap)
    publish_spec(prod, SPEC)
    prod.flush()
    time.sleep(1.0)  # the spec reaches the worker's GlobalTable
    plan = [0.5] * 8 + [1.2] * 12 + [0.5] * 20  # MW per 0.5 s tick: warm-up, breach, back
    tx = dropped = 0
    valid_racks = valid_links = 0
    for tick, mw in enumerate(plan):
        ts = now_ms()
        send_batch(prod, "telemetry.rack_power", "atl-2", rack_events(mw, ts))
        valid_racks += RACKS
        if tick == 10:  # counter reset: the device rebooted
            tx, dropped = 0, 0
        tx += 10_000
        if 20 <= tick < 24:
            dropped += 50  # 0.5 % loss
        link = {
            "site": "atl-2",
            "link": "atl-wis-1",
            "link_class": "wan",
            "peer_site": "wis-1",
            "ts": ts,
            "tx_packets": tx,
            "rx_packets": tx,
            "dropped_packets": dropped,
        }
        send_batch(prod, "telemetry.link", "atl-2", [link])
        valid_links += 1
        if tick == 5:  # three bad inputs: not JSON, one bad event in a batch, wrong key
            prod.send("telemetry.rack_power", key=b"atl-2", value=b"{oops")
            bad = rack_events(0.5, ts)[:2]
            bad[1]["power_w"] = -1
            send_batch(prod, "telemetry.rack_power", "atl-2", bad)
            valid_racks += 1
            send_batch(prod, "telemetry.rack_power", "ord-1", rack_events(0.5, ts)[:1])
        prod.flush()
        time.sleep(0.5)

    def alerts_done() -> list[dict]:
        alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
        return alerts if sum(a["status"] == "resolved" for a in alerts) >= 4 else []

    alerts = wait_for(alerts_done, 30, "four resolved alerts")
    time.sleep(2)  # anything extra would have arrived by now
    alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
    episodes = sorted((a["rule"], a["severity"], a["status"], a["seq"]) for a in alerts)
    assert episodes == [
        ("cap_critical", "critical", "firing", 1),
        ("cap_critical", "critical", "resolved", 2),
        ("cap_warning", "warning", "firing", 1),
        ("cap_warning", "warning", "resolved", 2),
        ("link_loss_wan", "critical", "firing", 1),
        ("link_loss_wan", "critical", "resolved", 2),
        ("link_loss_wan", "warning", "firing", 1),
        ("link_loss_wan", "warning", "resolved", 2),
    ]
    wan = next(a for a in alerts if a["rule"] == "link_loss_wan" and a["status"] == "firing")
    assert (wan["link"], wan["peer_site"]) == ("atl-wis-1", "wis-1")

    def stored() -> dict:
        row = worker.sql(
            "SELECT (SELECT count() FROM rack_power) racks, "
            "(SELECT count() FROM link_samples) links, "
            "(SELECT count() FROM dead_letters) dead, (SELECT count() FROM alerts) alerts"
        )[0]
        return row if row["racks"] == valid_racks and row["dead"] == 3 else {}

    row = wait_for(stored, 20, "rows in the store")
    assert row == {"racks": valid_racks, "links": valid_links, "dead": 3, "alerts": 8}
    dead = worker.sql("SELECT reason_code, index FROM dead_letters ORDER BY reason_code")
    assert [(d["reason_code"], d["index"]) for d in dead] == [
        ("invalid", 1),
        ("key_mismatch", 0),
        ("not_json", -1),
    ]
    resets = worker.sql("SELECT sum(reset) r, countIf(baseline = 1) b FROM link_samples")[0]
    assert resets == {"r": 1, "b": 2}  # the first sample and the reset are baselines
    metrics = scrape(worker)
    readings = {
        dict(labels)["topic"]: value
        for (name, labels), value in metrics.items()
        if name == "megawatch_readings_total"
    }
    assert readings == {"telemetry.rack_power": valid_racks, "telemetry.link": valid_links}
    dead = {
        dict(labels)["reason"]: value
        for (name, labels), value in metrics.items()
        if name == "megawatch_dead_letters_total"
    }
    assert dead == {"not_json": 1, "invalid": 1, "key_mismatch": 1}
    fired = sum(
        v
        for (name, labels), v in metrics.items()
        if name == "megawatch_alerts_total" and ("status", "firing") in labels
    )
    assert fired == 4
    assert metrics[("megawatch_sink_rows_total", (("table", "rack_power"),))] == valid_racks
    assert not [
        v for (name, _), v in metrics.items() if name == "megawatch_offset_gaps_total" and v
    ]
    lags = [v for (name, _), v in metrics.items() if name == "megawatch_consumer_lag"]
    assert lags and max(lags) == 0  # caught up
    # While the worker owns the embedded store, the CLI goes through the worker.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "sql",
            "SELECT count() AS n FROM rack_power",
            "--format",
            "json",
        ],
        env=worker.env,
        cwd=worker.data_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == [{"n": valid_racks}]
    # no SQL on the worker's port any more: the CLI reaches the store itself
    gone = httpx.post(f"{worker.url}/api/sql", json={"sql": "DROP TABLE rack_power"}, timeout=30)
    assert gone.status_code == 404
    series = worker.sql("SELECT count() n, max(total_w) mx FROM site_power WHERE site = 'atl-2'")
    assert series[0]["n"] >= len(plan) / 2 and series[0]["mx"] == pytest.approx(1.2e6)


def test_kill_restart_and_cap_change(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """SIGKILL mid-stream: no duplicate firing, no lost or duplicated rows; then a cap
    raised at run time resolves the alerts without a restart."""
    import json
    import signal
    import threading

    prod = producer(broker.bootstrap)
    publish_spec(prod, SPEC)
    prod.flush()
    sent = 0
    stop = threading.Event()

    def feed() -> None:
        nonlocal sent
        while not stop.is_set():
            send_batch(prod, "telemetry.rack_power", "atl-2", rack_events(1.2, now_ms()))
            prod.flush()
            sent += RACKS
            time.sleep(0.25)

    first = WorkerProcess(tmp_path / "data").start()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        wait_for(
            lambda: [
                a for a in read_topic(broker.bootstrap, "alerts", 1) if a["rule"] == "cap_critical"
            ],
            30,
            "the cap alert",
        )
        time.sleep(1.5)
        first.stop(signal.SIGKILL)
        time.sleep(2)  # telemetry keeps coming while no worker runs
        second = WorkerProcess(tmp_path / "data").start()
        try:
            time.sleep(6)  # past the warm-up: still over the cap, still firing
            prod.send(
                "control.sites", key=b"atl-2", value=json.dumps({**SPEC, "cap_mw": 2.0}).encode()
            )
            prod.flush()

            def resolved() -> list[dict]:
                alerts = read_topic(broker.bootstrap, "alerts", 1)
                return alerts if sum(a["status"] == "resolved" for a in alerts) >= 2 else []

            alerts = wait_for(resolved, 30, "the resolve after the cap change")
            stop.set()
            feeder.join(5)
            time.sleep(2)
            alerts = read_topic(broker.bootstrap, "alerts", 1)
            assert sorted((a["rule"], a["status"], a["seq"]) for a in alerts) == [
                ("cap_critical", "firing", 1),
                ("cap_critical", "resolved", 2),
                ("cap_warning", "firing", 1),
                ("cap_warning", "resolved", 2),
            ]

            # The reference is what Kafka holds: a producer retry under load may have
            # written a batch twice (at another offset), which the worker must store as
            # it is; what it must not do is lose a reading or store a message twice.
            in_kafka = sum(
                len(m["events"]) for m in read_topic(broker.bootstrap, "telemetry.rack_power", 1)
            )

            def all_rows() -> dict:
                row = second.sql("SELECT count() n, uniqExact(rack, ts) u FROM rack_power")[0]
                return row if row["n"] >= in_kafka else {}

            try:
                row = wait_for(all_rows, 30, f"{in_kafka} rows")
            except AssertionError:
                counts = second.sql("SELECT count() n, uniqExact(rack, ts) u FROM rack_power")
                offsets = second.sql(
                    "SELECT kafka_partition p, groupArray(kafka_offset) o FROM "
                    "(SELECT DISTINCT kafka_partition, kafka_offset FROM "
                    "rack_power ORDER BY kafka_offset) GROUP BY p"
                )
                ledger = second.sql("SELECT tbl, partition, max_offset, at FROM ingest_offsets")
                raise AssertionError(
                    f"stored {counts}, in Kafka {in_kafka}, sent {sent}:\n"
                    f"{offsets}\n{ledger}\n{first.tail(20)}\n"
                    f"{second.tail(60)}"
                ) from None
            per_message = second.sql(
                "SELECT kafka_partition p, kafka_offset o, count() c, "
                "groupArray(toString(ingested_at)) at "
                "FROM rack_power GROUP BY 1, 2 HAVING c != 10 ORDER BY p, o"
            )
            ledger = second.sql(
                "SELECT tbl, topic, partition, max_offset, at FROM ingest_offsets ORDER BY at"
            )
            assert per_message == [], (
                f"{per_message}\n{ledger}\n{first.tail(30)}\n{second.tail(60)}"
            )
            assert row == {"n": in_kafka, "u": sent}
        finally:
            second.stop()
    finally:
        stop.set()
        first.stop()
