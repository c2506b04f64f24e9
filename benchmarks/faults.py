"""The fault campaign by hand: ``python benchmarks/faults.py --minutes 10``.

Runs the fault scenarios of tests/faults at scale through real workers (embedded broker,
embedded store) and prints one table: scenario | valid produced | stored | invalid
produced | dead letters | duplicates | lost | crashes; every row must read 0 lost,
0 duplicates, 0 crashes. Writes the rows as JSON to benchmarks/results/faults.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench_output import add_smoke, result_path, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))

from corpus import corpus, interleaved
from fault_run import Tally, run_with_kills, table
from store_full import can_mount, run_store_full
from webhooks import run_webhooks

from pipeline.broker.process import EmbeddedBroker


def scenarios(minutes: float, smoke: bool = False) -> list[tuple[str, object, dict[str, object]]]:
    if smoke:  # the smallest campaign: one SIGKILL in a small fuzz corpus
        return [("fuzz: 37 shapes, 1 SIGKILL", corpus(400), {"chunk": 200, "kills": 1})]
    scale = max(1.0, minutes / 2)
    fuzz = int(5_000 * scale)
    pairs = int(10_000 * scale)
    return [
        ("fuzz: 37 shapes, 1 SIGKILL", corpus(max(fuzz, 10_000)), {"chunk": 5_000, "kills": 1}),
        (
            "3 SIGKILLs, interleaved dead letters",
            interleaved(pairs),
            {
                "chunk": pairs // 4,
                "kills": 3,
                "pause_s": 3.5,
                "extra_env": {"MEGAWATCH_SINK_FLUSH_INTERVAL_S": "5"},
            },
        ),
    ]


def store_full(pairs: int) -> Tally:
    """A 40 MiB tmpfs store, full while half the messages arrive, a SIGKILL while
    full, then freed."""
    with tempfile.TemporaryDirectory(prefix="megawatch-faults-") as tmp:
        data = Path(tmp) / "data"
        with EmbeddedBroker(data) as broker:
            result, seen = run_store_full(
                broker.bootstrap,
                data,
                "store full, SIGKILL while full, freed",
                interleaved(pairs),
                chunk=pairs // 2,
                full_s=20,
            )
    print(
        f"  while full: sink failing {seen.failing}, back-pressure {seen.paused}, "
        f"peak {seen.peak_buffered_rows:,} rows held, peak worker RSS {seen.peak_rss_mib:.0f} MiB",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10, help="rough length of the campaign")
    add_smoke(parser)
    args = parser.parse_args()
    rows: list[Tally] = []
    started = time.monotonic()
    scale = max(1.0, args.minutes / 2)
    for name, items, options in scenarios(args.minutes, args.smoke):
        with tempfile.TemporaryDirectory(prefix="megawatch-faults-") as tmp:
            data = Path(tmp) / "data"
            with EmbeddedBroker(data) as broker:
                rows.append(run_with_kills(broker.bootstrap, data, name, items, **options))  # type: ignore[arg-type]
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    if args.smoke:
        print("store full and webhooks: not in the smallest run", flush=True)
    elif can_mount():
        rows.append(store_full(int(4_000 * scale)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    else:
        print("store full: skipped (mounting a tmpfs needs root)", flush=True)
    for row in (
        [] if args.smoke else run_webhooks(alerts=int(300 * scale), outage_s=min(60.0, 15 * scale))
    ):
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print(f"\n{time.monotonic() - started:.0f} s")
    write_json(result_path("faults.json"), [r.__dict__ for r in rows])
    bad = [r for r in rows if (r.lost, r.duplicates, r.crashes) != (0, 0, 0)]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
