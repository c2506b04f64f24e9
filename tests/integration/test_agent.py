"""Site agents against the real embedded broker, read back with a kafka-python consumer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.endpoint import resolve_kafka
from pipeline.settings import Settings, load_settings
from pipeline.sources.agent import AgentRun, kafka_publisher, simulated_fleet
from pipeline.sources.base import TOPICS, OutMessage
from pipeline.sources.sim.fleet_gen import generate_fleet

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START_MS = int(time.time() * 1000)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", kafka_bootstrap=None)


@pytest.fixture
def broker(settings: Settings) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(settings.data_dir) as running:
        yield running


def small_source(ticks: int, **options):
    fleet = generate_fleet(5).only(["inf-iad-1", "train-ams-1"])
    opts = {"seed": 4, "interval_s": 0.2, "gpu_every": 8, "start_ms": START_MS, **options}
    source = simulated_fleet(fleet, ["steady"], **opts)
    expected = [m for _ in range(ticks) for m in source.tick_messages()[1]]
    return simulated_fleet(fleet, ["steady"], **opts), expected


def consume(bootstrap: str, want: int, timeout: float = 30.0) -> list[OutMessage]:
    """Every message on the telemetry topics, from the beginning, until ``want`` arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    deadline = time.monotonic() + timeout
    try:
        while not set(TOPICS.values()) <= consumer.topics() and time.monotonic() < deadline:
            time.sleep(0.2)  # topics() refreshes the metadata
        parts = [
            TopicPartition(topic, p)
            for topic in TOPICS.values()
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        got: list[OutMessage] = []
        while len(got) < want and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += [OutMessage(r.topic, r.key, r.value) for r in records]
        for records in consumer.poll(timeout_ms=500).values():  # nothing more may come
            got += [OutMessage(r.topic, r.key, r.value) for r in records]
        return got
    finally:
        consumer.close()


def as_counter(messages: list[OutMessage]) -> Counter:
    return Counter((m.topic, m.key, m.value) for m in messages)


def test_agent_publishes_exactly_its_batches_keyed_by_site_compressed(
    settings: Settings, broker: EmbeddedBroker
):
    source, expected = small_source(3)
    endpoint, owned = resolve_kafka(settings, start_if_missing=False)
    assert owned is None and endpoint.bootstrap == broker.bootstrap
    result = AgentRun(source, kafka_publisher(settings, endpoint), max_ticks=3).run()
    assert result.loop.ticks == 3 and result.outbox.delivered == len(expected)
    assert (result.outbox.dropped, result.undelivered) == (0, 0)
    assert result.compression_ratio is not None and result.compression_ratio < 0.5  # lz4
    got = consume(broker.bootstrap, len(expected))
    assert as_counter(got) == as_counter(expected)
    for m in got:
        assert {e["site"] for e in orjson.loads(m.value)["events"]} == {m.key.decode()}


def test_the_buffer_holds_messages_while_the_broker_is_away(settings: Settings, tmp_path: Path):
    source, expected = small_source(4)
    ticks = iter(source.ticks())
    first = EmbeddedBroker(settings.data_dir).__enter__()
    port = first.port
    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    publisher = kafka_publisher(settings, endpoint).start()
    second = None
    try:
        publisher.publish(next(ticks).messages)
        assert publisher.outbox.wait_empty(30)
        delivered_before = publisher.outbox.stats().delivered
        first.stop()
        away = [m for _ in range(3) for m in next(ticks).messages]
        publisher.publish(away)
        time.sleep(1.0)
        stats = publisher.outbox.stats()
        assert stats.delivered == delivered_before
        assert stats.pending + stats.in_flight == len(away) and stats.dropped == 0
        # A new broker on the same port, empty (memory storage) and with a new cluster id:
        # the publisher notices, re-creates the topics and sends again what the old one
        # had not confirmed, so every buffered message arrives (at least once).
        second = EmbeddedBroker(settings.data_dir, port=port).__enter__()
        assert publisher.outbox.wait_empty(60), publisher.outbox.stats()
        final = publisher.close()
        assert (final.delivered, final.dropped, final.rejected) == (len(expected), 0, 0)
        assert publisher.broker_changes == 1
        got = as_counter(consume(second.bootstrap, len(away)))
        assert all(got[key] >= n for key, n in as_counter(away).items())
        assert got.total() - len(away) <= final.retried  # duplicates only from re-sends
    finally:
        publisher.close(timeout=1)
        first.stop()
        if second is not None:
            second.stop()


def test_a_full_buffer_drops_the_oldest_counted_and_the_cli_says_so(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env.update(MEGAWATCH_DATA_DIR=str(tmp_path / "data"), MEGAWATCH_KAFKA_BOOTSTRAP="127.0.0.1:9")
    argv = [
        sys.executable,
        "-m",
        "pipeline",
        "agent",
        "--site",
        "edge-1",
        "--ticks",
        "6",
        "--interval",
        "0.1",
        "--buffer-mb",
        "0.5",
        "--gpu-every",
        "4",
    ]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "agent buffer full" in done.stderr and "raise --buffer-mb" in done.stderr
    summary = next(line for line in done.stderr.splitlines() if line.startswith("agent: 6 ticks"))
    assert "delivered 0" in summary and "dropped 0 " not in summary
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("megawatch: ") and "could not be delivered to Kafka at 127.0.0.1:9" in last
    )


def run_cli(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["MEGAWATCH_DATA_DIR"] = str(settings.data_dir)
    argv = [sys.executable, "-m", "pipeline", "agent", *args]
    return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_cli_replays_the_sample_through_the_broker(
    settings: Settings, broker: EmbeddedBroker, tmp_path: Path
):
    done = run_cli(
        settings,
        tmp_path,
        "--source",
        "replay",
        str(EXAMPLES / "replay-sample.jsonl"),
        "--speed",
        "max",
    )
    assert done.returncode == 0, done.stderr
    got = consume(broker.bootstrap, want=36)  # 12 ticks x 3 kinds
    events = [e for m in got for e in orjson.loads(m.value)["events"]]
    assert len(events) == 254 and {m.key for m in got} == {b"lab-sfo-1"}
    assert Counter(m.topic for m in got) == {topic: 12 for topic in TOPICS.values()}
    newest = max(e["ts"] for e in events)
    assert abs(newest - time.time() * 1000) < 60_000  # shifted to end now


def test_cli_simulates_a_site_for_n_ticks(
    settings: Settings, broker: EmbeddedBroker, tmp_path: Path
):
    done = run_cli(
        settings,
        tmp_path,
        "--site",
        "edge-1",
        "--ticks",
        "2",
        "--interval",
        "0.2",
        "--gpu-every",
        "16",
    )
    assert done.returncode == 0, done.stderr
    assert "agent: 2 ticks, 6 messages" in done.stderr and "undelivered 0" in done.stderr
    got = consume(broker.bootstrap, want=6)
    assert Counter((m.topic, m.key) for m in got) == {(t, b"edge-1"): 2 for t in TOPICS.values()}
