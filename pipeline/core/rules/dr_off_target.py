"""The demand-response rule: during an event, a site (or region) whose load stays above
its target for longer than the program allows.

The target is the event's ceiling, or its baseline less the requested reduction
(:mod:`pipeline.core.wave.dr`); load within ``dr_tolerance`` above it is on target. No
alert in the first ``dr_grace_s`` of the event (the response time the program allows);
after it, the alert fires once the load has been above target without a break for
``dr_off_target_for_s`` of event time, and resolves when it is back on target or the
event ends. Cells of unknown load neither break nor extend a run above target.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import DEMAND_RESPONSE, DrLive
from pipeline.events import Alert, Severity

DR_TOLERANCE = Param(
    "dr_tolerance",
    0.01,
    "demand response: load at most this share above the target is on target",
    "ratio",
    ge=0,
    lt=1,
)
DR_GRACE = Param(
    "dr_grace_s",
    60.0,
    "demand response: the response time an event allows; compliance counts after it",
    "s",
    ge=0,
    le=86_400,
)
DR_OFF_TARGET_FOR = Param(
    "dr_off_target_for_s",
    60.0,
    "`dr_off_target`: above target without a break this long (after the grace) before it fires",
    "s",
    ge=0,
    le=86_400,
)


def evaluate_off_target(
    book: AlertBook, subject: DrLive, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    tracker = subject.tracker
    event = tracker.event
    key = AlertKey("dr_off_target", Severity.warning, detail=f"dr:{event.id}")
    graced = now_ms >= event.start_ms + policy.ms(DR_GRACE)
    above = tracker.above_since_ms is not None
    breached = above and graced and not subject.ended
    if not breached and not book.holds(key.rule, key.severity, key.subject):
        return []
    alert = book.evaluate(
        key,
        breached,
        not above or subject.ended,
        now_ms,
        policy.derived(_timing),
        partial(_facts, subject, now_ms),
    )
    return [alert] if alert is not None else []


def _timing(policy: SitePolicy) -> Timing:
    return Timing(policy.ms(DR_OFF_TARGET_FOR), 0)


def _facts(subject: DrLive, now_ms: int) -> Facts:
    tracker = subject.tracker
    actual, target = tracker.last_actual_w / 1e6, tracker.last_target_w / 1e6
    event = tracker.event
    if subject.ended or tracker.above_since_ms is None:
        why = "the event ended" if subject.ended else "back on target"
        text = (
            f"{subject.scope}, DR event {event.id}: {why} ({actual:.2f} MW, target {target:.2f} MW)"
        )
        return Facts(round(actual, 4), round(target, 4), text)
    over = (actual / target - 1) if target > 0 else float("inf")
    since = (now_ms - tracker.above_since_ms) / 1000
    text = (
        f"{subject.scope} is above its demand-response target for event {event.id}: "
        f"{actual:.2f} MW against {target:.2f} MW (+{over:.1%}) for {since:.0f} s"
    )
    return Facts(round(actual, 4), round(target, 4), text)


RULES = (
    Rule(
        "dr_off_target",
        ("dr_off_target",),
        DEMAND_RESPONSE,
        evaluate_off_target,
        "during a demand-response event, load above its target (beyond the tolerance) too long",
        (DR_TOLERANCE, DR_GRACE, DR_OFF_TARGET_FOR),
    ),
)
