"""The job megawatch does, written plainly: what the peers of ``peers.py`` run.

Per message: validate with the same pydantic models (one ``validate_json`` per batch, as
a careful plain implementation would), keep the latest power per rack and the site
totals with cap checks, GPU aggregates per rack, link deltas and loss ratios from
cumulative counters (a counter going down is a reset), and buffer the raw rows as
columns for a column-oriented clickhouse-connect insert into chDB, into megawatch's own
tables (its migrations, materialized views included: the minute and hourly rollups and
the offset ledger). Every column megawatch writes is written here too, computed the
plain way (a loop per reading over dicts):

* GPU samples and rack power: energy integrated at ingest, per GPU and per rack, as
  :mod:`pipeline.core.energy.integrate` defines it (the trapezoid between readings at
  most ``stale_after_s`` apart, a longer gap as unknown energy at the last power, the
  earlier reading's clock reasons held over the interval); jobs, tenants and classes as
  the samples carry them; a rack's power domains ('' : the campus specs have none);
* links: the link-health fields as reported (maps and arrays empty where absent) and
  the deltas of their counters (0 at a baseline or reset), the sample's post-FEC BER.

No Faust, no dead letters, no ledger lookups, no ordered acks, no alert publication:
the lower bound of what the job costs in Python.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import clickhouse_connect
from pydantic import BaseModel, TypeAdapter

from pipeline.core.link_health import HEALTH_FIELDS
from pipeline.core.rows import (
    GPU_COLUMNS,
    GPU_ENERGY_COLUMNS,
    LINK_COLUMNS,
    RACK_ENERGY_COLUMNS,
    RACK_POWER_COLUMNS,
)
from pipeline.core.rules.common import STALE_AFTER
from pipeline.events import GpuSample, LinkCounters, RackPower
from pipeline.store.migrations import apply_pending, load_migrations

TOPIC_TABLE = {
    "telemetry.rack_power": "rack_power",
    "telemetry.gpu": "gpu_samples",
    "telemetry.link": "link_samples",
}
#: megawatch's own raw tables and columns (its migrations create them, materialized
#: views included): the peers store exactly what megawatch stores
COLUMNS = {
    "rack_power": (*RACK_POWER_COLUMNS, *RACK_ENERGY_COLUMNS, "kafka_cluster"),
    "gpu_samples": (*GPU_COLUMNS, *GPU_ENERGY_COLUMNS, "kafka_cluster"),
    "link_samples": (*LINK_COLUMNS, "kafka_cluster"),
}
CLUSTER = "peer"
MAX_GAP_MS = int(STALE_AFTER.default * 1000)
#: the link-health counters whose deltas are stored (d_fec_corrected ... d_transitions)
_HEALTH_COUNTERS = (
    "fec_corrected_codewords",
    "fec_uncorrectable_codewords",
    "symbol_errors",
    "rx_bits",
    "carrier_transitions",
)
_MAPS = ("rx_pause_frames", "tx_pause_frames", "rx_pause_us", "tx_pause_us")
_ARRAYS = ("rx_power_dbm", "tx_power_dbm")


def _batch_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    fields = {"__annotations__": {"events": list[model]}}  # type: ignore[valid-type]
    return TypeAdapter(type(f"{model.__name__}Batch", (BaseModel,), fields))


def integrate(
    state: dict[Any, tuple[int, float, int]], key: Any, ts: int, watts: float, reasons: int
) -> tuple[float, float, float, float, int]:
    """(interval_s, energy_j, gap_s, unknown_j, held_reasons) of the interval that a
    reading closes, and the reading kept as the entity's last (late ones: nothing)."""
    before = state.get(key)
    if before is not None and ts <= before[0]:
        return 0.0, 0.0, 0.0, 0.0, 0
    state[key] = (ts, watts, reasons)
    if before is None:
        return 0.0, 0.0, 0.0, 0.0, 0
    t0, w0, r0 = before
    dt = (ts - t0) / 1000.0
    if ts - t0 <= MAX_GAP_MS:
        return dt, (w0 + watts) * 0.5 * dt, 0.0, 0.0, r0
    return 0.0, 0.0, dt, w0 * dt, 0


