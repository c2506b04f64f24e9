"""One line per condition: a critical alert supersedes its own warning where people read.

A condition is what alerts are about: the rule that emits them (the registry's rule:
``cap_warning`` and ``cap_critical`` are the two levels of the cap rule, a silent site's
``telemetry_missing`` warning and critical are one rule's), the site and the subject (a
link, a rack or a power domain). While its critical alert fires, its warning says
nothing more, so the live view, ``megawatch alerts list`` and the demo show the
condition once, at its highest severity. The alerts themselves stay as they are: each
is delivered and stored with its own state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, TypeVar

Entry = TypeVar("Entry", bound=Mapping[str, Any])

#: lower is stronger
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@cache
def _rule_of_alert() -> dict[str, str]:
    from pipeline.core.rules.registry import registry

    return {alert: rule.name for rule in registry().rules for alert in rule.alerts}


def condition(alert: Mapping[str, Any]) -> tuple[str, ...]:
    """What ``alert`` (an Alert's JSON, a stored row or a live-view entry) is about."""
    rule = str(alert.get("rule") or "")
    subject = alert.get("subject")
    if subject is None:  # an alert or a row: its subject is its link, rack or domain
        domain = alert.get("domain")
        subject = alert.get("link") or alert.get("rack") or (f"domain:{domain}" if domain else "")
    return (_rule_of_alert().get(rule, rule), str(alert.get("site") or ""), str(subject or ""))


def rank(alert: Mapping[str, Any]) -> int:
    return SEVERITY_RANK.get(str(alert.get("severity") or ""), len(SEVERITY_RANK))


def strongest(firing: Iterable[Entry]) -> list[Entry]:
    """Of alerts that all fire, each condition's strongest (the first of equals), in the
    order given."""
    items = list(firing)
    best: dict[tuple[str, ...], int] = {}
    for entry in items:
        key = condition(entry)
        best[key] = min(best.get(key, len(SEVERITY_RANK) + 1), rank(entry))
    shown: set[tuple[str, ...]] = set()
    out = []
    for entry in items:
        key = condition(entry)
        if rank(entry) == best[key] and key not in shown:
            shown.add(key)
            out.append(entry)
    return out


def superseded_out(rows: list[Entry]) -> list[Entry]:
    """Alert states (one per alert, firing or resolved) without the firing ones that a
    stronger firing alert of their condition supersedes; resolved ones all stay."""
    firing = [row for row in rows if row.get("status") == "firing"]
    keep = {id(row) for row in strongest(firing)}
    return [row for row in rows if row.get("status") != "firing" or id(row) in keep]


def one_per_condition(events: Iterable[Entry]) -> list[Entry]:
    """Alert events as received (oldest first) -> one per condition, oldest first: its
    strongest firing alert's latest event while any fires, else its latest event."""
    latest: dict[str, Entry] = {}
    for event in events:  # the latest state of each alert (fingerprint)
        fingerprint = str(event.get("fingerprint") or id(event))
        latest.pop(fingerprint, None)
        latest[fingerprint] = event
    states = list(latest.values())
    by_condition: dict[tuple[str, ...], Entry] = {}
    for state in states:
        key = condition(state)
        held = by_condition.get(key)
        if held is None or _outranks(state, held):
            by_condition[key] = state
    chosen = {id(state) for state in by_condition.values()}
    return [state for state in states if id(state) in chosen]


def _outranks(state: Mapping[str, Any], held: Mapping[str, Any]) -> bool:
    """A firing state beats a resolved one, then the stronger severity, then the later."""
    firing, held_firing = state.get("status") == "firing", held.get("status") == "firing"
    if firing != held_firing:
        return firing
    if firing and rank(state) != rank(held):
        return rank(state) < rank(held)
    return True  # ``state`` came later


#: a rule's key figure from its alert's value and threshold (see each rule's facts);
#: a rule not listed shows "value / threshold"
_FIGURES: dict[str, Any] = {
    "cap": lambda v, t: f"{v:.2f}/{t:.2f} MW",  # drawn / the level crossed
    "cap_forecast": lambda v, t: f"cap in {v:.0f} min" if v >= 0 else "no cap ahead",
    "telemetry_missing": lambda v, t: f"{v * 100:.0f}% reporting",
    "link_telemetry_missing": lambda v, t: f"silent {v:.0f} s",
    "link_loss": lambda v, t: f"{v * 100:.3g}% lost",
    "idle_power": lambda v, t: f"{v * 100:.0f}% idle draw",
}


def key_figure(alert: Mapping[str, Any]) -> str:
    """The number an alert is about, short: ``5.30/4.80 MW``, ``0.5% lost``,
    ``0% reporting``; shown before its text, which a narrow screen cuts."""
    value, threshold = alert.get("value"), alert.get("threshold")
    if not isinstance(value, int | float) or not isinstance(threshold, int | float):
        return ""
    rule = _rule_of_alert().get(str(alert.get("rule") or ""), "")
    figure = _FIGURES.get(rule)
    return str(figure(value, threshold)) if figure else f"{value:g} / {threshold:g}"
