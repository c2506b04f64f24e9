"""Rows of the power-wave tables, as columns (one list per column), in the order of
sql/migrations/011_power_waves.sql.

* ``power_wave``: one row per event received (the samples it brought, how many came too
  late for their cells), with its Kafka position: the ingest ledger of the stream;
* ``power_wave_samples``: the raw samples, one row per event, only when
  ``MEGAWATCH_WAVE_STORE_SAMPLES`` is set (their own retention);
* ``wave_features``: one row per stride of event time for the site and each domain;
* ``load_drops``, ``fleet_incidents``: what the drop rules saw;
* ``dr_tracking``, ``dr_events``: demand response, per stride and per event.

Unknown values (a window with unknown cells) are NULL, never NaN or 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pipeline.core.wave.dr import DrStep
from pipeline.core.wave.drops import Drop
from pipeline.core.wave.incidents import Incident
from pipeline.core.wave.reader import Stride
from pipeline.core.wave.spectrum import Band

Columns = list[list[Any]]

POWER_WAVE_COLUMNS = (
    "site",
    "shard",
    "rack",
    "meter",
    "ts",
    "interval_ms",
    "samples",
    "late",
    "min_w",
    "max_w",
    "source",
    "kafka_partition",
    "kafka_offset",
)
SAMPLE_COLUMNS = (
    "site",
    "rack",
    "meter",
    "ts",
    "interval_ms",
    "power_w",
    "kafka_partition",
    "kafka_offset",
)
FEATURE_COLUMNS = (
    "site",
    "domain",
    "region",
    "ts",
    "stride_ms",
    "cells",
    "known_cells",
    "avg_w",
    "held_w",
    "mean_w",
    "swing_w",
    "ramp_1s_w",
    "ramp_10s_w",
    "dominant_hz",
    "dominant_w",
    "band_lo_hz",
    "band_hi_hz",
    "band_w",
)
DROP_COLUMNS = ("site", "region", "at", "peak_at", "before_w", "after_w", "lost_ratio")
INCIDENT_COLUMNS = (
    "region",
    "start_at",
    "sites",
    "drop_at",
    "before_w",
    "after_w",
    "lost_w",
    "timeline",
)
DR_TRACKING_COLUMNS = (
    "event_id",
    "scope",
    "ts",
    "start_at",
    "cells",
    "known_cells",
    "graced_cells",
    "on_cells",
    "reached_at",
    "actual_wms",
    "baseline_wms",
    "target_wms",
    "actual_w",
    "target_w",
)
DR_EVENT_COLUMNS = (
    "event_id",
    "scope",
    "is_region",
    "start_at",
    "end_at",
    "ceiling_mw",
    "reduction_pct",
    "program",
    "cancelled",
    "baseline_method",
    "baseline_days",
    "baseline_mw",
    "sites",
)


def empty(columns: Sequence[str]) -> Columns:
    return [[] for _ in columns]


def known(value: float) -> float | None:
    """A float as stored: NULL for NaN (unknown)."""
    value = float(value)
    return None if math.isnan(value) else value


def feature_rows(
    out: Columns,
    site: str,
    region: str,
    domains: Sequence[str],
    bands: Sequence[Band],
    stride: Stride,
    stride_ms: int,
) -> None:
    """One row for the site (domain ``''``) and one per domain, of one stride."""
    f = stride.features
    lo = [band.lo_hz for band in bands]
    hi = [band.hi_hz for band in bands]
    held = float(stride.held_w.mean()) if stride.cells else 0.0
    for row, domain in enumerate(("", *domains)):
        ramps = f.ramp_w[row]
        values = (
            site,
            domain,
            region,
            stride.end_ms,
            stride_ms,
            stride.cells,
            stride.known(row),
            known(stride.average_w(row)),
            held if row == 0 else 0.0,
            known(f.mean_w[row]),
            known(f.swing_w[row]),
            known(ramps[0]) if len(ramps) else None,
            known(ramps[-1]) if len(ramps) > 1 else None,
            known(f.dominant_hz[row]),
            known(f.dominant_w[row]),
            lo,
            hi,
            [known(a) for a in f.band_w[row]],
        )
        for column, value in zip(out, values, strict=True):
            column.append(value)


def drop_row(out: Columns, drop: Drop) -> None:
    values = (
        drop.site,
        drop.region or "",
        drop.at_ms,
        drop.peak_ms,
        drop.before_w,
        drop.after_w,
        drop.lost_ratio,
    )
    for column, value in zip(out, values, strict=True):
        column.append(value)


def incident_row(out: Columns, incident: Incident) -> None:
    d = incident.drops
    values = (
        incident.region or "",
        incident.start_ms,
        [x.site for x in d],
        [x.at_ms for x in d],
        [x.before_w for x in d],
        [x.after_w for x in d],
        incident.lost_w,
        incident.timeline(),
    )
    for column, value in zip(out, values, strict=True):
        column.append(value)


def dr_tracking_row(out: Columns, event_id: str, scope: str, step: DrStep) -> None:
    values = (
        event_id,
        scope,
        step.end_ms,
        step.start_ms,
        step.cells,
        step.known,
        step.graced,
        step.on,
        step.reached_ms,
        step.actual_wms,
        step.baseline_wms if not math.isnan(step.baseline_wms) else None,
        step.target_wms if not math.isnan(step.target_wms) else None,
        known(step.actual_w),
        known(step.target_w),
    )
    for column, value in zip(out, values, strict=True):
        column.append(value)
