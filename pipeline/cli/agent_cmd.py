"""``megawatch agent``: publish site telemetry (simulated, replayed, NVML, or polled from
dcgm-exporter, Redfish, netdev or RDMA counters)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import settings_from
from pipeline.errors import BrokerError

# Kept in sync with pipeline.sources.sim.scenarios.SCENARIOS (a test checks); repeated here so
# that `megawatch agent --help` does not import the simulator.
SCENARIO_NAMES = ("steady", "cap-breach", "wan-loss", "stale-racks", "chaos")

EPILOG = """\b
Scenarios (--source sim; repeat --scenario to combine; --effects-at moves +10 s):
  steady       daily inference demand, training jobs with synchronised
               checkpoint swings, rare counter resets, loss bursts, silent racks
  cap-breach   a site ramps over its power cap between +10 s and +30 s,
               stays over for 150 s, then returns (--breach-site)
  wan-loss     a WAN link drops 2e-3 of its packets from +10 s (above 1e-4
               by +15 s) for 180 s (--wan-link SITE:PEER)
  stale-racks  three racks of a site go silent at +20 s for 180 s
  chaos        all of the above, 20x the resets, bursts and silences, plus bad
               events: invalid values, non-JSON, wrong/missing keys, bad ts

\b
Examples:
  megawatch agent --sites 12 --scenario cap-breach --scenario wan-loss
  megawatch agent --fleet examples/fleet.yaml --print-fleet
  megawatch agent --source replay examples/replay-sample.jsonl --speed max
  megawatch agent --source nvml --site inf-fra-1 --rack r017
  megawatch agent --source dcgm-exporter --site inf-fra-1 \
      --url http://gpu-node-01:9400/metrics --url http://gpu-node-02:9400/metrics
  megawatch agent --source redfish --site inf-fra-1 --url https://pdu-r17.example
  megawatch agent --source netdev --site inf-fra-1 --map links.yaml
