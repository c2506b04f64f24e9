"""Parameters the power-wave rules share (``power_ramp``, ``power_oscillation``,
``load_drop``, ``fleet_load_drop``), declared here once."""

from __future__ import annotations

from pipeline.core.rules.registry import Param

WAVE_RESOLVE_FOR = Param(
    "wave_resolve_for_s",
    10.0,
    "`power_ramp`, `power_oscillation`: back under the limit this long (event time) before "
    "the alert resolves",
    "s",
    ge=0,
    le=3600,
)
DROP_HOLD = Param(
    "drop_hold_s",
    60.0,
    "`load_drop`, `fleet_load_drop`: a drop's alert stays firing this long after the last "
    "drop (event time), then resolves",
    "s",
    gt=0,
    le=86_400,
)

PARAMS = (WAVE_RESOLVE_FOR, DROP_HOLD)
