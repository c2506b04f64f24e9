"""The rows the core hands to storage: column order of the raw tables, the alerts table and
per-site and per-domain series (``sql/migrations/001_raw_tables.sql``, ``005_*``,
``007_*``, ``009_*``, ``010_*``).

The core builds rows as columns (one list per column, the shape column-oriented inserts
want) in exactly these orders; the worker's sink inserts them under these names with
the Kafka cluster id appended. Kept here, beside the code that fills them, so the two
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.link_health import HEALTH_FIELDS, HealthRow

#: the alerts table (sql/migrations), filled from the alerts topic by the worker; its
#: first columns, up to ``test``, are the alert's own fields (the notifier reads them back)
ALERT_COLUMNS = (
    "fingerprint",
    "seq",
    "rule",
    "severity",
    "status",
    "site",
    "link",
    "peer_site",
    "rack",
    "domain",
    "value",
    "threshold",
    "starts_at",
    "ends_at",
    "forecast_at",
    "summary",
    "test",
    "kafka_partition",
    "kafka_offset",
)
ALERT_FIELDS = ALERT_COLUMNS[: ALERT_COLUMNS.index("test")]

RACK_POWER_COLUMNS = (
    "site",
    "rack",
    "ts",
    "power_w",
    "pdu",
    "source",
    "kafka_partition",
    "kafka_offset",
)
GPU_COLUMNS = (
    "site",
    "rack",
    "host",
    "gpu",
    "ts",
    "util_pct",
    "power_w",
    "vendor",
    "model",
    "mem_used_pct",
    "temp_c",
    "power_limit_w",
    "job",
    "tenant",
    "priority",
    "clock_reasons",
    "kafka_partition",
    "kafka_offset",
)
#: what the worker adds to a reading from its integration state (pipeline.core.energy):
#: the interval the reading closes (known seconds and joules, gap seconds and the gap's
#: unknown joules) and, for GPUs, the clock-event reasons held over it
INTERVAL_COLUMNS = ("interval_s", "energy_j", "gap_s", "unknown_j")
GPU_ENERGY_COLUMNS = (*INTERVAL_COLUMNS, "held_reasons")
RACK_ENERGY_COLUMNS = ("domains", *INTERVAL_COLUMNS)
FACILITY_COLUMNS = (
    "site",
    "meter",
    "meter_kind",
    "ts",
    "power_w",
    *INTERVAL_COLUMNS,
    "kafka_partition",
    "kafka_offset",
)
WORK_COLUMNS = (
    "site",
    "host",
    "job",
    "counter",
    "served_model",
    "source",
    "ts",
    "total",
    "delta",
    "baseline",
    "reset",
    "kafka_partition",
    "kafka_offset",
)
LINK_COLUMNS = (
    "site",
    "link",
    "link_class",
    "peer_site",
    "ts",
    "tx_packets",
    "rx_packets",
    "dropped_packets",
    "error_packets",
    "d_tx",
    "d_rx",
    "d_dropped",
    "baseline",
    "reset",
    "loss_ratio",
    # the link-health fields as reported (pipeline.core.link_health.HEALTH_FIELDS), then
    # what was derived from them (pipeline.core.link_health.HealthRow); 009_*
    *HEALTH_FIELDS,
    *HealthRow._fields,
    "kafka_partition",
    "kafka_offset",
)
SITE_POWER_COLUMNS = (
    "site",
    "ts",
    "total_w",
    "cap_w",
    "warn_w",
    "headroom_w",
    "racks",
    "stale_racks",
    "warming",
    "region",
    "reported_w",
    "estimated_w",
    "coverage",
    "unknown_racks",
)
DOMAIN_POWER_COLUMNS = (
    "site",
    "domain",
    "ts",
    "total_w",
    "reported_w",
    "estimated_w",
    "cap_w",
    "warn_w",
    "headroom_w",
    "coverage",
    "racks",
    "stale_racks",
    "unknown_racks",
    "warming",
)

Columns = list[list[Any]]


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One point of the per-site power series (table site_power); ``total_w`` is
    reported + estimated, ``coverage`` the share of racks reporting (1 with none known)."""

    site: str
    ts_ms: int
    total_w: float
    cap_w: float | None
    warn_w: float | None
    headroom_w: float | None
    racks: int
    stale_racks: int
    warming: bool
    region: str
    reported_w: float = 0.0
    estimated_w: float = 0.0
    coverage: float = 1.0
    unknown_racks: int = 0

    def values(self) -> tuple[Any, ...]:
        """In the order of :data:`SITE_POWER_COLUMNS`."""
        return (
            self.site,
            self.ts_ms,
            self.total_w,
            self.cap_w,
            self.warn_w,
            self.headroom_w,
            self.racks,
            self.stale_racks,
            int(self.warming),
            self.region,
            self.reported_w,
            self.estimated_w,
            self.coverage,
            self.unknown_racks,
        )


@dataclass(frozen=True, slots=True)
class DomainRow:
    """One point of a power domain's series (table domain_power)."""

    site: str
    domain: str
    ts_ms: int
    total_w: float
    reported_w: float
    estimated_w: float
    cap_w: float | None
    warn_w: float | None
    coverage: float
    racks: int
    stale_racks: int
    unknown_racks: int
    warming: bool

    def values(self) -> tuple[Any, ...]:
        """In the order of :data:`DOMAIN_POWER_COLUMNS`."""
        headroom = None if self.cap_w is None else self.cap_w - self.total_w
        return (
            self.site,
            self.domain,
            self.ts_ms,
            self.total_w,
            self.reported_w,
            self.estimated_w,
            self.cap_w,
            self.warn_w,
            headroom,
            self.coverage,
            self.racks,
            self.stale_racks,
            self.unknown_racks,
            int(self.warming),
        )
