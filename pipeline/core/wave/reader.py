"""Reading a site's aligned series as it closes: the recent window of the site and its
domains, their features every stride of event time, and the site's load drops.

Blocks arrive as the cells close (a tick may close a second of cells, or a minute of a
backlog at once). The reader cuts them at multiples of ``stride_ms`` of event time and
reads the window ending at each cut (:func:`pipeline.core.wave.features.read_window`),
so a backlog closed in one go is read at the same moments as live data, and a feature
row stands for the same stride of event time whatever the pace it was read at. Ramps
are read over the cells of the stride (each cell's lag back into the window), swing,
bands and dominant frequency over the window. Without a stride the window is read once
per block, at its end (:class:`pipeline.core.wave.site.WaveSite`'s tick).

Load drops are looked for on the site's series, cell by cell across blocks
(:class:`pipeline.core.wave.drops.DropDetector`); a drop is reported with the stride in
which its sustain was confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pipeline.core.wave.align import AlignedBlock
from pipeline.core.wave.drops import Drop, DropConfig, DropDetector
from pipeline.core.wave.features import FeatureConfig, WindowFeatures, read_window
from pipeline.core.wave.window import SeriesWindow

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ReadConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    drops: DropConfig = field(default_factory=DropConfig)
    stride_ms: int | None = 1_000  # a feature row per this much event time; None: per block
    max_unknown: int = 0  # a cell with more unknown meters is not read (NaN)
    max_block_cells: int = 1_200  # without a stride: the most cells one block brings

    def __post_init__(self) -> None:
        if self.stride_ms is not None and self.stride_ms <= 0:
            raise ValueError("stride_ms must be > 0")


@dataclass(frozen=True, slots=True)
class Stride:
    """The cells read by one feature row, and what was read."""

    start_ms: int
    end_ms: int
    series: FloatArray  # (rows, cells): the site then its domains, W, NaN unknown
    held_w: FloatArray  # (cells,) the estimated part of the site's cells (0 where unknown)
    features: WindowFeatures  # of the window ending at end_ms
    drops: tuple[Drop, ...]  # drops confirmed in this stride

    @property
    def cells(self) -> int:
        return int(self.series.shape[1])

    @property
    def step_ms(self) -> int:
        return (self.end_ms - self.start_ms) // max(1, self.cells)

    def known(self, row: int = 0) -> int:
        return int((~np.isnan(self.series[row])).sum())

    def average_w(self, row: int = 0) -> float:
        """Mean of the row's known cells (NaN when none)."""
        values = self.series[row]
        known = ~np.isnan(values)
        return float(values[known].mean()) if known.any() else float("nan")


class WaveReader:
    """The window, feature reads and drop detection of one site (rows: 1 + domains)."""

    def __init__(
        self,
        site: str,
        step_ms: int,
        domains: int = 0,
        config: ReadConfig | None = None,
        region: str | None = None,
    ) -> None:
        self.site = site
        self.region = region
        self.step_ms = step_ms
        self.config = config or ReadConfig()
        self.domains = domains
        self._reset_window()
        self.drops = DropDetector(site, step_ms, self.config.drops)
        self._unread: list[FloatArray] = []  # cells pushed since the last read
        self._unread_held: list[FloatArray] = []
        self._unread_start: int | None = None
        self._found: list[Drop] = []

    def _reset_window(self) -> None:
        c, step = self.config, self.step_ms
        lookback = max((*c.features.lag_cells(step), c.features.window_cells(step)))
        stride = self._stride_cells() or c.max_block_cells
        self.window = SeriesWindow(1 + self.domains, lookback + stride, step)

    def _stride_cells(self) -> int | None:
        stride = self.config.stride_ms
        return None if stride is None else max(1, stride // self.step_ms)

    def reconfigure(self, config: ReadConfig, domains: int) -> None:
        """New bands, drop terms or domains (the spec changed); a change of domains (or of
        the window's size) starts the window afresh: its features read NaN until it has
        filled again."""
        old_size = self.window.capacity
        self.config = config
        self.drops.config = config.drops
        if domains != self.domains or self._size_changed(old_size):
            self.domains = domains
            self._reset_window()
            self._unread, self._unread_held, self._unread_start = [], [], None

    def _size_changed(self, old: int) -> bool:
        c, step = self.config, self.step_ms
        lookback = max((*c.features.lag_cells(step), c.features.window_cells(step)))
        return lookback + (self._stride_cells() or c.max_block_cells) != old

    def read(self, block: AlignedBlock) -> list[Stride]:
        """Push a closed block; the strides it completes (without a stride: one, at its end)."""
        if block.step_ms != self.step_ms:
            raise ValueError(f"block on {block.step_ms} ms, the reader on {self.step_ms} ms")
        m = self.config.max_unknown
        series = np.vstack([block.site_series(m), block.domain_series(m)[: self.domains]])
        if series.shape[0] != 1 + self.domains:  # a block without every domain: unknown
            pad = np.full((1 + self.domains - series.shape[0], len(block)), np.nan)
            series = np.vstack([series, pad])
        held = np.where(np.isnan(series[0]), 0.0, block.held_w)
        start_cell = block.start_ms // self.step_ms
        stride = self._stride_cells()
        cuts = [len(block)]
        if stride is not None:
            first_cut = (start_cell // stride + 1) * stride - start_cell
            cuts = [*range(first_cut, len(block) + 1, stride)]
            if not cuts or cuts[-1] != len(block):
                cuts.append(len(block))
        out: list[Stride] = []
        at = 0
        for cut in cuts:
            if cut <= at:
                continue
            self._push((start_cell + at) * self.step_ms, series[:, at:cut], held[at:cut])
            at = cut
            end_cell = start_cell + cut
            if stride is None or end_cell % stride == 0:
                out.append(self._read_stride(end_cell * self.step_ms))
        return out

    def _push(self, start_ms: int, series: FloatArray, held: FloatArray) -> None:
        self.window.push(start_ms, series)
        self._found += self.drops.push(start_ms, series[0], self.region)
        if self._unread_start is None:
            self._unread_start = start_ms
        self._unread.append(series)
        self._unread_held.append(held)

    def _read_stride(self, end_ms: int) -> Stride:
        series = np.hstack(self._unread)
        features = read_window(
            self.window.values, end_ms, self.step_ms, self.config.features, series.shape[1]
        )
        start = self._unread_start if self._unread_start is not None else end_ms
        stride = Stride(
            start, end_ms, series, np.concatenate(self._unread_held), features, tuple(self._found)
        )
        self._unread, self._unread_held, self._unread_start, self._found = [], [], None, []
        return stride
