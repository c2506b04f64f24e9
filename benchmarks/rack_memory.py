"""RSS per tracked rack of the worker's live state, as a slope (issue 13).

The worker's RSS moves by tens of MiB with chDB, the sink buffers and the allocator, so
the difference of two RSS reads of the whole worker cannot show ~1 KiB per rack. Here
the real pure core runs alone in a fresh process: the worker's decoders
(:class:`pipeline.core.decode.MessageDecoder`, from the same settings) fed real encoded
campus messages (:mod:`campus_telemetry`), and a :class:`pipeline.core.processor.Processor`
fed what they decode, as the Faust agents do. It is warmed on ``--warm-halls`` halls of
1,000 racks (so the decoder caches, interned strings and allocator pools exist), then
new halls are added, a few ticks each (rack power, one GPU host per rack, the fabric
link of each rack; one rack per hall idles, so each site holds an alert state); after
every ``--every`` halls it runs ``gc.collect()`` and glibc's ``malloc_trim(0)`` and
reads ``VmRSS`` from ``/proc/self/status``. The figure is the
least-squares slope of RSS over racks added (KiB per rack), with R^2, so the noise is
visible and the number is a slope, not the difference of two noisy points.

A second fresh process runs the same steps under tracemalloc: the traced slope, the
slope per structure (deep ``sys.getsizeof`` of rack power, GPU aggregates, link state,
alert book, decoder caches; a string shared by several counts once, in the first) and
the source lines that allocated the growth.

    python benchmarks/rack_memory.py                      # ~3 min; JSON in benchmarks/results/
    python benchmarks/rack_memory.py --cache-limit 8192   # the decoder caches bounded lower
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FunctionType, MethodType, ModuleType
from typing import Any

import orjson
from bench_output import add_smoke, result_path, smallest, write_json
from campus_telemetry import Campus, generate
from pydantic import BaseModel

from pipeline.core import columnar
from pipeline.core.decode import MessageDecoder
from pipeline.core.processor import Processor
from pipeline.events import GpuSample, LinkCounters, RackPower, SiteSpec
from pipeline.kafka.topics import GPU, LINK, RACK_POWER
from pipeline.settings import load_settings
from pipeline.worker.parameters import decode_limits, rule_config

RESULTS = result_path("rack_memory.json")
TARGET_KIB_PER_RACK = 1.5
METHODS: dict[str, tuple[str, type[BaseModel]]] = {
    RACK_POWER: ("rack_power", RackPower),
    GPU: ("gpu", GpuSample),
    LINK: ("link", LinkCounters),
}
#: id fields made unique per hall: a real fleet's racks, hosts and links are distinct
#: strings (the simulator names them r001.. in every hall)
RENAMED = ("rack", "host", "link")
HALL_RACKS = 1000
#: one rack per hall idles, so every site holds an alert state, as real sites do (the
#: quiet racks' rule lookups then meet a non-empty alert book)
IDLE_RACK = "r001"
CAP_MW = 125.0  # a hall's cap, as in campus_telemetry


# --- one hall's telemetry, renamed per hall ---------------------------------------------
class Template:
    """``ticks`` ticks of one simulated hall, as event dicts per tick and topic; GPU
    samples thinned to one host per rack (the state is per rack, not per GPU)."""

    def __init__(self, ticks: int, start_ms: int) -> None:
        load = generate(Campus(halls=1), ticks, start_ms, gpu_every=10, batch=HALL_RACKS)
        self.ticks: list[list[tuple[str, list[dict[str, Any]]]]] = []
        for tick in load.ticks:
            by_topic: dict[str, list[dict[str, Any]]] = {}
            for m in tick:
                by_topic.setdefault(m.topic, []).extend(orjson.loads(m.value)["events"])
            gpus = by_topic.get(GPU, [])
            first_host = {e["rack"]: e["host"] for e in reversed(gpus)}
            by_topic[GPU] = [e for e in gpus if first_host[e["rack"]] == e["host"]]
            for e in by_topic[GPU]:
                if e["rack"] == IDLE_RACK:
                    e["util_pct"] = 0.0  # drawing power, doing nothing: idle_power
            self.ticks.append(list(by_topic.items()))

    def hall(self, tick: int, hall: int) -> Iterable[tuple[str, bytes, bytes]]:
        """One tick of hall ``hall``: (topic, key, value) messages as an agent sends them."""
        site = f"mem-hall-{hall}"
        prefix = f"h{hall}-"
        for topic, events in self.ticks[tick]:
            renamed = [_renamed(e, site, prefix) for e in events]
            for i in range(0, len(renamed), HALL_RACKS):
                batch = renamed[i : i + HALL_RACKS]
                yield topic, site.encode(), orjson.dumps({"events": batch})


def _renamed(event: dict[str, Any], site: str, prefix: str) -> dict[str, Any]:
    if event.get("link_class") == "wan":  # the hall's one WAN link keeps its name
        return {**event, "site": site}
    return {**event, "site": site, **{k: prefix + event[k] for k in RENAMED if k in event}}


# --- the worker's pure core ----------------------------------------------------------------
class Core:
    """The decoders and the Processor of one worker, fed as the Faust agents feed them."""

    def __init__(self) -> None:
        settings = load_settings()
        self.stale_after_ms = int(settings.stale_after_s * 1000)
        self.decoders: dict[str, MessageDecoder[Any]] = {
            t: MessageDecoder(model, decode_limits(settings)) for t, (_, model) in METHODS.items()
        }
        self.specs: dict[str, SiteSpec] = {}
        self.processor = Processor(rule_config(settings), self.spec, lambda site: None)
        self.offset = 0

    def spec(self, site: str) -> SiteSpec:
        """Each hall has a spec (its cap), as the campus does; one object per site, as
        the worker's table holds it (the processor rebuilds a policy on a new one)."""
        spec = self.specs.get(site)
        if spec is None:
            spec = self.specs[site] = SiteSpec(site=site, cap_mw=CAP_MW)
        return spec

    def feed_hall(self, template: Template, hall: int, now_ms: int) -> int:
        """Every tick of a new hall; the clock jumps past the warm-up after the first
        tick so the rules run (and the alert book holds what they find)."""
        last = now_ms
        for tick in range(len(template.ticks)):
            for topic, key, value in template.hall(tick, hall):
                last = now_ms + tick * 1000 + (self.stale_after_ms if tick else 0)
                events = self.decoders[topic].decode(value, key, _wall(last)).events
                getattr(self.processor, METHODS[topic][0])(events, 0, self.offset, last)
                self.offset += 1
                del events
        return last

    def structures(self) -> dict[str, list[Any]]:
        """The live state by structure, in the order shared strings are counted."""
        monitors = list(self.processor.monitors.values())
        return {
            "rack_power": [m.power for m in monitors],
            "gpu_aggregate": [m.gpus for m in monitors],
            "link_state": [m.links for m in monitors],
            "alert_book": [m.alerts for m in monitors],
            "site_rest": [self.processor],
            "decoder_caches": list(self.decoders.values()),
        }


