"""Decoding speed of one Kafka message (the hot path of every reading), as ratios.

Measured in one process, on the same messages:

* ``json_only``: ``orjson.loads`` of the message, no validation (the floor);
* ``fast``: :class:`pipeline.core.decode.MessageDecoder` as the worker runs it (the
  columnar fast path of :mod:`pipeline.core.columnar`, plus event-time and key checks);
* ``batch``: the same decoder with the fast path off (the batch validated in one
  pydantic call, plus the same checks): the contract's own path, and the baseline;
* ``per_event``: the same models validated one event at a time (what a naive decoder
  does), the baseline the batch path is compared with;
* ``with_rejects``: the batch path on messages holding one bad event each (slow path);
* ``fast_processed`` / ``batch_processed``: decoding plus the core's processing of the
  message (:class:`pipeline.core.processor.Processor`: state, rules, rows), from the fast
  path's columns and from pydantic's model objects.

    python benchmarks/decode.py [--events 500] [--rounds 200]

Writes benchmarks/results/decode.json.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from bench_output import add_smoke, result_path, smallest, write_json
from pydantic import TypeAdapter

from pipeline.core.decode import MessageDecoder
from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.events import GpuSample, LinkCounters, RackPower, SiteSpec

RESULTS = result_path("decode.json")


def messages(kind: str, events: int, now_ms: int) -> list[dict[str, Any]]:
    if kind == "rack_power":
        return [
            {
                "site": "atl-2",
                "rack": f"r{i:04d}",
                "ts": now_ms,
                "power_w": 95_000.0 + i,
                "pdu": "pdu-a",
            }
            for i in range(events)
        ]
    if kind == "gpu":
        return [
            {
                "site": "atl-2",
                "rack": f"r{i // 8:04d}",
                "host": f"h{i // 8:04d}",
                "gpu": str(i % 8),
                "ts": now_ms,
                "util_pct": 93.5,
                "power_w": 612.5,
                "vendor": "nvidia",
                "model": "NVIDIA H100 80GB HBM3",
                "mem_used_pct": 52.0,
                "temp_c": 61.0,
                "power_limit_w": 700.0,
            }
            for i in range(events)
        ]
    return [
        {
            "site": "atl-2",
            "link": f"l{i}",
            "link_class": "fabric",
            "ts": now_ms,
            "tx_packets": 10**9 + i,
            "rx_packets": 10**9,
            "dropped_packets": 3,
        }
        for i in range(events)
    ]


MODELS = {"rack_power": RackPower, "gpu": GpuSample, "link": LinkCounters}


def rate(fn: Callable[[], object], readings: int, rounds: int) -> float:
    fn()  # warm up (pydantic builds its validators lazily)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, time.perf_counter() - started)
    return readings * rounds / best


def measure(kind: str, events: int, rounds: int) -> dict[str, float]:
    now = datetime.now(UTC)
    items = messages(kind, events, int(now.timestamp() * 1000) - 1000)
    raw = orjson.dumps({"events": items})
    bad = orjson.dumps({"events": [*items[:-1], {**items[-1], "ts": "not a time"}]})
    fast = MessageDecoder(MODELS[kind])
    decoder = MessageDecoder(MODELS[kind], fast=False)
    one = TypeAdapter(MODELS[kind])

    def per_event() -> None:
        for item in orjson.loads(raw)["events"]:
            one.validate_python(item)

    assert len(decoder.decode(raw, b"atl-2", now).events) == events
    assert len(fast.decode(raw, b"atl-2", now).events) == events
    assert len(decoder.decode(bad, b"atl-2", now).rejects) == 1
    results = {
        "json_only": rate(lambda: orjson.loads(raw), events, rounds),
        "fast": rate(lambda: fast.decode(raw, b"atl-2", now), events, rounds),
        "batch": rate(lambda: decoder.decode(raw, b"atl-2", now), events, rounds),
        "per_event": rate(per_event, events, rounds),
        "with_rejects": rate(lambda: decoder.decode(bad, b"atl-2", now), events, rounds),
    }
    now_ms = int(now.timestamp() * 1000)
    for name, dec in (("fast_processed", fast), ("batch_processed", decoder)):
        spec = SiteSpec(site="atl-2", cap_mw=100)
        processor = Processor(RuleConfig(), {"atl-2": spec}.get, lambda site: None)
        process = {"rack_power": processor.rack_power, "gpu": processor.gpu}.get(
            kind, processor.link
        )
        results[name] = rate(
            lambda d=dec, p=process: p(d.decode(raw, b"atl-2", now).events, 0, 0, now_ms),
            events,
            rounds,
        )
    results["fast_vs_batch"] = results["fast"] / results["batch"]
    results["processed_fast_vs_batch"] = results["fast_processed"] / results["batch_processed"]
    results["batch_vs_per_event"] = results["batch"] / results["per_event"]
    results["batch_vs_json_only"] = results["batch"] / results["json_only"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="events per message")
    parser.add_argument("--rounds", type=int, default=200)
    add_smoke(parser)
    args = smallest(parser.parse_args(), events=20, rounds=2)
    report = {
        "benchmark": "decode",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "platform": platform.platform(),
        },
        "events_per_message": args.events,
        "readings_per_s": {kind: measure(kind, args.events, args.rounds) for kind in MODELS},
    }
    write_json(RESULTS, report)
    for kind, figures in report["readings_per_s"].items():
        print(
            f"{kind:10} fast {figures['fast']:>10,.0f}/s  "
            f"batch {figures['batch']:>10,.0f}/s  fast/batch {figures['fast_vs_batch']:.2f}  "
            f"per-event {figures['per_event']:>10,.0f}/s  "
            f"json-only {figures['json_only']:>10,.0f}/s  "
            f"batch/per-event {figures['batch_vs_per_event']:.2f}  "
            f"with a reject {figures['with_rejects']:>9,.0f}/s  "
            f"decode+process fast/batch {figures['processed_fast_vs_batch']:.2f}"
        )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
