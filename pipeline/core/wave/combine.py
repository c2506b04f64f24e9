"""Aligned blocks of several parts combined into one: the shards of a site, the sites of a
region.

A site keyed ``SITE/SHARD`` aligns each shard's meters where the shard lives
(:class:`pipeline.core.wave.align.WaveAligner`); its site stage adds the shards' blocks
cell by cell. The sums of an :class:`AlignedBlock` are additive (watts and meter counts,
per site and per power domain), so the combined block is the block one aligner would have
made of every meter, as long as every part has delivered its cells. A region's demand
response is measured the same way, over the blocks of its sites.

A part whose block is late is a silent meter one level up, never a zero:

* a combined cell closes once every part has delivered it, or when the parts' newest
  event time is ``wait_ms`` past it (the caller passes the clock; see
  :meth:`BlockCombiner.close`);
* a part that has not delivered a closing cell counts at its last delivered cell's
  values, as *held* (estimated) for ``hold_ms`` past that cell, then as *unknown*
  (its meters counted unknown; the site's series is then NaN there);
* cells that arrive after their combined cell closed are dropped and counted
  (:attr:`BlockCombiner.late_cells`); a replayed block (a restart, a redelivery) is
  dropped the same way, so nothing counts twice;
* a part expected but never heard from (:meth:`BlockCombiner.expect`: the sites of a
  region) is unknown in every cell: a region is not measured on some of its sites.

Domains travel by name, so parts may know the site's domains in another order, or a
spec change later: a domain the combiner does not know is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pipeline.core.wave.align import AlignedBlock

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class _Part:
    """One part's cells not combined yet, from cell ``first``, and its last cell."""

    first: int
    total: FloatArray
    held_w: FloatArray
    measured: IntArray
    held: IntArray
    unknown: IntArray
    domain_w: FloatArray  # (domains, cells), in the combiner's domain order
    domain_held_w: FloatArray
    domain_unknown: IntArray
    domain_meters: IntArray  # (domains,)
    last_cell: int | None = None  # the part's newest cell delivered
    last: tuple[float, int, int, FloatArray, IntArray] = field(
        default_factory=lambda: (0.0, 0, 0, np.zeros(0), np.zeros(0, np.int64))
    )  # total_w, meters known (measured + held), unknown, domain_w, domain_unknown
    seen_ms: int = 0  # the clock when it last delivered (for forgetting)

    @property
    def end(self) -> int:
        return self.first + len(self.total)


