"""Topic names of the wire contract, and their creation at start.

Every telemetry topic is keyed by site (or by shard, ``SITE/SHARD``) and has the same
partition count, so that one worker owns all streams of a key (co-partitioning). The
workers' own partials topic is keyed by site and co-partitioned too: the site stage of a
site lives on the partition its plain key hashes to, the same partition number as the
site's plain-keyed telemetry, so an unsharded site's stage is always on the worker that
owns its racks (Faust assigns a partition number of co-partitioned topics to one worker).
Faust creates only its internal topics (changelogs), so megawatch creates these topics
itself, idempotently, before the worker subscribes.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from pipeline.errors import BrokerError
from pipeline.kafka.endpoint import KafkaEndpoint, kafka_python_options
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

RACK_POWER = "telemetry.rack_power"
POWER_WAVE = "telemetry.power_wave"
GPU = "telemetry.gpu"
LINK = "telemetry.link"
FACILITY = "telemetry.facility"
WORK = "telemetry.work"
DEADLETTER = "telemetry.deadletter"
SITES = "control.sites"
JOBS = "control.jobs"
#: Demand-response events (pipeline.events.DemandResponse), keyed by event id.
DR = "control.dr"
ALERTS = "alerts"
#: Shard partials for the site stages (pipeline.core.partial), keyed by site: the
#: workers' own topic, not the contract's.
PARTIALS = "megawatch.partials"
#: Power-wave blocks of shards for the site stages (pipeline.core.wave.codec), keyed by
#: site; and load drops and the sites' series for the regions, keyed by region: the
#: workers' own topics, not the contract's.
WAVES = "megawatch.waves"
REGIONS = "megawatch.regions"

#: Topics keyed by site that must have one partition count (co-partitioning).
COPARTITIONED = (
    RACK_POWER,
    POWER_WAVE,
    GPU,
    LINK,
    FACILITY,
    WORK,
    DEADLETTER,
    PARTIALS,
    WAVES,
    REGIONS,
)

#: control.sites, control.jobs and control.dr are read whole by every worker (Faust
#: GlobalTables): one partition each.
SITES_PARTITIONS = 1


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    partitions: int | None = None  # None: MEGAWATCH_KAFKA_PARTITIONS


CONTRACT_TOPICS = (
    TopicSpec(RACK_POWER),
    TopicSpec(POWER_WAVE),
    TopicSpec(GPU),
    TopicSpec(LINK),
    TopicSpec(DEADLETTER),
    TopicSpec(FACILITY),
    TopicSpec(WORK),
    TopicSpec(SITES, compacted=True, partitions=SITES_PARTITIONS),
    TopicSpec(JOBS, compacted=True, partitions=SITES_PARTITIONS),
    TopicSpec(DR, compacted=True, partitions=SITES_PARTITIONS),
    TopicSpec(ALERTS),
    TopicSpec(PARTIALS),
    TopicSpec(WAVES),
    TopicSpec(REGIONS),
)


@dataclass(frozen=True)
class TopicLayout:
    created: list[str]
    partitions: int  # of the telemetry topics: what tables keyed by site must match


def ensure_topics(settings: Settings, endpoint: KafkaEndpoint) -> TopicLayout:
    """Create the contract's topics that do not exist yet, and report the layout.

    Existing topics are left alone. Their partition count wins over
    MEGAWATCH_KAFKA_PARTITIONS (a producer may have auto-created them first), but all
    telemetry topics must agree, or a site's streams would not meet in one worker.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(
            **kafka_python_options(settings, endpoint, "admin"), client_id="megawatch-topics"
        )
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"cannot reach Kafka at {endpoint.bootstrap}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        # A telemetry topic added by a newer version takes the count of those already
        # there, or the co-partitioning check below would refuse the upgrade.
        have = [name for name in COPARTITIONED if name in existing]
        count = _copartitioned_count(admin, have) if have else settings.kafka_partitions
        wanted = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions or count,
                replication_factor=settings.kafka_replication,
                topic_configs=topic_configs(spec, settings.kafka_replication),
            )
            for spec in CONTRACT_TOPICS
            if spec.name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                admin.create_topics(wanted)
        partitions = _copartitioned_count(admin, list(COPARTITIONED))
        if partitions != settings.kafka_partitions:
            logger.warning(
                "telemetry topics have %d partitions (MEGAWATCH_KAFKA_PARTITIONS=%d): using %d",
                partitions,
                settings.kafka_partitions,
                partitions,
            )
        return TopicLayout([topic.name for topic in wanted], partitions)
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics on {endpoint.bootstrap}: {exc}") from exc
    finally:
        admin.close()


def key_partition(key: bytes, partitions: int) -> int:
    """The partition a key lands on: Kafka's default partitioner (murmur2), which the
    agents' producers, Faust's and the alert-state table's all use."""
    from kafka.partitioner.default import murmur2

    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def topic_configs(spec: TopicSpec, replication: int) -> dict[str, str]:
    """Configs of a new topic: compaction for the control topics, and with
    replicas, writes acknowledged (acks=all) only once two copies hold them (one for a
    factor of 2)."""
    configs = {"cleanup.policy": "compact"} if spec.compacted else {}
    if replication > 1:
        configs["min.insync.replicas"] = str(min(2, replication - 1))
    return configs


def _copartitioned_count(admin: object, names: list[str]) -> int:
    described = admin.describe_topics(names)  # type: ignore[attr-defined]
    counts = {item["name"]: len(item["partitions"]) for item in described}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{topic}={n}" for topic, n in sorted(counts.items()))
        raise BrokerError(
            f"telemetry topics must have the same partition count (co-partitioning): {detail}"
        )
    return next(iter(counts.values()))
