"""The oscillation rule: a site's power swinging in a frequency band by more than its
interconnection agreement allows.

A site spec lists its limits as ``oscillation_limits: [{band_hz: [lo, hi], max_mw}]``;
each band's amplitude (:mod:`pipeline.core.wave.spectrum`: the peak amplitude of the one
sinusoid that carries the band's power, over the feature window) is compared with its
``max_mw``, one alert per band. The alert says the band, the amplitude, the dominant
frequency, and the power domains whose own amplitude in the band is largest (the site's
domains are read in the same window: where to look first). A window with unknown cells
neither fires nor clears; a band above the meters' Nyquist frequency reads nothing
(docs/power-dynamics.md: sample faster).
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule, SpecField
from pipeline.core.rules.scopes import WAVE, WaveSubject
from pipeline.core.rules.wave_common import WAVE_RESOLVE_FOR
from pipeline.events import Alert, Severity

if TYPE_CHECKING:  # numpy: reading the registry (every CLI command does) imports none
    from pipeline.core.wave.spectrum import Band

MAX_BAND_HZ = 50.0  # Nyquist of the fastest meters the contract takes (10 ms)
TOP_DOMAINS = 3


class OscillationLimit(BaseModel):
    """One band's limit: the largest amplitude (MW, peak) allowed in ``band_hz``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    band_hz: tuple[
        Annotated[float, Field(gt=0, le=MAX_BAND_HZ)], Annotated[float, Field(gt=0, le=MAX_BAND_HZ)]
    ] = Field(description="[lo, hi] in Hz, both included")
    max_mw: Annotated[float, Field(gt=0, le=10_000)] = Field(description="peak amplitude, MW")

    @model_validator(mode="after")
    def _ordered(self) -> OscillationLimit:
        if not self.band_hz[0] < self.band_hz[1]:
            raise ValueError(f"band_hz [{self.band_hz[0]:g}, {self.band_hz[1]:g}]: lo < hi")
        return self

    @property
    def band(self) -> Band:
        from pipeline.core.wave.spectrum import Band

        return Band(*self.band_hz)


OSCILLATION_LIMITS: SpecField[tuple[OscillationLimit, ...]] = SpecField(
    "oscillation_limits",
    Annotated[tuple[OscillationLimit, ...], Field(max_length=8)],
    (),
    "`power_oscillation`: the largest amplitude allowed per frequency band (peak MW)",
    "[{band_hz: [lo, hi], max_mw}]",
)
OSCILLATION_FOR = Param(
    "oscillation_for_s",
    0.0,
    "`power_oscillation`: a band over its limit this long (event time) before it fires "
    "(the feature window already spans its length)",
    "s",
    ge=0,
    le=3600,
)


def limit_bands(policy: SitePolicy) -> tuple[Band, ...]:
    """The bands of the site's limits, which the features must read."""
    return tuple(limit.band for limit in policy.spec_field(OSCILLATION_LIMITS))


def evaluate_oscillation(
    book: AlertBook, subject: WaveSubject, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    out: list[Alert] = []
    timing = policy.derived(_timing)
    limits = {limit.band: limit for limit in policy.spec_field(OSCILLATION_LIMITS)}
    features = subject.stride.features
    for column, band in enumerate(subject.bands):
        limit = limits.get(band)
        key = AlertKey("power_oscillation", Severity.warning, detail=f"band:{band}")
        if limit is None and not book.holds(key.rule, key.severity, key.subject):
            continue
        amplitude = float(features.band_w[0, column]) / 1e6
        known = not math.isnan(amplitude)
        breached = known and limit is not None and amplitude > limit.max_mw
        cleared = limit is None or (known and not breached)
        alert = book.evaluate(
            key,
            breached,
            cleared,
            now_ms,
            timing,
            partial(_facts, book.site, subject, column, band, limit),
        )
        if alert is not None:
            out.append(alert)
    return out


def _timing(policy: SitePolicy) -> Timing:
    return Timing(policy.ms(OSCILLATION_FOR), policy.ms(WAVE_RESOLVE_FOR))


def contributors(
    subject: WaveSubject, column: int, top: int = TOP_DOMAINS
) -> list[tuple[str, float]]:
    """The domains with the largest amplitude in the band (name, MW), largest first."""
    amplitudes = subject.stride.features.band_w[1:, column]
    found = [
        (name, float(a) / 1e6)
        for name, a in zip(subject.domains, amplitudes, strict=False)
        if not math.isnan(a)
    ]
    return sorted(found, key=lambda pair: -pair[1])[:top]


def _facts(
    site: str, subject: WaveSubject, column: int, band: Band, limit: OscillationLimit | None
) -> Facts:
    f = subject.stride.features
    amplitude = float(f.band_w[0, column]) / 1e6
    mean = float(f.mean_w[0]) / 1e6
    if limit is None:
        return Facts(round(amplitude, 4), 0.0, f"site {site}: no limit in {band} any more")
    share = f" ({amplitude / mean:.0%} of its {mean:.1f} MW mean)" if mean > 0 else ""
    if not amplitude > limit.max_mw:
        text = (
            f"site {site}: {amplitude:.2f} MW in {band}, back under its {limit.max_mw:g} MW limit"
        )
        return Facts(round(amplitude, 4), limit.max_mw, text)
    text = (
        f"site {site} oscillates by {amplitude:.2f} MW in {band}{share}, over its "
        f"{limit.max_mw:g} MW limit; dominant frequency {float(f.dominant_hz[0]):.2f} Hz"
    )
    top = contributors(subject, column)
    if top:
        text += "; most from " + ", ".join(f"{name} ({mw:.2f} MW)" for name, mw in top)
    return Facts(round(amplitude, 4), limit.max_mw, text)


RULES = (
    Rule(
        "power_oscillation",
        ("power_oscillation",),
        WAVE,
        evaluate_oscillation,
        "the site's power swings by more than a band's limit (amplitude per frequency band)",
        (OSCILLATION_FOR,),
        (OSCILLATION_LIMITS,),
    ),
)
