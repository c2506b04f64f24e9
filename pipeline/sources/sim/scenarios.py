"""Named scenarios of the simulator and their timelines, resolved against a fleet; and the
scenarios of the power-wave simulator (:data:`WAVE_SCENARIOS`, :func:`wave_site_specs`).

Scenarios compose (``--scenario cap-breach --scenario wan-loss``); ``steady`` is the base
that every other scenario adds to. Times are seconds after the agent started (scripted
effects begin at ``effects_at_s``, 10 s by default, stale racks 10 s later), so a demo sees
each effect within its first minute; every scripted effect ends again, so alerts both
fire and resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ConfigError
from pipeline.sources.sim.fleet import Fleet

logger = logging.getLogger(__name__)

SCENARIOS: dict[str, str] = {
    "steady": "daily inference demand, training jobs with synchronised checkpoint swings, "
    "rare counter resets, loss bursts and silent racks",
    "cap-breach": "one site ramps over its power cap between +10 s and +30 s, stays over "
    "for 150 s, then returns (the site with most draw above its cap, or --breach-site)",
    "wan-loss": "one WAN link drops 2e-3 of its packets from +10 s (above 1e-4 by +15 s) "
    "for 180 s (the first WAN link of the fleet, or --wan-link SITE:PEER)",
    "stale-racks": "three racks of one site go silent at +20 s for 180 s",
    "chaos": "all of the above with 20x the resets, loss bursts and silences, plus bad "
    "events: invalid values, non-JSON messages, wrong or missing keys, bad timestamps",
}

#: Natural event rates of ``steady`` (per link or rack, per hour).
RESET_RATE_H = 0.1
BURST_RATE_H = 0.02
SILENCE_RATE_H = 0.03
CHAOS_FACTOR = 20.0
CHAOS_BAD_PROB = 0.1  # per site tick: one bad message


@dataclass(frozen=True)
class Window:
    """A scripted effect: starts, ramps in over ``ramp_s``, holds, then stops."""

    start_s: float
    ramp_s: float
    hold_s: float

    def level(self, t_s: float) -> float:
        """0 before, rising linearly to 1 over the ramp, 1 while held, 0 after."""
        if t_s < self.start_s or t_s >= self.start_s + self.ramp_s + self.hold_s:
            return 0.0
        if self.ramp_s <= 0:
            return 1.0
        return min(1.0, (t_s - self.start_s) / self.ramp_s)


@dataclass(frozen=True)
class Silence:
    site: str
    rack_index: int
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class ScenarioPlan:
    """What the chosen scenarios do to this fleet."""

    names: frozenset[str]
    breach_site: str | None = None
    breach: Window = Window(10.0, 20.0, 150.0)
    wan_link: tuple[str, str] | None = None  # (site, peer)
    wan: Window = Window(10.0, 5.0, 180.0)
    wan_ratio: float = 2e-3
    silences: tuple[Silence, ...] = ()
    reset_rate_h: float = RESET_RATE_H
    burst_rate_h: float = BURST_RATE_H
    silence_rate_h: float = SILENCE_RATE_H
    bad_prob: float = 0.0
    notes: list[str] = field(default_factory=list, compare=False)

    def breach_level(self, site: str, t_s: float) -> float:
        return self.breach.level(t_s) if site == self.breach_site else 0.0

    def wan_loss(self, site: str, peer: str, t_s: float) -> float:
        if self.wan_link != (site, peer):
            return 0.0
        return self.wan_ratio * self.wan.level(t_s)


def _pick_breach_site(fleet: Fleet, wanted: str | None, at: float) -> tuple[str, str]:
    ratios = {s.site: fleet.simulation[s.site].max_w() / (s.cap_mw * 1e6) for s in fleet.sites}
    site = wanted or max(ratios, key=lambda name: ratios[name])
    if site not in ratios:
        raise ConfigError(f"--breach-site {site}: not a site of this fleet")
    note = (
        f"cap-breach: {site} ramps to ~{ratios[site] * fleet.spec(site).cap_mw:.2f} MW against "
        f"its {fleet.spec(site).cap_mw:g} MW cap from +{at:g} s to +{at + 20:g} s, for 150 s"
    )
    if ratios[site] < 1.03:
        note += " (warning: its racks at full power stay under the cap; the breach will not trip)"
        logger.warning("%s", note)
    return site, note


def _pick_wan_link(
    fleet: Fleet, wanted: str | None, at: float
) -> tuple[tuple[str, str] | None, str]:
    if wanted:
        site, _, peer = wanted.partition(":")
        if site not in fleet.simulation or peer not in fleet.peers(site):
            raise ConfigError(f"--wan-link {wanted}: expected SITE:PEER of a WAN link in the fleet")
        link = (site, peer)
    else:
        simulated = {s.site for s in fleet.sites}
        pairs = [(a, b) for a, b in fleet.wan if a in simulated] + [
            (b, a) for a, b in fleet.wan if b in simulated
        ]
        if not pairs:
            note = "wan-loss: the fleet has no WAN links; nothing to drop"
            logger.warning("%s", note)
            return None, note
        link = pairs[0]
    return link, f"wan-loss: link wan-{link[1]} of {link[0]} drops 2e-3 from +{at:g} s for 180 s"


def _scripted_silences(fleet: Fleet, at: float) -> tuple[tuple[Silence, ...], str]:
    site = fleet.sites[-1].site
    racks = fleet.simulation[site].rack_count
    picks = sorted({0, racks // 2, racks - 1})
    silences = tuple(Silence(site, r, at, 180.0) for r in picks)
    return silences, f"stale-racks: {len(picks)} racks of {site} go silent from +{at:g} s for 180 s"


def plan_scenarios(
    fleet: Fleet,
    names: Iterable[str],
    *,
    breach_site: str | None = None,
    wan_link: str | None = None,
    effects_at_s: float = 10.0,
) -> ScenarioPlan:
    """Resolve scenario names against the (possibly restricted) fleet."""
    if effects_at_s < 0:
        raise ConfigError("--effects-at must be >= 0 seconds")
    chosen = frozenset(names) or frozenset({"steady"})
    unknown = sorted(chosen - set(SCENARIOS))
    if unknown:
        raise ConfigError(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    chaos = "chaos" in chosen
    notes: list[str] = []
    kwargs: dict[str, object] = {}
    if chaos or "cap-breach" in chosen:
        kwargs["breach_site"], note = _pick_breach_site(fleet, breach_site, effects_at_s)
        kwargs["breach"] = Window(effects_at_s, 20.0, 150.0)
        notes.append(note)
    if chaos or "wan-loss" in chosen:
        kwargs["wan_link"], note = _pick_wan_link(fleet, wan_link, effects_at_s)
        kwargs["wan"] = Window(effects_at_s, 5.0, 180.0)
        notes.append(note)
    if chaos or "stale-racks" in chosen:
        kwargs["silences"], note = _scripted_silences(fleet, effects_at_s + 10.0)
        notes.append(note)
    if chaos:
        kwargs.update(
            reset_rate_h=RESET_RATE_H * CHAOS_FACTOR,
            burst_rate_h=BURST_RATE_H * CHAOS_FACTOR,
            silence_rate_h=SILENCE_RATE_H * CHAOS_FACTOR,
            bad_prob=CHAOS_BAD_PROB,
        )
        notes.append("chaos: bad events in about 1 of 10 site ticks")
    return ScenarioPlan(names=chosen, notes=notes, **kwargs)  # type: ignore[arg-type]


# --- power waves (``megawatch agent --source sim-wave``) ---------------------------------
WAVE_SCENARIOS: dict[str, str] = {
    "training-swing": "every rack runs one synchronised training job: iterations of 0.47 s "
    "(a line at 2.14 Hz and its harmonic), a checkpoint pause every 68.5 s, a start ramp",
    "load-drop": "40 % of each site's racks trip off at +10 s (to backup power) for 120 s, "
    "the sites 0.2 s apart: a load drop each; sites of one region make a fleet incident",
    "demand-response": "each site curtails by 30 % over 30 s from +10 s for 600 s (DR "
    "software lowering power limits), then restores over 30 s",
}
TRIP_STAGGER_S = 0.2  # between the sites of load-drop: several within one second


def wave_site_specs(
    names: Iterable[str],
    sites: Iterable[str],
    racks: int,
    effects_at_s: float = 10.0,
    seed: int = 0,
    smoothing: bool = False,
) -> list[Any]:
    """The simulated sites (:class:`pipeline.sources.sim.wave_site.WaveSiteSpec`) of the
    chosen wave scenarios; times are seconds after the agent started."""
    from pipeline.sources.sim.wave_site import Trip, WaveSiteSpec
    from pipeline.sources.sim.waveform import Curtailment, Smoothing, TrainingJob

    chosen = set(names) or {"training-swing"}
    unknown = sorted(chosen - set(WAVE_SCENARIOS))
    if unknown:
        raise ConfigError(
            f"unknown wave scenario {unknown[0]!r}; known: {', '.join(WAVE_SCENARIOS)}"
        )
    job = TrainingJob(start_s=0.0)
    curtail = None
    if "demand-response" in chosen:
        curtail = Curtailment(effects_at_s, effects_at_s + 600.0, reduction=0.3, ramp_s=30.0)
    out = []
    for i, site in enumerate(sites):
        trip = Trip(effects_at_s + TRIP_STAGGER_S * i) if "load-drop" in chosen else None
        out.append(
            WaveSiteSpec(
                site,
                tuple(f"r{r:03d}" for r in range(racks)),
                job=job,
                smoothing=Smoothing() if smoothing else None,
                curtailment=curtail,
                seed=seed,
                trip=trip,
            )
        )
    return out
