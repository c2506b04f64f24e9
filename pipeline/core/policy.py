"""Rule parameters: worker-wide defaults (:class:`RuleConfig`) and per-site policy.

A :class:`SitePolicy` is what one evaluation of a site needs, merged from the site's
spec (cap, warn ratio, staleness, hold, coverage, loss thresholds) over the worker's
defaults. A site without a spec gets a policy with no cap: its power is stored and
shown, never alerted. :class:`CapLimits` is the cap of one thing that has one: the site,
or a power domain of it; the cap rules take it, so they run the same at every level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.alert_state import Timing
from pipeline.events import LinkClass, PowerDomain, Severity, SiteSpec


@dataclass(frozen=True, slots=True)
class RuleConfig:
    stale_after_ms: int = 15_000
    stale_hold_ms: int = 600_000  # a silent rack counts at its last power this long
    min_coverage: float = 0.9
    telemetry_timing: Timing = field(default_factory=lambda: Timing(60_000, 5_000))
    forget_after_ms: int = 86_400_000
    cap_timing: Timing = field(default_factory=lambda: Timing(5_000, 5_000))
    hysteresis: float = 0.02  # resolve only under threshold * (1 - hysteresis)
    forecast_horizon_ms: int = 600_000
    forecast_window_ms: int = 300_000
    loss_window_ms: int = 30_000
    loss_timing: Timing = field(default_factory=lambda: Timing(0, 30_000))
    loss_min_tx: int = 1_000  # packets in the window before a ratio means anything
    loss_defaults: dict[LinkClass, tuple[float, float]] = field(
        default_factory=lambda: {LinkClass.fabric: (1e-6, 1e-5), LinkClass.wan: (1e-5, 1e-4)}
    )
    idle_share: float = 0.25  # of the GPUs' power limit, at under 5 % utilization
    idle_timing: Timing = field(default_factory=lambda: Timing(300_000, 60_000))


@dataclass(frozen=True, slots=True)
class CapLimits:
    """The cap of a site or of one of its power domains, as the cap rules see it."""

    site: str
    domain: str | None
    cap_w: float | None
    warn_w: float | None
    warn_ratio: float | None

    @property
    def label(self) -> str:
        """How alert texts name it: ``site atl-2`` or ``domain hall-1 of atl-2``."""
        return f"domain {self.domain} of {self.site}" if self.domain else f"site {self.site}"


@dataclass(frozen=True, slots=True)
class SitePolicy:
    site: str
    cap_w: float | None
    warn_w: float | None
    warn_ratio: float | None
    stale_after_ms: int
    region: str
    loss: dict[LinkClass, tuple[float, float]]
    stale_hold_ms: int = 600_000
    min_coverage: float = 0.9
    forget_after_ms: int = 86_400_000
    racks_expected: int = 0
    domains: tuple[PowerDomain, ...] | None = None

    @classmethod
    def of(cls, site: str, spec: SiteSpec | None, config: RuleConfig) -> SitePolicy:
        if spec is None:
            defaults = dict(config.loss_defaults)
            return cls(
                site,
                None,
                None,
                None,
                config.stale_after_ms,
                "",
                defaults,
                config.stale_hold_ms,
                config.min_coverage,
                config.forget_after_ms,
            )
        loss = dict(config.loss_defaults)
        for link_class in LinkClass:
            warn, crit = loss[link_class]
            if spec.loss_warn and getattr(spec.loss_warn, link_class.value) is not None:
                warn = getattr(spec.loss_warn, link_class.value)
            if spec.loss_crit and getattr(spec.loss_crit, link_class.value) is not None:
                crit = getattr(spec.loss_crit, link_class.value)
            loss[link_class] = (warn, crit)
        stale_ms = int(spec.stale_after_s * 1000) if spec.stale_after_s else config.stale_after_ms
        cap_w = spec.cap_mw * 1e6
        return cls(
            site,
            cap_w,
            cap_w * spec.warn_ratio,
            spec.warn_ratio,
            stale_ms,
            spec.region or "",
            loss,
            _ms_or(spec.stale_hold_s, config.stale_hold_ms),
            spec.min_coverage or config.min_coverage,
            _ms_or(spec.forget_after_s, config.forget_after_ms),
            spec.racks_expected or 0,
            spec.domains or None,
        )

    @property
    def limits(self) -> CapLimits:
        return CapLimits(self.site, None, self.cap_w, self.warn_w, self.warn_ratio)

    def loss_thresholds(self, link_class: LinkClass) -> tuple[tuple[Severity, float], ...]:
        warn, crit = self.loss[link_class]
        return ((Severity.warning, warn), (Severity.critical, crit))


def _ms_or(seconds: float | None, default_ms: int) -> int:
    return int(seconds * 1000) if seconds else default_ms
