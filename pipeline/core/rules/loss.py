"""Link loss rules: the loss ratio of a link over its window against the thresholds of
its class (fabric or WAN), a warning and a critical alert per link.

A window with fewer than ``loss_min_tx_packets`` transmitted packets says nothing: the
alert holds whatever state it is in. A site spec may set its own thresholds per class
(``loss_warn`` / ``loss_crit``: ``{"fabric": .., "wan": ..}``).
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.common import HYSTERESIS, LOSS_WINDOW
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import LINK_SAMPLES, Links
from pipeline.events import Alert, LinkClass, Severity

LOSS_FOR = Param(
    "loss_for_s", 0.0, "loss must stay at or over a threshold this long", "s", ge=0, le=3600
)
LOSS_RESOLVE_FOR = Param(
    "loss_resolve_for_s",
    30.0,
    "under the hysteresis margin this long before a loss alert resolves",
    "s",
    ge=0,
    le=3600,
)
LOSS_MIN_TX = Param(
    "loss_min_tx_packets",
    1000,
    "fewer packets transmitted in the window: loss is not judged",
    "packets",
    ge=1,
)


LOSS_WARN_FABRIC = Param(
    "loss_warn_fabric",
    1e-6,
    "fabric links: loss ratio at which `link_loss_fabric` fires as a warning",
    "ratio",
    gt=0,
    lt=1,
    spec="loss_warn.fabric",
    at_most="loss_crit_fabric",
)
LOSS_CRIT_FABRIC = Param(
    "loss_crit_fabric",
    1e-5,
    "fabric links: loss ratio at which `link_loss_fabric` fires as critical",
    "ratio",
    gt=0,
    lt=1,
    spec="loss_crit.fabric",
)
LOSS_WARN_WAN = Param(
    "loss_warn_wan",
    1e-5,
    "WAN links: loss ratio at which `link_loss_wan` fires as a warning",
    "ratio",
    gt=0,
    lt=1,
    spec="loss_warn.wan",
    at_most="loss_crit_wan",
)
LOSS_CRIT_WAN = Param(
    "loss_crit_wan",
    1e-4,
    "WAN links: loss ratio at which `link_loss_wan` fires as critical",
    "ratio",
    gt=0,
    lt=1,
    spec="loss_crit.wan",
)
#: link class -> its (warning, critical) thresholds
THRESHOLDS: dict[LinkClass, tuple[Param[float], Param[float]]] = {
    LinkClass.fabric: (LOSS_WARN_FABRIC, LOSS_CRIT_FABRIC),
    LinkClass.wan: (LOSS_WARN_WAN, LOSS_CRIT_WAN),
}
_RULE = {link_class: f"link_loss_{link_class.value}" for link_class in LinkClass}


def evaluate_loss(book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy) -> list[Alert]:
    """The loss alerts of the links that reported in a message. Per link this is the
    hot path (a thousand links a message): the parameters are read once, outside the
    loop, and a link below every threshold with no alert state costs one comparison
    per threshold."""
    out: list[Alert] = []
    known, min_tx = subject.known, policy[LOSS_MIN_TX]
    thresholds = policy.derived(_thresholds)
    for link in subject.names:
        state, link_class, peer = known[link]
        loss = state.loss()
        if loss is None or state.window_tx < min_tx:
            continue  # nothing to judge: hold whatever state the alert is in
        rule, limits = _RULE[link_class], thresholds[link_class]
        if _quiet(book, rule, link, loss, limits):
            continue
        out += _step(book, rule, link, link_class, peer, loss, limits, now_ms, policy)
    return out


def _step(
    book: AlertBook,
    rule: str,
    link: str,
    link_class: LinkClass,
    peer: str | None,
    loss: float,
    thresholds: tuple[tuple[Severity, float], ...],
    now_ms: int,
    policy: SitePolicy,
) -> list[Alert]:
    """Step the warning and critical alert of one link that is not quiet."""
    out = []
    margin = 1 - policy[HYSTERESIS]
    timing = policy.derived(_loss_timing)
    window_ms = policy.ms(LOSS_WINDOW)
    describe = partial(loss_facts, book.site, link, link_class, peer, loss)
    for severity, threshold in thresholds:
        alert = book.evaluate(
            AlertKey(rule, severity, link=link, peer_site=peer),
            loss >= threshold,
            loss < threshold * margin,
            now_ms,
            timing,
            partial(describe, threshold, window_ms),
        )
        if alert is not None:
            out.append(alert)
    return out


def _thresholds(policy: SitePolicy) -> dict[LinkClass, tuple[tuple[Severity, float], ...]]:
    """link class -> ((warning, its threshold), (critical, its threshold))."""
    return {
        link_class: ((Severity.warning, policy[warn]), (Severity.critical, policy[crit]))
        for link_class, (warn, crit) in THRESHOLDS.items()
    }


def _loss_timing(policy: SitePolicy) -> Timing:
    return Timing(policy.ms(LOSS_FOR), policy.ms(LOSS_RESOLVE_FOR))


def _quiet(
    book: AlertBook,
    rule: str,
    link: str,
    loss: float,
    thresholds: tuple[tuple[Severity, float], ...],
) -> bool:
    """Below every threshold with no alert state: evaluating would change nothing.

    The common case of every sample of every healthy link, so it is checked without
    building the alert keys (a thousand links per message)."""
    for severity, threshold in thresholds:
        if loss >= threshold or book.holds(rule, severity, link):
            return False
    return True


RULES = (
    Rule(
        "link_loss",
        tuple(_RULE.values()),
        LINK_SAMPLES,
        evaluate_loss,
        "a link's loss ratio over its window at its class's warning and critical thresholds",
        (
            LOSS_FOR,
            LOSS_RESOLVE_FOR,
            LOSS_MIN_TX,
            LOSS_WARN_FABRIC,
            LOSS_CRIT_FABRIC,
            LOSS_WARN_WAN,
            LOSS_CRIT_WAN,
        ),
    ),
)


def loss_facts(
    site: str,
    link: str,
    link_class: LinkClass,
    peer: str | None,
    loss: float,
    threshold: float,
    window_ms: int,
) -> Facts:
    ends = f" ({site} <-> {peer})" if peer else f" at {site}"
    kind = "WAN" if link_class is LinkClass.wan else "fabric"
    text = (
        f"{kind} link {link}{ends} lost {loss * 100:.4f} % of packets over the last "
        f"{window_ms / 1000:.0f} s (threshold {threshold * 100:.4f} %)"
    )
    return Facts(loss, threshold, text)
