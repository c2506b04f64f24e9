"""The load of the throughput benchmark: a simulated 1 GW training campus, as Kafka messages.

The campus is ``halls`` sites (default 8) of ``racks_per_hall`` GB200 NVL72 racks (default
1,000: 8,000 racks, ~125 kW each at peak, a 125 MW cap per hall = 1 GW), simulated by
:mod:`pipeline.sources.sim.simulator` (training jobs with checkpoint swings, counter resets,
loss bursts, silent racks). A hall is a site because a campus of this size is fed as
several buildings with their own power limits, and because a site is the unit of
co-partitioning: eight halls spread over the partitions, one 8,000-rack site would not.

Per tick (1 s) each hall reports, as its agent would: every rack's power, every rack's
fabric uplink plus one WAN link to a remote campus, and the GPUs of one host in
``gpu_every`` (NVML/DCGM exporters poll every few seconds, not every second: 576,000 GPUs
at 1 Hz would be 576k readings/s). One message per hall, tick and kind, split into
messages of at most ``batch`` events. Messages are encoded before anything is timed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import orjson
from kafka.partitioner.default import murmur2

from pipeline.events import SiteSpec
from pipeline.sources.base import TOPICS
from pipeline.sources.sim.fleet import Fleet, SiteSim
from pipeline.sources.sim.simulator import FleetSimulator, SimOptions
from pipeline.sources.sim.site_model import SiteReadings

REMOTE_CAMPUS = "remote-campus"  # the far end of each hall's WAN link, simulated elsewhere
PLATFORM = "GB200"


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    readings: int


@dataclass
class Load:
    """Pre-encoded messages, tick by tick, and what they hold."""

    ticks: list[list[Message]] = field(default_factory=list)
    start_ms: int = 0

    @property
    def messages(self) -> list[Message]:
        return [m for tick in self.ticks for m in tick]

    def readings_by_topic(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for m in self.messages:
            counts[m.topic] += m.readings
        return dict(counts)

    @property
    def readings(self) -> int:
        return sum(m.readings for m in self.messages)

    @property
    def bytes(self) -> int:
        return sum(len(m.value) for m in self.messages)


@dataclass(frozen=True)
class Campus:
    halls: int = 8
    racks_per_hall: int = 1000
    prefix: str = "gw-hall"
    cap_mw_per_hall: float = 125.0
    partitions: int = 8  # MEGAWATCH_KAFKA_PARTITIONS: the halls are spread over them

    @property
    def racks(self) -> int:
        return self.halls * self.racks_per_hall

    @property
    def sites(self) -> list[str]:
        return spread_sites(self.prefix, self.halls, self.partitions)

    def specs(self) -> list[SiteSpec]:
        return [
            SiteSpec(site=s, cap_mw=self.cap_mw_per_hall, region="us-central") for s in self.sites
        ]

    def fleet(self) -> Fleet:
        sim = SiteSim(
            profile="training",
            racks={PLATFORM: self.racks_per_hall},
            reserve_racks=max(1, self.racks_per_hall // 20),
            jobs=4,
        )
        return Fleet(
            sites=self.specs(),
            simulation={s: sim for s in self.sites},
            wan=[(s, REMOTE_CAMPUS) for s in self.sites],
        )

    def gpus(self) -> int:
        from pipeline.sources.sim.hardware import PLATFORMS

        return self.racks * PLATFORMS[PLATFORM].gpus


def partition_of(site: str, partitions: int) -> int:
    """The partition a site's messages go to (murmur2 of the key, as Kafka clients do)."""
    return (murmur2(site.encode()) & 0x7FFFFFFF) % partitions


@cache
def spread_sites(prefix: str, halls: int, partitions: int) -> list[str]:
    """``halls`` ids ``prefix-N`` whose partitions are spread evenly: hall i goes to
    partition i mod ``partitions``. Plain ``prefix-1..8`` hash onto 6 of 8 partitions,
    and a worker that owns the crowded one carries 75 % of the load whatever the
    number of workers (issue 12)."""
    wanted = [i % partitions for i in range(halls)]
    free: dict[int, list[str]] = {}
    sites: list[str] = []
    n = 0
    for target in wanted:
        while not free.get(target):
            n += 1
            free.setdefault(partition_of(f"{prefix}-{n}", partitions), []).append(f"{prefix}-{n}")
        sites.append(free[target].pop(0))
    return sites


def encode(kind: str, site: str, events: list[dict], batch: int) -> list[Message]:
    topic, key = TOPICS[kind], site.encode()
    chunks = (events[i : i + batch] for i in range(0, len(events), batch))
    return [Message(topic, key, orjson.dumps({"events": c}), len(c)) for c in chunks]


def tick_messages(readings: list[SiteReadings], batch: int) -> list[Message]:
    """One tick of every hall, in the order an agent per hall would send it."""
    out: list[Message] = []
    for r in readings:
        for kind, events in (("rack_power", r.rack_power), ("gpu", r.gpu), ("link", r.link)):
            if events:
                out += encode(kind, r.site, events, batch)
    return out


def generate(
    campus: Campus, seconds: int, start_ms: int, *, gpu_every: int, batch: int, seed: int = 1
) -> Load:
    """``seconds`` ticks of the whole campus from ``start_ms`` (event time)."""
    options = SimOptions(seed=seed, interval_s=1.0, start_ms=start_ms, gpu_every=gpu_every)
    simulator = FleetSimulator.from_names(campus.fleet(), ["steady"], options)
    load = Load(start_ms=start_ms)
    for _ in range(seconds):
        _, _, readings = simulator.step()
        load.ticks.append(tick_messages(readings, batch))
    return load


def gpu_every_for_rate(campus: Campus, rate: float) -> int:
    """The GPU polling period (ticks) that puts the whole campus closest to ``rate``/s."""
    per_tick_fixed = 2 * campus.racks + campus.halls  # rack power + fabric and WAN links
    gpu_rate = max(1.0, rate - per_tick_fixed)
    return max(1, round(campus.gpus() / gpu_rate))
