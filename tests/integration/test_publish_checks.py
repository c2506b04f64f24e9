"""`megawatch publish` refuses what the worker would dead-letter, says so by line, and
exits 1; `--send-invalid` sends it on purpose (issue 24 item 3). A real embedded broker;
what reached the topic is read back."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.broker.process import EmbeddedBroker
from pipeline.kafka.topics import RACK_POWER

pytestmark = pytest.mark.integration


def events_on(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=2000)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        return [record.value for record in consumer]
    finally:
        consumer.close()


def publish(data: Path, lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "publish", RACK_POWER, "--key", "atl-2", *args],
        input="\n".join(lines) + "\n",
        env={**clean, "MEGAWATCH_DATA_DIR": str(data)},
        cwd=data.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_publish_refuses_by_line_and_sends_invalid_only_on_purpose(tmp_path: Path) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    good = {"site": "atl-2", "rack": "r12", "ts": now, "power_w": 118250.5}
    lines = [
        orjson.dumps(good).decode(),
        orjson.dumps({"site": "atl-2", "rack": "r13", "ts": now}).decode(),  # no power_w
        orjson.dumps({**good, "power_w": -5}).decode(),
    ]
    data = tmp_path / "data"
    with EmbeddedBroker(data) as broker:
        refused = publish(data, lines)
        assert refused.returncode == 1, refused.stderr
        said = refused.stderr.splitlines()
        assert said[0].startswith("refused: stdin line 2: power_w: Field required")
        assert said[1] == (
            "refused: stdin line 3: power_w: Input should be greater than or equal to 0 (got -5)"
        )
        assert said[2] == f"published 1 events in 1 messages to {RACK_POWER}"
        assert said[3] == (
            "megawatch: refused 2 events on 2 lines that the worker would dead-letter "
            "(shown above; --send-invalid sends them)"
        )
        assert [orjson.loads(v) for v in events_on(broker.bootstrap, RACK_POWER)] == [
            {"events": [good]}
        ]

        on_purpose = publish(data, lines, "--send-invalid")
        assert on_purpose.returncode == 0, on_purpose.stderr
        assert "sent anyway: stdin line 3: power_w" in on_purpose.stderr
        assert f"published 3 events in 3 messages to {RACK_POWER}" in on_purpose.stderr
        sent = events_on(broker.bootstrap, RACK_POWER)[1:]
        assert sent[1:] == [line.encode() for line in lines[1:]]  # as written


def test_publish_names_the_topic_it_does_not_know(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", "publish", "telemetry.rack_powr", "--key", "a"],
        input="",
        env={k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        | {"MEGAWATCH_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr == (
        "megawatch: TOPIC 'telemetry.rack_powr' is not a topic of the contract: "
        "did you mean telemetry.rack_power or telemetry.work?\n"
    )
