"""The worker's GPU path in one process: decode and core of a campus's GPU messages.

The GPU topic is ~80 % of a campus's readings, and its per-reading Python work (msgspec
decode, the columnar checks, the racks' windows, energy integration at ingest, the
rows) is what the worker's main thread spends most of its time on. This times exactly
that, without Kafka, Faust or the store, whose noise hides changes of a few percent in
the drain benchmarks: ``MessageDecoder(GpuSample).decode`` then ``Processor.gpu`` on
pre-encoded messages of the simulated campus (:mod:`campus_telemetry`), the first half
of the ticks to warm the state (every GPU seen once), the second half timed (CPU time
of this process).

``--baseline REF`` times the package at git REF the same way, in alternating child
processes, and reports the paired ratio (tree / baseline, readings per CPU-second): a
like-for-like comparison on a shared machine.

    python benchmarks/gpu_path.py --baseline HEAD~3     # ~1 min
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json
from power_eval import alternating_rounds, extract_package, medians, run_child

ROOT = Path(__file__).resolve().parent.parent


def measure(halls: int, racks_per_hall: int, ticks: int, gpu_every: int) -> dict[str, float]:
    """CPU us per GPU reading: decode, core, both (the timed half of the ticks)."""
    from campus_telemetry import Campus, generate

    from pipeline.core.decode import MessageDecoder
    from pipeline.core.policy import RuleConfig
    from pipeline.core.processor import Processor
    from pipeline.events import GpuSample, SiteSpec
    from pipeline.kafka.topics import GPU

    campus = Campus(halls=halls, racks_per_hall=racks_per_hall)
    start_ms = int(time.time() * 1000) - ticks * 1000
    load = generate(campus, ticks, start_ms, gpu_every=gpu_every, batch=1000)
    specs = {s.site: s for s in campus.specs()}
    processor = Processor(
        RuleConfig(),
        lambda site: specs.get(site) or SiteSpec(site=site, cap_mw=1.0),
        lambda s: None,
    )
    decoder = MessageDecoder(GpuSample)
    now = datetime.now(UTC)
    messages = [(t, m) for t, tick in enumerate(load.ticks) for m in tick if m.topic == GPU]
    warm = [pair for pair in messages if pair[0] < ticks // 2]
    timed = [pair for pair in messages if pair[0] >= ticks // 2]
    for phase in (warm, timed):  # the figures kept are the timed phase's
        decode_s = core_s = 0.0
        readings = 0
        for offset, (t, message) in enumerate(phase):
            began = time.process_time()
            decoded = decoder.decode(message.value, message.key, now)
            decoded_at = time.process_time()
            key = message.key.decode()
            processor.gpu(decoded.events, 0, offset, start_ms + 1000 * t + 500, key)
            core_s += time.process_time() - decoded_at
            decode_s += decoded_at - began
            readings += len(decoded.events)
    return {
        "readings": readings,
        "decode_us": decode_s / readings * 1e6,
        "core_us": core_s / readings * 1e6,
        "us_per_reading": (decode_s + core_s) / readings * 1e6,
    }


def _child(path: Path, args: argparse.Namespace) -> dict[str, float]:
    flags = [f"--halls={args.halls}", f"--racks-per-hall={args.racks_per_hall}"]
    flags += [f"--ticks={args.ticks}", f"--gpu-every={args.gpu_every}"]
    return run_child(__file__, path, flags, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--halls", type=int, default=8)
    parser.add_argument("--racks-per-hall", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=20, help="campus seconds (half warm)")
    parser.add_argument("--gpu-every", type=int, default=10, help="GPU poll period, ticks")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="git ref to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_smoke(parser)
    args = smallest(parser.parse_args(), halls=1, racks_per_hall=20, ticks=4, gpu_every=2, rounds=1)
    if args.child:
        print(json.dumps(measure(args.halls, args.racks_per_hall, args.ticks, args.gpu_every)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = extract_package(args.baseline, Path(tmp)) if args.baseline else None
        runs = alternating_rounds(args.rounds, base, lambda path: _child(path, args))
    out: dict[str, Any] = {"parameters": vars(args) | {"child": None}}
    out.update(medians(runs))
    pairs = list(zip(runs["tree"], runs["baseline"], strict=False))
    if pairs:  # paired, then the median: steadier than a ratio of medians
        ratios = [b["us_per_reading"] / t["us_per_reading"] for t, b in pairs]
        out["tree_speedup_vs_baseline"] = round(statistics.median(ratios), 3)
    write_json(result_path("gpu_path.json"), out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
