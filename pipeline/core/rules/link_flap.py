"""``link_flap``: a link whose carrier comes and goes, and a link that stays down.

* warning: ``flap_warn`` (2) or more carrier transitions in ``flap_window_s``. A flap is
  two transitions (down, then up); the count is the kernel's or switch's carrier count
  (``carrier_transitions``: sysfs ``carrier_changes``, OpenConfig
  ``carrier-transitions``), else the PHY's link-down events (``link_down_events``, two
  transitions each). Each flap tears down every RDMA queue pair and collective on the
  link; NVIDIA's guidance for ``link_down_events_phy`` is that an increasing count means
  the cable or transceiver may need replacing.
* critical: the carrier reported down (``carrier_up`` false) for ``outage_crit_s`` (30 s)
  or more, in event time from the first sample that said so: longer than a link
  retrains or a collective's timeout waits, so the jobs on it are failing.

Resolution: fewer transitions than ``flap_warn`` left in the window, and the carrier up,
for ``flap_resolve_for_s``.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.link_health import LinkHealth
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.link_text import CLASS_NAMES, link_label, per_class, severities, step
from pipeline.core.rules.link_windows import FLAP_WINDOW
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import LINK_HEALTH, Links
from pipeline.events import Alert, LinkClass

RULE = "link_flap"
FLAP_RESOLVE_FOR = Param(
    "flap_resolve_for_s",
    60.0,
    "no flapping left in the window, carrier up, this long before `link_flap` resolves",
    "s",
    ge=0,
    le=3600,
)
FLAP_WARN = {
    link_class: Param(
        f"flap_warn_{link_class.value}",
        2,
        f"{CLASS_NAMES[link_class]} links: carrier transitions in the window at which `link_flap` "
        "warns (a flap is 2)",
        "transitions",
        ge=1,
        spec=f"flap_warn.{link_class.value}",
    )
    for link_class in LinkClass
}
OUTAGE_CRIT = {
    link_class: Param(
        f"outage_crit_{link_class.value}_s",
        30.0,
        f"{CLASS_NAMES[link_class]} links: carrier down this long and `link_flap` is critical",
        "s",
        gt=0,
        le=86_400,
        spec=f"outage_crit_s.{link_class.value}",
    )
    for link_class in LinkClass
}


def evaluate_flap(book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy) -> list[Alert]:
    out: list[Alert] = []
    limits = policy.derived(_limits)
    timing = policy.derived(_timing)
    window_ms = policy.ms(FLAP_WINDOW)
    for link in subject.names:
        state, link_class, peer = subject.known[link]
        health = state.health
        if health is None:
            continue
        flaps_at, outage_at_ms = limits[link_class]
        warning, critical = severities(link, peer, RULE)
        label = partial(link_label, book.site, link, link_class, peer)
        if health.reports("carrier_transitions") or health.reports("link_down_events"):
            count = health.flaps.sums()[0]
            facts = partial(_flap_facts, label, count, flaps_at, window_ms)
            out += step(book, warning, count >= flaps_at, count < flaps_at, now_ms, timing, facts)
        outage_ms = health.outage_ms()
        facts = partial(_outage_facts, label, health, outage_at_ms)
        out += step(
            book, critical, outage_ms >= outage_at_ms, outage_ms == 0, now_ms, timing, facts
        )
    return out


def _limits(policy: SitePolicy) -> dict[LinkClass, tuple[int, int]]:
    values = per_class(policy, {cls: (FLAP_WARN[cls], OUTAGE_CRIT[cls]) for cls in LinkClass})
    return {cls: (flaps, int(outage_s * 1000)) for cls, (flaps, outage_s) in values.items()}


def _timing(policy: SitePolicy) -> Timing:
    return Timing(0, policy.ms(FLAP_RESOLVE_FOR))


def _flap_facts(label: partial[str], count: float, threshold: int, window_ms: int) -> Facts:
    flaps = f" ({count / 2:g} flaps)" if count >= 2 else ""
    text = (
        f"{label()}: carrier changed {count:.0f} times in the last {window_ms / 60_000:g} min"
        f"{flaps}, warning at {threshold}"
    )
    return Facts(count, threshold, text)


def _outage_facts(label: partial[str], health: LinkHealth, threshold_ms: int) -> Facts:
    down_ms = health.outage_ms()
    if down_ms == 0:
        return Facts(0, threshold_ms / 1000, f"{label()}: carrier up again")
    limit = f"critical at {threshold_ms / 1000:g} s"
    text = f"{label()}: carrier down for {down_ms / 1000:.0f} s, {limit}"
    return Facts(down_ms / 1000, threshold_ms / 1000, text)


RULES = (
    Rule(
        RULE,
        (RULE,),
        LINK_HEALTH,
        evaluate_flap,
        "carrier transitions in the window at the class's warning threshold; the carrier "
        "down as long as its critical one",
        (FLAP_RESOLVE_FOR, *FLAP_WARN.values(), *OUTAGE_CRIT.values()),
    ),
)
