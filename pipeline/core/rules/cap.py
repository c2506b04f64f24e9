"""Cap rules: the power of a site, or of one of its power domains, against its cap, as a
warning and as a critical alert.

Breached at or over the limit by reported + estimated power (a silent rack counts at its
last known power for the hold time). Cleared only under ``limit * (1 - hysteresis)``, so
power hovering at the cap does not flap the alert, and only on complete data: a cap
alert never resolves while any rack's power is estimated or unknown, or while coverage
is under ``min_coverage``. Missing telemetry is never read as safety.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import CapLimits, SitePolicy
from pipeline.core.power import Draw
from pipeline.core.rules.common import HYSTERESIS, MIN_COVERAGE
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import POWER, PowerSubject
from pipeline.events import Alert, Severity

CAP_FOR = Param(
    "cap_for_s",
    5.0,
    "a cap (or its warning level) must be exceeded this long before the alert fires",
    "s",
    ge=0,
    le=3600,
)
CAP_RESOLVE_FOR = Param(
    "cap_resolve_for_s",
    5.0,
    "under the hysteresis margin this long before a cap alert resolves (also how long "
    "coverage must be back before `telemetry_missing` resolves)",
    "s",
    ge=0,
    le=3600,
)


def cap_timing(policy: SitePolicy) -> Timing:
    """The ``for`` timings of the cap rules (and the forecast); once per policy with
    ``policy.derived(cap_timing)``."""
    return Timing(policy.ms(CAP_FOR), policy.ms(CAP_RESOLVE_FOR))


def evaluate_cap(
    book: AlertBook, subject: PowerSubject, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    """Step the cap_warning and cap_critical alerts of one site or domain."""
    out = []
    draw, limits = subject.draw, subject.limits
    total = draw.total_w
    coverage = draw.coverage
    trusted = draw.complete and (coverage is None or coverage >= policy[MIN_COVERAGE])
    hysteresis, timing = policy[HYSTERESIS], policy.derived(cap_timing)
    for rule, severity, limit in (
        ("cap_warning", Severity.warning, limits.warn_w),
        ("cap_critical", Severity.critical, limits.cap_w),
    ):
        breached = limit is not None and total >= limit
        # No cap any more clears at once; otherwise only on data that can be trusted.
        cleared = limit is None or (trusted and total < limit * (1 - hysteresis))
        alert = book.evaluate(
            AlertKey(rule, severity, domain=limits.domain),
            breached,
            cleared,
            now_ms,
            timing,
            partial(cap_facts, rule, limit, limits, draw, now_ms),
        )
        if alert is not None:
            out.append(alert)
    return out


RULES = (
    Rule(
        "cap",
        ("cap_warning", "cap_critical"),
        POWER,
        evaluate_cap,
        "site or domain power (reported + estimated) at its warning level, and at its cap",
        (CAP_FOR, CAP_RESOLVE_FOR),
    ),
)


def format_mw(watts: float) -> str:
    return f"{watts / 1e6:.2f} MW"


def format_age(ms: int) -> str:
    seconds = max(0, ms) / 1000
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def draw_text(draw: Draw, now_ms: int) -> str:
    """``draws 1.20 MW`` or, with silent racks, ``draws at least 1.20 MW (0.72 MW
    reported + 0.48 MW estimated for 4 silent racks, last seen 35 s ago)``."""
    if draw.silent == 0:
        text = f"draws {format_mw(draw.total_w)}"
    else:
        seen = ""
        if draw.silent_since_ms is not None:
            seen = f", last seen {format_age(now_ms - draw.silent_since_ms)} ago"
        parts = [f"{format_mw(draw.reported_w)} reported"]
        if draw.held:
            parts.append(f"{format_mw(draw.estimated_w)} estimated for {draw.held} silent racks")
        if draw.unknown:
            parts.append(f"{draw.unknown} racks unknown (silent past the hold)")
        text = f"draws at least {format_mw(draw.total_w)} ({' + '.join(parts)}{seen})"
    never = max(0, draw.expected - draw.racks)
    if never:
        text += f"; {never} of {draw.expected} expected racks never reported"
    return text + shards_text(draw)


def shards_text(draw: Draw) -> str:
    """What a sharded site's text adds: shards never heard from, shards whose partial is
    late (their racks held at the last values, then unknown); empty otherwise."""
    text = ""
    if draw.shards_missing:
        text += f"; {draw.shards_missing} of {draw.shards_expected} expected shards never reported"
    late = [name or "(keyed by site)" for name in draw.late_shards]
    if late:
        names = ", ".join(late[:5]) + (f" and {len(late) - 5} more" if len(late) > 5 else "")
        text += f"; shard {names} late" if len(late) == 1 else f"; shards {names} late"
    return text


def cap_facts(
    rule: str, limit_w: float | None, limits: CapLimits, draw: Draw, now_ms: int
) -> Facts:
    total_w, cap = draw.total_w, limits.cap_w
    if limit_w is None or cap is None:
        text = f"{limits.label} has no cap any more ({format_mw(total_w)})"
        return Facts(total_w / 1e6, 0.0, text)
    share = total_w / cap * 100
    text = f"{limits.label} {draw_text(draw, now_ms)}, {share:.1f} % of its {format_mw(cap)} cap"
    if rule != "cap_critical":
        text += f" (warning at {(limits.warn_ratio or 0) * 100:.0f} %)"
    return Facts(round(total_w / 1e6, 4), round(limit_w / 1e6, 4), text)
