"""A small fixed set of energy rollup rows, for the dashboards' and queries' SQL checks.

One site, one hour: two jobs on two racks (kWh worked out in the comments), a rack PDU
that meters 10 kWh more than its GPUs, a utility meter at PUE 1.25, a vLLM counter.
Rows go straight into the hourly rollups, as their views would write them (the GPU set
of a row through ``uniqState``, as the view makes it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

KWH = 3.6e6


def load_energy_rollups(store: Any, site: str, hour: datetime) -> None:
    stamp = f"toDateTime64('{hour:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"
    gpu_rows = [
        # job, tenant, priority, rack, host, gpu-seconds, kWh, capped seconds
        ("j1", "lab", "training", "r1", "r1-h1", 4 * 3600, 2.4, 0),
        ("j1", "lab", "training", "r1", "r1-h2", 4 * 3600, 2.4, 0),
        ("j2", "shop", "inference", "r2", "r2-h1", 4 * 3600, 1.6, 3600),
    ]
    for job, tenant, priority, rack, host, gpu_s, kwh, capped in gpu_rows:
        store.command(
            f"INSERT INTO gpu_energy_1h SELECT '{site}', {stamp}, '{job}', '{tenant}', "
            f"'{priority}', '{rack}', '{host}', 'nvidia', 'H100', 720, {gpu_s}, {kwh * KWH}, "
            f"0, 0, {capped}, {capped}, 0, 0, arrayReduce('uniqState', "
            f"['{host}', '{host}', '{host}', '{host}'], ['0', '1', '2', '3'])"
        )
    racks = [("r1", 4.8 + 0.8), ("r2", 1.6 + 10.0)]  # hosts' overhead; r2 runs 10 kWh more
    for rack, kwh in racks:
        store.command(
            f"INSERT INTO rack_energy_1h SELECT '{site}', {stamp}, '{rack}', 'hall-a', 720, 3600, "
            f"{kwh * KWH}, 0, 0"
        )
    it = sum(kwh for _, kwh in racks)
    store.command(
        f"INSERT INTO facility_energy_1h SELECT '{site}', {stamp}, 'main', 'utility', 720, "
        f"3600, {1.25 * it * KWH}, 0, 0"
    )
    store.command(
        f"INSERT INTO work_1h SELECT '{site}', {stamp}, 'r2-h1', '', 'generation_tokens', "
        f"'llama-70b', 720, {2.0 * 1.6 * KWH}, 0"
    )