class _Runner:
    """What megawatch's migrations need, over a plain clickhouse-connect client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def command(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.command(sql, parameters=params)

    def query_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return list(self.client.query(sql, parameters=params).result_rows)

    def insert_columns(
        self, table: str, column_names: Any, columns: Any, dedup_token: str | None = None
    ) -> None:
        self.client.insert(table, columns, column_names=list(column_names), column_oriented=True)


class PlainJob:
    def __init__(self, store_dir: Path, caps_w: dict[str, float], batch_rows: int) -> None:
        self.client = clickhouse_connect.get_client(dsn=f"chdb://{store_dir}")
        apply_pending(_Runner(self.client), load_migrations(), f"chdb://{store_dir}")
        self.adapters = {
            "telemetry.rack_power": _batch_adapter(RackPower),
            "telemetry.gpu": _batch_adapter(GpuSample),
            "telemetry.link": _batch_adapter(LinkCounters),
        }
        self.caps_w = caps_w
        self.batch_rows = batch_rows
        self.latest: dict[str, dict[str, tuple[int, float]]] = {}
        self.totals: dict[str, float] = {}
        self.over_cap: set[str] = set()
        self.alerts = 0
        self.gpus: dict[tuple[str, str], list[float]] = {}
        self.links: dict[tuple[str, str], tuple[int, int, int]] = {}
        self.health: dict[tuple[str, str, str], int] = {}  # (site, link, counter) -> last
        self.gpu_energy: dict[tuple[str, str, str], tuple[int, float, int]] = {}
        self.rack_energy: dict[tuple[str, str], tuple[int, float, int]] = {}
        self.buffers: dict[str, list[list[Any]]] = {t: [[] for _ in COLUMNS[t]] for t in COLUMNS}
        self.readings = 0
        self.stored = 0
        self.insert_s = 0.0

    def handle(self, topic: str, value: bytes, partition: int, offset: int) -> None:
        events = self.adapters[topic].validate_json(value).events
        if not events:
            return
        self.readings += len(events)
        table = TOPIC_TABLE[topic]
        rows = getattr(self, f"_{table}")(events, partition, offset)
        for column, values in zip(self.buffers[table], rows, strict=True):
            column.extend(values)

    def _rack_power(self, events: list[RackPower], partition: int, offset: int) -> list[list[Any]]:
        site = events[0].site
        latest = self.latest.setdefault(site, {})
        total = self.totals.get(site, 0.0)
        energy = [integrate(self.rack_energy, (site, e.rack), e.ts, e.power_w, 0) for e in events]
        for e in events:
            old = latest.get(e.rack)
            if old is None or e.ts > old[0]:
                total += e.power_w - (old[1] if old else 0.0)
                latest[e.rack] = (e.ts, e.power_w)
        self.totals[site] = total
        over = total > self.caps_w.get(site, float("inf"))
        if over != (site in self.over_cap):
            self.alerts += 1
            (self.over_cap.add if over else self.over_cap.discard)(site)
        n = len(events)
        return [
            [site] * n,
            [e.rack for e in events],
            [e.ts for e in events],
            [e.power_w for e in events],
            [e.pdu or "" for e in events],
            [e.source or "" for e in events],
            [partition] * n,
            [offset] * n,
            [""] * n,  # domains: the campus specs declare none
            *([step[i] for step in energy] for i in range(4)),
            [CLUSTER] * n,
        ]

    def _gpu_samples(self, events: list[GpuSample], partition: int, offset: int) -> list[list[Any]]:
        energy = []
        for e in events:
            agg = self.gpus.setdefault((e.site, e.rack), [0.0, 0.0, 0.0])
            agg[0] += 1
            agg[1] += e.util_pct
            agg[2] += e.power_w
            reasons = (e.clock_reasons or 0) & 0xFFFFFFFF
            energy.append(
                integrate(self.gpu_energy, (e.site, e.host, e.gpu), e.ts, e.power_w, reasons)
            )
        n = len(events)
        return [
            [e.site for e in events],
            [e.rack for e in events],
            [e.host for e in events],
            [e.gpu for e in events],
            [e.ts for e in events],
            [e.util_pct for e in events],
            [e.power_w for e in events],
            [e.vendor or "" for e in events],
            [e.model or "" for e in events],
            [e.mem_used_pct for e in events],
            [e.temp_c for e in events],
            [e.power_limit_w for e in events],
            [e.job or "" for e in events],
            [e.tenant or "" for e in events],
            [e.priority or "" for e in events],
            [e.clock_reasons for e in events],
            [partition] * n,
            [offset] * n,
            *([step[i] for step in energy] for i in range(5)),
            [CLUSTER] * n,
        ]

    def _link_samples(
        self, events: list[LinkCounters], partition: int, offset: int
    ) -> list[list[Any]]:
        out: list[list[Any]] = [[] for _ in COLUMNS["link_samples"]]
        for e in events:
            key = (e.site, e.link)
            now = (e.tx_packets, e.rx_packets, e.dropped_packets)
            before = self.links.get(key)
            self.links[key] = now
            baseline = before is None
            reset = not baseline and any(a < b for a, b in zip(now, before, strict=True))
            d_tx = d_rx = d_dropped = 0
            loss = None
            if not baseline and not reset:
                d_tx, d_rx, d_dropped = (a - b for a, b in zip(now, before, strict=True))
                loss = d_dropped / d_tx if d_tx else None
            row = (
                e.site,
                e.link,
                e.link_class.value,
                e.peer_site or "",
                e.ts,
                *now,
                e.error_packets,
                d_tx,
                d_rx,
                d_dropped,
                int(baseline),
                int(reset),
                loss,
                *self._health(e),
                partition,
                offset,
                CLUSTER,
            )
            for column, value in zip(out, row, strict=True):
                column.append(value)
        return out

    def _health(self, e: LinkCounters) -> tuple[Any, ...]:
        """The link-health columns of a sample: as reported, then derived (counter
        deltas, pause-time deltas per priority, the sample's post-FEC BER)."""
        reported = [getattr(e, name) for name in HEALTH_FIELDS]
        stored = [
            {} if v is None and n in _MAPS else [] if v is None and n in _ARRAYS else v
            for n, v in zip(HEALTH_FIELDS, reported, strict=True)
        ]
        if e.carrier_up is not None:
            stored[HEALTH_FIELDS.index("carrier_up")] = int(e.carrier_up)
        deltas = [self._delta(e, name) for name in _HEALTH_COUNTERS]
        pause = [
            {p: self._delta(e, f"{name}:{p}", us) for p, us in (getattr(e, name) or {}).items()}
            for name in ("rx_pause_us", "tx_pause_us")
        ]
        ber = deltas[2] / deltas[3] if deltas[3] else None
        return (*stored, *deltas, *pause, ber, None)

    def _delta(self, e: LinkCounters, name: str, value: int | None = None) -> int:
        value = getattr(e, name) if value is None else value
        if value is None:
            return 0
        before = self.health.get((e.site, e.link, name))
        self.health[(e.site, e.link, name)] = value
        return value - before if before is not None and value >= before else 0

    def buffered(self) -> int:
        return sum(len(columns[0]) for columns in self.buffers.values())

    def flush(self) -> None:
        """Insert every table's buffered rows (column-oriented), then clear them."""
        started = time.perf_counter()
        for table, columns in self.buffers.items():
            if not columns[0]:
                continue
            self.client.insert(
                table, columns, column_names=list(COLUMNS[table]), column_oriented=True
            )
            self.stored += len(columns[0])
            self.buffers[table] = [[] for _ in COLUMNS[table]]
        self.insert_s += time.perf_counter() - started