"""


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise click.BadParameter("expected a number > 0 or 'max'") from None
    if speed <= 0:
        raise click.BadParameter("expected a number > 0 or 'max'")
    return speed


@click.command(epilog=EPILOG)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--source",
    "source_name",
    type=click.Choice(["sim", "replay", "nvml", "dcgm-exporter", "redfish", "netdev", "rdma"]),
    default="sim",
    show_default=True,
    help="Where readings come from.",
)
@click.option(
    "--site",
    "sites",
    multiple=True,
    help="Site id (repeatable). sim: only these sites of "
    "the fleet, or one generated site; replay: only these sites; others: the devices' site.",
)
@click.option(
    "--url",
    "urls",
    multiple=True,
    help="dcgm-exporter: a full /metrics URL; redfish: a service root http(s)://host:port "
    "(repeatable).",
)
@click.option(
    "--targets",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="dcgm-exporter/redfish: a file of URLs, one per line (# comments).",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="dcgm-exporter/redfish/netdev/rdma: YAML mapping of hosts -> racks, devices -> "
    "racks, interfaces -> links (docs/feeding.md).",
)
@click.option(
    "--fleet",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="sim: fleet file (YAML: sites, simulation, wan).",
)
@click.option(
    "--sites", "n_sites", type=click.IntRange(1, 500), help="sim: a built-in fleet of N sites."
)
@click.option(
    "--profile",
    type=click.Choice(["inference", "training"]),
    default="inference",
    show_default=True,
    help="sim: kind of a single generated --site.",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(SCENARIO_NAMES),
    help="sim: scenario (repeatable; default steady; listed below).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="sim: random seed.")
@click.option(
    "--gpu-every",
    type=click.IntRange(1, 3600),
    default=1,
    show_default=True,
    help="sim: each host reports its GPUs every N ticks (staggered), to thin big fleets.",
)
@click.option("--breach-site", help="sim: the site that cap-breach pushes over its cap.")
@click.option(
    "--effects-at",
    type=click.FloatRange(0, None),
    default=10.0,
    show_default=True,
    help="sim: seconds after start when the scripted scenario effects begin.",
)
@click.option("--wan-link", help="sim: the WAN link wan-loss degrades, as SITE:PEER.")
@click.option(
    "--print-fleet",
    is_flag=True,
    help="sim: print the fleet file (site specs for `megawatch sites apply`) and exit.",
)
@click.option(
    "--speed", default="1", show_default=True, help="replay: N times the recorded pace, or 'max'."
)
@click.option(
    "--keep-time",
    is_flag=True,
    help="replay: keep recorded timestamps (default: shifted so the recording ends as it is sent).",
)
@click.option(
    "--kind",
    type=click.Choice(["rack_power", "gpu", "link"]),
    help="replay: kind of every reading of FILE (default: a kind column, else inferred).",
)
@click.option("--rack", default="rack-0", show_default=True, help="nvml: rack id of this host.")
@click.option(
    "--interval",
    type=click.FloatRange(0.01, 3600),
    default=1.0,
    show_default=True,
    help="sim/nvml/dcgm-exporter/redfish/netdev/rdma: seconds between ticks.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=2000,
    show_default=True,
    help="Most events per message (one site, kind and tick may take several).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, None, min_open=True),
    help="Stop after this many seconds of readings.",
)
@click.option("--ticks", "max_ticks", type=click.IntRange(1, None), help="Stop after N ticks.")
@click.option(
    "--buffer-mb",
    type=click.FloatRange(0.1, 65536),
    default=64,
    show_default=True,
    help="Local buffer while the broker is away; when full, the oldest messages are "
    "dropped (counted and logged).",
)
@click.option(
    "--start-broker",
    is_flag=True,
    help="Start the embedded broker if none runs (it stops with the agent).",
)
def agent(file: Path | None, source_name: str, **opts: Any) -> None:
    """Publish site telemetry to Kafka: one message per site, kind and tick, keyed by site.

    Messages are batches {"events": [...]} on telemetry.rack_power, telemetry.gpu and
    telemetry.link, lz4-compressed and retried; while the broker is away they wait in a
    bounded local buffer (--buffer-mb).
    """
    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.sources.agent import AgentResult, AgentRun, kafka_publisher

    settings = settings_from()
    source = _build_source(source_name, file, opts, settings)
    if source is None:
        return
    endpoint, broker = resolve_kafka(settings, start_if_missing=opts["start_broker"])
    try:
        publisher = kafka_publisher(settings, endpoint, buffer_bytes=int(opts["buffer_mb"] * 2**20))
        run = AgentRun(
            source,
            publisher,
            paced=not (source_name == "replay" and _speed(opts["speed"]) is None),
            duration_s=opts["duration"],
            max_ticks=opts["max_ticks"],
        )
        _stop_on_sigterm(run.stop_event)
        result: AgentResult | None
        try:
            result = run.run()
        except KeyboardInterrupt:
            run.stop_event.set()
            result = run.result  # set by run()'s cleanup, which has flushed the buffer
        click.echo(f"agent: {result.summary() if result else 'interrupted'}", err=True)
        if result and result.undelivered:
            raise BrokerError(
                f"{result.undelivered} messages could not be delivered to "
                f"{publisher.describe}: {publisher.last_error or 'timed out'}"
            )
    finally:
        if broker is not None:
            broker.stop()


def _stop_on_sigterm(stop: Any) -> None:
    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _build_source(name: str, file: Path | None, opts: dict[str, Any], settings: Any) -> Any:
    max_bytes = settings.max_message_bytes
    if name == "replay":
        from pipeline.sources.replay import ReplaySource

        if file is None:
            raise click.UsageError("--source replay needs FILE (JSONL, CSV or Parquet)")
        return ReplaySource(
            file,
            speed=_speed(opts["speed"]),
            keep_time=opts["keep_time"],
            kind=opts["kind"],
            sites=list(opts["sites"]) or None,
            batch_size=opts["batch_size"],
            max_bytes=max_bytes,
        )
    if file is not None:
        raise click.UsageError(f"FILE is for --source replay (got {file} with --source {name})")
    if name in ("dcgm-exporter", "redfish", "netdev", "rdma"):
        return _polling_source(name, opts, settings)
    if opts["urls"] or opts["targets"]:
        raise click.UsageError("--url and --targets are for --source dcgm-exporter or redfish")
    if name == "nvml":
        from pipeline.sources.nvml import NvmlSource

        if len(opts["sites"]) != 1:
            raise click.UsageError("--source nvml needs exactly one --site (this host's site)")
        return NvmlSource(
            opts["sites"][0],
            opts["rack"],
            interval_s=opts["interval"],
            batch_size=opts["batch_size"],
        )
    return _sim_source(opts, max_bytes)


def _polling_source(name: str, opts: dict[str, Any], settings: Any) -> Any:
    from pipeline.sources.devices import polling_source

    if len(opts["sites"]) != 1:
        raise click.UsageError(f"--source {name} needs exactly one --site (the devices' site)")
    return polling_source(
        name,
        opts["sites"][0],
        settings,
        urls=opts["urls"],
        targets=opts["targets"],
        map_file=opts["map_file"],
        interval_s=opts["interval"],
        batch_size=opts["batch_size"],
        max_bytes=settings.max_message_bytes,
    )


def _sim_source(opts: dict[str, Any], max_bytes: int) -> Any:
    from pipeline.sources.agent import simulated_fleet
    from pipeline.sources.sim.fleet import load_fleet
    from pipeline.sources.sim.fleet_gen import generate_fleet, single_site_fleet

    sites = list(opts["sites"])
    if opts["fleet"] and opts["n_sites"]:
        raise click.UsageError("give --fleet FILE or --sites N, not both")
    if opts["fleet"]:
        fleet = load_fleet(opts["fleet"])
    elif opts["n_sites"]:
        fleet = generate_fleet(opts["n_sites"])
    elif len(sites) == 1:
        fleet, sites = single_site_fleet(sites[0], opts["profile"]), []
    else:
        raise click.UsageError("--source sim needs --fleet FILE, --sites N or one --site ID")
    if sites:
        fleet = fleet.only(sites)
    if opts["print_fleet"]:
        click.echo(fleet.to_yaml(), nl=False)
        return None
    return simulated_fleet(
        fleet,
        opts["scenarios"] or ("steady",),
        seed=opts["seed"],
        interval_s=opts["interval"],
        gpu_every=opts["gpu_every"],
        batch_size=opts["batch_size"],
        max_bytes=max_bytes,
        breach_site=opts["breach_site"],
        wan_link=opts["wan_link"],
        effects_at_s=opts["effects_at"],
    )
