"""Scenario effects, judged with the worker's own core logic where there is one."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest
from test_sim import START_MS, decode_all, messages

from pipeline.core.links import LinkState
from pipeline.errors import ConfigError
from pipeline.sources.base import TOPICS
from pipeline.sources.sim.fleet_gen import generate_fleet
from pipeline.sources.sim.scenarios import SCENARIOS, Window, plan_scenarios
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource


def site_power_by_tick(ticks, site: str) -> list[float]:
    """What a worker sums for the site from the rack readings of each tick."""
    out = []
    for tick in ticks:
        events = [
            e
            for m in tick
            if m.topic == TOPICS["rack_power"] and m.key == site.encode()
            for e in orjson.loads(m.value)["events"]
        ]
        out.append(sum(e["power_w"] for e in events))
    return out


def test_cap_breach_goes_over_the_cap_within_a_minute_and_comes_back():
    fleet = generate_fleet(2)
    plan = plan_scenarios(fleet, ["cap-breach"])
    site = plan.breach_site
    assert site == "train-dfw-1"
    cap_w = fleet.spec(site).cap_mw * 1e6
    ticks = messages(fleet.only([site]), 230, scenarios=["cap-breach"])
    power = site_power_by_tick(ticks, site)
    assert max(power[:10]) < cap_w  # steady before the scenario starts
    over = [t for t, w in enumerate(power) if w > cap_w]
    assert over and over[0] <= 60
    assert min(power[over[0] : 180]) > cap_w  # stays over while held
    assert max(power[215:]) < cap_w  # and returns


def test_wan_loss_link_exceeds_1e_4_within_30_s_others_stay_clean():
    fleet = generate_fleet(4)
    plan = plan_scenarios(fleet, ["wan-loss"])
    site, peer = plan.wan_link
    ticks = messages(fleet.only([site]), 40, scenarios=["wan-loss"])
    states: dict[str, LinkState] = defaultdict(lambda: LinkState(window_ms=10_000))
    loss_at: dict[str, list] = defaultdict(list)
    for tick in ticks:
        for m in tick:
            if m.topic != TOPICS["link"]:
                continue
            for e in orjson.loads(m.value)["events"]:
                states[e["link"]].observe(
                    e["ts"], e["tx_packets"], e["rx_packets"], e["dropped_packets"]
                )
                loss_at[e["link"]].append(states[e["link"]].loss() or 0.0)
    target = f"wan-{peer}"
    assert max(loss_at[target][:10]) < 1e-5
    assert loss_at[target][30] > 1e-4
    others = [max(v) for link, v in loss_at.items() if link != target and link.startswith("wan-")]
    assert others and max(others) < 1e-4


def test_stale_racks_go_silent_then_return():
    fleet = generate_fleet(5).only(["inf-iad-1", "inf-sin-1"])
    plan = plan_scenarios(fleet, ["stale-racks"])
    silent = {(s.site, f"r{s.rack_index + 1:03d}") for s in plan.silences}
    assert len(silent) == 3
    ticks = messages(fleet, 205, scenarios=["stale-racks"])
    reporting = []
    for tick in ticks:
        racks = set()
        for m in tick:
            if m.topic in (TOPICS["rack_power"], TOPICS["gpu"]):
                racks |= {(e["site"], e["rack"]) for e in orjson.loads(m.value)["events"]}
        reporting.append(racks)
    assert silent <= reporting[19]
    assert not silent & reporting[20] and not silent & reporting[199]
    assert silent <= reporting[200]


def test_chaos_resets_counters_and_sends_only_countable_bad_events():
    fleet = generate_fleet(3).only(["inf-iad-1"])
    sim = FleetSimulator.from_names(fleet, ["chaos"], SimOptions(seed=5, start_ms=START_MS))
    source = SimSource(sim)
    ticks = [source.tick_messages()[1] for _ in range(400)]
    events, rejects, expected = decode_all(ticks)
    assert expected > 20 and rejects == expected
    injected = sim.sites[0].chaos.injected
    assert all(count > 0 for count in injected.values()), injected
    states: dict[str, LinkState] = {}
    for e in events[TOPICS["link"]]:
        state = states.setdefault(e.link, LinkState(window_ms=60_000))
        state.observe(e.ts, e.tx_packets, e.rx_packets, e.dropped_packets)
    assert sum(state.resets for state in states.values()) == sim.sites[0].links.resets > 0
    assert max(state.loss() or 0.0 for state in states.values()) < 0.01  # resets are no loss


def test_steady_is_quiet_and_counters_mostly_lose_nothing():
    fleet = generate_fleet(3).only(["inf-iad-1"])
    ticks = messages(fleet, 60)
    events, rejects, expected = decode_all(ticks)
    assert rejects == expected == 0
    first, last = {}, {}
    for e in events[TOPICS["link"]]:
        first.setdefault(e.link, e)
        last[e.link] = e
    lossless = [k for k in last if last[k].dropped_packets == first[k].dropped_packets]
    assert len(lossless) >= 0.8 * len(last)


def test_scenario_names_are_checked_and_listed_in_the_help():
    from pipeline.cli.agent_cmd import EPILOG
    from pipeline.sources.registry import SCENARIO_NAMES

    assert tuple(SCENARIOS) == SCENARIO_NAMES
    assert all(name in EPILOG for name in SCENARIOS)
    with pytest.raises(ConfigError, match="unknown scenario 'melt'"):
        plan_scenarios(generate_fleet(2), ["melt"])
    with pytest.raises(ConfigError, match="--wan-link"):
        plan_scenarios(generate_fleet(2), ["wan-loss"], wan_link="nope:nope")


def test_window_ramps_holds_and_ends():
    w = Window(10, 30, 150)
    assert [w.level(t) for t in (9.9, 10, 25, 40, 100, 189.9, 190)] == [0, 0, 0.5, 1, 1, 1, 0]


def test_effects_can_start_earlier_or_later():
    fleet = generate_fleet(12)
    early = plan_scenarios(fleet, ["chaos"], effects_at_s=0)
    assert early.breach_level(early.breach_site, 10.0) == 0.5
    assert early.wan_loss(*early.wan_link, 5.0) == early.wan_ratio
    assert {s.start_s for s in early.silences} == {10.0}
    late = plan_scenarios(fleet, ["cap-breach"], effects_at_s=60)
    assert late.breach_level(late.breach_site, 59.0) == 0 and "+60 s" in late.notes[0]
    with pytest.raises(ConfigError, match="--effects-at"):
        plan_scenarios(fleet, ["steady"], effects_at_s=-1)


def test_wave_scenarios_are_the_registrys_and_do_what_they_say() -> None:
    import dataclasses

    import numpy as np

    from pipeline.sources.registry import WAVE_SCENARIO_NAMES
    from pipeline.sources.sim.scenarios import WAVE_SCENARIOS, wave_site_specs
    from pipeline.sources.sim.wave_site import SiteWaves

    assert tuple(WAVE_SCENARIOS) == WAVE_SCENARIO_NAMES
    drop, dr = (
        wave_site_specs([name], ["s1"], racks=10, effects_at_s=20.0)[0]
        for name in ("load-drop", "demand-response")
    )
    t = np.array([19.9, 20.0, 139.9, 140.0])  # the trip lasts 120 s from +20 s
    racks = SiteWaves(drop).power(t, noise=False)
    plain = SiteWaves(dataclasses.replace(drop, trip=None)).power(t, noise=False)
    assert (racks[:4, 1:3] == 0).all()  # 40 % of the racks off the grid
    np.testing.assert_array_equal(racks[4:], plain[4:])
    np.testing.assert_array_equal(racks[:, [0, 3]], plain[:, [0, 3]])  # and back after
    t = np.array([19.0, 60.0])
    cut = SiteWaves(dr).power(t, noise=False)
    plain = SiteWaves(dataclasses.replace(dr, curtailment=None)).power(t, noise=False)
    assert cut[:, 0] == pytest.approx(plain[:, 0])
    assert cut[:, 1] == pytest.approx(0.7 * plain[:, 1])  # 30 % off once ramped down
    with pytest.raises(ConfigError, match="unknown wave scenario 'x'"):
        wave_site_specs(["x"], ["s1"], racks=1)
