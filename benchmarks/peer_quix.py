"""A peer of ``peers.py``: a quix-streams application doing megawatch's job.

One StreamingDataFrame per telemetry topic, values as bytes; each message is validated
and applied by the same plain job as ``peer_plain.py`` (:mod:`peer_job`), and the rows
are inserted at quix's checkpoint (a sink whose ``flush`` inserts what is buffered), or
sooner when ``--batch-rows`` are buffered. Prints one JSON line like ``peer_plain.py``.
Needs ``pip install -e '.[bench]'`` (quixstreams, over confluent-kafka's librdkafka,
which talks to the embedded broker, unlike Debian's kcat).

    python benchmarks/peer_quix.py BOOTSTRAP READINGS STORE_DIR CAPS_JSON [--batch-rows N]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

from cpu_usage import busy_seconds
from peer_job import TOPIC_TABLE, PlainJob
from quixstreams import Application, message_context
from quixstreams.sinks import BaseSink


class CheckpointInsert(BaseSink):
    """Inserts the job's buffered rows when quix commits a checkpoint."""

    def __init__(self, job: PlainJob) -> None:
        super().__init__()
        self.job = job

    def add(self, *args: Any, **kwargs: Any) -> None:
        pass  # the rows are already buffered as columns by the job

    def flush(self) -> None:
        self.job.flush()


def run(args: argparse.Namespace) -> dict[str, float]:
    job = PlainJob(Path(args.store), json.loads(args.caps), args.batch_rows)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=f"peer-quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval,
        use_changelog_topics=False,  # no state stores used: none to back up
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        producer_extra_config={"enable.idempotence": False},  # the broker rejects it
    )
    sink = CheckpointInsert(job)
    clock: dict[str, float] = {}

    def handle(value: bytes) -> None:
        if not clock:
            clock.update(first=time.perf_counter(), cpu0=time.process_time(), busy0=busy_seconds())
        ctx = message_context()
        job.handle(ctx.topic, value, ctx.partition, ctx.offset)
        if job.buffered() >= args.batch_rows:
            job.flush()
        if job.readings >= args.readings:
            job.flush()
            clock.update(done=time.perf_counter(), cpu=time.process_time(), busy=busy_seconds())
            app.stop()

    for topic_name in TOPIC_TABLE:
        topic = app.topic(topic_name, value_deserializer="bytes", key_deserializer="bytes")
        sdf = app.dataframe(topic)
        sdf = sdf.update(handle)
        sdf.sink(sink)
    app.run()
    return {
        "readings": job.readings,
        "stored": job.stored,
        "seconds": round(clock["done"] - clock["first"], 2),
        "cpu_s": round(clock["cpu"] - clock["cpu0"], 2),
        "machine_busy_s": round(clock["busy"] - clock["busy0"], 2),  # every process's CPU
        "insert_s": round(job.insert_s, 2),
        "cap_alerts": job.alerts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    parser.add_argument("readings", type=int)
    parser.add_argument("store")
    parser.add_argument("caps", help="JSON: site -> cap in W")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--commit-interval", type=float, default=5.0)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
