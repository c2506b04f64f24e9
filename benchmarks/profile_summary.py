"""Top hotspots of a py-spy raw profile (``throughput.py --profile FILE.txt``).

py-spy samples every thread that is not idle; with ``--threads`` each stack starts with
its thread. This prints, per thread, the share of samples it was busy, then the frames
with the most samples as the leaf (self time) and anywhere on the stack (inclusive), in
percent of all samples of that thread:

    python benchmarks/profile_summary.py /tmp/profile.txt [--top 25] [--thread MainThread]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def load(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """thread name -> [(frames root first, samples)]."""
    threads: dict[str, list[tuple[list[str], int]]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread") else "?"
        threads.setdefault(thread, []).append((frames[1:], int(count)))
    return threads


def hotspots(stacks: list[tuple[list[str], int]], top: int) -> tuple[Counter, Counter, int]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for frames, n in stacks:
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    return own, inclusive, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", help="only threads whose name contains this")
    args = parser.parse_args()
    threads = load(args.profile)
    grand = sum(n for stacks in threads.values() for _, n in stacks)
    for thread, stacks in sorted(threads.items(), key=lambda kv: -sum(n for _, n in kv[1])):
        if args.thread and args.thread not in thread:
            continue
        own, inclusive, total = hotspots(stacks, args.top)
        print(f"\n== {thread}: {total} samples ({100 * total / grand:.1f} % of all)")
        print("-- self")
        for frame, n in own.most_common(args.top):
            print(f"{100 * n / total:6.1f} %  {frame}")
        print("-- inclusive")
        for frame, n in inclusive.most_common(args.top):
            print(f"{100 * n / total:6.1f} %  {frame}")


if __name__ == "__main__":
    main()
