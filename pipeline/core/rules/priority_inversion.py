"""The priority-inversion rule: in one power domain, GPUs of a higher priority class are
capped while those of a lower class are not (POLCA's lesson: when power is short, cap the
low-priority work first; an inference fleet throttled while training runs free is power
spent the wrong way round).

A class counts as capped when at least ``inversion_capped_share`` of its fresh GPUs are
held down by a power reason (software power cap, hardware slowdown, power brake:
:mod:`pipeline.core.energy.capping`), and as free when less than that share is. The
rule fires (warning) when a capped class ranks above a free one under the same lowest
cap (a leaf domain, or the racks directly under the site's cap: see
:mod:`pipeline.core.energy.priorities`), for ``inversion_for_s``.

Where it runs: on the tick of the shard stage, which holds the GPU samples of its key;
for a site keyed ``SITE/SHARD``, a domain whose racks span shards is judged on the GPUs
each shard holds, one alert per shard (a limit: docs/energy.md).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.energy.capping import reason_names
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import DOMAIN_PRIORITIES
from pipeline.events import Alert, Severity

if TYPE_CHECKING:  # the subject is built with numpy; reading the registry imports none
    from pipeline.core.energy.priorities import ClassCount, DomainClasses, DomainPriorities

CAPPED_SHARE = Param(
    "inversion_capped_share",
    0.1,
    "`priority_inversion`: share of a priority class's GPUs capped for the class to count "
    "as capped (below it: free)",
    "ratio",
    gt=0,
    le=1,
    spec="inversion_capped_share",
)
INVERSION_FOR = Param(
    "inversion_for_s",
    60.0,
    "`priority_inversion`: for this long (it resolves after a fifth of it)",
    "s",
    ge=0,
)


def inversion(domain: DomainClasses, share: float) -> tuple[ClassCount, ClassCount] | None:
    """(the highest capped class, the lowest free class below it), or None."""
    ranked = sorted(domain.classes, key=lambda c: (c.rank, c.priority))
    for i, high in enumerate(ranked):
        if high.share < share:
            continue
        free = [low for low in ranked[i + 1 :] if low.rank > high.rank and low.share < share]
        if free:
            return high, free[-1]
    return None


def evaluate_inversion(
    book: AlertBook, subject: DomainPriorities, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    share, timing = policy[CAPPED_SHARE], policy.derived(_timing)
    out = []
    for domain in subject.domains:
        found = inversion(domain, share)
        breached = found is not None
        key = AlertKey(
            "priority_inversion", Severity.warning, domain=domain.name, shard=subject.shard
        )
        if not breached and not book.holds(key.rule, key.severity, key.subject):
            continue
        alert = book.evaluate(
            key,
            breached,
            not breached,
            now_ms,
            timing,
            partial(_facts, book.site, domain.name, subject.shard, found, share),
        )
        if alert is not None:
            out.append(alert)
    return out


def _timing(policy: SitePolicy) -> Timing:
    for_ms = policy.ms(INVERSION_FOR)
    return Timing(for_ms, for_ms // 5)


def _facts(
    site: str,
    domain: str | None,
    shard: str,
    found: tuple[ClassCount, ClassCount] | None,
    share: float,
) -> Facts:
    where = f"domain {domain} of {site}" if domain else f"site {site}"
    if shard:
        where += f" (the GPUs of shard {shard})"
    if found is None:
        return Facts(
            0.0, share, f"{where}: no higher-priority GPUs capped while lower ones run free"
        )
    high, low = found
    why = ", ".join(reason_names(high.reasons)) or "a power reason"
    text = (
        f"{where}: {high.capped} of {high.gpus} {high.priority} GPUs are capped ({why}) "
        f"while {low.priority} GPUs run free ({low.capped} of {low.gpus} capped): cap "
        f"{low.priority} first"
    )
    return Facts(round(high.share, 4), share, text)


RULES = (
    Rule(
        "priority_inversion",
        ("priority_inversion",),
        DOMAIN_PRIORITIES,
        evaluate_inversion,
        "higher-priority GPUs capped while lower-priority ones in the same power domain are not",
        (CAPPED_SHARE, INVERSION_FOR),
    ),
)