class BlockCombiner:
    """Parts' blocks (one grid of ``step_ms``) added cell by cell into one series."""

    def __init__(
        self,
        step_ms: int,
        domains: Sequence[str] = (),
        wait_ms: int = 3_000,
        hold_ms: int = 10_000,
        max_cells: int = 1_200,
    ) -> None:
        self.step_ms = step_ms
        self.domains = tuple(domains)
        self.wait_ms = wait_ms
        self.hold_ms = hold_ms
        self.max_cells = max_cells
        self.parts: dict[str, _Part] = {}
        self.expected: set[str] = set()  # parts that count unknown until they deliver
        self.closed_to: int | None = None  # first combined cell not closed yet
        self.late_cells = 0  # cells delivered after their combined cell closed
        self._samples = 0  # samples behind the blocks added since the last close

    @property
    def newest_ms(self) -> int | None:
        """The end of the newest cell any part delivered (event time)."""
        ends = [p.end for p in self.parts.values() if p.last_cell is not None]
        return max(ends) * self.step_ms if ends else None

    def expect(self, parts: Iterable[str]) -> None:
        self.expected = set(parts)

    def set_domains(self, domains: Sequence[str]) -> None:
        """The site's domains changed: parts' pending cells are dropped (their blocks
        said other domains); the next blocks bring the new ones."""
        if tuple(domains) != self.domains:
            self.domains = tuple(domains)
            self.parts = {}

    def add(self, part: str, block: AlignedBlock, domains: Sequence[str], now_ms: int) -> int:
        """A part's block; returns the cells dropped (already closed, or replayed)."""
        if block.step_ms != self.step_ms:
            raise ValueError(f"block of {part} on {block.step_ms} ms, not {self.step_ms} ms")
        start = block.start_ms // self.step_ms
        state = self.parts.get(part)
        floor = start if self.closed_to is None else max(start, self.closed_to)
        if state is not None and state.last_cell is not None:
            floor = max(floor, state.last_cell + 1)
        skip = min(floor - start, len(block))
        self.late_cells += skip
        if self.closed_to is None:
            self.closed_to = start
        if state is None:
            state = self.parts[part] = self._empty(start + skip)
        state.seen_ms = now_ms
        self._samples += block.samples
        if skip < len(block):
            self._append(state, block, domains, skip)
        return skip

    def _empty(self, first: int) -> _Part:
        d = len(self.domains)
        return _Part(
            first,
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros((d, 0)),
            np.zeros((d, 0)),
            np.zeros((d, 0), np.int64),
            np.zeros(d, np.int64),
        )

    def _append(self, state: _Part, block: AlignedBlock, domains: Sequence[str], skip: int) -> None:
        first = block.start_ms // self.step_ms + skip
        if not len(state.total):
            state.first = first  # a gap before it, if any, is missing in _combine
        elif first > state.end:
            self._pad(state, first - state.end)  # the gap held, so cells stay contiguous
        d_w, d_held, d_unknown, d_meters = self._reorder(block, domains, skip)
        sl = slice(skip, None)
        state.total = np.concatenate([state.total, block.total_w[sl]])
        state.held_w = np.concatenate([state.held_w, block.held_w[sl]])
        state.measured = np.concatenate([state.measured, block.measured[sl]])
        state.held = np.concatenate([state.held, block.held[sl]])
        state.unknown = np.concatenate([state.unknown, block.unknown[sl]])
        state.domain_w = np.concatenate([state.domain_w, d_w], axis=1)
        state.domain_held_w = np.concatenate([state.domain_held_w, d_held], axis=1)
        state.domain_unknown = np.concatenate([state.domain_unknown, d_unknown], axis=1)
        state.domain_meters = d_meters
        state.last_cell = state.end - 1
        state.last = (
            float(block.total_w[-1]),
            int(block.measured[-1] + block.held[-1]),
            int(block.unknown[-1]),
            d_w[:, -1].copy(),
            d_unknown[:, -1].copy(),
        )

    def _pad(self, state: _Part, cells: int) -> None:
        """Append ``cells`` cells held at the part's last values."""
        last_w, known, last_unknown, last_dw, last_du = state.last
        d = len(self.domains)
        dw = last_dw[:, None] if len(last_dw) == d else np.zeros((d, 1))
        du = last_du[:, None] if len(last_du) == d else np.zeros((d, 1), np.int64)
        state.total = np.concatenate([state.total, np.full(cells, last_w)])
        state.held_w = np.concatenate([state.held_w, np.full(cells, last_w)])
        state.measured = np.concatenate([state.measured, np.zeros(cells, np.int64)])
        state.held = np.concatenate([state.held, np.full(cells, known)])
        state.unknown = np.concatenate([state.unknown, np.full(cells, last_unknown)])
        state.domain_w = np.concatenate([state.domain_w, np.repeat(dw, cells, 1)], axis=1)
        state.domain_held_w = np.concatenate([state.domain_held_w, np.repeat(dw, cells, 1)], axis=1)
        state.domain_unknown = np.concatenate(
            [state.domain_unknown, np.repeat(du, cells, 1)], axis=1
        )

    def _reorder(
        self, block: AlignedBlock, domains: Sequence[str], skip: int
    ) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
        """The block's domain rows in this combiner's order (zeros for a domain the
        block does not have)."""
        n, cells = len(self.domains), len(block) - skip
        w, held_w = np.zeros((n, max(cells, 0))), np.zeros((n, max(cells, 0)))
        unknown, meters = np.zeros((n, max(cells, 0)), np.int64), np.zeros(n, np.int64)
        index = {name: i for i, name in enumerate(self.domains)}
        for row, name in enumerate(domains):
            i = index.get(name)
            if i is None or row >= len(block.domain_w):
                continue
            w[i] = block.domain_w[row, skip:]
            held_w[i] = block.domain_held_w[row, skip:]
            unknown[i] = block.domain_unknown[row, skip:]
            if block.domain_meters is not None:
                meters[i] = block.domain_meters[row]
        return w, held_w, unknown, meters

    def close(self, now_ms: int) -> AlignedBlock | None:
        """Combine the cells every part has delivered, and those ``wait_ms`` behind
        ``now_ms`` whatever was delivered (pass the lesser of the clock and the parts'
        newest event time, so that a backlog read fast is not closed ahead of its data);
        None when nothing is due."""
        if self.closed_to is None or not self.parts:
            return None
        start = self.closed_to
        ready = min(p.end for p in self.parts.values())
        if self.expected - set(self.parts):
            ready = start  # a part never heard from: close on the clock only
        forced = (now_ms - self.wait_ms) // self.step_ms
        stop = min(max(ready, forced), start + self.max_cells)
        if stop <= start:
            return None
        block = self._combine(start, stop)
        self.closed_to = stop
        return block

    def _combine(self, start: int, stop: int) -> AlignedBlock:
        n, d = stop - start, len(self.domains)
        total, held_w = np.zeros(n), np.zeros(n)
        measured, held, unknown = (np.zeros(n, np.int64) for _ in range(3))
        domain_w, domain_held_w = np.zeros((d, n)), np.zeros((d, n))
        domain_unknown = np.zeros((d, n), np.int64)
        domain_meters = np.zeros(d, np.int64)
        hold_cells = self.hold_ms // self.step_ms
        for part in self.parts.values():
            domain_meters += part.domain_meters
            lo, hi = self._take(part, start, stop)  # cells [lo, hi) of the block delivered
            if hi > lo:
                k = hi - lo
                total[lo:hi] += part.total[:k]
                held_w[lo:hi] += part.held_w[:k]
                measured[lo:hi] += part.measured[:k]
                held[lo:hi] += part.held[:k]
                unknown[lo:hi] += part.unknown[:k]
                domain_w[:, lo:hi] += part.domain_w[:, :k]
                domain_held_w[:, lo:hi] += part.domain_held_w[:, :k]
                domain_unknown[:, lo:hi] += part.domain_unknown[:, :k]
                self._drop(part, k)
            if part.last_cell is None:
                continue
            # the rest: held at the part's last cell for hold_ms, then unknown
            for a, b in ((0, lo), (hi, n)):
                if b <= a:
                    continue
                cells = np.arange(start + a, start + b)
                split = a + int((cells <= part.last_cell + hold_cells).sum())
                self._missing(part, (a, split, b), total, held_w, held, unknown)
                self._missing_domains(part, (a, split, b), domain_w, domain_held_w, domain_unknown)
        for _ in self.expected - set(self.parts):
            unknown += 1  # never heard from: its meters unknown (at least one)
        samples, self._samples = self._samples, 0
        return AlignedBlock(
            start_ms=start * self.step_ms,
            step_ms=self.step_ms,
            total_w=total,
            held_w=held_w,
            measured=measured,
            held=held,
            unknown=unknown,
            domain_w=domain_w,
            domain_held_w=domain_held_w,
            domain_unknown=domain_unknown,
            samples=samples,
            late=0,
            domain_meters=domain_meters,
        )

    def _take(self, part: _Part, start: int, stop: int) -> tuple[int, int]:
        """Where the part's pending cells fall in ``[start, stop)``, as offsets from
        ``start`` (cells before ``start`` are dropped: they closed without it)."""
        if part.first < start:
            self._drop(part, min(start - part.first, len(part.total)))
            part.first = max(part.first, start)
        lo = min(part.first - start, stop - start)
        return lo, min(stop - start, lo + len(part.total))

    @staticmethod
    def _missing(
        part: _Part,
        span: tuple[int, int, int],
        total: FloatArray,
        held_w: FloatArray,
        held: IntArray,
        unknown: IntArray,
    ) -> None:
        """Cells ``[a, split)`` held at the part's last values, ``[split, b)`` unknown."""
        a, split, b = span
        last_w, known, last_unknown, _, _ = part.last
        total[a:split] += last_w
        held_w[a:split] += last_w
        held[a:split] += known
        unknown[a:split] += last_unknown
        unknown[split:b] += known + last_unknown

    def _missing_domains(
        self,
        part: _Part,
        span: tuple[int, int, int],
        domain_w: FloatArray,
        domain_held_w: FloatArray,
        domain_unknown: IntArray,
    ) -> None:
        a, split, b = span
        _, _, _, last_dw, last_du = part.last
        if len(last_dw) != len(self.domains):
            return
        domain_w[:, a:split] += last_dw[:, None]
        domain_held_w[:, a:split] += last_dw[:, None]
        domain_unknown[:, a:split] += last_du[:, None]
        domain_unknown[:, split:b] += np.maximum(part.domain_meters, last_du)[:, None]

    @staticmethod
    def _drop(part: _Part, cells: int) -> None:
        part.first += cells
        part.total = part.total[cells:]
        part.held_w = part.held_w[cells:]
        part.measured = part.measured[cells:]
        part.held = part.held[cells:]
        part.unknown = part.unknown[cells:]
        part.domain_w = part.domain_w[:, cells:]
        part.domain_held_w = part.domain_held_w[:, cells:]
        part.domain_unknown = part.domain_unknown[:, cells:]

    def forget(self, before_ms: int) -> list[str]:
        """Drop parts that delivered nothing since ``before_ms`` (the clock); their names."""
        gone = [name for name, p in self.parts.items() if p.seen_ms < before_ms]
        for name in gone:
            del self.parts[name]
        return gone
