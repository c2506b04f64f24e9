"""Link loss rules: the loss ratio of a link over its window against the thresholds of
its class (fabric or WAN), a warning and a critical alert per link.

A window with fewer than ``loss_min_tx`` transmitted packets says nothing: the alert
holds whatever state it is in.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.links import LinkState
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.events import Alert, LinkClass, Severity


def evaluate_loss(
    book: AlertBook,
    link: str,
    link_class: LinkClass,
    peer: str | None,
    state: LinkState,
    now_ms: int,
    policy: SitePolicy,
    config: RuleConfig,
) -> list[Alert]:
    loss = state.loss()
    if loss is None or state.window_tx < config.loss_min_tx:
        return []  # nothing to judge: hold whatever state the alert is in
    rule, thresholds = _RULE[link_class], policy.loss_thresholds(link_class)
    if _quiet(book, rule, link, loss, thresholds):
        return []
    out = []
    describe = partial(loss_facts, book.site, link, link_class, peer, loss)
    for severity, threshold in thresholds:
        alert = book.evaluate(
            AlertKey(rule, severity, link=link, peer_site=peer),
            loss >= threshold,
            loss < threshold * (1 - config.hysteresis),
            now_ms,
            config.loss_timing,
            partial(describe, threshold, config),
        )
        if alert is not None:
            out.append(alert)
    return out


_RULE = {link_class: f"link_loss_{link_class.value}" for link_class in LinkClass}


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


def loss_facts(
    site: str,
    link: str,
    link_class: LinkClass,
    peer: str | None,
    loss: float,
    threshold: float,
    config: RuleConfig,
) -> Facts:
    ends = f" ({site} <-> {peer})" if peer else f" at {site}"
    window_s = config.loss_window_ms / 1000
    kind = "WAN" if link_class is LinkClass.wan else "fabric"
    text = (
        f"{kind} link {link}{ends} lost {loss * 100:.4f} % of packets over the last "
        f"{window_s:.0f} s (threshold {threshold * 100:.4f} %)"
    )
    return Facts(loss, threshold, text)
