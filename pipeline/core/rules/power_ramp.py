"""The ramp rule: a site whose power moved faster than its interconnection agreement allows.

The 1 s ramp of a stride (:mod:`pipeline.core.wave.features`: the largest change of the
site's aligned power over any 1 s within the stride) is compared with the site spec's
``ramp_limit_mw_per_s``; the alert fires on the first stride over it (``ramp_for_s``, 0
by default: a ramp is an event, not a level) and resolves once the ramps have stayed
under the limit for ``wave_resolve_for_s``. A stride with unknown cells neither fires nor
clears (a partial sum is not read as a ramp, nor as its absence). A site without a limit
(0, the default) is not judged.
"""

from __future__ import annotations

import math
from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import WAVE, WaveSubject
from pipeline.core.rules.wave_common import WAVE_RESOLVE_FOR
from pipeline.events import Alert, Severity

RAMP_LIMIT = Param(
    "ramp_limit_mw_per_s",
    0.0,
    "`power_ramp`: the site's largest change of power within 1 s, in MW (0: no limit)",
    "MW/s",
    ge=0,
    le=100_000,
    spec="ramp_limit_mw_per_s",
)
RAMP_FOR = Param(
    "ramp_for_s",
    0.0,
    "`power_ramp`: ramps over the limit for this long (event time) before it fires",
    "s",
    ge=0,
    le=3600,
)


def ramp_rate(subject: WaveSubject, row: int = 0) -> tuple[float, float]:
    """(MW/s over the 1 s lag, MW over the longest lag) of a row; NaN where unknown."""
    ramps = subject.stride.features.ramp_w[row]
    if not len(ramps):
        return math.nan, math.nan
    return float(ramps[0]) / 1e6 / subject.lag_s[0], float(ramps[-1]) / 1e6


def evaluate_ramp(
    book: AlertBook, subject: WaveSubject, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    limit = policy[RAMP_LIMIT]
    key = AlertKey("power_ramp", Severity.warning)
    if limit <= 0 and not book.holds(key.rule, key.severity, key.subject):
        return []
    rate, slow = ramp_rate(subject)
    known = not math.isnan(rate)
    breached = known and limit > 0 and rate > limit
    alert = book.evaluate(
        key,
        breached,
        known and not breached,
        now_ms,
        policy.derived(_timing),
        partial(_facts, book.site, rate, slow, subject.lag_s[-1], limit),
    )
    return [alert] if alert is not None else []


def _timing(policy: SitePolicy) -> Timing:
    return Timing(policy.ms(RAMP_FOR), policy.ms(WAVE_RESOLVE_FOR))


def _facts(site: str, rate: float, slow: float, slow_lag: float, limit: float) -> Facts:
    if limit <= 0:
        return Facts(round(rate, 4), 0.0, f"site {site}: no ramp limit any more")
    text = (
        f"site {site} ramped {rate:.2f} MW within 1 s, over its {limit:g} MW/s limit "
        f"({slow:.2f} MW within {slow_lag:g} s)"
    )
    if not rate > limit:
        text = f"site {site} ramps at most {rate:.2f} MW within 1 s again (limit {limit:g} MW/s)"
    return Facts(round(rate, 4), limit, text)


RULES = (
    Rule(
        "power_ramp",
        ("power_ramp",),
        WAVE,
        evaluate_ramp,
        "the site's power changed by more than its ramp limit within 1 s",
        (RAMP_LIMIT, RAMP_FOR),
    ),
)
