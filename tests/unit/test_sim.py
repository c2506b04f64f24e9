"""The simulator: determinism, validity against the contract, physical consistency."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from pipeline.core.decode import Limits, MessageDecoder
from pipeline.events import GpuSample, LinkCounters, RackPower
from pipeline.sources.base import TOPICS, encode_batches
from pipeline.sources.sim.fleet_gen import generate_fleet
from pipeline.sources.sim.hardware import PLATFORMS
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource
from pipeline.sources.sim.site_model import daily_demand

START_MS = 1_785_168_000_000  # 2026-07-27 16:00 UTC
MODELS = {TOPICS["rack_power"]: RackPower, TOPICS["gpu"]: GpuSample, TOPICS["link"]: LinkCounters}


def small_fleet(n: int = 4):
    """The built-in fleet without its two big sites (fast to simulate)."""
    fleet = generate_fleet(n + 2)
    return fleet.only([s.site for s in fleet.sites[2:]])


def messages(fleet, ticks: int, scenarios=("steady",), **options):
    options = {"seed": 1, "start_ms": START_MS, **options}
    source = SimSource(FleetSimulator.from_names(fleet, scenarios, SimOptions(**options)))
    return [source.tick_messages()[1] for _ in range(ticks)]


def decode_all(ticks):
    """Every message through the worker's decoder: (events per topic, rejects, expected)."""
    decoders = {topic: MessageDecoder(model, Limits()) for topic, model in MODELS.items()}
    now = datetime.fromtimestamp(START_MS / 1000 + len(ticks), UTC)
    events, rejects, expected = defaultdict(list), 0, 0
    for tick in ticks:
        for m in tick:
            decoded = decoders[m.topic].decode(m.value, m.key, now)
            events[m.topic] += decoded.events
            rejects += len(decoded.rejects)
            expected += m.expected_rejects
    return events, rejects, expected


def test_same_seed_same_bytes_other_seed_other_bytes():
    fleet = small_fleet(3)
    first = messages(fleet, 5)
    assert messages(fleet, 5) == first
    assert messages(fleet, 5, seed=2) != first


def test_a_site_reports_the_same_alone_or_within_its_fleet():
    fleet = small_fleet(3)
    site = fleet.sites[1].site
    alone = messages(fleet.only([site]), 4)
    within = messages(fleet, 4)
    assert alone == [[m for m in tick if m.key == site.encode()] for tick in within]


def test_every_event_is_valid_and_keyed_by_its_site():
    ticks = messages(small_fleet(4), 6)
    events, rejects, expected = decode_all(ticks)
    assert rejects == expected == 0
    sent = sum(len(orjson.loads(m.value)["events"]) for tick in ticks for m in tick)
    assert sum(len(v) for v in events.values()) == sent
    for tick in ticks:
        for m in tick:
            assert {e["site"] for e in orjson.loads(m.value)["events"]} == {m.key.decode()}


def test_one_message_per_site_kind_and_tick_unless_split():
    fleet = small_fleet(3)
    tick = messages(fleet, 1)[0]
    assert Counter((m.topic, m.key) for m in tick) == Counter(
        {(topic, s.site.encode()): 1 for topic in TOPICS.values() for s in fleet.sites}
    )
    split = messages(fleet, 1, gpu_every=1)[0]
    small = SimSource(
        FleetSimulator.from_names(fleet, options=SimOptions(1, start_ms=START_MS)), 50
    )
    assert len(small.tick_messages()[1]) > len(split)


def test_rack_power_is_its_gpus_plus_host_and_fixed_load():
    fleet = small_fleet(4)
    ticks = messages(fleet, 3)
    events, _, _ = decode_all(ticks)
    gpu_w: dict[tuple, float] = defaultdict(float)
    for g in events[TOPICS["gpu"]]:
        gpu_w[(g.site, g.rack, g.ts)] += g.power_w
    checked = 0
    for r in events[TOPICS["rack_power"]]:
        platform = fleet.simulation[r.site].platforms()[int(r.rack[1:]) - 1]  # ids r001..
        rest = r.power_w - gpu_w[(r.site, r.rack, r.ts)]
        low = platform.nodes * platform.host_idle_w * 0.95 + platform.rack_fixed_w
        high = platform.nodes * platform.host_busy_w * 1.05 + platform.rack_fixed_w
        assert low <= rest <= high, (r.site, r.rack, rest)
        checked += 1
    assert checked > 20


