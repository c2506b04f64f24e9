"""The per-reading cost of rack power in the pure core: ``Processor.rack_power`` (the
dict update and the site snapshot + cap rules each message triggers) plus the tick
(``Processor.tick_sites``).

Measured against a baseline in the same run: ``--baseline REF`` extracts the package at
git REF (default HEAD) into a temporary directory and times it in a subprocess,
interleaved with the working tree, so the ratio compares like with like on a noisy
machine. Prints JSON.

    .venv/bin/python benchmarks/power_eval.py --baseline HEAD
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_output import add_smoke, result_path, smallest, write_json

ROOT = Path(__file__).resolve().parent.parent


def _spec(site: str, racks: int, domains: bool) -> Any:
    from pipeline.events import SiteSpec

    fields: dict[str, Any] = {"site": site, "cap_mw": racks * 0.13 / 1000}
    if domains:
        # Two feeds of two halls each; racks named h<hall>-<n> map to halls by glob.
        fields["domains"] = [
            {"name": "feed-a", "cap_mw": racks * 0.07 / 1000, "children": ["hall-0", "hall-1"]},
            {"name": "feed-b", "cap_mw": racks * 0.07 / 1000, "children": ["hall-2", "hall-3"]},
            *(
                {"name": f"hall-{h}", "cap_mw": racks * 0.035 / 1000, "racks": [f"h{h}-*"]}
                for h in range(4)
            ),
        ]
    return SiteSpec.model_validate(fields)


def measure(racks: int, batch: int, seconds: int, domains: bool) -> dict[str, float]:
    """Readings per second through rack_power, and the tick's cost per tracked rack."""
    from pipeline.core.policy import RuleConfig
    from pipeline.core.processor import Processor
    from pipeline.events import RackPower

    site = "bench-1"
    spec = _spec(site, racks, domains)
    processor = Processor(RuleConfig(), lambda s: spec, lambda s: None)
    names = [f"h{i % 4}-{i}" for i in range(racks)]
    start_ms = int(time.time() * 1000) - seconds * 1000
    messages = []
    for second in range(seconds):
        ts = start_ms + second * 1000
        events = [RackPower(site=site, rack=r, ts=ts, power_w=120_000.0) for r in names]
        # Evaluated as live: half a second after the readings' time (racks fresh).
        messages += [(ts + 500, events[i : i + batch]) for i in range(0, racks, batch)]
    began = time.perf_counter()
    for offset, (at_ms, events) in enumerate(messages):
        processor.rack_power(events, 0, offset, at_ms)
    feed_s = time.perf_counter() - began
    now = start_ms + seconds * 1000
    ticks = 50
    began = time.perf_counter()
    for i in range(ticks):
        processor.tick_sites(now + i, list(processor.monitors))
    tick_s = (time.perf_counter() - began) / ticks
    readings = racks * seconds
    return {"readings_per_s": readings / feed_s, "tick_us_per_rack": tick_s / racks * 1e6}


def extract_package(ref: str, into: Path) -> Path:
    """The ``pipeline`` package at git ``ref``, extracted under ``into`` (which is returned:
    put it on PYTHONPATH to run that version)."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref, "pipeline"], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def run_child(script: str, path: Path, flags: list[str], cwd: Path) -> dict[str, float]:
    """``script --child FLAGS`` run with the ``pipeline`` package found under ``path``
    (the tree, or a baseline from :func:`extract_package`); the JSON it prints."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    argv = [sys.executable, script, "--child", *flags]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=cwd)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def alternating_rounds(
    rounds: int,
    baseline: Path | None,
    run: Callable[[Path], dict[str, float]],
    after_round: Callable[[], object] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """``run`` on the tree and on ``baseline`` (when there is one) in each of ``rounds``,
    alternating which goes first: the machine's state drifts within a round."""
    runs: dict[str, list[dict[str, float]]] = {"tree": [], "baseline": []}
    for i in range(rounds):
        order = [(ROOT, "tree"), (baseline, "baseline")]
        for path, name in order if i % 2 == 0 else order[::-1]:
            if path is not None:
                runs[name].append(run(path))
        if after_round is not None:
            after_round()
    return runs


def medians(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each contender's median of every figure, over its runs (none: left out)."""
    return {
        name: {key: round(statistics.median(r[key] for r in results), 3) for key in results[0]}
        for name, results in runs.items()
        if results
    }


def _run_child(path: Path, args: argparse.Namespace, domains: bool) -> dict[str, float]:
    flags = [f"--racks={args.racks}", f"--batch={args.batch}", f"--seconds={args.seconds}"]
    return run_child(__file__, path, [*flags, "--domains"] if domains else flags, cwd=path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--racks", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default=None, help="git ref to compare with")
    parser.add_argument("--domains", action="store_true")
    parser.add_argument("--child", action="store_true")
    add_smoke(parser)
    args = smallest(parser.parse_args(), racks=100, batch=50, seconds=2, rounds=1)
    if args.child:
        print(json.dumps(measure(args.racks, args.batch, args.seconds, args.domains)))
        return
    with_domains: list[dict[str, float]] = []

    def domains_run() -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # a tree without domains
            with_domains.append(_run_child(ROOT, args, domains=True))

    with tempfile.TemporaryDirectory() as tmp:
        base = extract_package(args.baseline, Path(tmp)) if args.baseline else None
        runs = alternating_rounds(
            args.rounds, base, lambda path: _run_child(path, args, domains=False), domains_run
        )
    runs["tree_domains"] = with_domains
    out: dict[str, Any] = {"racks": args.racks, "batch": args.batch, "rounds": args.rounds}
    out.update(medians(runs))
    # Paired ratios (each round's runs ran back to back), then their median: steadier
    # than a ratio of medians on a shared machine.
    for name in ("tree", "tree_domains"):
        pairs = list(zip(runs[name], runs["baseline"], strict=False))
        if pairs:
            ratios = [t["readings_per_s"] / b["readings_per_s"] for t, b in pairs]
            out[f"{name}_vs_baseline"] = round(statistics.median(ratios), 3)
    write_json(result_path("power_eval.json"), out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
