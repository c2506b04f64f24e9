"""The alert state machine: pending (``for``), firing, resolving (hysteresis), resolved.

One alert is identified by its fingerprint (rule + subject + severity). Each evaluation
says whether the condition is *breached* (value at or over the threshold) and whether it
is *cleared* (value under the threshold minus the hysteresis margin, or no value).
Between the two, a firing alert stays firing: this band is what stops an alert from
flapping when power hovers at the cap.

::

    inactive --breached--> pending --held `for`--> FIRING (emit, seq+1)
    pending  --not breached--> inactive
    firing   --cleared--> resolving --held `resolve_for`--> RESOLVED (emit, seq+1)
    resolving --not cleared--> firing (no event)

An episode is exactly one firing and one resolved event. ``seq`` keeps counting across
episodes of the same fingerprint, so ``fingerprint:seq`` is a unique idempotency key.
Only firing states and the sequence need to survive a restart; the caller persists
:meth:`AlertState.durable` whenever :func:`step` reports a transition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any


class Phase(StrEnum):
    inactive = "inactive"
    pending = "pending"
    firing = "firing"
    resolving = "resolving"


class Transition(StrEnum):
    fired = "fired"
    resolved = "resolved"


@dataclass(frozen=True, slots=True)
class Timing:
    for_ms: int
    resolve_for_ms: int


@dataclass(frozen=True, slots=True)
class AlertState:
    phase: Phase = Phase.inactive
    since_ms: int = 0  # pending/firing: when the condition began (the alert's starts_at)
    clear_since_ms: int = 0  # resolving: when the value went under the margin
    seq: int = 0

    def durable(self) -> dict[str, Any]:
        """What survives a restart; pending is soft (a restart warms up anyway)."""
        # resolving is stored as firing: after a restart a resolve must be earned again.
        active = self.phase in (Phase.firing, Phase.resolving)
        phase = Phase.firing if active else Phase.inactive
        return {"phase": phase.value, "since_ms": self.since_ms, "seq": self.seq}

    @classmethod
    def from_durable(cls, data: dict[str, Any]) -> AlertState:
        phase = Phase(data.get("phase", "inactive"))
        return cls(phase=phase, since_ms=int(data.get("since_ms", 0)), seq=int(data.get("seq", 0)))


@dataclass(frozen=True, slots=True)
class Step:
    state: AlertState
    transition: Transition | None = None


def step(state: AlertState, breached: bool, cleared: bool, now_ms: int, timing: Timing) -> Step:
    """Advance one alert by one evaluation at ``now_ms``."""
    if state.phase is Phase.inactive:
        if not breached:
            return Step(state)
        state = replace(state, phase=Phase.pending, since_ms=now_ms)
    if state.phase is Phase.pending:
        if not breached:
            return Step(replace(state, phase=Phase.inactive))
        if now_ms - state.since_ms < timing.for_ms:
            return Step(state)
        return Step(replace(state, phase=Phase.firing, seq=state.seq + 1), Transition.fired)
    if not cleared:
        return Step(replace(state, phase=Phase.firing))
    if state.phase is Phase.firing:
        state = replace(state, phase=Phase.resolving, clear_since_ms=now_ms)
    if now_ms - state.clear_since_ms < timing.resolve_for_ms:
        return Step(state)
    done = AlertState(phase=Phase.inactive, since_ms=state.since_ms, seq=state.seq + 1)
    return Step(done, Transition.resolved)


@lru_cache(maxsize=65_536)
def fingerprint(rule: str, site: str, severity: str, subject: str = "") -> str:
    """Stable 16-hex id of an alert: same rule, site, subject and severity, same id.

    Cached: every evaluation of every link and rack asks for it."""
    digest = hashlib.sha256(f"{rule}\x1f{site}\x1f{subject}\x1f{severity}".encode())
    return digest.hexdigest()[:16]
