"""What a worker holds besides Faust: the store it writes to, the Kafka cluster id that
keys its offset ledger, and its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.kafka.endpoint import KafkaEndpoint, cluster_id
from pipeline.settings import Settings
from pipeline.worker.metrics import Metrics

if TYPE_CHECKING:
    from pipeline.store import Store


@dataclass
class WorkerResources:
    store: Store
    cluster_id: str
    metrics: Metrics = field(default_factory=Metrics)


def open_resources(settings: Settings, endpoint: KafkaEndpoint) -> WorkerResources:
    """Open (and migrate) the store, and ask the cluster for its id."""
    from pipeline.store import open_store  # clickhouse-connect and chDB load here

    store = open_store(settings)
    store.migrate()
    return WorkerResources(store, cluster_id(endpoint, settings))
