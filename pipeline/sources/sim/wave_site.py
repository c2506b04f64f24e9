"""Racks of a simulated training site as power waves: samples per rack, PowerWave events,
and a source that sends them (``{"events": [...]}`` batches keyed by site, per tick).

Rack power is built like :mod:`pipeline.sources.sim.site_model` builds it: the rack's
GPUs at the job's level (:mod:`pipeline.sources.sim.waveform`), hosts drawing more as
their GPUs work, and the rack's fixed load. Each rack has its own static spread, a
clock offset of a few milliseconds (ranks of one job stay that close) and independent
per-sample noise; a curtailment scales the whole rack (DR software lowers limits and
pauses work; hosts and fans follow); a trip takes a share of the racks off the grid at
once (a voltage dip sends them to backup power: the meters read 0 W). :meth:`SiteWaves.power`
with ``noise=False`` is the injected truth the tests compare against.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.kafka.topics import POWER_WAVE
from pipeline.sources.base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    OutMessage,
    Tick,
    encode_batches,
)
from pipeline.sources.kind import BuildContext
from pipeline.sources.registry import WaveSimOptions
from pipeline.sources.sim.hardware import GPU_NOISE_FRAC, GPU_SPREAD_FRAC, PLATFORMS, Platform
from pipeline.sources.sim.waveform import Curtailment, Smoother, Smoothing, TrainingJob

FloatArray = npt.NDArray[np.float64]

JITTER_MS = 5.0  # rack clock offsets of one job, +- (assumed: collectives keep ranks in step)


@dataclass(frozen=True, slots=True)
class Trip:
    """The first ``share`` of the racks off the grid from ``at_s`` for ``duration_s``."""

    at_s: float
    share: float = 0.4
    duration_s: float = 120.0

    def off(self, t_s: FloatArray, racks: int) -> npt.NDArray[np.bool_]:
        """racks x samples: True where a rack is off."""
        tripped = np.arange(racks) < round(self.share * racks)
        t = np.asarray(t_s, dtype=np.float64)
        during = (t >= self.at_s) & (t < self.at_s + self.duration_s)
        return np.asarray(tripped[:, None] & during, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class WaveSiteSpec:
    site: str
    racks: tuple[str, ...]
    platform: Platform = PLATFORMS["H100"]
    job: TrainingJob = field(default_factory=TrainingJob)
    smoothing: Smoothing | None = None
    curtailment: Curtailment | None = None
    seed: int = 0
    trip: Trip | None = None


class SiteWaves:
    """Power per rack and sample (W) of one site; call :meth:`power` in time order when
    smoothing is on (a ramp-rate limit remembers its last output)."""

    def __init__(self, spec: WaveSiteSpec) -> None:
        self.spec = spec
        n = len(spec.racks)
        rng = np.random.default_rng([spec.seed, zlib.crc32(spec.site.encode())])
        gpus = spec.platform.gpus
        self._spread = 1 + rng.normal(0, GPU_SPREAD_FRAC / math.sqrt(gpus), n)
        self._offset_s = rng.uniform(-JITTER_MS, JITTER_MS, n) / 1000
        self._noise_frac = GPU_NOISE_FRAC / math.sqrt(gpus)  # independent GPUs, summed
        self._rng = rng
        board = spec.platform.accelerator.board_w
        self._smoother = Smoother(spec.smoothing, board, n) if spec.smoothing else None

    def power(self, t_s: FloatArray, noise: bool = True) -> FloatArray:
        """racks x samples at the times ``t_s`` (s, equally spaced)."""
        t = np.asarray(t_s, dtype=np.float64)
        at = t[None, :] + self._offset_s[:, None]
        level = self.spec.job.level(at)
        if self._smoother is not None:
            step = float(t[1] - t[0]) if len(t) > 1 else 0.05
            level = self._smoother.apply(level, step)
        watts = self._rack_w(level) * self._spread[:, None]
        if self.spec.curtailment is not None:
            watts = watts * self.spec.curtailment.factor(at)
        if noise:
            watts = watts * (1 + self._rng.normal(0, self._noise_frac, watts.shape))
        if self.spec.trip is not None:
            watts = np.where(self.spec.trip.off(t, len(self.spec.racks)), 0.0, watts)
        return np.asarray(np.maximum(watts, 0.0), dtype=np.float64)

    def _rack_w(self, level: FloatArray) -> FloatArray:
        p = self.spec.platform
        acc = p.accelerator
        busy = np.clip((level - acc.idle_frac) / (acc.peak_frac - acc.idle_frac), 0.0, 1.0)
        host = p.host_idle_w + (p.host_busy_w - p.host_idle_w) * busy
        node = p.gpus_per_node * acc.board_w * level + host
        return np.asarray(p.nodes * node + p.rack_fixed_w, dtype=np.float64)


def wave_events(
    site: str, racks: Sequence[str], start_ms: int, interval_ms: int, watts: FloatArray
) -> list[dict[str, Any]]:
    """One PowerWave event (a contract dict) per rack: its row of ``watts`` from
    ``start_ms`` (rounded to 0.1 W, as meters report)."""
    rounded = np.round(watts, 1)
    return [
        {
            "site": site,
            "rack": rack,
            "ts": start_ms,
            "interval_ms": interval_ms,
            "power_w": row.tolist(),
            "source": "sim",
        }
        for rack, row in zip(racks, rounded, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class WaveOptions:
    start_ms: int
    interval_ms: int = 50  # 20 Hz
    tick_s: float = 1.0  # one event per rack per tick
    batch_size: int = DEFAULT_BATCH_SIZE
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


class WaveSource:
    """Ticks of power_wave messages for some simulated sites (the agent's Source)."""

    def __init__(self, sites: Sequence[WaveSiteSpec], options: WaveOptions) -> None:
        self.sites = [(spec, SiteWaves(spec)) for spec in sites]
        self.options = options
        self.samples_per_tick = max(1, round(options.tick_s * 1000 / options.interval_ms))

    def describe(self) -> str:
        racks = sum(len(spec.racks) for spec, _ in self.sites)
        return (
            f"power waves of {len(self.sites)} simulated sites, {racks} racks at "
            f"{self.options.interval_ms} ms"
        )

    def ticks(self) -> Iterator[Tick]:
        index = 0
        while True:
            yield self.tick(index)
            index += 1

    def tick(self, index: int) -> Tick:
        """The messages of tick ``index``: every rack's samples of that tick."""
        o = self.options
        n = self.samples_per_tick
        first_ms = o.start_ms + index * n * o.interval_ms
        t_s = (first_ms + o.interval_ms * np.arange(n)) / 1000 - o.start_ms / 1000
        messages: list[OutMessage] = []
        for spec, waves in self.sites:
            events = wave_events(spec.site, spec.racks, first_ms, o.interval_ms, waves.power(t_s))
            messages += encode_batches(
                "power_wave", spec.site, events, o.batch_size, o.max_bytes, POWER_WAVE
            )
        # sent once the tick's last sample is due
        return Tick(due_s=(index + 1) * n * o.interval_ms / 1000, messages=messages)


def wave_source(options: WaveSimOptions, context: BuildContext) -> WaveSource:
    """``--source sim-wave``: simulated training sites as power waves (the scenarios of
    :data:`pipeline.sources.sim.scenarios.WAVE_SCENARIOS`), starting now."""
    import time

    from pipeline.sources.sim.scenarios import wave_site_specs

    specs = wave_site_specs(
        options.wave_scenarios,
        options.sites,
        options.racks,
        options.effects_at_s,
        options.seed,
        options.smoothing,
    )
    return WaveSource(
        specs,
        WaveOptions(
            start_ms=int(time.time() * 1000),
            interval_ms=options.wave_interval_ms,
            tick_s=options.interval_s,
            batch_size=options.batch_size,
            max_bytes=context.settings.max_message_bytes,
        ),
    )
