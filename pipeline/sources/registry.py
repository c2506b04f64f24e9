"""The source kinds of ``megawatch agent``: the one list of ``--source`` names.

Each entry of :data:`SOURCE_KINDS` declares its name, a one-line summary, the options it
takes (typed: one frozen dataclass per kind, whose fields hold the defaults) and its
builder; the agent's command line, ``--source`` choices, help and option checks are
built from it (:mod:`pipeline.sources.command_line`, :mod:`pipeline.cli.agent_cmd`).
Adding a kind: its options class and entry here, and its builder
``function(options, BuildContext)`` in its own module. Importing this module imports no
source: builders are named, and imported when a source is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.sources.base import KINDS
from pipeline.sources.kind import Param, SourceKind, SourceOptionError, SourceOptions

# Kept in sync with pipeline.sources.sim.scenarios.SCENARIOS (a test checks); repeated
# here so that `megawatch agent --help` does not import the simulator.
SCENARIO_NAMES = ("steady", "cap-breach", "wan-loss", "stale-racks", "chaos")
# ... and with pipeline.sources.sim.scenarios.WAVE_SCENARIOS
WAVE_SCENARIO_NAMES = ("training-swing", "load-drop", "demand-response")

SITE = Param("--site", "sites", "Site id (repeatable).", multiple=True)
INTERVAL = Param(
    "--interval", "interval_s", "seconds between ticks.", type=float, low=0.01, high=3600
)
# the simulators' (sim, sim-wave)
SEED = Param("--seed", "seed", "random seed.", type=int)
EFFECTS_AT = Param(
    "--effects-at",
    "effects_at_s",
    "seconds after start when the scripted scenario effects begin.",
    type=float,
    low=0,
)
URL = Param("--url", "urls", "What to poll (repeatable).", multiple=True)
TARGETS = Param(
    "--targets", "targets", "a file of URLs, one per line (# comments).", type=Path, exists=True
)
MAP = Param(
    "--map",
    "map_file",
    "YAML mapping of hosts -> racks, devices -> racks, interfaces -> links (docs/feeding.md).",
    type=Path,
    exists=True,
)


@dataclass(frozen=True, kw_only=True)
class TickedOptions(SourceOptions):
    interval_s: float = 1.0


@dataclass(frozen=True, kw_only=True)
class SimSourceOptions(TickedOptions):
    fleet: Path | None = None
    n_sites: int | None = None
    profile: str = "inference"
    scenarios: tuple[str, ...] = ("steady",)
    seed: int = 0
    gpu_every: int = 1
    breach_site: str | None = None
    effects_at_s: float = 10.0
    wan_link: str | None = None
    print_fleet: bool = False
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.fleet is not None and self.n_sites is not None:
            raise SourceOptionError("give --fleet FILE or --sites N, not both")
        if self.fleet is None and self.n_sites is None and len(self.sites) != 1:
            raise SourceOptionError("--source sim needs --fleet FILE, --sites N or one --site ID")


SIM_PARAMS = (
    SITE.noted("only these sites of the fleet, or one generated site"),
    Param("--fleet", "fleet", "fleet file (YAML: sites, simulation, wan).", type=Path, exists=True),
    Param("--sites", "n_sites", "a built-in fleet of N sites.", type=int, low=1, high=500),
    Param(
        "--profile",
        "profile",
        "kind of a single generated --site.",
        choices=("inference", "training"),
    ),
    Param(
        "--scenario",
        "scenarios",
        "scenario (repeatable; listed below).",
        multiple=True,
        choices=SCENARIO_NAMES,
    ),
    SEED,
    Param(
        "--gpu-every",
        "gpu_every",
        "each host reports its GPUs every N ticks (staggered), to thin big fleets.",
        type=int,
        low=1,
        high=3600,
    ),
    Param("--breach-site", "breach_site", "the site that cap-breach pushes over its cap."),
    EFFECTS_AT,
    Param("--wan-link", "wan_link", "the WAN link wan-loss degrades, as SITE:PEER."),
    Param(
        "--scale",
        "scale",
        "the fleet at this fraction of its racks and caps (a 1 GW campus at 0.05: 50 MW).",
        type=float,
        low=0.0001,
        high=1,
    ),
    Param(
        "--print-fleet",
        "print_fleet",
        "print the fleet file (site specs for `megawatch sites apply`) and exit.",
        type=bool,
    ),
    INTERVAL,
)

SCENARIOS_HELP = """\
Scenarios (--source sim; repeat --scenario to combine; --effects-at moves +10 s):
  steady       daily inference demand, training jobs with synchronised
               checkpoint swings, rare counter resets, loss bursts, silent racks
  cap-breach   a site ramps over its power cap between +10 s and +30 s,
               stays over for 150 s, then returns (--breach-site)
  wan-loss     a WAN link drops 2e-3 of its packets from +10 s (above 1e-4
               by +15 s) for 180 s (--wan-link SITE:PEER)
  stale-racks  three racks of a site go silent at +20 s for 180 s
  chaos        all of the above, 20x the resets, bursts and silences, plus bad
               events: invalid values, non-JSON, wrong/missing keys, bad ts"""


def speed(text: str) -> float | None:
    """``--speed``: N times the recorded pace, or None for 'max'."""
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError("expected a number > 0 or 'max'")
    return value


@dataclass(frozen=True, kw_only=True)
class ReplaySourceOptions(SourceOptions):
    file: Path
    speed: float | None = 1.0
    keep_time: bool = False
    kind: str | None = None

    @property
    def paced(self) -> bool:
        return self.speed is not None


REPLAY_PARAMS = (
    Param("FILE", "file", "JSONL, CSV or Parquet", type=Path, argument=True),
    SITE.noted("only these sites"),
    Param("--speed", "speed", "N times the recorded pace, or 'max'.", parse=speed),
    Param(
        "--keep-time",
        "keep_time",
        "keep recorded timestamps (default: shifted so the recording ends as it is sent).",
        type=bool,
    ),
    Param(
        "--kind",
        "kind",
        "kind of every reading of FILE (default: a kind column, else inferred).",
        choices=KINDS,
    ),
)


@dataclass(frozen=True, kw_only=True)
class NvmlSourceOptions(TickedOptions):
    rack: str = "rack-0"
    job_dir: Path | None = None
    tenant: str | None = None
    priority: str | None = None
    wave: bool = False  # power waves (telemetry.power_wave) instead of GPU samples
    wave_interval_ms: int = 50


@dataclass(frozen=True, kw_only=True)
class WaveSimOptions(TickedOptions):
    racks: int = 16
    wave_interval_ms: int = 50
    wave_scenarios: tuple[str, ...] = ("training-swing",)
    seed: int = 0
    effects_at_s: float = 10.0
    smoothing: bool = False

    def __post_init__(self) -> None:
        if not self.sites:
            raise SourceOptionError("--source sim-wave needs at least one --site")


WAVE_INTERVAL = Param(
    "--wave-interval-ms",
    "wave_interval_ms",
    "ms between samples of a power wave (10-1000).",
    type=int,
    low=10,
    high=1000,
)
WAVE_SCENARIOS_HELP = """\
Wave scenarios (--source sim-wave; repeat --wave-scenario to combine; --effects-at
moves +10 s):
  training-swing   a synchronised training job: iterations of 0.47 s (2.14 Hz),
                   checkpoint pauses every 68.5 s, a start ramp (the base)
  load-drop        40 % of each site's racks trip off at +10 s for 120 s, the
                   sites 0.2 s apart (a region's sites: a fleet incident)
  demand-response  each site curtails by 30 % over 30 s from +10 s for 600 s"""


@dataclass(frozen=True, kw_only=True)
class DeviceSourceOptions(TickedOptions):
    """Devices reached over HTTP: their URLs, and where they belong (``--map``)."""

    urls: tuple[str, ...] = ()
    targets: Path | None = None
    map_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class LinkSourceOptions(TickedOptions):
    """This host's link counters: ``--map`` names the interfaces or ports to read."""

    map_file: Path | None = None


DEVICES_SITE = SITE.noted("the devices' site")
SOURCE_KINDS: dict[str, SourceKind[Any]] = {
    kind.name: kind
    for kind in (
        SourceKind(
            "sim",
            "the fleet simulator: a fleet file, a built-in fleet or one site",
            SimSourceOptions,
            SIM_PARAMS,
            "pipeline.sources.agent:sim_source",
            details=SCENARIOS_HELP,
            examples=(
                "--sites 12 --scenario cap-breach --scenario wan-loss",
                "--fleet examples/fleet.yaml --print-fleet",
                "--fleet examples/campus-1gw.yaml --scale 0.05",
            ),
        ),
        SourceKind(
            "replay",
            "recorded readings from FILE (JSONL, CSV or Parquet)",
            ReplaySourceOptions,
            REPLAY_PARAMS,
            "pipeline.sources.replay:replay_source",
            examples=("--source replay examples/replay-sample.jsonl --speed max",),
        ),
        SourceKind(
            "nvml",
            "this host's NVIDIA GPUs, read through NVML",
            NvmlSourceOptions,
            (
                SITE.noted("this host's site"),
                Param("--rack", "rack", "rack id of this host."),
                Param(
                    "--job-dir",
                    "job_dir",
                    "a file per GPU index naming its job (dcgm-exporter's HPC job mapping).",
                    type=Path,
                ),
                Param("--tenant", "tenant", "tenant of every GPU of this host."),
                Param(
                    "--priority",
                    "priority",
                    "priority class of this host's GPUs (inference, training, batch, ...).",
                ),
                Param(
                    "--wave",
                    "wave",
                    "power waves of this host (NVML's buffered power samples, summed over its "
                    "GPUs) instead of GPU samples.",
                    type=bool,
                ),
                WAVE_INTERVAL.noted("--wave: the wave's sample interval"),
                INTERVAL,
            ),
            "pipeline.sources.nvml:nvml_source",
            one_site="this host's site",
            examples=(
                "--source nvml --site inf-fra-1 --rack r017",
                "--source nvml --site train-dfw-1 --rack r017 --wave --wave-interval-ms 20",
            ),
        ),
        SourceKind(
            "sim-wave",
            "simulated training sites as power waves (telemetry.power_wave)",
            WaveSimOptions,
            (
                SITE.noted("a simulated site (repeatable)"),
                Param("--racks", "racks", "racks per site.", type=int, low=1, high=100_000),
                WAVE_INTERVAL,
                Param(
                    "--wave-scenario",
                    "wave_scenarios",
                    "power-wave scenario (repeatable; listed below).",
                    multiple=True,
                    choices=WAVE_SCENARIO_NAMES,
                ),
                SEED,
                EFFECTS_AT,
                Param(
                    "--smoothing",
                    "smoothing",
                    "GPU power smoothing on (a floor and ramp limits, as NVML's profiles).",
                    type=bool,
                ),
                INTERVAL,
            ),
            "pipeline.sources.sim.wave_site:wave_source",
            details=WAVE_SCENARIOS_HELP,
            examples=("--source sim-wave --site train-dfw-1 --racks 64 --wave-scenario load-drop",),
        ),
        SourceKind(
            "dcgm-exporter",
            "GPU samples scraped from NVIDIA dcgm-exporter",
            DeviceSourceOptions,
            (DEVICES_SITE, URL.noted("a full /metrics URL"), TARGETS, MAP, INTERVAL),
            "pipeline.sources.devices:dcgm_exporter_source",
            one_site="the devices' site",
            examples=(
                "--source dcgm-exporter --site inf-fra-1 \\\n"
                "    --url http://gpu-node-01:9400/metrics --url http://gpu-node-02:9400/metrics",
            ),
        ),
        SourceKind(
            "redfish",
            "rack power of Redfish rack PDUs and chassis (BMCs)",
            DeviceSourceOptions,
            (
                DEVICES_SITE,
                URL.noted("a service root http(s)://host:port"),
                TARGETS,
                MAP,
                INTERVAL,
            ),
            "pipeline.sources.devices:redfish_source",
            one_site="the devices' site",
            examples=("--source redfish --site inf-fra-1 --url https://pdu-r17.example",),
        ),
        SourceKind(
            "netdev",
            "link counters of this host's network interfaces (--map)",
            LinkSourceOptions,
            (DEVICES_SITE, MAP, INTERVAL),
            "pipeline.sources.devices:netdev_source",
            one_site="the devices' site",
            examples=("--source netdev --site inf-fra-1 --map links.yaml",),
        ),
        SourceKind(
            "rdma",
            "link counters of this host's RDMA/InfiniBand ports (--map)",
            LinkSourceOptions,
            (DEVICES_SITE, MAP, INTERVAL),
            "pipeline.sources.devices:rdma_source",
            one_site="the devices' site",
        ),
    )
}
DEFAULT_SOURCE = "sim"


def source_kind(name: str) -> SourceKind[Any]:
    """The kind called ``name``; one line naming the known ones if there is none."""
    try:
        return SOURCE_KINDS[name]
    except KeyError:
        known = ", ".join(SOURCE_KINDS)
        raise SourceOptionError(f"unknown source {name!r}: expected one of {known}") from None
