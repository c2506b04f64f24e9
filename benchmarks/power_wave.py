"""Samples per second of the waveform path: decoding power_wave messages, and alignment +
features + drop detection (:class:`pipeline.core.wave.site.WaveSite`) of one site.

The site is a 1 GW campus at 20 Hz per meter: 8,000 rack meters (GB200 NVL72 racks of
~125 kW) in 8 halls under 2 feeds, every meter sending one event of 20 samples a
second, and the site stage ticking once a second, as the worker will. ``--meters 1000``
is one hall of it (the per-site load of the throughput benchmark's campus). Decoding
compares the models' pydantic path (what the worker uses for waves) with msgspec plus
numpy bounds (what a columnar fast path would do). Prints JSON and writes
``benchmarks/results/power_wave.json``.

    .venv/bin/python benchmarks/power_wave.py
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import orjson
from bench_output import add_smoke, result_path, smallest, write_json

ROOT = Path(__file__).resolve().parent.parent
STEP_MS = 50


def _site(meters: int) -> Any:
    from pipeline.core.domains import DomainTree
    from pipeline.core.wave.align import AlignConfig, WaveAligner, domain_lineage
    from pipeline.core.wave.site import WaveSettings, WaveSite
    from pipeline.events import PowerDomain

    halls = [PowerDomain(name=f"hall-{h}", cap_mw=130, racks=(f"h{h}-*",)) for h in range(8)]
    feeds = [
        PowerDomain(
            name=f"feed-{f}",
            cap_mw=520,
            children=tuple(f"hall-{h}" for h in range(f * 4, f * 4 + 4)),
        )
        for f in range(2)
    ]
    tree = DomainTree("campus", (*feeds, *halls), 0.9)
    settings = WaveSettings(align=AlignConfig(step_ms=STEP_MS, lateness_ms=1000))
    aligner = WaveAligner(settings.align, domain_lineage(tree), len(tree))
    return WaveSite("campus", settings, region="east", aligner=aligner)


def measure_site(meters: int, seconds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    names = [f"h{i % 8}-r{i}" for i in range(meters)]
    base = rng.uniform(100e3, 130e3, meters)
    t0 = 1_785_168_000_000
    site = _site(meters)
    # the samples of every second, made before the clock starts (as lists: what decoding gives)
    seconds_of = []
    for second in range(seconds):
        t = second + STEP_MS * np.arange(20) / 1000
        swing = 1 + 0.07 * np.sign(np.sin(2 * np.pi * 2.14 * t))
        values = base[:, None] * swing[None, :] * (1 + 0.002 * rng.standard_normal((meters, 20)))
        seconds_of.append(values.round(1).tolist())
    add_s = tick_s = 0.0
    ticks = 0
    for second, rows in enumerate(seconds_of):
        ts = t0 + second * 1000
        start = time.perf_counter()
        for name, row in zip(names, rows, strict=True):
            site.add(name, ts, STEP_MS, row)
        middle = time.perf_counter()
        ticks += site.tick(ts + 1000 + 1000) is not None
        add_s += middle - start
        tick_s += time.perf_counter() - middle
    samples = meters * 20 * seconds
    return {
        "meters": meters,
        "seconds": seconds,
        "samples": samples,
        "ticks": ticks,
        "add_s": round(add_s, 3),
        "tick_s": round(tick_s, 3),
        "samples_per_s": round(samples / (add_s + tick_s)),
        "cpu_share_of_real_time": round((add_s + tick_s) / seconds, 3),
        "tick_ms_mean": round(1000 * tick_s / max(ticks, 1), 1),
    }


def measure_decode(meters: int, repeats: int) -> dict[str, float]:
    from pipeline.core.decode import MessageDecoder
    from pipeline.events import PowerWave

    now = datetime.now(UTC)
    ts = int(now.timestamp() * 1000) - 2000
    rng = np.random.default_rng(1)
    events = [
        {
            "site": "campus",
            "rack": f"h{i % 8}-r{i}",
            "ts": ts,
            "interval_ms": STEP_MS,
            "power_w": rng.uniform(1e5, 1.3e5, 20).round(1).tolist(),
        }
        for i in range(meters)
    ]
    raw = orjson.dumps({"events": events})
    decoder = MessageDecoder(PowerWave)

    typed = msgspec.json.Decoder(_Batch)

    def pydantic_path() -> None:
        decoded = decoder.decode(raw, b"campus", now)
        assert not decoded.rejects and len(decoded.events) == meters

    def msgspec_numpy() -> None:
        for wave in typed.decode(raw).events:
            values = np.asarray(wave.power_w)
            assert values.min() >= 0 and values.max() <= 2e6

    out: dict[str, float] = {"message_bytes": len(raw), "events": meters, "samples": meters * 20}
    for name, run in (("pydantic", pydantic_path), ("msgspec_numpy", msgspec_numpy)):
        best = min(_timed(run) for _ in range(repeats))
        out[f"{name}_samples_per_s"] = round(meters * 20 / best)
    return out


class _Wave(msgspec.Struct):
    site: str
    rack: str
    ts: int
    interval_ms: int
    power_w: list[float]
    source: str | None = None


class _Batch(msgspec.Struct):
    events: list[_Wave]


def _timed(run: Any) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=8000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=20, help="decoding rounds")
    add_smoke(parser)
    args = smallest(parser.parse_args(), meters=40, seconds=2, repeats=2)
    result = {
        "decode": measure_decode(1000, repeats=args.repeats),
        "site": measure_site(args.meters, args.seconds),
    }
    text = json.dumps(result, indent=2)
    print(text)
    write_json(result_path("power_wave.json"), result)


if __name__ == "__main__":
    main()
