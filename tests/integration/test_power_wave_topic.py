"""telemetry.power_wave on the embedded broker: created beside the older telemetry topics
with their partition count (an upgrade must not break co-partitioning), and fed by
`megawatch publish` in messages the worker's decoder takes whole: samples in = out."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from pipeline.broker.process import EmbeddedBroker
from pipeline.core.decode import MessageDecoder
from pipeline.events import PowerWave
from pipeline.kafka.endpoint import KafkaEndpoint
from pipeline.kafka.topics import GPU, LINK, POWER_WAVE, RACK_POWER, ensure_topics
from pipeline.settings import Settings

pytestmark = pytest.mark.integration


def test_power_wave_joins_older_topics_and_takes_published_waves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedBroker(data) as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:  # a deployment from before power waves, with 3 partitions per topic
            admin.create_topics([NewTopic(t, 3, 1) for t in (RACK_POWER, GPU, LINK)])
        finally:
            admin.close()
        settings = Settings(data_dir=data, kafka_partitions=4)
        layout = ensure_topics(settings, KafkaEndpoint(broker.bootstrap, embedded=True))
        assert POWER_WAVE in layout.created and layout.partitions == 3

        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        lines = [
            orjson.dumps(
                {
                    "site": "atl-2",
                    "rack": f"r{i}",
                    "ts": now_ms - 60_000,
                    "interval_ms": 50,
                    "power_w": [100_000.0 + j for j in range(1000)],
                }
            ).decode()
            for i in range(150)
        ]
        env = {
            **os.environ,
            "MEGAWATCH_DATA_DIR": str(data),
            "MEGAWATCH_MAX_MESSAGE_BYTES": "200000",
        }
        run = subprocess.run(
            [sys.executable, "-m", "pipeline", "publish", POWER_WAVE, "--key", "atl-2"],
            input="\n".join(lines) + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr[-2000:]

        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=2000)
        try:
            parts = [
                TopicPartition(POWER_WAVE, p) for p in consumer.partitions_for_topic(POWER_WAVE)
            ]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            records = list(consumer)
        finally:
            consumer.close()
    decoder = MessageDecoder(PowerWave)
    now = datetime.now(UTC)
    samples = 0
    for record in records:
        assert len(record.value) <= 200_000
        decoded = decoder.decode(record.value, record.key, now)
        assert decoded.rejects == []
        samples += sum(len(e.power_w) for e in decoded.events)
    assert len(records) > 1 and samples == 150 * 1000
    assert f"published 150 events in {len(records)} messages" in run.stderr
