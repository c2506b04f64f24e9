"""A peer of ``peers.py``: a plain aiokafka ``getmany`` loop doing megawatch's job.

Run by ``peers.py`` as its own process (so its CPU is its own); prints one JSON line:
readings, seconds from the first fetched record to the last insert, CPU seconds of the
process (all threads: the chDB engine's included) over the same span.

    python benchmarks/peer_plain.py BOOTSTRAP READINGS STORE_DIR CAPS_JSON [--batch-rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from cpu_usage import busy_seconds
from peer_job import TOPIC_TABLE, PlainJob


async def consume(args: argparse.Namespace) -> dict[str, float]:
    job = PlainJob(Path(args.store), json.loads(args.caps), args.batch_rows)
    consumer = AIOKafkaConsumer(
        *TOPIC_TABLE,
        bootstrap_servers=args.bootstrap,
        group_id=f"peer-plain-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    first: float | None = None
    cpu0 = busy0 = 0.0
    try:
        while job.readings < args.readings:
            batches = await consumer.getmany(timeout_ms=500)
            if batches and first is None:
                first, cpu0, busy0 = time.perf_counter(), time.process_time(), busy_seconds()
            for records in batches.values():
                for r in records:
                    job.handle(r.topic, r.value, r.partition, r.offset)
            if job.buffered() >= args.batch_rows:
                job.flush()
                await consumer.commit()  # at-least-once: offsets after the rows are stored
        job.flush()
        await consumer.commit()
        done, cpu, busy = time.perf_counter(), time.process_time(), busy_seconds()
    finally:
        await consumer.stop()
    assert first is not None
    return {
        "readings": job.readings,
        "stored": job.stored,
        "seconds": round(done - first, 2),
        "cpu_s": round(cpu - cpu0, 2),
        "machine_busy_s": round(busy - busy0, 2),  # every process's CPU over the drain
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
    print(json.dumps(asyncio.run(consume(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
