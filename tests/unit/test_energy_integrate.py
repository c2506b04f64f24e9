"""The integrator against numpy truth: known energy, gaps as unknown, repeats and late
readings adding nothing, any order within a message, capped time from held reasons."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.energy.capping import CAPPED, HW_POWER_BRAKE_SLOWDOWN, SW_POWER_CAP
from pipeline.core.energy.integrate import Integrator

GAP_MS = 15_000


def feed(integ: Integrator, keys: list[str], ts: np.ndarray, watts: np.ndarray, **kw):  # type: ignore[no-untyped-def]
    return integ.step(integ.slots(keys), ts.astype(np.int64), watts.astype(float), GAP_MS, **kw)


def test_energy_of_a_smooth_load_is_its_integral_within_a_tenth_of_a_percent() -> None:
    t_s = np.arange(0, 3600, 5.0)  # a reading every 5 s for an hour
    power = lambda t: 500 + 200 * np.sin(2 * np.pi * t / 600) + 50 * np.cos(2 * np.pi * t / 97)  # noqa: E731
    fine = np.linspace(0, t_s[-1], 2_000_001)
    truth = float(np.sum((power(fine[1:]) + power(fine[:-1])) / 2 * np.diff(fine)))
    integ = Integrator()
    total = 0.0
    for chunk in np.array_split(np.arange(len(t_s)), 37):  # messages of uneven size
        steps = feed(integ, ["g"] * len(chunk), t_s[chunk] * 1000, power(t_s[chunk]))
        total += steps.energy_j.sum()
    assert total == pytest.approx(truth, rel=1e-3)


def test_a_gap_is_unknown_energy_at_the_last_known_power_never_known() -> None:
    integ = Integrator()
    ts = np.array([0, 10_000, 20_000, 80_000, 90_000])  # 60 s silent: over stale_after (15 s)
    watts = np.array([100.0, 100.0, 300.0, 500.0, 500.0])
    steps = feed(integ, ["g"] * 5, ts, watts)
    assert steps.interval_s.tolist() == [0, 10, 10, 0, 10]
    assert steps.energy_j.tolist() == [0, 1000, 2000, 0, 5000]
    assert steps.gap_s.tolist() == [0, 0, 0, 60, 0]
    assert steps.unknown_j.tolist() == [0, 0, 0, 300 * 60, 0]


def test_repeated_and_late_readings_add_nothing_and_keep_the_state() -> None:
    integ = Integrator()
    feed(integ, ["a", "b"], np.array([0, 0]), np.array([100.0, 200.0]))
    first = feed(integ, ["a", "b"], np.array([1000, 1000]), np.array([100.0, 200.0]))
    again = feed(integ, ["a", "b", "a"], np.array([1000, 1000, 500]), np.array([9e3, 9e3, 9e3]))
    assert first.energy_j.tolist() == [100.0, 200.0]
    assert again.energy_j.tolist() == [0, 0, 0] and again.gap_s.tolist() == [0, 0, 0]
    after = feed(integ, ["a"], np.array([2000]), np.array([100.0]))
    assert after.energy_j.tolist() == [100.0]  # from the kept state (1000 ms, 100 W)


def test_readings_of_many_entities_in_any_order_give_each_its_own_series() -> None:
    rng = np.random.default_rng(3)
    keys = [f"g{i}" for i in range(50)]
    ts = np.repeat(np.arange(0, 100_000, 2000), len(keys))
    names = keys * (len(ts) // len(keys))
    watts = rng.uniform(50, 700, len(ts))
    order = rng.permutation(len(ts))
    integ = Integrator()
    got = feed(integ, [names[i] for i in order], ts[order], watts[order])
    for k in (0, 17, 49):
        mine = np.flatnonzero(np.array(names) == keys[k])
        w = watts[mine]
        truth = np.sum((w[1:] + w[:-1]) / 2 * 2.0)
        assert got.energy_j[np.argsort(order)][mine].sum() == pytest.approx(truth)


def test_capped_time_is_the_interval_after_a_capped_reading() -> None:
    integ = Integrator()
    reasons = np.array([0, SW_POWER_CAP, SW_POWER_CAP, HW_POWER_BRAKE_SLOWDOWN, 0, 0x20])
    ts = np.arange(6) * 1000
    steps = feed(integ, ["g"] * 6, ts, np.full(6, 100.0), reasons=reasons.astype(np.uint32))
    held = steps.held_reasons
    capped_s = float(steps.interval_s[(held & CAPPED) != 0].sum())
    assert held.tolist() == [0, 0, SW_POWER_CAP, SW_POWER_CAP, HW_POWER_BRAKE_SLOWDOWN, 0]
    assert capped_s == 3.0  # 1-2, 2-3 power cap, 3-4 brake; 0x20 (thermal) is not a power reason


def test_forgetting_keeps_the_live_state_and_frees_slots() -> None:
    integ = Integrator(tags=1)
    feed(
        integ, ["old", "new"], np.array([0, 50_000]), np.array([1.0, 2.0]), tags=(np.array([7, 9]),)
    )
    assert integ.forget_older_than(10_000) == 1 and len(integ) == 1
    ts, _, tags = integ.view()
    assert ts.tolist() == [50_000] and tags[0].tolist() == [9]
    steps = feed(integ, ["new"], np.array([51_000]), np.array([2.0]))
    assert steps.energy_j.tolist() == [2.0]


def test_state_grows_past_its_first_capacity() -> None:
    integ = Integrator(tags=2, capacity=4)
    keys = [f"k{i}" for i in range(1000)]
    feed(integ, keys, np.zeros(1000), np.ones(1000))
    steps = feed(integ, keys, np.full(1000, 1000), np.ones(1000))
    assert steps.energy_j.sum() == 1000.0 and len(integ) == 1000


def test_pairs_keep_one_slot_per_host_and_gpu_in_any_order() -> None:
    integ = Integrator(tags=1)
    hosts = ["h1", "h1", "h2", "h1", "h2", "h2"]
    gpus = ["0", "1", "0", "2", "1", "0"]  # h2/0 twice: one slot
    slots = integ.pair_slots(hosts, gpus)
    assert slots.tolist() == [0, 1, 2, 3, 4, 2] and len(integ) == 5
    assert integ.pair_slots(["h2", "h1"], ["1", "1"]).tolist() == [4, 1]
    ts = np.array([0, 0, 0, 50_000, 0, 0])
    integ.step(slots, ts, np.ones(6), GAP_MS, tags=(np.arange(6, dtype=np.int32),))
    assert integ.forget_older_than(10_000) == 4 and len(integ) == 1  # h1/2 stays
    assert integ.pair_slots(["h1", "h9"], ["2", "0"]).tolist() == [0, 1]
    steps = integ.step(np.array([0]), np.array([51_000]), np.array([3.0]), GAP_MS)
    assert steps.energy_j.tolist() == [2.0]  # (1 + 3) / 2 x 1 s: h1/2's state was kept


def test_pair_slots_mix_known_and_new_pairs_and_match_a_plain_dict() -> None:
    # The C-level lookups and the slow path for new pairs together: a known host with a
    # new GPU, a new host, a pair new in this batch and repeated in it, in random order;
    # every pair's slot is the one a dict of (host, gpu) -> first-seen index gives.
    rng = np.random.default_rng(7)
    integ, expected = Integrator(), {}
    for _ in range(5):
        hosts = [f"h{h}" for h in rng.integers(0, 40, 300)]
        gpus = [str(g) for g in rng.integers(0, 8, 300)]
        slots = integ.pair_slots(hosts, gpus).tolist()
        for host, gpu, slot in zip(hosts, gpus, slots, strict=True):
            assert expected.setdefault((host, gpu), len(expected)) == slot
    assert len(integ) == len(expected)
