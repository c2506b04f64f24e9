"""Telemetry rules: missing telemetry is an alert of its own, never a quiet zero.

* ``telemetry_missing`` per site and per power domain: a warning while coverage (racks
  reporting / racks known or expected) stays under ``min_coverage`` for the rule's
  ``for`` (``MEGAWATCH_TELEMETRY_FOR_S``), critical when no rack reports at all (sites
  and domains with a cap: a site without a spec is stored and shown only). The
  periodic tick evaluates it, so an agent that stops sending anything is noticed too.
  Resolves when coverage returns.
* ``link_telemetry_missing`` per link: no counters within the staleness window. While it
  holds, the link's loss alerts are *unknown*: neither resolved nor fired again
  (:func:`pipeline.core.rules.loss.evaluate_loss` is not called for a silent link).
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.policy import SitePolicy
from pipeline.core.power import Draw
from pipeline.core.rules.cap import CAP_RESOLVE_FOR, format_age, format_mw, shards_text
from pipeline.core.rules.common import MIN_COVERAGE
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import LINK_TICK, POWER, Links, PowerSubject
from pipeline.events import Alert, LinkClass, Severity

TELEMETRY_FOR = Param(
    "telemetry_for_s",
    60.0,
    "coverage under `min_coverage` (or a link silent) this long before `telemetry_missing` "
    "(or `link_telemetry_missing`) fires",
    "s",
    ge=0,
    le=3600,
)


def telemetry_timing(policy: SitePolicy) -> Timing:
    """Low coverage (or a silent link) ``telemetry_for_s`` before firing; resolved after
    ``cap_resolve_for_s``: once per policy with ``policy.derived(telemetry_timing)``."""
    return Timing(policy.ms(TELEMETRY_FOR), policy.ms(CAP_RESOLVE_FOR))


def evaluate_coverage(
    book: AlertBook, subject: PowerSubject, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    """Step the warning (low coverage) and critical (wholly silent) alerts of a site or
    domain with a cap (a site without a spec is stored and shown only)."""
    draw, limits = subject.draw, subject.limits
    if limits.cap_w is None:
        return []
    min_coverage, timing = policy[MIN_COVERAGE], policy.derived(telemetry_timing)
    coverage = draw.coverage
    if coverage is None:
        coverage = 1.0  # no rack known or expected (all forgotten): nothing is missing
    out = []
    for severity, breached in (
        (Severity.warning, coverage < min_coverage),
        (Severity.critical, coverage == 0),
    ):
        alert = book.evaluate(
            AlertKey("telemetry_missing", severity, domain=limits.domain),
            breached,
            not breached,
            now_ms,
            timing,
            partial(coverage_facts, limits.label, draw, coverage, min_coverage, now_ms, severity),
        )
        if alert is not None:
            out.append(alert)
    return out


def coverage_facts(
    label: str,
    draw: Draw,
    coverage: float,
    min_coverage: float,
    now_ms: int,
    severity: Severity = Severity.critical,
) -> Facts:
    """The alert's text: the critical one says the site is silent, the warning how much
    of it is missing (so a wholly silent site's two alerts never read the same)."""
    known = max(draw.racks, draw.expected)
    share = f"{coverage * 100:.0f} % coverage, minimum {min_coverage * 100:.0f} %"
    if draw.fresh == known:
        text = f"{label}: telemetry back from all {known} racks"
        return Facts(round(coverage, 4), min_coverage, text)
    seen = ""
    if draw.silent_since_ms is not None:
        seen = f", last seen {format_age(now_ms - draw.silent_since_ms)} ago"
    if draw.fresh == 0 and severity is Severity.critical:
        text = f"{label} is silent: none of its {known} racks reports ({share}{seen})"
    else:
        text = f"{label}: {draw.missing} of {known} racks not reporting ({share}{seen})"
    if draw.held:
        text += f"; {format_mw(draw.estimated_w)} estimated at last known power"
    if draw.unknown:
        text += f"; power of {draw.unknown} racks unknown"
    return Facts(round(coverage, 4), min_coverage, text + shards_text(draw))


def evaluate_link_silence(
    book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    """Once per tick, every known link: silent past the staleness window fires."""
    out = []
    known, stale_after_ms = subject.known, policy.stale_after_ms
    timing = policy.derived(telemetry_timing)
    for link in subject.names:
        state, link_class, peer = known[link]
        last_ts = state.last_ts
        silent = last_ts is not None and now_ms - last_ts > stale_after_ms
        if not silent and not book.holds("link_telemetry_missing", Severity.warning, link):
            continue  # every tick, every healthy link: nothing to step
        alert = book.evaluate(
            AlertKey("link_telemetry_missing", Severity.warning, link=link, peer_site=peer),
            silent,
            not silent,
            now_ms,
            timing,
            partial(link_silence_facts, book.site, link, link_class, peer, last_ts, now_ms, silent),
        )
        if alert is not None:
            out.append(alert)
    return out


RULES = (
    Rule(
        "telemetry_missing",
        ("telemetry_missing",),
        POWER,
        evaluate_coverage,
        "a site or domain with racks not reporting (warning), or none reporting (critical)",
        (TELEMETRY_FOR,),
    ),
    Rule(
        "link_telemetry_missing",
        ("link_telemetry_missing",),
        LINK_TICK,
        evaluate_link_silence,
        "a link that sends no counters for the staleness window: its loss is unknown",
    ),
)


def link_silence_facts(
    site: str,
    link: str,
    link_class: LinkClass,
    peer: str | None,
    last_ts: int | None,
    now_ms: int,
    silent: bool,
) -> Facts:
    kind = "WAN" if link_class is LinkClass.wan else "fabric"
    ends = f" ({site} <-> {peer})" if peer else f" at {site}"
    age_s = (now_ms - last_ts) / 1000 if last_ts is not None else 0.0
    if silent:
        text = (
            f"{kind} link {link}{ends} sends no counters (last seen "
            f"{format_age(int(age_s * 1000))} ago): its packet loss is unknown"
        )
    else:
        text = f"{kind} link {link}{ends} reports counters again"
    return Facts(round(age_s, 1), 0.0, text)
