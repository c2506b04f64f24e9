"""The recent aligned series of a site (and its domains), as the features read them.

A fixed number of cells per row, oldest first, NaN where the value is unknown: cells
never pushed (a gap between blocks, the time before the first block) are NaN too, so a
window spanning a gap is seen as incomplete rather than as a fall to zero.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class SeriesWindow:
    """The last ``capacity`` cells of ``rows`` series on a grid of ``step_ms``."""

    def __init__(self, rows: int, capacity: int, step_ms: int) -> None:
        if rows < 1 or capacity < 1 or step_ms < 1:
            raise ValueError("rows, capacity and step_ms must be >= 1")
        self.step_ms = step_ms
        self.values = np.full((rows, capacity), np.nan)
        self.end_cell: int | None = None  # first cell after the newest

    @property
    def end_ms(self) -> int | None:
        return None if self.end_cell is None else self.end_cell * self.step_ms

    @property
    def capacity(self) -> int:
        return self.values.shape[1]

    def push(self, start_ms: int, block: FloatArray) -> None:
        """Append cells starting at ``start_ms``: a row vector (one row) or rows x cells.

        A block may leave a gap after the newest cell (filled with NaN) but not overlap
        it: cells are closed once, in order."""
        cells = np.atleast_2d(np.asarray(block, dtype=np.float64))
        if cells.shape[0] != self.values.shape[0]:
            raise ValueError(f"block has {cells.shape[0]} rows, the window {self.values.shape[0]}")
        first = start_ms // self.step_ms
        end = self.end_cell if self.end_cell is not None else first
        if first < end:
            raise ValueError(f"block at cell {first} overlaps the window (ends at {end})")
        gap = min(first - end, self.capacity)
        shift = gap + cells.shape[1]
        if shift >= self.capacity:
            self.values[:] = np.nan
            tail = cells[:, -self.capacity :]
            self.values[:, self.capacity - tail.shape[1] :] = tail
        else:
            self.values[:, :-shift] = self.values[:, shift:]
            self.values[:, -shift:] = np.nan
            self.values[:, self.capacity - cells.shape[1] :] = cells
        self.end_cell = first + cells.shape[1]

    def last(self, cells: int) -> FloatArray:
        """The newest ``cells`` cells of every row (rows x cells)."""
        if not 1 <= cells <= self.capacity:
            raise ValueError(f"cells must be 1-{self.capacity}, got {cells}")
        return self.values[:, -cells:]
