"""Sums of a few quantities over a sliding window of event time, in fixed memory.

The link-health state (:mod:`pipeline.core.link_health`) keeps its windows here: the
errors and bits of the BER window, the transitions of the flap window, the pause time
per priority of the PFC window. As the loss window of :class:`pipeline.core.links.LinkState`
does, a window is held as ``BUCKETS`` time buckets in one flat ``array('d')``, whatever
the sample rate, and resolved to a bucket: :meth:`WindowSums.sums` covers the buckets
that end inside the last ``window_ms`` before the newest sample, i.e. between
``window_ms`` and one bucket more.

Pure: no I/O.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

#: Buckets of a window; the window is resolved to ``window / (BUCKETS - 1)``.
BUCKETS = 7


class WindowSums:
    """``width`` running sums over the last ``window_ms`` of event time."""

    __slots__ = ("_cells", "_stride", "bucket_ms", "newest_ms", "width", "window_ms")

    def __init__(self, window_ms: int, width: int) -> None:
        self.window_ms = window_ms
        self.width = width
        self.bucket_ms = max(1, -(-window_ms // (BUCKETS - 1)))  # ceil: BUCKETS-1 span it
        self.newest_ms: int | None = None
        self._stride = width + 1  # each bucket: its start, then its sums
        self._cells = array("d", ([-1.0] + [0.0] * width) * BUCKETS)

    def add(self, ts_ms: int, values: Sequence[float]) -> None:
        """Add ``values`` (one per sum) at event time ``ts_ms``; a time older than the
        newest one moves nothing (the caller gives samples in order)."""
        if self.newest_ms is None or ts_ms > self.newest_ms:
            self.newest_ms = ts_ms
        begins = ts_ms - ts_ms % self.bucket_ms
        base = (ts_ms // self.bucket_ms) % BUCKETS * self._stride
        cells = self._cells
        if cells[base] != begins:
            cells[base] = begins
            for i in range(1, self._stride):
                cells[base + i] = 0.0
        for i, value in enumerate(values, start=base + 1):
            cells[i] += value

    def sums(self) -> list[float]:
        """The sums over the window before the newest sample (zeros before any)."""
        out = [0.0] * self.width
        if self.newest_ms is None:
            return out
        oldest_end = self.newest_ms - self.window_ms  # buckets must end after this
        cells, stride, size = self._cells, self._stride, self.bucket_ms
        for base in range(0, stride * BUCKETS, stride):
            if cells[base] >= 0 and cells[base] + size > oldest_end:
                for i in range(self.width):
                    out[i] += cells[base + 1 + i]
        return out