def _wall(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- measuring -------------------------------------------------------------------------------
_LIBC = ctypes.CDLL("libc.so.6")


def settle() -> None:
    """Free what can be freed: cycles, then glibc's free lists back to the kernel."""
    gc.collect()
    _LIBC.malloc_trim(0)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


_SKIP = (type, ModuleType, FunctionType, MethodType, type(len))


def deep_sizes(groups: dict[str, list[Any]]) -> dict[str, int]:
    """Bytes reachable from each group, each object counted once, in the first group
    that reaches it (types, modules and functions are not state)."""
    seen: set[int] = set()
    out = {}
    for name, roots in groups.items():
        total = 0
        stack = list(roots)
        while stack:
            obj = stack.pop()
            if id(obj) in seen or isinstance(obj, _SKIP):
                continue
            seen.add(id(obj))
            total += sys.getsizeof(obj)
            stack.extend(gc.get_referents(obj))
        out[name] = total
    return out


def fit(points: list[tuple[float, float]]) -> dict[str, float]:
    """Least-squares line through (racks, KiB): slope in KiB per rack, and R^2."""
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    total = sum((y - mean) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {
        "kib_per_rack": round(slope, 3),
        "r2": round(1 - residual / total, 4) if total else 0.0,
        "intercept_kib": round(intercept, 1),
    }


def run_steps(
    args: argparse.Namespace, read: Callable[[Core], dict[str, float]]
) -> tuple[Core, list[dict[str, float]]]:
    """Warm up, then add halls; ``read`` measures after every ``args.every`` halls."""
    now_ms = int(time.time() * 1000) - 60_000
    template = Template(args.ticks, now_ms)
    core = Core()
    for hall in range(args.warm_halls):
        core.feed_hall(template, hall, now_ms)
    last = now_ms
    core.processor.tick_sites(last, list(core.processor.monitors))
    settle()
    points = [{"racks": 0, **read(core)}]
    for n in range(1, args.halls + 1):
        last = core.feed_hall(template, args.warm_halls + n - 1, now_ms)
        if n % args.every == 0:
            # the worker's 1 s tick: rules, series rows, sweeps
            core.processor.tick_sites(last, list(core.processor.monitors))
            settle()
            points.append({"racks": n * HALL_RACKS, **read(core)})
    return core, points


def child_rss(args: argparse.Namespace) -> dict[str, Any]:
    _, points = run_steps(args, lambda core: {"rss_kib": rss_kib()})
    return {"points": points, **fit([(p["racks"], p["rss_kib"]) for p in points])}


def child_traced(args: argparse.Namespace) -> dict[str, Any]:
    tracemalloc.start()
    marks: dict[str, Any] = {}

    def read(core: Core) -> dict[str, float]:
        traced = tracemalloc.get_traced_memory()[0] / 1024
        if "snapshot" not in marks:
            marks["snapshot"] = tracemalloc.take_snapshot()
        sizes = deep_sizes(core.structures())
        return {"traced_kib": traced, **{k: v / 1024 for k, v in sizes.items()}}

    core, points = run_steps(args, read)
    diff = tracemalloc.take_snapshot().compare_to(marks.pop("snapshot"), "lineno")
    tracemalloc.stop()
    added = points[-1]["racks"]
    names = [k for k in points[0] if k != "racks"]
    return {
        "points": [{k: round(v, 1) for k, v in p.items()} for p in points],
        **fit([(p["racks"], p["traced_kib"]) for p in points]),
        "by_structure_kib_per_rack": {
            n: fit([(p["racks"], p[n]) for p in points])["kib_per_rack"]
            for n in names
            if n != "traced_kib"
        },
        "top_lines": [
            {
                "kib_per_rack": round(s.size_diff / 1024 / added, 3),
                "where": f"{s.traceback[0].filename.split('/pipeline/')[-1]}:"
                f"{s.traceback[0].lineno}",
            }
            for s in diff[:12]
            if s.size_diff > 0
        ],
        "tracked_racks": sum(len(m.power) for m in core.processor.monitors.values()),
    }


def in_fresh_process(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a new interpreter: nothing else lives in its heap."""
    argv = [sys.executable, __file__, "--child", mode, *_shared_argv(args)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"rack_memory {mode} child failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _shared_argv(args: argparse.Namespace) -> list[str]:
    out = ["--halls", str(args.halls), "--every", str(args.every), "--ticks", str(args.ticks)]
    out += ["--warm-halls", str(args.warm_halls)]
    return out + (["--cache-limit", str(args.cache_limit)] if args.cache_limit else [])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rss = in_fresh_process("rss", args)
    traced = in_fresh_process("traced", args)
    return {
        "rss_per_rack_kib": rss["kib_per_rack"],
        "rss_r2": rss["r2"],
        "traced_per_rack_kib": traced["kib_per_rack"],
        "target_kib_per_rack": TARGET_KIB_PER_RACK,
        "racks_added": args.halls * HALL_RACKS,
        "warm_racks": args.warm_halls * HALL_RACKS,
        "ticks_per_hall": args.ticks,
        "decoder_cache_limit": args.cache_limit or columnar._CACHE_LIMIT,
        "rss": rss,
        "tracemalloc": traced,
        "python": sys.version.split()[0],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--halls", type=int, default=64, help="new halls of 1,000 racks to add")
    p.add_argument("--every", type=int, default=4, help="halls between two measurements")
    p.add_argument("--warm-halls", type=int, default=4, help="halls fed before measuring")
    p.add_argument("--ticks", type=int, default=3, help="ticks of telemetry per hall")
    p.add_argument("--cache-limit", type=int, default=0, help="override columnar._CACHE_LIMIT")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--child", choices=("rss", "traced"), help=argparse.SUPPRESS)
    add_smoke(p)
    return smallest(p.parse_args(argv), halls=2, every=1, warm_halls=1, ticks=1)


def main() -> None:
    args = parse()
    if args.cache_limit:
        columnar._CACHE_LIMIT = args.cache_limit  # read at run time by the decoder caches
    if args.child:
        run = child_rss if args.child == "rss" else child_traced
        print(json.dumps(run(args)))
        return
    result = measure(args)
    write_json(args.out, result)
    brief = {k: v for k, v in result.items() if k not in ("rss", "tracemalloc")}
    brief["by_structure_kib_per_rack"] = result["tracemalloc"]["by_structure_kib_per_rack"]
    print(json.dumps(brief, indent=2))


if __name__ == "__main__":
    main()
