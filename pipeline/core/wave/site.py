"""One site's waveform state, as the worker's site stage holds it, tick by tick.

Per event it keeps the samples (:class:`pipeline.core.wave.align.WaveAligner`); per tick
it closes the cells that are due and reads them (:class:`pipeline.core.wave.reader.WaveReader`:
the recent series of the site and its domains, the window's features at the block's end,
load drops). This is the one-key composition; the worker splits it in two, the aligner
per message key and the reader at the site stage
(:mod:`pipeline.core.wave.processor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.wave.align import AlignConfig, AlignedBlock, WaveAligner
from pipeline.core.wave.drops import Drop, DropConfig
from pipeline.core.wave.features import FeatureConfig, WindowFeatures
from pipeline.core.wave.reader import ReadConfig, WaveReader
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
        config = ReadConfig(
            s.features, s.drops, None, s.max_unknown, max_block_cells=s.align.max_cells
        )
        self.reader = WaveReader(site, s.align.step_ms, self.aligner.domains, config, region)

    @property
    def window(self) -> SeriesWindow:
        return self.reader.window

    def add(self, meter: str, ts_ms: int, interval_ms: int, power_w: list[float]) -> None:
        self.aligner.add(meter, ts_ms, interval_ms, power_w)

    def tick(self, now_ms: int) -> WaveTick | None:
        """Close what is due at ``now_ms`` and read it; None when nothing was due."""
        block = self.aligner.advance(now_ms)
        if block is None:
            return None
        (stride,) = self.reader.read(block)
        return WaveTick(block, stride.features, list(stride.drops))