def test_racks_draw_40_to_130_kw_busy_and_the_first_site_is_5_mw():
    fleet = generate_fleet(12)
    first = fleet.sites[0]
    assert first.cap_mw == 5.0 and 40 <= fleet.simulation[first.site].rack_count <= 50
    for platform in PLATFORMS.values():
        assert 40_000 <= platform.max_w() <= 130_000, platform.name
    assert fleet.simulation[fleet.sites[1].site].profile == "training"


def test_vendors_differ_and_gpus_stay_within_board_power():
    fleet = generate_fleet(12)
    fleet = fleet.only([s.site for s in fleet.sites if fleet.simulation[s.site].rack_count <= 28])
    events, _, _ = decode_all(messages(fleet, 3, gpu_every=4))
    by_vendor = defaultdict(list)
    for g in events[TOPICS["gpu"]]:
        assert 0 < g.power_w <= 1.1 * g.power_limit_w
        assert g.model and g.mem_used_pct is not None and g.temp_c is not None
        by_vendor[g.vendor].append(g.power_w / g.power_limit_w)
    assert set(by_vendor) == {"nvidia", "amd", "intel"}
    means = sorted(float(np.mean(v)) for v in by_vendor.values())
    assert means[-1] - means[0] > 0.02


def test_training_jobs_swing_many_racks_together():
    fleet = generate_fleet(4).only(["train-ams-1"])  # 24 MI300X racks, two jobs
    sim = FleetSimulator.from_names(fleet, options=SimOptions(seed=3, start_ms=START_MS))
    racks = []
    for _ in range(300):
        sim.step()
        racks.append(sim.sites[0].power.rack_w.copy())
    racks = np.array(racks)
    job = sim.sites[0].power.layout.rack_job
    first = racks[:, job == 0]
    site = racks.sum(axis=1)
    assert (site.max() - site.min()) / site.max() > 0.2  # checkpoints dip the whole site
    corr = np.corrcoef(first.T)
    assert np.nanmin(corr) > 0.8  # racks of one job move together


def test_inference_follows_a_daily_shape():
    assert daily_demand(4) < 0.2 < 0.8 < daily_demand(19)
    fleet = generate_fleet(3).only(["inf-iad-1"])  # UTC-5
    night = messages(fleet, 1, start_ms=START_MS - 7 * 3600_000)  # 04:00 local
    evening = messages(fleet, 1, start_ms=START_MS + 8 * 3600_000)  # 19:00 local

    def site_w(ticks):
        racks = [m for m in ticks[0] if m.topic == TOPICS["rack_power"]]
        return sum(e["power_w"] for m in racks for e in orjson.loads(m.value)["events"])

    assert site_w(evening) > 1.3 * site_w(night)


def test_gpu_every_polls_each_host_once_per_n_ticks():
    fleet = small_fleet(2)
    events, _, _ = decode_all(messages(fleet, 8, gpu_every=4))
    per_host = Counter((g.site, g.host, g.gpu) for g in events[TOPICS["gpu"]])
    assert set(per_host.values()) == {2}


def test_encode_batches_splits_by_count_and_bytes():
    events = [{"site": "s", "rack": f"r{i}", "ts": 1, "power_w": 1.0} for i in range(10)]
    assert [
        len(orjson.loads(m.value)["events"]) for m in encode_batches("rack_power", "s", events, 4)
    ] == [4, 4, 2]
    tiny = encode_batches("rack_power", "s", events, 100, max_bytes=200)
    assert all(len(m.value) + 1 <= 200 for m in tiny) and len(tiny) > 2
    assert sum(len(orjson.loads(m.value)["events"]) for m in tiny) == 10
    with pytest.raises(ValueError):
        encode_batches("rack_power", "s", events, 0)


def test_the_built_in_12_site_fleet_is_valid_every_tick():
    fleet = generate_fleet(12)
    ticks = messages(fleet, 2, scenarios=("cap-breach", "wan-loss", "stale-racks"))
    events, rejects, expected = decode_all(ticks)
    assert rejects == expected == 0
    assert {e.site for e in events[TOPICS["rack_power"]]} == {s.site for s in fleet.sites}
    assert len(events[TOPICS["gpu"]]) > 2 * 15_000  # every GPU of every site, twice
