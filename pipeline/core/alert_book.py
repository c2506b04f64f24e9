"""The alert states of one site, and the Alert events their transitions produce.

:class:`AlertBook` owns the state machine of every alert of a site (see
:mod:`pipeline.core.alert_state`) and turns each fire or resolve into an :class:`Alert` event
for the ``alerts`` topic. Its durable part (firing states and sequence numbers) is one
small dict per site, written by the caller only when :attr:`AlertBook.dirty` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.core.alert_state import AlertState, Phase, Timing, Transition, fingerprint, step
from pipeline.events import Alert, AlertStatus, Severity, ms_to_datetime


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What an alert is about: rule, severity and subject (a link, a rack, a power
    domain, or the site). ``shard``: set by a rule that judges a domain or the site on
    the share of it one shard holds (``priority_inversion``), so that each shard's
    judgement is an alert of its own, not one fingerprint stepped by several books.
    ``detail``: what else tells one alert of a rule from another about the same subject
    (a frequency band, a demand-response event); in the fingerprint, not a field."""

    rule: str
    severity: Severity
    link: str | None = None
    peer_site: str | None = None
    rack: str | None = None
    domain: str | None = None
    shard: str = ""
    detail: str = ""

    @property
    def subject(self) -> str:
        # A domain's subject is prefixed: a hall named like a rack is another alert.
        subject = self.link or self.rack or (f"domain:{self.domain}" if self.domain else "")
        if self.detail:
            subject = f"{subject}#{self.detail}"
        return f"{subject}@{self.shard}" if self.shard else subject


@dataclass(frozen=True, slots=True)
class Facts:
    """The numbers and words of an alert at the moment it fires or resolves."""

    value: float
    threshold: float
    summary: str
    forecast_at_ms: int | None = None


class AlertBook:
    """Alert states of one site, keyed by fingerprint."""

    def __init__(self, site: str, durable: dict[str, Any] | None = None) -> None:
        self.site = site
        self._states: dict[str, AlertState] = {
            fp: AlertState.from_durable(data) for fp, data in (durable or {}).items()
        }
        self._keys: dict[str, AlertKey] = {}
        # (rule, severity, subject) -> fingerprint of every state whose key is known (all
        # but durable states not evaluated since a restart). A quiet subject is looked up
        # here without hashing: a fingerprint per rack and link per tick filled the
        # fingerprint cache (~1 KiB per rack until its 65,536 entries were reached).
        self._index: dict[tuple[str, Severity, str], str] = {}
        self.dirty = False

    def holds(self, rule: str, severity: Severity, subject: str) -> bool:
        """True when this alert has a state (firing, pending, or a sequence to go on).

        A rule whose condition is not breached can skip :meth:`evaluate` for an alert
        that holds nothing: evaluating it would change nothing (the hot path of loss)."""
        return self._held(rule, severity, subject) is not None

    def _held(self, rule: str, severity: Severity, subject: str) -> str | None:
        """The fingerprint of this alert's state, or None when it has none."""
        if not self._states:  # a site without any alert state: no hashing at all
            return None
        fp = self._index.get((rule, severity, subject))
        if fp is not None or len(self._keys) == len(self._states):
            return fp  # every state is indexed: no entry, no state
        fp = fingerprint(rule, self.site, severity.value, subject)  # unindexed durable ones
        return fp if fp in self._states else None

    def evaluate(
        self,
        key: AlertKey,
        breached: bool,
        cleared: bool,
        now_ms: int,
        timing: Timing,
        facts: Callable[[], Facts],
    ) -> Alert | None:
        """Step one alert; returns the Alert event of a fire or resolve, else None.

        ``facts`` is called only on a transition, so the summary text costs nothing
        on the evaluations that change nothing.
        """
        subject = key.subject
        fp = self._held(key.rule, key.severity, subject)
        if fp is None:
            if not breached:
                return None  # the common case: nothing to remember for a quiet subject
            fp = fingerprint(key.rule, self.site, key.severity.value, subject)
            before = AlertState()
        else:
            before = self._states[fp]
        result = step(before, breached, cleared, now_ms, timing)
        self._remember(fp, key, result.state)
        if result.transition is None:
            return None
        self.dirty = True
        return self._event(fp, key, result.state, result.transition, now_ms, facts())

    def _remember(self, fp: str, key: AlertKey, state: AlertState) -> None:
        """Keep a state only while it says something: active, or a sequence to go on."""
        index = (key.rule, key.severity, key.subject)
        if state.phase is Phase.inactive and state.seq == 0:
            self._states.pop(fp, None)
            self._keys.pop(fp, None)
            self._index.pop(index, None)
        else:
            self._states[fp] = state
            self._keys[fp] = key
            self._index[index] = fp

    def _event(
        self,
        fp: str,
        key: AlertKey,
        state: AlertState,
        transition: Transition,
        now_ms: int,
        facts: Facts,
    ) -> Alert:
        resolved = transition is Transition.resolved
        return Alert(
            fingerprint=fp,
            rule=key.rule,
            severity=key.severity,
            status=AlertStatus.resolved if resolved else AlertStatus.firing,
            site=self.site,
            value=facts.value,
            threshold=facts.threshold,
            starts_at=ms_to_datetime(state.since_ms),
            ends_at=ms_to_datetime(now_ms) if resolved else None,
            summary=facts.summary,
            link=key.link,
            peer_site=key.peer_site,
            rack=key.rack,
            domain=key.domain,
            seq=state.seq,
            forecast_at=ms_to_datetime(facts.forecast_at_ms) if facts.forecast_at_ms else None,
        )

    def forget_subjects(self, subjects: set[str], now_ms: int, why: str) -> list[Alert]:
        """Resolve every active alert about a forgotten rack or link (nothing will ever
        evaluate it again), and drop the states of those subjects."""
        out = []
        for fp, key in list(self._keys.items()):
            if key.subject not in subjects:
                continue
            state = self._states.pop(fp)
            del self._keys[fp]
            del self._index[(key.rule, key.severity, key.subject)]
            if state.phase in (Phase.firing, Phase.resolving):
                done = AlertState(Phase.inactive, state.since_ms, seq=state.seq + 1)
                facts = Facts(0.0, 0.0, f"{key.subject} at {self.site}: {why}")
                out.append(self._event(fp, key, done, Transition.resolved, now_ms, facts))
                self.dirty = True
        return out

    def firing(self) -> list[str]:
        """Fingerprints currently firing (or resolving, still firing to the outside)."""
        return [
            fp
            for fp, state in self._states.items()
            if state.phase in (Phase.firing, Phase.resolving)
        ]

    def firing_rules(self) -> list[dict[str, str]]:
        """What is firing, by rule, severity and subject (for live views)."""
        out = []
        for fp in self.firing():
            key = self._keys.get(fp)
            if key is not None:
                entry = {"rule": key.rule, "severity": key.severity.value, "subject": key.subject}
                if key.domain:
                    entry["domain"] = key.domain
                out.append(entry)
        return out

    def firing_keys(self) -> list[AlertKey]:
        return [key for fp in self.firing() if (key := self._keys.get(fp)) is not None]

    def durable(self) -> dict[str, Any]:
        """Firing states and sequence numbers, for the changelog-backed table."""
        self.dirty = False
        return {
            fp: state.durable()
            for fp, state in self._states.items()
            if state.seq > 0 or state.phase in (Phase.firing, Phase.resolving)
        }
