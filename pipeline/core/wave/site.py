"""One site's waveform state, as the worker's site stage holds it, tick by tick.

Per event it keeps the samples (:class:`pipeline.core.wave.align.WaveAligner`); per tick
it closes the cells that are due, appends them to the recent series of the site and its
domains (:class:`pipeline.core.wave.window.SeriesWindow`), reads the window's features
and looks for load drops. The rules (ramp, oscillation, drop) then compare the
:class:`WaveTick` with the site spec's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.core.wave.align import AlignConfig, AlignedBlock, WaveAligner
from pipeline.core.wave.drops import Drop, DropConfig, DropDetector
from pipeline.core.wave.features import FeatureConfig, WindowFeatures, read_window
from pipeline.core.wave.window import SeriesWindow


@dataclass(frozen=True, slots=True)
class WaveSettings:
    align: AlignConfig = field(default_factory=AlignConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    drops: DropConfig = field(default_factory=DropConfig)
    max_unknown: int = 0  # a cell with more unknown meters is not read (NaN)


@dataclass(frozen=True, slots=True)
class WaveTick:
    block: AlignedBlock  # the cells closed by this tick
    features: WindowFeatures  # of the window ending with them: row 0 the site, then domains
    drops: list[Drop]  # load drops confirmed by this tick


class WaveSite:
    """Aligner, recent series, features and drop detection of one site."""

    def __init__(
        self,
        site: str,
        settings: WaveSettings | None = None,
        region: str | None = None,
        aligner: WaveAligner | None = None,
    ) -> None:
        self.site = site
        self.region = region
        self.settings = settings or WaveSettings()
        s = self.settings
        self.aligner = aligner or WaveAligner(s.align)
        step = s.align.step_ms
        lookback = max(s.features.lag_cells(step))
        capacity = max(s.features.window_cells(step), lookback) + s.align.max_cells
        rows = 1 + self.aligner.domains
        self.window = SeriesWindow(rows, capacity, step)
        self.drops = DropDetector(site, step, s.drops)

    def add(self, meter: str, ts_ms: int, interval_ms: int, power_w: list[float]) -> None:
        self.aligner.add(meter, ts_ms, interval_ms, power_w)

    def tick(self, now_ms: int) -> WaveTick | None:
        """Close what is due at ``now_ms`` and read it; None when nothing was due."""
        block = self.aligner.advance(now_ms)
        if block is None:
            return None
        s = self.settings
        site = block.site_series(s.max_unknown)
        self.window.push(block.start_ms, np.vstack([site, block.domain_series(s.max_unknown)]))
        end_ms = block.start_ms + block.step_ms * len(block)
        features = read_window(
            self.window.values, end_ms, block.step_ms, s.features, recent=len(block)
        )
        drops = self.drops.push(block.start_ms, site, self.region)
        return WaveTick(block, features, drops)
