"""The idle-power rule: a rack whose GPUs sit idle (under 5 % utilization) while drawing
more than ``idle_share`` of their power limit, for ``idle_for`` (an info alert: power
that buys nothing, worth a look, never a page)."""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.gpu import RackGpuStats
from pipeline.core.policy import RuleConfig
from pipeline.events import Alert, Severity


def evaluate_idle(
    book: AlertBook, rack: str, stats: RackGpuStats, now_ms: int, config: RuleConfig
) -> Alert | None:
    share = stats.power_share
    if stats.samples == 0 or share is None:
        return None
    breached = stats.idle and share > config.idle_share
    if not breached and not book.holds("idle_power", Severity.info, rack):
        return None  # every tick, every busy rack: nothing to step
    return book.evaluate(
        AlertKey("idle_power", Severity.info, rack=rack),
        breached,
        not breached,
        now_ms,
        config.idle_timing,
        partial(idle_facts, book.site, rack, stats, config.idle_share),
    )


def idle_facts(site: str, rack: str, stats: RackGpuStats, limit: float) -> Facts:
    share = stats.power_share or 0.0
    text = (
        f"rack {rack} at {site}: GPUs draw {stats.mean_power_w:.0f} W each on average, "
        f"{share * 100:.0f} % of their power limit, at {stats.mean_util_pct:.1f} % utilization"
    )
    return Facts(round(share, 4), limit, text)
