"""Cap rules: a site's power against its cap, as a warning and as a critical alert.

Breached at or over the limit; cleared only under ``limit * (1 - hysteresis)``, so power
hovering at the cap does not flap the alert.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.power import PowerSnapshot
from pipeline.events import Alert, Severity


def evaluate_cap(
    book: AlertBook, snap: PowerSnapshot, now_ms: int, policy: SitePolicy, config: RuleConfig
) -> list[Alert]:
    """Step the cap_warning and cap_critical alerts of one site."""
    out = []
    for rule, severity, limit in (
        ("cap_warning", Severity.warning, policy.warn_w),
        ("cap_critical", Severity.critical, policy.cap_w),
    ):
        breached = limit is not None and snap.total_w >= limit
        cleared = limit is None or snap.total_w < limit * (1 - config.hysteresis)
        alert = book.evaluate(
            AlertKey(rule, severity),
            breached,
            cleared,
            now_ms,
            config.cap_timing,
            partial(cap_facts, book.site, rule, limit, policy, snap),
        )
        if alert is not None:
            out.append(alert)
    return out


def format_mw(watts: float) -> str:
    return f"{watts / 1e6:.2f} MW"


def _stale_note(snap: PowerSnapshot) -> str:
    return f"; {snap.stale_racks} of {snap.racks} racks stale" if snap.stale_racks else ""


def cap_facts(
    site: str, rule: str, limit_w: float | None, policy: SitePolicy, snap: PowerSnapshot
) -> Facts:
    total_w, cap = snap.total_w, policy.cap_w
    if limit_w is None or cap is None:
        return Facts(total_w / 1e6, 0.0, f"site {site} has no cap any more ({format_mw(total_w)})")
    share = total_w / cap * 100
    text = f"site {site} draws {format_mw(total_w)}, {share:.1f} % of its {format_mw(cap)} cap"
    if rule != "cap_critical":
        text += f" (warning at {(policy.warn_ratio or 0) * 100:.0f} %)"
    return Facts(round(total_w / 1e6, 4), round(limit_w / 1e6, 4), text + _stale_note(snap))
