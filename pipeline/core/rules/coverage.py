"""Telemetry rules: missing telemetry is an alert of its own, never a quiet zero.

* ``telemetry_missing`` per site and per power domain: a warning while coverage (racks
  reporting / racks known or expected) stays under ``min_coverage`` for the rule's
  ``for`` (``MEGAWATCH_TELEMETRY_FOR_S``), critical when no rack reports at all. The
  periodic tick evaluates it, so an agent that stops sending anything is noticed too.
  Resolves when coverage returns.
* ``link_telemetry_missing`` per link: no counters within the staleness window. While it
  holds, the link's loss alerts are *unknown*: neither resolved nor fired again
  (:func:`pipeline.core.rules.loss.evaluate_loss` is not called for a silent link).
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.policy import CapLimits, RuleConfig
from pipeline.core.power import Draw
from pipeline.core.rules.cap import format_age, format_mw
from pipeline.events import Alert, LinkClass, Severity


def evaluate_coverage(
    book: AlertBook,
    draw: Draw,
    now_ms: int,
    limits: CapLimits,
    min_coverage: float,
    config: RuleConfig,
) -> list[Alert]:
    """Step the warning (low coverage) and critical (wholly silent) alerts."""
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
            config.telemetry_timing,
            partial(coverage_facts, limits.label, draw, coverage, min_coverage, now_ms),
        )
        if alert is not None:
            out.append(alert)
    return out


def coverage_facts(
    label: str, draw: Draw, coverage: float, min_coverage: float, now_ms: int
) -> Facts:
    known = max(draw.racks, draw.expected)
    share = f"{coverage * 100:.0f} % coverage, minimum {min_coverage * 100:.0f} %"
    if draw.fresh == known:
        text = f"{label}: telemetry back from all {known} racks"
        return Facts(round(coverage, 4), min_coverage, text)
    seen = ""
    if draw.silent_since_ms is not None:
        seen = f", last seen {format_age(now_ms - draw.silent_since_ms)} ago"
    if draw.fresh == 0:
        text = f"{label} is silent: none of its {known} racks reports ({share}{seen})"
    else:
        text = f"{label}: {draw.missing} of {known} racks not reporting ({share}{seen})"
    if draw.held:
        text += f"; {format_mw(draw.estimated_w)} estimated at last known power"
    if draw.unknown:
        text += f"; power of {draw.unknown} racks unknown"
    return Facts(round(coverage, 4), min_coverage, text)


def evaluate_link_silence(
    book: AlertBook,
    link: str,
    link_class: LinkClass,
    peer: str | None,
    last_ts: int | None,
    now_ms: int,
    stale_after_ms: int,
    config: RuleConfig,
) -> Alert | None:
    silent = last_ts is not None and now_ms - last_ts > stale_after_ms
    if not silent and not book.holds("link_telemetry_missing", Severity.warning, link):
        return None  # every tick, every healthy link: nothing to step
    return book.evaluate(
        AlertKey("link_telemetry_missing", Severity.warning, link=link, peer_site=peer),
        silent,
        not silent,
        now_ms,
        config.telemetry_timing,
        partial(link_silence_facts, book.site, link, link_class, peer, last_ts, now_ms, silent),
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
