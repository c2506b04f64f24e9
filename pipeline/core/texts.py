"""The words of each alert: short summaries an operator reads on a phone at 3 a.m.

Each function returns :class:`Facts` (value, threshold, summary) in the units people use:
megawatts for caps, percent for loss, minutes for forecasts.
"""

from __future__ import annotations

from pipeline.core.alerting import Facts
from pipeline.core.config import RuleConfig, SitePolicy
from pipeline.core.forecast import Projection
from pipeline.core.gpu import RackGpuStats
from pipeline.core.power import PowerSnapshot
from pipeline.events import LinkClass, ms_to_datetime


def _mw(watts: float) -> str:
    return f"{watts / 1e6:.2f} MW"


def _stale_note(snap: PowerSnapshot) -> str:
    return f"; {snap.stale_racks} of {snap.racks} racks stale" if snap.stale_racks else ""


def cap_facts(
    site: str, rule: str, total_w: float, limit_w: float | None, policy: SitePolicy,
    snap: PowerSnapshot,
) -> Facts:
    cap = policy.cap_w
    if limit_w is None or cap is None:
        return Facts(total_w / 1e6, 0.0, f"site {site} has no cap any more ({_mw(total_w)})")
    share = total_w / cap * 100
    if rule == "cap_critical":
        text = f"site {site} draws {_mw(total_w)}, {share:.1f} % of its {_mw(cap)} cap"
    else:
        ratio = (policy.warn_ratio or 0) * 100
        text = (f"site {site} draws {_mw(total_w)}, {share:.1f} % of its {_mw(cap)} cap "
                f"(warning at {ratio:.0f} %)")
    return Facts(round(total_w / 1e6, 4), round(limit_w / 1e6, 4), text + _stale_note(snap))


def forecast_facts(
    site: str, total_w: float, reach_ms: int | None, now_ms: int, horizon_ms: int,
    policy: SitePolicy, projection: Projection | None,
) -> Facts:
    horizon_min = horizon_ms / 60_000
    if reach_ms is None or projection is None or policy.cap_w is None:
        text = f"site {site} is no longer projected to reach its cap within {horizon_min:.0f} min"
        return Facts(-1.0, horizon_min, text)
    minutes = max(0.0, (reach_ms - now_ms) / 60_000)
    at = ms_to_datetime(reach_ms).strftime("%H:%M UTC")
    rate = projection.slope_w_per_s * 60 / 1e6
    text = (f"site {site} at {_mw(total_w)} is projected to reach its {_mw(policy.cap_w)} cap "
            f"at {at} (in {minutes:.1f} min), rising {rate:.3f} MW/min")
    return Facts(round(minutes, 2), horizon_min, text, forecast_at_ms=reach_ms)


def loss_facts(
    site: str, link: str, link_class: LinkClass, peer: str | None, loss: float,
    threshold: float, config: RuleConfig,
) -> Facts:
    ends = f" ({site} <-> {peer})" if peer else f" at {site}"
    window_s = config.loss_window_ms / 1000
    kind = "WAN" if link_class is LinkClass.wan else "fabric"
    text = (f"{kind} link {link}{ends} lost {loss * 100:.4f} % of packets over the last "
            f"{window_s:.0f} s (threshold {threshold * 100:.4f} %)")
    return Facts(loss, threshold, text)


def idle_facts(site: str, rack: str, stats: RackGpuStats, limit: float) -> Facts:
    share = stats.power_share or 0.0
    text = (f"rack {rack} at {site}: GPUs draw {stats.mean_power_w:.0f} W each on average, "
            f"{share * 100:.0f} % of their power limit, at {stats.mean_util_pct:.1f} % utilization")
    return Facts(round(share, 4), limit, text)
