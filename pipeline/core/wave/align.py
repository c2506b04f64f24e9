"""Event-time alignment: the samples of many meters on one grid, summed per site and domain.

The grid has cells of ``step_ms``; cell ``k`` covers ``[k * step_ms, (k + 1) * step_ms)``
of epoch time and is labelled by its start. A meter's value in a cell is:

* **measured** when samples of the meter fall in the cell (their mean: a meter faster
  than the grid is averaged, not decimated), or when the cell lies within the interval
  of the meter's latest sample (a sample stands for the power until the next one is due:
  a 100 ms meter on a 50 ms grid is measured in both cells);
* **held** when the meter's next sample is overdue: its last value is carried, for at
  most ``hold_ms``, and reported as estimated (``held_w``), never read as zero;
* **unknown** after that, or before the meter's first sample: the site's sum for that
  cell is then incomplete (``unknown`` counts such meters per cell).

Cells are closed by event time: :meth:`WaveAligner.advance` closes every cell older than
``now - lateness_ms`` at once, so a meter whose message arrives late but within the
lateness is still measured. A sample for a cell already closed is counted as ``late``
and not aggregated. Per sample nothing runs in Python: :meth:`WaveAligner.add` keeps the
event as it came, and :meth:`~WaveAligner.advance` works on all pending samples at once
(bincount into a meters x cells matrix, forward fill, one matrix product for domains).
A sample sent twice (redelivery) averages with itself, so it does not count double.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from pipeline.core.domains import NO_LEAF, DomainTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class AlignConfig:
    step_ms: int = 50  # the grid: the site's sample interval (20 Hz)
    lateness_ms: int = 2_000  # how long a cell waits for late meters before it closes
    hold_ms: int = 10_000  # a silent meter is held this long past its last sample, then unknown
    max_cells: int = 1_200  # most cells one advance closes (60 s at 50 ms): bounds memory

    def __post_init__(self) -> None:
        if not 10 <= self.step_ms <= 1000:
            raise ValueError(f"step_ms must be 10-1000, got {self.step_ms}")
        if self.lateness_ms < 0 or self.hold_ms < 0 or self.max_cells < 1:
            raise ValueError("lateness_ms and hold_ms must be >= 0, max_cells >= 1")


@dataclass(frozen=True, slots=True)
class AlignedBlock:
    """Consecutive closed cells of one site: sums per cell (W), and who is behind them."""

    start_ms: int
    step_ms: int
    total_w: FloatArray  # (cells,) measured + held meters
    held_w: FloatArray  # (cells,) the estimated part of total_w
    measured: IntArray  # (cells,) meters measured
    held: IntArray  # (cells,) meters held at their last value
    unknown: IntArray  # (cells,) meters known to the site but without a value
    domain_w: FloatArray  # (domains, cells) like total_w, per power domain
    domain_held_w: FloatArray  # (domains, cells)
    domain_unknown: IntArray  # (domains, cells)
    samples: int  # samples aggregated into these cells
    late: int  # samples that came after their cell was closed: not aggregated
    domain_meters: IntArray | None = None  # (domains,) meters known per domain

    def __len__(self) -> int:
        return len(self.total_w)

    @property
    def times_ms(self) -> IntArray:
        return self.start_ms + self.step_ms * np.arange(len(self.total_w), dtype=np.int64)

    def site_series(self, max_unknown: int = 0) -> FloatArray:
        """total_w with NaN where more than ``max_unknown`` meters are unknown: what the
        features read, so that no rule fires or resolves on a partial sum."""
        return np.where(self.unknown > max_unknown, np.nan, self.total_w)

    def domain_series(self, max_unknown: int = 0) -> FloatArray:
        return np.where(self.domain_unknown > max_unknown, np.nan, self.domain_w)


def domain_lineage(tree: DomainTree) -> Callable[[str], tuple[int, ...]]:
    """rack -> the indices of its leaf domain and every domain above it (empty when no
    leaf claims the rack), for :class:`WaveAligner`."""

    def lineage(rack: str) -> tuple[int, ...]:
        out: list[int] = []
        index: int | None = tree.leaf_of(rack)
        while index is not None and index != NO_LEAF:
            out.append(index)
            index = tree.domains[index].parent
        return tuple(out)

    return lineage


class WaveAligner:
    """Aligns the power waves of one site (or shard) and closes cells by event time."""

    def __init__(
        self,
        config: AlignConfig | None = None,
        lineage: Callable[[str], Sequence[int]] | None = None,
        domains: int = 0,
    ) -> None:
        self.config = config or AlignConfig()
        self._lineage = lineage
        self._slots: dict[str, int] = {}
        self._racks: dict[int, str] = {}  # slot -> the rack a meter of a rack is mapped by
        self._last = np.full(16, np.nan)  # value in the last closed cell, per meter
        self._covered = np.full(16, -1, np.int64)  # first cell not covered by its samples
        self._member = np.zeros((domains, 16))  # domain x meter membership
        self._raw: list[tuple[int, int, int, Sequence[float]]] = []  # slot, ts, interval, w
        self._carry = _Samples.empty()  # materialised samples not yet due
        self.closed_to: int | None = None  # first cell not closed yet
        self.newest_ms: int | None = None  # the end of the newest sample added (event time)

    @property
    def meters(self) -> int:
        return len(self._slots)

    @property
    def domains(self) -> int:
        return int(self._member.shape[0])

    @property
    def pending(self) -> int:
        """Samples received and not yet closed into a block."""
        return len(self._carry) + sum(len(raw[3]) for raw in self._raw)

    def add(
        self,
        meter: str,
        ts_ms: int,
        interval_ms: int,
        power_w: Sequence[float],
        rack: str | None = None,
    ) -> int:
        """One event's samples (a validated :class:`pipeline.events.PowerWave`'s fields);
        ``rack``: the rack a meter of several per rack belongs to (its domains are the
        rack's; ``meter`` then names it among them). Returns how many of the samples fall
        in cells already closed: they will be counted late, not aggregated."""
        self._raw.append((self._slot(meter, rack), ts_ms, interval_ms, power_w))
        end = ts_ms + len(power_w) * interval_ms
        if self.newest_ms is None or end > self.newest_ms:
            self.newest_ms = end
        if self.closed_to is None:
            return 0
        # sample i is late when (ts + i * interval) // step < closed_to
        first_open_ms = self.closed_to * self.config.step_ms
        late = -(-(first_open_ms - ts_ms) // interval_ms)  # ceil division
        return min(max(late, 0), len(power_w))

    def relineage(self, lineage: Callable[[str], Sequence[int]] | None, domains: int) -> None:
        """New power domains (the site's spec changed): every known meter mapped again.
        Blocks closed from now on carry the new domains; nothing pending is lost."""
        self._lineage = lineage
        self._member = np.zeros((domains, len(self._last)))
        for meter, slot in self._slots.items():
            for domain in lineage(self._racks.get(slot, meter)) if lineage else ():
                self._member[domain, slot] = 1.0

    def advance(self, now_ms: int) -> AlignedBlock | None:
        """Close the cells older than ``now_ms - lateness_ms`` (at most ``max_cells``);
        None when there is nothing to close."""
        step = self.config.step_ms
        watermark = (now_ms - self.config.lateness_ms) // step
        samples = self._carry.join(self._materialise())
        if self.closed_to is None:
            if not len(samples):
                self._carry = samples
                return None
            self.closed_to = int(samples.cell.min())  # the first sample opens the grid
        start = self.closed_to
        stop = min(watermark, start + self.config.max_cells)
        if stop <= start:
            self._carry = samples
            return None
        late = samples.cell < start
        due = ~late & (samples.cell < stop)
        self._carry = samples.take(~late & ~due)
        block = self._close(start, stop, samples.take(due), int(late.sum()))
        self.closed_to = stop
        return block

    def _slot(self, meter: str, rack: str | None = None) -> int:
        name = meter if rack is None else f"{rack}\x00{meter}"  # no id holds a NUL
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = len(self._slots)
            if rack is not None:
                self._racks[slot] = rack
            if slot == len(self._last):
                self._grow()
            for domain in self._lineage(rack or meter) if self._lineage else ():
                self._member[domain, slot] = 1.0
        return slot

    def _grow(self) -> None:
        size = 2 * len(self._last)
        self._last = np.concatenate([self._last, np.full(size // 2, np.nan)])
        self._covered = np.concatenate([self._covered, np.full(size // 2, -1, np.int64)])
        self._member = np.concatenate([self._member, np.zeros_like(self._member)], axis=1)

    def _materialise(self) -> _Samples:
        """The raw events as flat sample arrays (slot, cell, value, covered-until cell)."""
        if not self._raw:
            return _Samples.empty()
        raw, self._raw = self._raw, []
        lengths = np.fromiter((len(r[3]) for r in raw), np.int64, len(raw))
        total = int(lengths.sum())
        slot = np.repeat(np.fromiter((r[0] for r in raw), np.int64, len(raw)), lengths)
        ts = np.repeat(np.fromiter((r[1] for r in raw), np.int64, len(raw)), lengths)
        interval = np.repeat(np.fromiter((r[2] for r in raw), np.int64, len(raw)), lengths)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        at = ts + (np.arange(total, dtype=np.int64) - first) * interval
        value = np.fromiter(chain.from_iterable(r[3] for r in raw), np.float64, total)
        step = self.config.step_ms
        cell = at // step
        # a sample stands for the power until the next one is due (at least its own cell)
        covered = np.maximum(cell + 1, (at + interval) // step)
        return _Samples(slot, cell, value, covered)

    def _close(self, start: int, stop: int, due: _Samples, late: int) -> AlignedBlock:
        n, m = stop - start, len(self._slots)
        flat = due.slot * n + (due.cell - start)
        counts = np.bincount(flat, minlength=m * n).reshape(m, n)
        sums = np.bincount(flat, weights=due.value, minlength=m * n).reshape(m, n)
        ends = np.full(m * n, -1, np.int64)
        np.maximum.at(ends, flat, due.covered)
        has = counts > 0
        # forward fill: each cell takes the mean of the latest cell with samples, or the
        # value carried in from the previous block
        latest = np.maximum.accumulate(np.where(has, np.arange(n), -1), axis=1)
        means = sums / np.maximum(counts, 1)
        rows = np.arange(m)[:, None]
        value = np.where(latest >= 0, means[rows, np.maximum(latest, 0)], self._last[:m, None])
        covered = np.maximum(ends.reshape(m, n), self._covered[:m, None])
        np.maximum.accumulate(covered, axis=1, out=covered)
        cells = np.arange(start, stop, dtype=np.int64)
        known = ~np.isnan(value)
        measured = known & (cells < covered)
        hold_cells = self.config.hold_ms // self.config.step_ms
        held = known & ~measured & (cells < covered + hold_cells)
        unknown = ~(measured | held)
        used = np.where(measured | held, value, 0.0)
        estimated = np.where(held, value, 0.0)
        member = self._member[:, :m]
        self._last[:m] = value[:, -1]
        self._covered[:m] = covered[:, -1]
        return AlignedBlock(
            start_ms=start * self.config.step_ms,
            step_ms=self.config.step_ms,
            total_w=used.sum(axis=0),
            held_w=estimated.sum(axis=0),
            measured=measured.sum(axis=0),
            held=held.sum(axis=0),
            unknown=unknown.sum(axis=0),
            domain_w=member @ used,
            domain_held_w=member @ estimated,
            domain_unknown=np.rint(member @ unknown).astype(np.int64),
            samples=len(due),
            late=late,
            domain_meters=np.rint(member.sum(axis=1)).astype(np.int64),
        )


@dataclass(frozen=True, slots=True)
class _Samples:
    """Flat per-sample arrays: meter slot, grid cell, value (W), first cell not covered."""

    slot: IntArray
    cell: IntArray
    value: FloatArray
    covered: IntArray

    @classmethod
    def empty(cls) -> _Samples:
        none = np.zeros(0, np.int64)
        return cls(none, none, np.zeros(0), none)

    def __len__(self) -> int:
        return len(self.cell)

    def join(self, other: _Samples) -> _Samples:
        if not len(other):
            return self
        if not len(self):
            return other
        return _Samples(
            np.concatenate([self.slot, other.slot]),
            np.concatenate([self.cell, other.cell]),
            np.concatenate([self.value, other.value]),
            np.concatenate([self.covered, other.covered]),
        )

    def take(self, mask: npt.NDArray[np.bool_]) -> _Samples:
        return _Samples(self.slot[mask], self.cell[mask], self.value[mask], self.covered[mask])
