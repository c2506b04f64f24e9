"""The alert state machine: for, hysteresis, one event per transition, durable state."""

from __future__ import annotations

import pytest

from pipeline.core.alert_state import AlertState, Phase, Timing, Transition, fingerprint, step

T = Timing(for_ms=5_000, resolve_for_ms=3_000)


def run(cond: list[tuple[int, bool, bool]], timing: Timing = T, state: AlertState | None = None):
    """Feed (now, breached, cleared) and collect (now, transition, seq)."""
    state = state or AlertState()
    events = []
    for now, breached, cleared in cond:
        result = step(state, breached, cleared, now, timing)
        state = result.state
        if result.transition:
            events.append((now, result.transition, state.seq))
    return state, events


def test_fires_only_after_for_duration() -> None:
    state, events = run(
        [(0, True, False), (4_999, True, False), (5_000, True, False), (6_000, True, False)]
    )
    assert events == [(5_000, Transition.fired, 1)]
    assert state.phase is Phase.firing and state.since_ms == 0


def test_pending_resets_when_condition_drops() -> None:
    _, events = run(
        [
            (0, True, False),
            (3_000, False, False),
            (4_000, True, False),
            (8_999, True, False),
            (9_000, True, False),
        ]
    )
    assert events == [(9_000, Transition.fired, 1)]


def test_hysteresis_band_keeps_firing_and_resolve_needs_hold() -> None:
    _, events = run(
        [
            (0, True, False),
            (5_000, True, False),  # fires
            (6_000, False, False),  # in the band: still firing
            (7_000, False, True),
            (9_000, False, True),  # cleared, but held only 2 s
            (9_500, False, False),  # back in the band: resolve aborted
            (10_000, False, True),
            (12_999, False, True),
            (13_000, False, True),
            (14_000, False, True),
        ]
    )
    assert events == [(5_000, Transition.fired, 1), (13_000, Transition.resolved, 2)]


def test_zero_durations_fire_and_resolve_at_once() -> None:
    _, events = run([(0, True, False), (1, False, True)], Timing(0, 0))
    assert events == [(0, Transition.fired, 1), (1, Transition.resolved, 2)]


def test_sequence_continues_across_episodes() -> None:
    _, events = run(
        [(0, True, False), (1, False, True), (2, True, False), (3, False, True)], Timing(0, 0)
    )
    assert [seq for _, _, seq in events] == [1, 2, 3, 4]


def test_durable_state_round_trip_does_not_refire() -> None:
    firing, _ = run([(0, True, False), (5_000, True, False)])
    restored = AlertState.from_durable(firing.durable())
    _, events = run([(6_000, True, False), (60_000, True, False)], state=restored)
    assert events == []  # still firing after the restart: no new firing event
    _, events = run([(61_000, False, True), (64_000, False, True)], state=restored)
    assert events == [(64_000, Transition.resolved, 2)]


def test_resolving_is_persisted_as_firing() -> None:
    state, _ = run([(0, True, False), (5_000, True, False), (6_000, False, True)])
    assert state.phase is Phase.resolving
    assert AlertState.from_durable(state.durable()).phase is Phase.firing


def test_pending_is_not_durable() -> None:
    state, _ = run([(0, True, False)])
    assert state.phase is Phase.pending
    assert state.durable()["phase"] == "inactive"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            ("cap_critical", "atl-2", "critical", ""),
            ("cap_critical", "atl-2", "critical", ""),
            True,
        ),
        (("cap_critical", "atl-2", "critical", ""), ("cap_warning", "atl-2", "warning", ""), False),
        (
            ("link_loss_wan", "atl-2", "critical", "l1"),
            ("link_loss_wan", "atl-2", "critical", "l2"),
            False,
        ),
        (
            ("cap_critical", "atl-2", "critical", ""),
            ("cap_critical", "atl-3", "critical", ""),
            False,
        ),
    ],
)
def test_fingerprint_is_stable_and_distinct(a: tuple, b: tuple, same: bool) -> None:
    fa, fb = fingerprint(*a), fingerprint(*b)
    assert len(fa) == 16 and int(fa, 16) >= 0
    assert (fa == fb) is same
