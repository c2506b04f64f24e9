"""The worker's live state per tracked rack, measured on the pure core with tracemalloc.

RSS moves by tens of MiB with chDB's caches and the allocator, which hides a few KiB per
rack even over 8,000 racks. The live state itself is plain Python in
:class:`pipeline.core.processor.Processor`, so it can be measured exactly: decode one
hall's messages with the worker's decoders (their strings and numbers are what the
state keeps), feed them to a Processor built from the same settings, drop everything
but the Processor, and count what tracemalloc still sees, by source line.

The target figure, RSS per tracked rack as a slope over 64,000 racks with the bounded
caches in view, is :mod:`rack_memory`'s; this one hall's figure includes the caches
while they fill.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus, generate
from pydantic import BaseModel

from pipeline.core.decode import MessageDecoder
from pipeline.core.processor import Processor
from pipeline.events import GpuSample, LinkCounters, RackPower
from pipeline.kafka.topics import GPU, LINK, RACK_POWER
from pipeline.settings import load_settings
from pipeline.worker.parameters import decode_limits, rule_config

METHODS: dict[str, tuple[str, type[BaseModel]]] = {
    RACK_POWER: ("rack_power", RackPower),
    GPU: ("gpu", GpuSample),
    LINK: ("link", LinkCounters),
}


def state_per_rack(
    ticks: int = 35, gpu_every: int = 10, batch: int = 1000, racks: int = 1000
) -> dict[str, Any]:
    """KiB of live state per rack after ``ticks`` seconds of one hall of ``racks`` racks."""
    settings = load_settings()
    campus = Campus(halls=1, racks_per_hall=racks)
    load = generate(
        campus, ticks, int(time.time() * 1000) - ticks * 1000, gpu_every=gpu_every, batch=batch
    )
    decoders: dict[str, MessageDecoder[Any]] = {
        t: MessageDecoder(model, decode_limits(settings)) for t, (_, model) in METHODS.items()
    }
    processor = Processor(rule_config(settings), lambda site: None, lambda site: None)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for offset, m in enumerate(load.messages):
        events = decoders[m.topic].decode(m.value, m.key, datetime.now(UTC)).events
        getattr(processor, METHODS[m.topic][0])(events, 0, offset, int(time.time() * 1000))
        del events
    processor.tick_sites(int(time.time() * 1000), list(processor.monitors))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in diff)
    top = [
        {
            "kib_per_rack": round(stat.size_diff / 1024 / campus.racks, 3),
            "where": f"{stat.traceback[0].filename.split('/pipeline/')[-1]}:"
            f"{stat.traceback[0].lineno}",
        }
        for stat in diff[:14]
        if stat.size_diff > 0
    ]
    return {
        "racks": campus.racks,
        "ticks": ticks,
        "gpu_every": gpu_every,
        "kib_per_rack": round(total / 1024 / campus.racks, 2),
        "top_lines": top,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=35, help="seconds of one hall's telemetry")
    parser.add_argument("--racks", type=int, default=1000, help="racks of the hall")
    add_smoke(parser)
    args = smallest(parser.parse_args(), ticks=2, racks=50)
    result = state_per_rack(args.ticks, racks=args.racks)
    write_json(result_path("state_memory.json"), result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
