"""The idle-power rule: a rack whose GPUs sit idle (under 5 % utilization) while drawing
more than ``idle_power_share`` of their power limit, for ``idle_for_s`` (an info alert:
power that buys nothing, worth a look, never a page)."""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.gpu import RackGpuStats
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import RACK_GPUS, GpuRacks
from pipeline.events import Alert, Severity

IDLE_SHARE = Param(
    "idle_power_share",
    0.25,
    "`idle_power`: share of the GPUs' power limit drawn at under 5 % utilization",
    "ratio",
    gt=0,
    lt=1,
)
IDLE_FOR = Param(
    "idle_for_s",
    300.0,
    "`idle_power`: for this long (it resolves after a fifth of it)",
    "s",
    ge=0,
)


def evaluate_idle(
    book: AlertBook, subject: GpuRacks, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    """Once per tick, every rack with GPU samples."""
    out = []
    limit, timing = policy[IDLE_SHARE], policy.derived(_idle_timing)
    for rack, stats in subject.stats:
        share = stats.power_share
        if stats.samples == 0 or share is None:
            continue
        breached = stats.idle and share > limit
        if not breached and not book.holds("idle_power", Severity.info, rack):
            continue  # every tick, every busy rack: nothing to step
        alert = book.evaluate(
            AlertKey("idle_power", Severity.info, rack=rack),
            breached,
            not breached,
            now_ms,
            timing,
            partial(idle_facts, book.site, rack, stats, limit),
        )
        if alert is not None:
            out.append(alert)
    return out


def _idle_timing(policy: SitePolicy) -> Timing:
    for_ms = policy.ms(IDLE_FOR)
    return Timing(for_ms, for_ms // 5)  # resolves sooner than it fires: a fifth


RULES = (
    Rule(
        "idle_power",
        ("idle_power",),
        RACK_GPUS,
        evaluate_idle,
        "a rack's GPUs idle while drawing a good share of their power limit",
        (IDLE_SHARE, IDLE_FOR),
    ),
)


def idle_facts(site: str, rack: str, stats: RackGpuStats, limit: float) -> Facts:
    share = stats.power_share or 0.0
    text = (
        f"rack {rack} at {site}: GPUs draw {stats.mean_power_w:.0f} W each on average, "
        f"{share * 100:.0f} % of their power limit, at {stats.mean_util_pct:.1f} % utilization"
    )
    return Facts(round(share, 4), limit, text)
