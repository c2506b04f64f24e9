"""The registry of source kinds is the agent's command line: options, help and checks."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.cli.agent_cmd import EPILOG, LINES
from pipeline.sources.command_line import option_lines, refuse_misfits
from pipeline.sources.kind import Param, SourceKind, SourceOptionError, SourceOptions
from pipeline.sources.registry import (
    SOURCE_KINDS,
    ReplaySourceOptions,
    SimSourceOptions,
    source_kind,
    speed,
)

KINDS = list(SOURCE_KINDS.values())


def agent(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["agent", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_kinds_options_are_exactly_the_fields_of_its_typed_options(kind: SourceKind) -> None:
    fields = {f.name for f in dataclasses.fields(kind.options)}
    assert sorted(p.field for p in kind.all_params) == sorted(fields)
    assert dataclasses.is_dataclass(kind.options) and issubclass(kind.options, SourceOptions)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_kinds_builder_exists_and_its_examples_are_valid_command_lines(
    kind: SourceKind, tmp_path: Path
) -> None:
    module, _, attr = kind.builder.partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    for example in kind.examples:
        args = example.replace("\\\n", " ").split()
        if "--source" not in args:
            assert kind.name == "sim"  # the default
        else:
            assert args[args.index("--source") + 1] == kind.name
        flags = {a for a in args if a.startswith("--")} - {"--source"}
        assert flags <= {p.flag for p in kind.all_params}, example
    assert kind.name in EPILOG and kind.summary in EPILOG


def test_every_option_given_to_a_kind_that_does_not_take_it_names_the_kinds_that_do() -> None:
    for line in LINES:
        takers = [k.name for k in KINDS if line.param.field in {p.field for p in k.all_params}]
        assert list(line.kinds) == takers
        for kind in KINDS:
            if kind.name in takers:
                refuse_misfits(kind, LINES, {line.param.field})  # fits: no complaint
                continue
            with pytest.raises(SourceOptionError) as caught:
                refuse_misfits(kind, LINES, {line.param.field})
            message = str(caught.value)
            assert message.startswith(f"{line.param.flag} is for --source ")
            assert all(name in message for name in takers) and f"(not {kind.name})" in message


def test_the_cli_refuses_a_misfit_in_one_line_and_exit_2() -> None:
    code, out = agent("--source", "nvml", "--site", "a", "--url", "http://x/metrics")
    assert code == 2 and "Error: --url is for --source dcgm-exporter or redfish (not nvml)" in out
    code, out = agent("--source", "netdev", "--site", "a", "--scenario", "chaos")
    assert code == 2 and "Error: --scenario is for --source sim (not netdev)" in out
    code, out = agent("recording.jsonl")
    assert code == 2 and "Error: FILE is for --source replay (not sim)" in out
    code, out = agent("--source", "replay")
    assert code == 2 and "--source replay needs FILE (JSONL, CSV or Parquet)" in out
    code, out = agent("--source", "redfish", "--site", "a", "--site", "b")
    assert code == 2 and "--source redfish needs exactly one --site (the devices' site)" in out


def test_shared_options_say_which_kinds_take_them_and_what_each_means() -> None:
    by_flag = {line.param.flag: line for line in LINES}
    polled = "dcgm-exporter/redfish/netdev/rdma"
    assert by_flag["--map"].help.startswith(f"{polled}: YAML mapping")
    assert by_flag["--interval"].help == f"sim/nvml/sim-wave/{polled}: seconds between ticks."
    assert by_flag["--batch-size"].help.startswith("Most events per message")  # every kind
    site = by_flag["--site"].help
    assert "replay: only these sites;" in site and f"{polled}: the devices' site." in site
    assert "dcgm-exporter: a full /metrics URL; redfish: a service root" in by_flag["--url"].help
    assert [line.param.flag for line in LINES][:2] == ["--site", "--batch-size"]


def test_the_cli_defaults_are_the_typed_options_defaults() -> None:
    values = {line.param.field: line.default for line in LINES}
    assert source_kind("sim").options_from(values | {"sites": ("a",)}) == SimSourceOptions(
        sites=("a",)
    )
    replay = source_kind("replay").options_from(values | {"file": Path("r.csv")})
    assert replay == ReplaySourceOptions(file=Path("r.csv")) and replay.paced
    assert not dataclasses.replace(replay, speed=speed("max")).paced
    assert SimSourceOptions(sites=("a",)).scenarios == ("steady",)


def test_speed_is_a_positive_number_or_max() -> None:
    assert speed("max") is None and speed("2.5") == 2.5
    for bad in ("0", "-1", "nan", "fast", ""):
        with pytest.raises(ValueError, match="expected a number > 0 or 'max'"):
            speed(bad)
    code, out = agent("--source", "replay", "r.jsonl", "--speed", "0")
    assert code == 2 and "Invalid value for '--speed': expected a number > 0 or 'max'" in out


def test_print_fleet_prints_the_fleet_and_runs_nothing() -> None:
    code, out = agent("--sites", "3", "--print-fleet")
    assert code == 0, out
    assert len(yaml.safe_load(out)["sites"]) == 3
    code, out = agent("--site", "edge-9", "--print-fleet")
    assert code == 0 and [s["site"] for s in yaml.safe_load(out)["sites"]] == ["edge-9"]


def test_a_new_kind_is_one_entry_and_two_kinds_cannot_mean_one_flag_two_ways() -> None:
    @dataclass(frozen=True, kw_only=True)
    class ModbusOptions(SourceOptions):
        port: int = 502

    port = Param("--port", "port", "the device's TCP port.", type=int)
    modbus = SourceKind("modbus", "meters over Modbus/TCP", ModbusOptions, (port,), "x:y")
    lines = option_lines([*KINDS, modbus])
    line = next(line for line in lines if line.param.flag == "--port")
    assert line.kinds == ("modbus",) and line.default == 502
    assert line.help == "modbus: the device's TCP port."
    with pytest.raises(SourceOptionError, match="--port is for --source modbus"):
        refuse_misfits(source_kind("sim"), lines, {"port"})
    other = SourceKind("other", "x", ModbusOptions, (dataclasses.replace(port, type=str),), "x:y")
    with pytest.raises(TypeError, match="--port: other and modbus declare it apart"):
        option_lines([modbus, other])
    with pytest.raises(SourceOptionError, match="unknown source 'modbus'"):
        source_kind("modbus")


def test_reading_the_registry_and_the_agent_command_imports_no_source() -> None:
    probe = (
        "import sys, pipeline.sources.registry, pipeline.cli.agent_cmd; print(sorted(m for m in"
        " sys.modules if m.split('.')[0] in ('numpy', 'pynvml', 'httpx', 'yaml', 'kafka')"
        " or m.startswith(('pipeline.sources.sim', 'pipeline.sources.nvml',"
        " 'pipeline.sources.redfish', 'pipeline.sources.dcgm', 'pipeline.sources.agent'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sim_wave_builds_a_wave_source_of_its_scenarios() -> None:
    from pipeline.settings import Settings
    from pipeline.sources.registry import source_kind
    from pipeline.sources.sim.wave_site import WaveSource

    kind = source_kind("sim-wave")
    options = kind.options(sites=("dfw-1", "dfw-2"), racks=4, wave_scenarios=("load-drop",))
    built = kind.build(options, Settings())
    assert isinstance(built, WaveSource)
    trips = [spec.trip.at_s for spec, _ in built.sites if spec.trip is not None]
    assert trips == [10.0, 10.2]  # the sites 0.2 s apart: a fleet incident in one region
    (message, *_) = built.tick(0).messages
    assert message.topic == "telemetry.power_wave" and message.key == b"dfw-1"
    with pytest.raises(SourceOptionError, match="needs at least one --site"):
        kind.options(sites=())


def test_nvml_takes_a_wave_mode() -> None:
    from pipeline.sources.registry import source_kind

    kind = source_kind("nvml")
    flags = {p.flag for p in kind.all_params}
    assert {"--wave", "--wave-interval-ms"} <= flags
    assert kind.options(sites=("s",)).wave is False
