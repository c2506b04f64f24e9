"""Parameters the power-wave rules share (``power_ramp``, ``power_oscillation``,
``load_drop``, ``fleet_load_drop``), declared here once, and the step of the two drop
rules (:func:`drop_alert`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param
from pipeline.events import Alert, Severity

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

_AT_ONCE = Timing(0, 0)  # a drop is an event: no pending, no resolve delay of its own


def drop_alert(
    book: AlertBook,
    rule: str,
    last_ms: int | None,
    now_ms: int,
    policy: SitePolicy,
    facts: Callable[[bool], Facts],
) -> list[Alert]:
    """Step a drop rule's alert: firing from the drop at ``last_ms`` (None: no drop yet),
    resolved ``drop_hold_s`` of event time after it. ``facts(breached)`` says it."""
    key = AlertKey(rule, Severity.critical)
    breached = last_ms is not None and now_ms - last_ms < policy.ms(DROP_HOLD)
    if not breached and not book.holds(key.rule, key.severity, key.subject):
        return []
    alert = book.evaluate(key, breached, not breached, now_ms, _AT_ONCE, partial(facts, breached))
    return [alert] if alert is not None else []
