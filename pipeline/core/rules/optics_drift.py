"""``optics_drift``: optical receive power outside the module's own limits, or falling.

Two alerts per link, from the rx power of each lane (:mod:`pipeline.core.optics`):

* ``optics_rx_power``: a lane's rx power under the module's low warning threshold or over
  its high warning threshold (warning); under its low alarm or over its high alarm
  threshold (critical). These are the thresholds the module itself reports: SFF-8636
  (QSFP) and CMIS (QSFP-DD, OSFP) modules carry low/high warning and alarm thresholds
  for rx power, set by the vendor for that part, in their memory map (``ethtool -m``,
  OpenConfig ``transceiver/thresholds``). A link without them is judged on drift alone.
* ``optics_drift``: a lane's rx power falling by ``optics_drift_db`` (1 dB) a day or more,
  a least-squares trend over ``optics_drift_window_s`` (a day), judged once the samples
  span half of it. A healthy link's rx power moves by tenths of a dB with temperature;
  a steady fall of a dB a day is a connector, fiber or far-end laser degrading, which
  reaches a typical module's low warning (a few dB under its normal power) within days.
  1 dB/day is megawatch's default, not a standard.

Resolution: back inside the thresholds by ``optics_margin_db``, or the fall slower than
the threshold, for ``optics_resolve_for_s``.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.optics import Drift, Optics
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.link_text import CLASS_NAMES, link_label, per_class, severities, step
from pipeline.core.rules.link_windows import OPTICS_DRIFT_WINDOW
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import LINK_HEALTH, Links
from pipeline.events import Alert, LinkClass, Severity

POWER, DRIFT = "optics_rx_power", "optics_drift"
OPTICS_MARGIN = Param(
    "optics_margin_db",
    0.5,
    "an optics alert resolves only this far inside the module's threshold",
    "dB",
    ge=0,
    le=10,
)
OPTICS_RESOLVE_FOR = Param(
    "optics_resolve_for_s",
    300.0,
    "inside the thresholds (by the margin), or falling slower, this long to resolve",
    "s",
    ge=0,
    le=86_400,
)
DRIFT_DB = {
    link_class: Param(
        f"optics_drift_db_{link_class.value}",
        1.0,
        f"{CLASS_NAMES[link_class]} links: fall of a lane's rx power per day at which "
        "`optics_drift` warns",
        "dB/day",
        gt=0,
        le=40,
        spec=f"optics_drift_db.{link_class.value}",
    )
    for link_class in LinkClass
}


def evaluate_optics(
    book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    out: list[Alert] = []
    drift_at = policy.derived(_limits)
    margin = policy[OPTICS_MARGIN]
    timing = policy.derived(_timing)
    for link in subject.names:
        state, link_class, peer = subject.known[link]
        optics = None if state.health is None else state.health.optics
        if optics is None or not optics.lanes:
            continue
        label = partial(link_label, book.site, link, link_class, peer)
        for key, (low, high) in zip(severities(link, peer, POWER), _bounds(optics), strict=True):
            out += _power(book, key, optics, low, high, margin, label, now_ms, timing)
        drift = optics.drift()
        if drift is not None:
            limit = drift_at[link_class]
            key = AlertKey(DRIFT, Severity.warning, link=link, peer_site=peer)
            facts = partial(_drift_facts, label, drift, limit, policy.ms(OPTICS_DRIFT_WINDOW))
            falling = -drift.db_per_day
            out += step(book, key, falling >= limit, falling < limit, now_ms, timing, facts)
    return out


def _bounds(optics: Optics) -> tuple[tuple[float | None, float | None], ...]:
    """(low, high) of the warning, then of the critical alert: the module's own."""
    t = optics.thresholds
    return (t.low_warn, t.high_warn), (t.low_alarm, t.high_alarm)


def _power(
    book: AlertBook,
    key: AlertKey,
    optics: Optics,
    low: float | None,
    high: float | None,
    margin: float,
    label: partial[str],
    now_ms: int,
    timing: Timing,
) -> list[Alert]:
    if low is None and high is None:
        return []  # the module reports no threshold of this severity
    lanes = optics.lanes
    under = low is not None and min(lanes) < low
    over = high is not None and max(lanes) > high
    inside = (low is None or min(lanes) >= low + margin) and (
        high is None or max(lanes) <= high - margin
    )
    facts = partial(_power_facts, label, optics, low, high, key.severity)
    return step(book, key, under or over, inside, now_ms, timing, facts)


def _limits(policy: SitePolicy) -> dict[LinkClass, float]:
    values = per_class(policy, {cls: (DRIFT_DB[cls],) for cls in LinkClass})
    return {cls: limit for cls, (limit,) in values.items()}


def _timing(policy: SitePolicy) -> Timing:
    return Timing(0, policy.ms(OPTICS_RESOLVE_FOR))


def _power_facts(
    label: partial[str],
    optics: Optics,
    low: float | None,
    high: float | None,
    severity: Severity,
) -> Facts:
    lanes = optics.lanes
    level = "warning" if severity is Severity.warning else "alarm"
    if high is not None and max(lanes) > high:
        lane = lanes.index(max(lanes))
        text = f"above the module's high {level} of {high:.2f} dBm"
        value, threshold = lanes[lane], high
    else:
        lane = lanes.index(min(lanes))
        value, threshold = lanes[lane], low if low is not None else lanes[lane]
        text = f"under the module's low {level} of {threshold:.2f} dBm"
    summary = f"{label()}: rx power of lane {lane} is {value:.2f} dBm, {text}"
    return Facts(value, threshold, summary)


def _drift_facts(label: partial[str], drift: Drift, limit: float, window_ms: int) -> Facts:
    text = (
        f"{label()}: rx power of lane {drift.lane} falling {-drift.db_per_day:.2f} dB a day "
        f"over the last {window_ms / 3_600_000:g} h; warning at {limit:g} dB a day"
    )
    return Facts(-drift.db_per_day, limit, text)


RULES = (
    Rule(
        "optics_drift",
        (POWER, DRIFT),
        LINK_HEALTH,
        evaluate_optics,
        "rx power per lane outside the module's own warning and alarm thresholds; its "
        "fall per day at the class's threshold",
        (OPTICS_MARGIN, OPTICS_RESOLVE_FOR, *DRIFT_DB.values()),
    ),
)
