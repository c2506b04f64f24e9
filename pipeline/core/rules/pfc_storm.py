"""``pfc_storm``: a lossless priority held paused for much of the window.

PFC (IEEE 802.1Qbb) pauses one priority of a link so that a full buffer drops nothing;
RoCE fabrics run their RDMA traffic on such a lossless priority. A pause that persists
spreads upstream, hop by hop, until whole trees of the fabric stall: a *PFC storm*.
The rule reads the pause time per priority (mlx5's ``rx_prioN_pause_duration`` and
``tx_prioN_pause_duration`` in microseconds, a switch's per-priority pause counters) as a
share of the time its samples cover in ``pfc_window_s``, the most paused priority and
direction of the link:

* warning: a share of ``pfc_share_warn`` (0.2) or more; or the NIC's own storm
  detector said so (``pause_storm_warnings``: mlx5's ``tx_pause_storm_warning_events``,
  the device stalled past its minor watermark);
* critical: a share of ``pfc_share_crit`` (0.5) or more; or the NIC gave up
  (``pause_storm_errors``: ``tx_pause_storm_error_events``: it stalled past its critical
  watermark, 8 s by default, and stopped sending pauses: packets may be dropped).

The shares are megawatch's defaults, not a standard: a healthy lossless class pauses in
bursts of microseconds to milliseconds (well under 1 % of the time); a fifth of two
minutes paused (24 s) is a congestion tree forming, half of them a stalled class. The
window is long enough that a collective's incast bursts do not fire it; the NIC's own
storm events (8 s of continuous pausing by default) fire it at once. A window that its
samples cover for less than half its length is not judged.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.link_health import Pause
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.common import HYSTERESIS
from pipeline.core.rules.link_text import CLASS_NAMES, link_label, per_class, severities, step
from pipeline.core.rules.link_windows import PFC_WINDOW
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import LINK_HEALTH, Links
from pipeline.events import Alert, LinkClass, Severity

RULE = "pfc_storm"
PFC_RESOLVE_FOR = Param(
    "pfc_resolve_for_s",
    30.0,
    "under the pause share margin, no storm event in the window, this long to resolve",
    "s",
    ge=0,
    le=3600,
)
SHARES = {
    (link_class, severity): Param(
        f"pfc_share_{'warn' if severity is Severity.warning else 'crit'}_{link_class.value}",
        0.2 if severity is Severity.warning else 0.5,
        f"{CLASS_NAMES[link_class]} links: share of the window a priority is paused at which "
        f"`pfc_storm` is {severity.value}",
        "ratio",
        gt=0,
        le=1,
        spec=f"pfc_share_{'warn' if severity is Severity.warning else 'crit'}.{link_class.value}",
    )
    for link_class in LinkClass
    for severity in (Severity.warning, Severity.critical)
}


def evaluate_pfc(book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy) -> list[Alert]:
    out: list[Alert] = []
    limits = policy.derived(_limits)
    timing = policy.derived(_timing)
    margin = 1 - policy[HYSTERESIS]
    half_ms = policy.ms(PFC_WINDOW) / 2
    for link in subject.names:
        state, link_class, peer = subject.known[link]
        pause = None if state.health is None else state.health.pause()
        if pause is None or pause.covered_ms < half_ms:
            continue  # nothing to judge yet: hold whatever state the alerts are in
        label = partial(link_label, book.site, link, link_class, peer)
        keys = severities(link, peer, RULE)
        for key, share_at, storms in zip(
            keys, limits[link_class], (pause.storm_warnings, pause.storm_errors), strict=True
        ):
            breached = pause.share >= share_at or storms > 0
            cleared = pause.share < share_at * margin and storms == 0
            facts = partial(_facts, label, pause, share_at, key.severity)
            out += step(book, key, breached, cleared, now_ms, timing, facts)
    return out


def _limits(policy: SitePolicy) -> dict[LinkClass, tuple[float, float]]:
    params = {
        cls: (SHARES[(cls, Severity.warning)], SHARES[(cls, Severity.critical)])
        for cls in LinkClass
    }
    return per_class(policy, params)


def _timing(policy: SitePolicy) -> Timing:
    return Timing(0, policy.ms(PFC_RESOLVE_FOR))


def _facts(label: partial[str], pause: Pause, threshold: float, severity: Severity) -> Facts:
    who = "paused by its peer" if pause.direction == "rx" else "pausing its peer"
    storms = pause.storm_errors if severity is Severity.critical else pause.storm_warnings
    extra = ""
    if storms:
        what = "gave up pausing" if severity is Severity.critical else "stalled"
        extra = f"; the NIC {what} {storms:.0f} times (pause storm events)"
    text = (
        f"{label()}: priority {pause.priority} {who} {pause.share * 100:.1f} % of the last "
        f"{pause.covered_ms / 1000:.0f} s{extra}; {severity.value} at {threshold * 100:g} %"
    )
    return Facts(pause.share, threshold, text)


RULES = (
    Rule(
        RULE,
        (RULE,),
        LINK_HEALTH,
        evaluate_pfc,
        "the most paused PFC priority's share of the window, and the NIC's own pause "
        "storm events, at the class's warning and critical thresholds",
        (PFC_RESOLVE_FOR, *SHARES.values()),
    ),
)
