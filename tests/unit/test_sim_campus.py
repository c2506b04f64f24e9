"""A site spread over halls: the 1 GW campus fleet, keyed by hall, at a fraction of its
size; and ``megawatch agent --shard`` keying any source's messages by shard."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from pipeline.core.decode import MessageDecoder
from pipeline.events import GpuSample, LinkCounters, RackPower
from pipeline.sites import load_specs
from pipeline.sources.base import OutMessage, ShardedSource, Tick
from pipeline.sources.registry import SOURCE_KINDS
from pipeline.sources.sim.fleet import load_fleet
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions, SimSource

CAMPUS = Path(__file__).resolve().parents[2] / "examples" / "campus-1gw.yaml"
MODELS = {
    "telemetry.rack_power": RackPower,
    "telemetry.gpu": GpuSample,
    "telemetry.link": LinkCounters,
}


def test_the_campus_has_real_proportions() -> None:
    fleet = load_fleet(CAMPUS)
    [spec] = load_specs(CAMPUS)
    sim = fleet.simulation["campus-1gw"]
    gpus = sum(p.nodes * p.gpus_per_node for p in sim.platforms())
    assert (sim.rack_count, gpus, sim.halls) == (7600, 547_200, 8)
    assert (spec.cap_mw, spec.shards_expected, spec.racks_expected) == (1000, 8, 7600)
    assert 0.9e9 < sim.max_w() <= spec.cap_mw * 1e6  # ~950 MW of racks under 1 GW


def test_a_fraction_of_the_campus_keeps_its_proportions() -> None:
    small = load_fleet(CAMPUS).scaled(0.05)
    spec, sim = small.sites[0], small.simulation["campus-1gw"]
    assert (sim.rack_count, sim.halls, spec.cap_mw, spec.racks_expected) == (380, 8, 50.0, 380)
    domains = {d.name: d for d in spec.domains or ()}
    assert domains["feed-a"].cap_mw == 25.0 and domains["hall-03"].cap_mw == 6.25
    assert domains["hall-03"].racks_expected == 48


def test_the_campus_is_keyed_by_hall_and_every_reading_is_of_its_site() -> None:
    small = load_fleet(CAMPUS).scaled(0.05)
    source = SimSource(FleetSimulator.from_names(small, ["steady"], SimOptions(seed=3)))
    _, messages = source.tick_messages()
    keys = Counter(m.key.decode() for m in messages)
    assert set(keys) == {f"campus-1gw/hall-{h:02d}" for h in range(1, 9)}
    racks_of: dict[str, set[str]] = {}
    readings = 0
    for m in messages:
        decoded = MessageDecoder(MODELS[m.topic]).decode(m.value, m.key, _now(m))
        assert decoded.rejects == []  # the key's site is the events' site
        readings += len(decoded.events)
        hall = m.key.decode().split("/")[1]
        if m.topic != "telemetry.link":
            racks_of.setdefault(hall, set()).update(e.rack for e in decoded.events)
    for hall, racks in racks_of.items():  # a hall's messages carry its racks only
        assert all(rack.startswith(f"h{hall[-2:]}-") for rack in racks), hall
    assert sum(len(r) for r in racks_of.values()) == 380 and readings > 380 * 72


def _now(message: OutMessage) -> datetime:
    """The decoder's clock: the readings' own time."""
    ts = orjson.loads(message.value)["events"][0]["ts"]
    return datetime.fromtimestamp(ts / 1000, UTC)


class Fixed:
    def describe(self) -> str:
        return "fixed"

    def ticks(self) -> Iterator[Tick]:
        yield Tick(
            0.0,
            [
                OutMessage("telemetry.rack_power", b"atl-2", b"{}"),
                OutMessage("telemetry.rack_power", b"atl-2/hall-9", b"{}"),
                OutMessage("telemetry.rack_power", b"", b"{}"),
            ],
        )


def test_shard_keys_every_site_message_of_a_source() -> None:
    source = ShardedSource(Fixed(), "row-4")
    [tick] = list(source.ticks())
    assert [m.key for m in tick.messages] == [b"atl-2/row-4", b"atl-2/hall-9", b""]
    assert source.describe() == "fixed; keyed by shard row-4"


def test_every_source_kind_takes_a_shard_and_refuses_a_bad_one() -> None:
    for kind in SOURCE_KINDS.values():
        assert "--shard" in {p.flag for p in kind.all_params}
    shard = next(p for p in SOURCE_KINDS["sim"].all_params if p.flag == "--shard")
    assert shard.parse is not None and shard.parse("hall-2") == "hall-2"
    with pytest.raises(ValueError, match="not a shard"):
        shard.parse("hall/2")


def test_rows_of_halls_are_shards_of_their_own() -> None:
    small = load_fleet(CAMPUS).scaled(0.05)
    sim = small.simulation["campus-1gw"].model_copy(update={"rows_per_hall": 4})
    fleet = small.model_copy(update={"simulation": {"campus-1gw": sim}})
    source = SimSource(FleetSimulator.from_names(fleet, ["steady"], SimOptions(seed=3)))
    _, messages = source.tick_messages()
    shards = {m.key.decode().split("/")[1] for m in messages if m.topic == "telemetry.rack_power"}
    assert len(shards) == 32 and "hall-08.row-4" in shards
    racks = [
        e["rack"]
        for m in messages
        if m.key == b"campus-1gw/hall-03.row-2" and m.topic == "telemetry.rack_power"
        for e in orjson.loads(m.value)["events"]
    ]
    assert racks and all(r.startswith("h03-") for r in racks)  # a row of hall 3
