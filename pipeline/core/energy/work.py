"""Work counters (tokens, samples, requests) as deltas: the work done since the last one.

A counter is cumulative, as Prometheus' are (vLLM's ``vllm:generation_tokens_total``,
Triton's ``nv_inference_count``). Per counter (its host or job, name and served model)
the last value is kept and each reading's delta is stored, so the rollups sum deltas:

* the first reading of a counter is a baseline (delta 0: its past is not this window's);
* a value lower than the last is a restart from zero, as Prometheus reads it: the delta
  is the new value (the work since the restart), and the reading is flagged ``reset``;
* a reading not newer than the last one (late, or repeated by at-least-once delivery)
  adds nothing.

Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: (host, job, counter, served model): one counter
CounterKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class WorkDeltas:
    delta: list[float]
    baseline: list[int]
    reset: list[int]


class WorkCounters:
    """The last (ts, total) of every counter of a site."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[CounterKey, tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._last)

    def step(
        self, keys: Sequence[CounterKey], stamps: Sequence[int], totals: Sequence[float]
    ) -> WorkDeltas:
        """The deltas of one message's readings; in time order per counter (sorted here)."""
        n = len(keys)
        out = WorkDeltas([0.0] * n, [0] * n, [0] * n)
        for i in sorted(range(n), key=lambda j: stamps[j]):
            key, ts, total = keys[i], stamps[i], totals[i]
            last = self._last.get(key)
            if last is None:
                out.baseline[i] = 1
            elif ts <= last[0]:
                continue  # late or repeated: nothing, and the state stays
            elif total >= last[1]:
                out.delta[i] = total - last[1]
            else:
                out.delta[i], out.reset[i] = total, 1
            self._last[key] = (ts, total)
        return out

    def forget_older_than(self, cutoff_ms: int) -> int:
        old = [key for key, (ts, _) in self._last.items() if ts < cutoff_ms]
        for key in old:
            del self._last[key]
        return len(old)
