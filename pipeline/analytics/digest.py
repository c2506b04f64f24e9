"""The daily digest: the five findings an operator should know, as short sentences (pure).

:func:`build_digest` turns :class:`DigestInputs` (plain records read by
:mod:`pipeline.analytics.digest_data`) into candidate findings, ranks them
(:mod:`pipeline.analytics.ranking`) and keeps the top five. :meth:`Digest.text` is what
``megawatch digest`` prints and Slack shows; :meth:`Digest.body` the JSON of the signed
webhook (``"kind": "digest"``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.analytics.digest_coverage import (
    CoverageMinute,
    DomainTime,
    coverage_findings,
    domain_findings,
)
from pipeline.analytics.findings import (
    IdleRack,
    LinkMinute,
    PowerPoint,
    SiteTime,
    cap_findings,
    idle_findings,
    loss_findings,
    site_growth,
)
from pipeline.analytics.findings_energy import EnergyInputs, energy_findings
from pipeline.analytics.findings_pipeline import (
    DeadLetterGroup,
    DeliveryTrouble,
    dead_letter_findings,
    delivery_findings,
)
from pipeline.analytics.findings_waves import WaveInputs, wave_findings
from pipeline.analytics.ranking import TOP, Finding, rank

DIGEST_VERSION = "1"


@dataclass(frozen=True)
class DigestInputs:
    """What the named queries said about the window, as plain records."""

    start: datetime
    end: datetime
    site: str | None = None  # None: the whole fleet
    site_times: list[SiteTime] = field(default_factory=list)
    power: list[PowerPoint] = field(default_factory=list)
    link_minutes: list[LinkMinute] = field(default_factory=list)
    idle_racks: list[IdleRack] = field(default_factory=list)
    deliveries: list[DeliveryTrouble] = field(default_factory=list)
    dead_letters: list[DeadLetterGroup] = field(default_factory=list)
    coverage: list[CoverageMinute] = field(default_factory=list)
    domains: list[DomainTime] = field(default_factory=list)
    energy: EnergyInputs | None = None  # jobs, PUE, work per joule (findings_energy)
    waves: WaveInputs | None = None  # DR events, fleet incidents (findings_waves)


@dataclass(frozen=True)
class LossThresholds:
    """Loss ratios per link class (the worker's defaults, MEGAWATCH_LOSS_*)."""

    warn: dict[str, float]
    crit: dict[str, float]


@dataclass(frozen=True)
class Digest:
    start: datetime
    end: datetime
    site: str | None
    findings: list[Finding]
    candidates: int

    @property
    def scope(self) -> str:
        return f"site {self.site}" if self.site else "the fleet"

    @property
    def digest_id(self) -> str:
        """16 hex digits naming this window and scope: a re-sent digest keeps its id, so
        receivers that dedupe on ``Idempotency-Key`` drop the copy."""
        key = f"{self.start.isoformat()}|{self.end.isoformat()}|{self.site or ''}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def headline(self) -> str:
        span = f"{_stamp(self.start)} - {_stamp(self.end)} UTC"
        if not self.findings:
            return f"megawatch digest for {self.scope}, {span}: nothing to report"
        shown = len(self.findings)
        return (
            f"megawatch digest for {self.scope}, {span}: top {shown} of "
            f"{self.candidates} finding{'s' if self.candidates != 1 else ''}"
        )

    def text(self) -> str:
        lines = [self.headline]
        for number, finding in enumerate(self.findings, start=1):
            lines.append(f"{number}. [{finding.severity}] {finding.sentence}")
        if not self.findings:
            lines.append(
                "no site near its cap or growing towards it, no link loss over the "
                "warning level, no idle GPU energy, no failed deliveries, no dead "
                "letters"
            )
        return "\n".join(lines)

    def body(self, receiver: str, sent_at: datetime) -> dict[str, Any]:
        """The signed webhook's JSON (megawatch envelope version 1, kind digest)."""
        return {
            "version": DIGEST_VERSION,
            "kind": "digest",
            "receiver": receiver,
            "id": self.digest_id,
            "sent_at": _iso(sent_at),
            "window": {"start": _iso(self.start), "end": _iso(self.end), "site": self.site},
            "candidates": self.candidates,
            "findings": [
                {
                    "rank": n,
                    "kind": f.kind,
                    "severity": f.severity,
                    "subject": f.subject,
                    "site": f.site,
                    "score": round(f.score, 3),
                    "duration_s": f.duration_s,
                    "amount": f.amount,
                    "text": f.sentence,
                    "facts": f.facts,
                }
                for n, f in enumerate(self.findings, start=1)
            ],
            "text": self.text(),
        }


def candidate_findings(inputs: DigestInputs, thresholds: LossThresholds) -> list[Finding]:
    """Every finding the rules produce for the window, unranked."""
    window_s = (inputs.end - inputs.start).total_seconds()
    growth = site_growth(inputs.power, window_s)
    return [
        *cap_findings(inputs.site_times, growth, inputs.end),
        *loss_findings(inputs.link_minutes, thresholds.warn, thresholds.crit, inputs.end),
        *idle_findings(inputs.idle_racks),
        *delivery_findings(inputs.deliveries, inputs.end),
        *dead_letter_findings(inputs.dead_letters, inputs.end),
        *coverage_findings(inputs.coverage),
        *domain_findings(inputs.domains),
        *energy_findings(inputs.energy),
        *wave_findings(inputs.waves, inputs.end),
    ]


def build_digest(inputs: DigestInputs, thresholds: LossThresholds, top: int = TOP) -> Digest:
    candidates = candidate_findings(inputs, thresholds)
    return Digest(inputs.start, inputs.end, inputs.site, rank(candidates, top), len(candidates))


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
