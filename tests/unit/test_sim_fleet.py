"""Fleet files: the shipped example, site specs for `sites apply`, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.sites import load_specs
from pipeline.sources.sim.fleet import load_fleet
from pipeline.sources.sim.fleet_gen import generate_fleet, single_site_fleet
from pipeline.sources.sim.scenarios import plan_scenarios

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet.yaml"


def test_the_example_fleet_loads_and_its_specs_are_site_specs():
    fleet = load_fleet(EXAMPLE)
    assert [s.site for s in fleet.site_specs()] == [s.site for s in load_specs(EXAMPLE)]
    assert load_specs(EXAMPLE) == fleet.site_specs()
    assert fleet.peers("train-dfw-1") == ["train-ams-1", "inf-fra-1", "inf-iad-1"]
    plan = plan_scenarios(fleet, ["cap-breach"])
    site = plan.breach_site
    assert fleet.simulation[site].max_w() > 1.05 * fleet.spec(site).cap_mw * 1e6


def test_generated_fleets_round_trip_through_yaml(tmp_path: Path):
    fleet = generate_fleet(12)
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet.to_yaml())
    assert load_fleet(path) == fleet
    assert len(load_specs(path)) == 12
    regions = {s.region for s in fleet.sites}
    assert len(regions) == 12 and len(fleet.wan) >= 12
    assert {s.site for s in generate_fleet(14).sites} >= {"inf-fra-2", "train-dfw-2"}


def test_a_restricted_fleet_keeps_its_wan_links_and_still_loads(tmp_path: Path):
    part = generate_fleet(12).only(["inf-iad-1"])
    assert part.peers("inf-iad-1") == ["train-dfw-1"]
    path = tmp_path / "part.yaml"
    path.write_text(part.to_yaml())
    assert load_fleet(path) == part
    with pytest.raises(ConfigError, match="--site nope: not in the fleet"):
        generate_fleet(2).only(["nope"])


def test_single_site_fleets():
    assert single_site_fleet("edge-1").simulation["edge-1"].profile == "inference"
    assert single_site_fleet("camp-1", "training").spec("camp-1").cap_mw == 4.8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sites: [{site: a, cap_mw: 1}]\nsimulation: {}\n",
            "site 'a' has no entry under simulation",
        ),
        (
            "sites: [{site: a, cap_mw: 1}]\nsimulation: {a: {profile: inference, racks: {TPU: 2}}}\n",
            "unknown platform 'TPU'",
        ),
        ("sites: [{site: a, cap_mw: -1}]\nsimulation: {}\n", "cap_mw"),
        (
            "sites: [{site: a, cap_mw: 1}]\n"
            "simulation: {a: {profile: inference, racks: {H100: 2}, reserve_racks: 2}}\n",
            "reserve_racks must be fewer",
        ),
        (
            "sites: [{site: a, cap_mw: 1}]\nsimulation: {a: {profile: inference, racks: {H100: 2}}}\n"
            "wan: [[x, y]]\n",
            "wan link",
        ),
        ("sites: [\n", "not valid YAML"),
    ],
)
def test_bad_fleet_files_say_what_to_fix(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_fleet(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_fleet_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read fleet file"):
        load_fleet(tmp_path / "nope.yaml")
