"""The forecast rule: a site under its cap whose power trend reaches the cap within the
horizon (``MEGAWATCH_FORECAST_HORIZON_S``) gets a warning before it breaches.

The trend is :class:`pipeline.core.forecast.PowerTrend` (Theil–Sen over the window);
the alert clears once the projected reach moves past the horizon plus 10 %.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.forecast import PowerTrend, Projection
from pipeline.core.policy import CapLimits, RuleConfig
from pipeline.core.rules.cap import format_mw
from pipeline.events import Alert, Severity, ms_to_datetime


def evaluate_forecast(
    book: AlertBook,
    trend: PowerTrend,
    total_w: float,
    now_ms: int,
    limits: CapLimits,
    config: RuleConfig,
) -> Alert | None:
    horizon = config.forecast_horizon_ms
    projection = None if limits.cap_w is None else trend.project(limits.cap_w)
    reach = projection.reach_ms if projection else None
    under_cap = limits.cap_w is not None and total_w < limits.cap_w
    breached = under_cap and reach is not None and reach - now_ms <= horizon
    cleared = not under_cap or reach is None or reach - now_ms > horizon * 1.1
    return book.evaluate(
        AlertKey("cap_forecast", Severity.warning, domain=limits.domain),
        breached,
        cleared,
        now_ms,
        config.cap_timing,
        partial(forecast_facts, total_w, reach, now_ms, horizon, limits, projection),
    )


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
