"""Energy as an integral of power over event time, with explicit unknowns.

An :class:`Integrator` keeps, per entity (a GPU, a rack's PDU, a facility meter), its
last reading: time, watts, clock-event reasons and a few integer tags, in flat numpy
arrays indexed through one dict (key -> slot). :meth:`Integrator.step` takes a
message's readings as columns and returns, per reading, what the interval *ending* at it
contributes:

* two readings at most ``max_gap_ms`` apart: a *known* interval; its energy is the
  trapezoid ``(p_prev + p) / 2 * dt`` and the reasons of the earlier reading hold over it
  (a reading stands until the next one), so capped time is counted from them;
* further apart: a *gap*: ``dt`` seconds of unknown energy, sized at the last known power
  (``p_prev * dt``, the hold the power view gives a silent rack), reported as unknown and
  never added to the known energy: nothing is interpolated across a gap;
* the first reading of an entity in this state, and readings not newer than the last
  one seen (late or repeated), contribute nothing: a repeated message (at-least-once
  delivery, a retried gateway request) adds no energy twice.

An interval is attributed to the reading that closes it: its hour, its job. Memory per
entity is a dict entry (a GPU's in its host's dict) and 16 bytes of arrays plus 4 per
tag (:func:`state_bytes`; ``benchmarks/energy_campus.py`` measures it per GPU). Pure:
numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

_NEVER = -1
#: the ids of an outer id never seen: read only, never written
_NO_IDS: dict[str, int] = {}


@dataclass(frozen=True, slots=True)
class Steps:
    """Per reading, in the order given: the interval ending at it."""

    interval_s: np.ndarray  # known seconds (float64)
    energy_j: np.ndarray  # known energy
    gap_s: np.ndarray  # seconds of a gap (unknown energy)
    unknown_j: np.ndarray  # the gap's energy at the last known power
    held_reasons: np.ndarray  # uint32: the reasons holding over the known interval


class Integrator:
    """Last reading per entity and the per-reading integration step.

    Entities are keyed by one id (a rack, a meter: :meth:`slots`) or by a pair (a GPU:
    host and GPU id, :meth:`pair_slots`), a dict of ids per host: cheaper in memory than
    a tuple per GPU."""

    __slots__ = ("_n", "_pairs", "_reasons", "_single", "_tags", "_ts", "_w")

    def __init__(self, tags: int = 0, capacity: int = 64) -> None:
        self._single: dict[Hashable, int] = {}
        self._pairs: dict[str, dict[str, int]] = {}
        self._n = 0
        self._ts = np.full(capacity, _NEVER, np.int64)
        self._w = np.zeros(capacity, np.float32)
        self._reasons = np.zeros(capacity, np.uint32)
        self._tags = np.zeros((tags, capacity), np.int32)

    def __len__(self) -> int:
        return self._n

    # --- slots ------------------------------------------------------------------------
    def slots(self, keys: Sequence[Hashable]) -> np.ndarray:
        """The slot of every key, new keys getting new slots."""
        found = list(map(self._single.get, keys))
        if None in found:
            for i, slot in enumerate(found):
                if slot is None:
                    found[i] = self._single.get(keys[i])
                    if found[i] is None:
                        key = keys[i]
                        if isinstance(key, str):
                            key = sys.intern(key)  # shared with the rows' id strings
                        found[i] = self._single[key] = self._new_slot()
        return np.array(found, dtype=np.int64)

    def pair_slots(self, outer: Sequence[str], inner: Sequence[str]) -> np.ndarray:
        """The slot of every (outer, inner) pair (a host's GPUs), new pairs getting new
        slots. Known pairs cost two dict lookups in C each (``map`` over the columns:
        the outer id's dict, then the inner id in it); a Python loop per run of a host's
        readings cost ~0.4 us a GPU reading in the worker's drain (issue 25)."""
        pairs = self._pairs
        found = list(map(dict.get, map(pairs.get, outer, repeat(_NO_IDS)), inner))
        if None in found:
            for i, slot in enumerate(found):
                if slot is None:
                    ids = pairs.get(outer[i])
                    if ids is None:
                        ids = pairs[sys.intern(outer[i])] = {}
                    slot = ids.get(inner[i])
                    if slot is None:
                        slot = ids[sys.intern(inner[i])] = self._new_slot()
                    found[i] = slot
        return np.array(found, dtype=np.int64)

    def _new_slot(self) -> int:
        slot = self._n
        if slot == len(self._ts):
            self._grow(max(64, slot + slot // 4))  # a quarter more: little unused room
        self._n += 1
        return slot

    def _grow(self, capacity: int) -> None:
        n = len(self._ts)
        ts = np.full(capacity, _NEVER, np.int64)
        ts[:n] = self._ts
        self._ts = ts
        self._w = np.concatenate([self._w, np.zeros(capacity - n, np.float32)])
        self._reasons = np.concatenate([self._reasons, np.zeros(capacity - n, np.uint32)])
        tags = np.zeros((len(self._tags), capacity), np.int32)
        tags[:, :n] = self._tags
        self._tags = tags

    # --- the step -----------------------------------------------------------------------
    def step(
        self,
        slots: np.ndarray,
        ts_ms: np.ndarray,
        power_w: np.ndarray,
        max_gap_ms: int,
        reasons: np.ndarray | None = None,
        tags: Sequence[np.ndarray] = (),
    ) -> Steps:
        """Integrate one message's readings (any order, an entity may repeat) and keep
        each entity's newest as its state."""
        n = len(slots)
        out = Steps(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, np.uint32))
        fresh = np.flatnonzero(ts_ms > self._ts[slots])  # late and repeated: nothing
        if not len(fresh):
            return out
        order = fresh[np.lexsort((ts_ms[fresh], slots[fresh]))]
        s, t, p = slots[order], ts_ms[order], power_w[order].astype(np.float64)
        r = reasons[order].astype(np.uint32) if reasons is not None else np.zeros(len(s), np.uint32)
        first = np.ones(len(s), bool)
        first[1:] = s[1:] != s[:-1]
        prev_t, prev_p, prev_r = np.roll(t, 1), np.roll(p, 1), np.roll(r, 1)
        prev_t[first] = self._ts[s[first]]
        prev_p[first] = self._w[s[first]]
        prev_r[first] = self._reasons[s[first]]
        dt_s = (t - prev_t) / 1000.0
        seen = prev_t != _NEVER
        known = seen & (t - prev_t <= max_gap_ms)
        gap = seen & ~known
        out.interval_s[order] = np.where(known, dt_s, 0.0)
        out.energy_j[order] = np.where(known, (p + prev_p) * 0.5 * dt_s, 0.0)
        out.gap_s[order] = np.where(gap, dt_s, 0.0)
        out.unknown_j[order] = np.where(gap, prev_p * dt_s, 0.0)
        out.held_reasons[order] = np.where(known, prev_r, 0)
        last = np.ones(len(s), bool)
        last[:-1] = s[:-1] != s[1:]
        keep = s[last]
        self._ts[keep], self._w[keep], self._reasons[keep] = t[last], p[last], r[last]
        for row, values in zip(self._tags, tags, strict=False):
            row[keep] = values[order][last]
        return out

    # --- reading the state ---------------------------------------------------------------
    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(last ts, last reasons, tags) of the live slots (views, not copies)."""
        n = self._n
        return self._ts[:n], self._reasons[:n], self._tags[:, :n]

    def forget_older_than(self, cutoff_ms: int) -> int:
        """Drop entities whose last reading is older than ``cutoff_ms``; how many."""
        n = self._n
        keep = self._ts[:n] >= cutoff_ms
        gone = n - int(keep.sum())
        if not gone:
            return 0
        index = np.flatnonzero(keep)
        moved = np.full(n, -1, np.int64)
        moved[index] = np.arange(len(index))
        renumber = moved.tolist()
        self._single = {k: renumber[s] for k, s in self._single.items() if renumber[s] >= 0}
        pairs: dict[str, dict[str, int]] = {}
        for outer, ids in self._pairs.items():
            kept = {k: renumber[s] for k, s in ids.items() if renumber[s] >= 0}
            if kept:
                pairs[outer] = kept
        self._pairs = pairs
        capacity = max(64, len(index) + len(index) // 4)
        ts, w, reasons = self._ts[index], self._w[index], self._reasons[index]
        tags = self._tags[:, index]
        self._ts = np.full(capacity, _NEVER, np.int64)
        self._w = np.zeros(capacity, np.float32)
        self._reasons = np.zeros(capacity, np.uint32)
        self._tags = np.zeros((len(tags), capacity), np.int32)
        self._ts[: len(index)], self._w[: len(index)] = ts, w
        self._reasons[: len(index)], self._tags[:, : len(index)] = reasons, tags
        self._n = len(index)
        return gone

    def array_bytes(self) -> int:
        """Bytes of the arrays (allocated capacity included)."""
        return int(self._ts.nbytes + self._w.nbytes + self._reasons.nbytes + self._tags.nbytes)


def state_bytes(tags: int) -> int:
    """Array bytes per entity: ts (8) + watts (4) + reasons (4) + 4 per tag."""
    return 16 + 4 * tags
