"""The wave stream's own metrics, in the worker's registry (docs/operations.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class WaveMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.samples = Counter(
            "megawatch_wave_samples",
            "Power-wave samples taken in: aggregated into their cells, or late (their cell "
            "had closed; counted, not aggregated)",
            ["outcome"],
            registry=registry,
        )
        self.records = Counter(
            "megawatch_wave_records",
            "Wave records between workers (megawatch.waves: shards' blocks; megawatch.regions: "
            "drops and series) by outcome: sent, unsent, applied, unreadable",
            ["topic", "outcome"],
            registry=registry,
        )
        self.cells_dropped = Counter(
            "megawatch_wave_cells_dropped",
            "Cells of shards' blocks that reached their site stage after the site's cell had "
            "closed (the shard was held there) or again (a replay)",
            registry=registry,
        )
        self.stages = Gauge(
            "megawatch_wave_stages",
            "Wave state held: message keys (aligners), site stages, regions",
            ["kind"],
            registry=registry,
        )
        self.dr_events = Gauge(
            "megawatch_dr_events", "Demand-response events on control.dr", registry=registry
        )
