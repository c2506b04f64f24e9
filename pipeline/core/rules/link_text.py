"""What the link-health rules share: a link named as operators read it, thresholds per
link class, and one alert stepped with them.

``link_ber``, ``link_flap``, ``pfc_storm`` and ``optics_drift`` each declare a warning
and a critical threshold per link class (``fabric``, ``wan``) that a site spec may
override (``ber_warn: {"fabric": .., "wan": ..}``); :func:`per_class` reads them once per
policy, :func:`link_label` names the link in every summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param
from pipeline.events import Alert, LinkClass, Severity

#: a link class as the docs and alert texts name it
CLASS_NAMES = {LinkClass.fabric: "fabric", LinkClass.wan: "WAN"}


def link_label(site: str, link: str, link_class: LinkClass, peer: str | None) -> str:
    """``fabric link sw1-p3 at fra-1``, ``WAN link dci-7 (fra-1 <-> ams-2)``."""
    kind = CLASS_NAMES[link_class]
    ends = f" ({site} <-> {peer})" if peer else f" at {site}"
    return f"{kind} link {link}{ends}"


def per_class(
    policy: SitePolicy, params: Mapping[LinkClass, tuple[Param[Any], ...]]
) -> dict[LinkClass, tuple[Any, ...]]:
    """link class -> the values of its parameters in this policy (the site's own, else
    the worker's)."""
    return {cls: tuple(policy[p] for p in group) for cls, group in params.items()}


def step(
    book: AlertBook,
    key: AlertKey,
    breached: bool,
    cleared: bool,
    now_ms: int,
    timing: Timing,
    facts: Callable[[], Facts],
) -> list[Alert]:
    """Step one alert; nothing at all for a quiet subject that holds no state (the
    common case of every healthy link of every message)."""
    if not breached and not book.holds(key.rule, key.severity, key.subject):
        return []
    alert = book.evaluate(key, breached, cleared, now_ms, timing, facts)
    return [] if alert is None else [alert]


def severities(link: str, peer: str | None, rule: str) -> tuple[AlertKey, AlertKey]:
    """The warning and critical alert of ``rule`` about ``link``."""
    return (
        AlertKey(rule, Severity.warning, link=link, peer_site=peer),
        AlertKey(rule, Severity.critical, link=link, peer_site=peer),
    )


def rate(value: float) -> str:
    """A small ratio as people write it: ``3.2e-10``, ``0`` for none."""
    return "0" if value == 0 else f"{value:.2g}".replace("e-0", "e-").replace("e+0", "e+")
