"""CPU seconds used on the machine, and by our own processes: the rest is someone else's.

The benchmark shares 2 cores with whatever else runs; a figure taken while another
process burned a core is not comparable. Each phase records the CPU seconds of the
worker, the broker and this process, and of everything else (``foreign_cpu_s``).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds spent not idle since boot, all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def thread_seconds(pid: int) -> Counter[str]:
    """CPU seconds per thread name (``comm``) of a process: the engine's own threads
    (merges, query pipelines) are not Python and py-spy does not see them."""
    out: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        out[name] += (int(fields[11]) + int(fields[12])) / TICK
    return out


def thread_seconds_since(pid: int, before: Counter[str]) -> dict[str, float]:
    """CPU seconds per thread name spent since ``before`` (:func:`thread_seconds`),
    rounded, the idle ones left out."""
    spent = thread_seconds(pid)
    spent.subtract(before)
    return {name: round(seconds, 2) for name, seconds in spent.most_common() if seconds}


def process_seconds(pid: int) -> float:
    """utime + stime of a process and its waited-for children, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICK


class CpuMeter:
    """CPU use between ``start()`` and ``stop()``: ours by process, and the rest."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {**pids, "bench": os.getpid()}
        self._start: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {"total": busy_seconds(), **{n: process_seconds(p) for n, p in self.pids.items()}}

    def start(self) -> CpuMeter:
        self._start = self._read()
        return self

    def stop(self) -> dict[str, float]:
        end = self._read()
        used = {name: round(end[name] - self._start[name], 1) for name in end}
        ours = sum(v for k, v in used.items() if k != "total")
        used["foreign_cpu_s"] = round(max(0.0, used["total"] - ours), 1)
        used["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
        return used
