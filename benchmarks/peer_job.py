"""The job megawatch does, written plainly: what the peers of ``peers.py`` run.

Per message: validate with the same pydantic models (one ``validate_json`` per batch, as
a careful plain implementation would), keep the latest power per rack and the site
totals with cap checks, GPU aggregates per rack, link deltas and loss ratios from
cumulative counters (a counter going down is a reset), and buffer the raw rows as
columns for a column-oriented clickhouse-connect insert into chDB, into megawatch's own
tables (its migrations, materialized views included). No Faust, no
dead letters, no ledger lookups, no ordered acks: the lower bound of what the job costs in Python.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import clickhouse_connect
from pydantic import BaseModel, TypeAdapter

from pipeline.core.rows import GPU_COLUMNS, LINK_COLUMNS, RACK_POWER_COLUMNS
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
    "rack_power": (*RACK_POWER_COLUMNS, "kafka_cluster"),
    "gpu_samples": (*GPU_COLUMNS, "kafka_cluster"),
    "link_samples": (*LINK_COLUMNS, "kafka_cluster"),
}
CLUSTER = "peer"


def _batch_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    fields = {"__annotations__": {"events": list[model]}}  # type: ignore[valid-type]
    return TypeAdapter(type(f"{model.__name__}Batch", (BaseModel,), fields))


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
            [CLUSTER] * n,
        ]

    def _gpu_samples(self, events: list[GpuSample], partition: int, offset: int) -> list[list[Any]]:
        for e in events:
            agg = self.gpus.setdefault((e.site, e.rack), [0.0, 0.0, 0.0])
            agg[0] += 1
            agg[1] += e.util_pct
            agg[2] += e.power_w
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
            [partition] * n,
            [offset] * n,
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
                partition,
                offset,
                CLUSTER,
            )
            for column, value in zip(out, row, strict=True):
                column.append(value)
        return out

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
