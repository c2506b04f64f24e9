"""A small fixed set of power-wave rows, for the dashboards', named queries', report's and
digest's SQL checks (rows as the worker writes them: pipeline/core/wave/rows.py).

Site ``ams-1`` (region ``eu``) from 10:00: three strides of features for the site and
its domain ``hall-a``; a load drop of 40 % at 10:01 and a fleet incident with ``fra-2``
0.4 s later; a demand-response event ``ev-1`` (-20 % of a 5 MW baseline, 10:00-10:05)
measured in one row per minute:

=======  ======  ===========  =========  ============
minute   actual  on target    graced     reached
=======  ======  ===========  =========  ============
10:00    4.5 MW  600 of 1200  none       10:00:30
10:01    4.0     1200         1200
10:02    4.0     1200         1200
10:03    4.0     1200         1200
10:04    4.2     600          1200
=======  ======  ===========  =========  ============

so: time to target 30 s, compliance (1200 * 3 + 600) / 4800 = 87.5 %, curtailed
(0.5 + 1 + 1 + 1 + 0.8) MW x 1 min = 4.3 MW min = 0.0716667 MWh of 5 MW min requested.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pipeline.core.wave.rows import (
    DR_EVENT_COLUMNS,
    DR_TRACKING_COLUMNS,
    DROP_COLUMNS,
    FEATURE_COLUMNS,
    INCIDENT_COLUMNS,
)

MW = 1e6
ACTUAL_MW = (4.5, 4.0, 4.0, 4.0, 4.2)
ON = (600, 1200, 1200, 1200, 600)
CURTAILED_MWH = 4.3 / 60
REQUESTED_MWH = 5.0 / 60
COMPLIANCE_PCT = 87.5


def load_wave_rows(store: Any, site: str, start: datetime) -> None:
    ms = int(start.timestamp() * 1000)
    _insert(store, "wave_features", FEATURE_COLUMNS, _features(site, ms))
    _insert(
        store,
        "load_drops",
        DROP_COLUMNS,
        [(site, "eu", ms + 60_000, ms + 59_500, 5 * MW, 3 * MW, 0.4)],
    )
    timeline = [
        f"+0.00 s  {site}: 5.0 MW -> 3.0 MW (-40%)",
        "+0.40 s  fra-2: 10.0 MW -> 7.0 MW (-30%)",
    ]
    _insert(
        store,
        "fleet_incidents",
        INCIDENT_COLUMNS,
        [
            (
                "eu",
                ms + 60_000,
                [site, "fra-2"],
                [ms + 60_000, ms + 60_400],
                [5 * MW, 10 * MW],
                [3 * MW, 7 * MW],
                5 * MW,
                timeline,
            )
        ],
    )
    event = (
        "ev-1",
        site,
        0,
        ms,
        ms + 300_000,
        None,
        20.0,
        "test program",
        0,
        "high 5 of 10 days (site power per minute from wave_features)",
        [(start - timedelta(days=d)).date() for d in range(1, 6)],
        5.0,
        [site],
    )
    _insert(store, "dr_events", DR_EVENT_COLUMNS, [event])
    _insert(store, "dr_tracking", DR_TRACKING_COLUMNS, _tracking(site, ms))


def _features(site: str, ms: int) -> list[tuple[Any, ...]]:
    rows = []
    for stride in range(1, 4):
        for domain, scale in (("", 1.0), ("hall-a", 0.6)):
            rows.append(
                (
                    site,
                    domain,
                    "eu",
                    ms + stride * 1000,
                    1000,
                    20,
                    20,
                    5 * MW * scale,
                    0.0,
                    5 * MW * scale,
                    1 * MW * scale,
                    0.4 * MW * scale,
                    0.9 * MW * scale,
                    0.5,
                    0.5 * MW * scale,
                    [0.1, 3.0],
                    [2.0, 30.0],
                    [0.5 * MW * scale, 0.01 * MW * scale],
                )
            )
    return rows


def _tracking(site: str, ms: int) -> list[tuple[Any, ...]]:
    rows = []
    for minute, (actual, on) in enumerate(zip(ACTUAL_MW, ON, strict=True)):
        start = ms + minute * 60_000
        rows.append(
            (
                "ev-1",
                site,
                start + 60_000,
                start,
                1200,
                1200,
                0 if minute == 0 else 1200,
                0 if minute == 0 else on,
                ms + 30_000 if minute == 0 else None,
                actual * MW * 60_000,
                5 * MW * 60_000,
                4 * MW * 60_000,
                actual * MW,
                4 * MW,
            )
        )
    return rows


def _insert(store: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    store.insert_columns(table, columns, [list(column) for column in zip(*rows, strict=True)])
