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
    """Open (and migrate) the store, and ask the cluster for its id.

    Workers started together on one embedded store migrate one after the other (a lock
    file in its directory), so none sees a half-applied migration.
    """
    from pipeline.store import open_store  # clickhouse-connect loads here
    from pipeline.store.server_files import migration_lock

    store = open_store(settings)
    if settings.migrates_on_start:  # MEGAWATCH_AUTO_MIGRATE (default: embedded store only)
        with migration_lock(store.data_dir):
            store.migrate(cluster=settings.clickhouse_cluster)
    return WorkerResources(store, cluster_id(endpoint, settings))
