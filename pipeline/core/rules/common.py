"""Parameters several rules, or the site monitor itself, read: declared here once.

The staleness windows decide what a rack's power is (reported, estimated, unknown) for
every power rule; ``min_coverage`` is both the telemetry rule's threshold and the cap
rules' condition for resolving; ``hysteresis`` is the margin of every threshold rule;
the two windows size the state the monitor keeps (the power trend, a link's counters).
"""

from __future__ import annotations

from pipeline.core.rules.registry import Param

STALE_AFTER = Param(
    "stale_after_s",
    15.0,
    "a rack silent this long is stale; also a site's warm-up after a worker takes it on",
    "s",
    gt=0,
    le=3600,
    spec="stale_after_s",
    at_most="forget_after_s",  # a rack forgotten before it is stale is never held
)
STALE_HOLD = Param(
    "stale_hold_s",
    600.0,
    "a stale rack counts at its last known power (estimated) this long, then its power is unknown",
    "s",
    gt=0,
    le=86_400,
    spec="stale_hold_s",
)
MIN_COVERAGE = Param(
    "min_coverage",
    0.9,
    "share of a site's or domain's racks reporting below which `telemetry_missing` fires "
    "and no cap alert resolves",
    "ratio",
    gt=0,
    le=1,
    spec="min_coverage",
)
FORGET_AFTER = Param(
    "forget_after_s",
    86_400.0,
    "a rack or link silent this long is forgotten: live state dropped, its alerts "
    "resolved, counted in `megawatch_racks_forgotten_total`",
    "s",
    gt=0,
    spec="forget_after_s",
)
HYSTERESIS = Param(
    "hysteresis",
    0.02,
    "a cap or loss alert resolves only under its threshold x (1 - this)",
    "ratio",
    ge=0,
    lt=0.5,
)
FORECAST_WINDOW = Param(
    "forecast_window_s", 300.0, "history the power trend is fitted on", "s", ge=60
)
LOSS_WINDOW = Param(
    "loss_window_s",
    30.0,
    "window of a link's loss ratio (the loss rules, the stored `loss` column)",
    "s",
    gt=0,
    le=3600,
)

PARAMS = (
    STALE_AFTER,
    STALE_HOLD,
    MIN_COVERAGE,
    FORGET_AFTER,
    HYSTERESIS,
    FORECAST_WINDOW,
    LOSS_WINDOW,
)
