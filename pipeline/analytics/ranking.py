"""How the digest ranks what an operator should know (pure: no store, no HTTP).

Every candidate :class:`Finding` gets one score::

    score = SEVERITY_WEIGHT[severity] x duration_h x impact
    impact = 1 + log2(1 + amount / REFERENCE[kind])

* **severity**: critical 100, warning 10, info 1. A step of severity outweighs up to ten
  times the duration: one hour over a cap (critical) beats nine hours near it (warning).
* **duration**: the hours the condition held inside the window, at least one minute.
  A forecast has no duration yet and counts as one hour.
* **amount affected**, in the kind's own unit, against a reference amount; the log keeps a
  1 GW campus from drowning every 5 MW site (200x the cap weighs about 4x):

  ===================  ==============================  =========  ==================
  kind                 amount                          reference  severity
  ===================  ==============================  =========  ==================
  cap_breach           the site's cap (MW)             5 MW       critical
  domain_cap_breach    the domain's cap (MW)           5 MW       critical
  near_cap             the site's cap (MW)             5 MW       warning
  cap_growth           the site's cap (MW)             5 MW       warning (<= 7 days
                                                                  to the cap), info
  link_loss            packets sent while lossy        1e6        critical (>= crit
                                                                  threshold), warning
  idle_energy          MWh burned under 5 % busy       0.1 MWh    info
  delivery_failures    alerts not delivered            1          critical
  dead_letters         messages or events rejected     100        info
  telemetry_gap        most MW estimated (silent       1 MW       critical (site
                       racks at last known power)                 wholly silent),
                                                                  warning
  unattributed_energy  MWh no GPU accounts for         1 MWh      info
  worst_pue            overhead MWh of the worst hour  0.5 MWh    info
  job_energy_intensity the job's MWh                   1 MWh      info
  energy_per_work      MWh of the outlier              0.1 MWh    warning
  capped_priority      GPU-hours capped                100        info
  dr_event             MWh curtailed                   1 MWh      warning (fell short),
                                                                  info
  fleet_drop           MW the region's sites lost      10 MW      critical
  ===================  ==============================  =========  ==================

Ties break by kind (in the order above), then by subject, so the digest is stable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SEVERITY_WEIGHT = {"critical": 100.0, "warning": 10.0, "info": 1.0}
REFERENCE = {
    "cap_breach": 5.0,
    "domain_cap_breach": 5.0,
    "near_cap": 5.0,
    "cap_growth": 5.0,
    "link_loss": 1e6,
    "idle_energy": 0.1,
    "delivery_failures": 1.0,
    "dead_letters": 100.0,
    "telemetry_gap": 1.0,
    "unattributed_energy": 1.0,
    "worst_pue": 0.5,
    "job_energy_intensity": 1.0,
    "energy_per_work": 0.1,
    "capped_priority": 100.0,
    "dr_event": 1.0,
    "fleet_drop": 10.0,
}
KIND_ORDER = {kind: index for index, kind in enumerate(REFERENCE)}
MIN_DURATION_S = 60.0
TOP = 5


@dataclass(frozen=True)
class Finding:
    """One thing worth telling, with the numbers that rank it and the sentence that says it."""

    kind: str  # a key of REFERENCE
    severity: str  # critical | warning | info
    subject: str  # what it is about: "site ams-1", "link ams-fra-1", "receiver slack"
    site: str  # the site concerned ("" for the fleet)
    duration_s: float
    amount: float  # in the kind's unit (see the module docstring)
    sentence: str
    facts: dict[str, Any] = field(default_factory=dict)  # numbers for machine readers

    def __post_init__(self) -> None:
        if self.kind not in REFERENCE:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        if self.severity not in SEVERITY_WEIGHT:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def impact(self) -> float:
        return 1.0 + math.log2(1.0 + max(self.amount, 0.0) / REFERENCE[self.kind])

    @property
    def hours(self) -> float:
        return max(self.duration_s, MIN_DURATION_S) / 3600.0

    @property
    def score(self) -> float:
        return SEVERITY_WEIGHT[self.severity] * self.hours * self.impact


def rank(findings: Iterable[Finding], top: int = TOP) -> list[Finding]:
    """The ``top`` findings, highest score first (ties: kind order, then subject)."""
    ordered = sorted(findings, key=lambda f: (-f.score, KIND_ORDER[f.kind], f.subject))
    return ordered[:top]


# --- words and numbers people read ------------------------------------------------------
def duration_text(seconds: float) -> str:
    """``3 h 10 min``, ``17 min``, ``45 s``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def energy_text(mwh: float) -> str:
    """``0.8 MWh``, ``12.5 MWh``, ``45 kWh``, ``4 Wh``."""
    if mwh >= 0.1:
        return f"{mwh:.1f} MWh"
    if mwh >= 0.0001:
        return f"{mwh * 1000:.3g} kWh"
    return f"{mwh * 1e6:.3g} Wh"


def percent_text(ratio: float) -> str:
    """A ratio as percent with two significant digits: ``0.02 %``, ``1.5 %``, ``0.0013 %``."""
    pct = ratio * 100
    if pct >= 10:
        return f"{pct:.0f} %"
    return f"{float(f'{pct:.2g}'):g} %"


def mw_text(mw: float) -> str:
    """``5.0 MW``, ``4.98 MW``, ``0.25 MW``, ``1200 MW``: at most two decimals, at least one."""
    if mw >= 1000:
        return f"{mw:.0f} MW"
    text = f"{mw:.2f}".rstrip("0")
    return f"{text}0 MW" if text.endswith(".") else f"{text} MW"
