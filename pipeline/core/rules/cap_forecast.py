"""The forecast rule: a site under its cap whose power trend reaches the cap within the
horizon (``MEGAWATCH_FORECAST_HORIZON_S``) gets a warning before it breaches, with the ``for``
timings of the cap rules.

The trend is :class:`pipeline.core.forecast.PowerTrend` (Theil–Sen over the window);
the alert clears once the projected reach moves past the horizon plus 10 %.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.forecast import Projection
from pipeline.core.policy import CapLimits, SitePolicy
from pipeline.core.rules.cap import cap_timing, format_mw
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import POWER, PowerSubject
from pipeline.events import Alert, Severity, ms_to_datetime

FORECAST_HORIZON = Param(
    "forecast_horizon_s",
    600.0,
    "`cap_forecast` fires when the power trend reaches the cap within this",
    "s",
    gt=0,
)


def evaluate_forecast(
    book: AlertBook, subject: PowerSubject, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    limits, total_w = subject.limits, subject.draw.total_w
    horizon = policy.derived(_horizon_ms)
    projection = None if limits.cap_w is None else subject.trend.project(limits.cap_w)
    reach = projection.reach_ms if projection else None
    under_cap = limits.cap_w is not None and total_w < limits.cap_w
    breached = under_cap and reach is not None and reach - now_ms <= horizon
    cleared = not under_cap or reach is None or reach - now_ms > horizon * 1.1
    alert = book.evaluate(
        AlertKey("cap_forecast", Severity.warning, domain=limits.domain),
        breached,
        cleared,
        now_ms,
        policy.derived(cap_timing),
        partial(forecast_facts, total_w, reach, now_ms, horizon, limits, projection),
    )
    return [] if alert is None else [alert]


RULES = (
    Rule(
        "cap_forecast",
        ("cap_forecast",),
        POWER,
        evaluate_forecast,
        "a site or domain under its cap whose power trend reaches the cap within the horizon",
        (FORECAST_HORIZON,),
    ),
)


def _horizon_ms(policy: SitePolicy) -> int:
    return policy.ms(FORECAST_HORIZON)


def forecast_facts(
    total_w: float,
    reach_ms: int | None,
    now_ms: int,
    horizon_ms: int,
    limits: CapLimits,
    projection: Projection | None,
) -> Facts:
    horizon_min = horizon_ms / 60_000
    if reach_ms is None or projection is None or limits.cap_w is None:
        within = f"within {horizon_min:.0f} min"
        text = f"{limits.label} is no longer projected to reach its cap {within}"
        return Facts(-1.0, horizon_min, text)
    minutes = max(0.0, (reach_ms - now_ms) / 60_000)
    at = ms_to_datetime(reach_ms).strftime("%H:%M UTC")
    rate = projection.slope_w_per_s * 60 / 1e6
    text = (
        f"{limits.label} at {format_mw(total_w)} is projected to reach its "
        f"{format_mw(limits.cap_w)} cap at {at} (in {minutes:.1f} min), rising {rate:.3f} MW/min"
    )
    return Facts(round(minutes, 2), horizon_min, text, forecast_at_ms=reach_ms)
