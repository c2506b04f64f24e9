"""The rows of the two kinds only energy reads: facility meters and work counters.

One call per message from :class:`pipeline.core.processor.Processor`: the columns of
``facility_power`` (:data:`pipeline.core.rows.FACILITY_COLUMNS`: each reading with the
interval it closes) and of ``work_samples`` (:data:`pipeline.core.rows.WORK_COLUMNS`:
each reading with its delta), from the message key's
:class:`pipeline.core.energy.book.SiteEnergy`. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.core.columnar import column, or_empty
from pipeline.core.energy.book import SiteEnergy
from pipeline.events import FacilityPower, WorkCounter

Columns = list[list[Any]]
_WORK_FIELDS = ("host", "job", "counter", "served_model", "source", "ts", "total")


def facility_rows(
    state: SiteEnergy,
    events: Sequence[FacilityPower],
    partition: int,
    offset: int,
    max_gap_ms: int,
) -> Columns:
    site, n = events[0].site, len(events)
    meters, ts, watts = column(events, "meter"), column(events, "ts"), column(events, "power_w")
    kinds = [kind.value for kind in column(events, "meter_kind")]
    energy = state.facility_columns(meters, ts, watts, max_gap_ms)
    return [[site] * n, meters, kinds, ts, watts, *energy, [partition] * n, [offset] * n]


def work_rows(
    state: SiteEnergy, events: Sequence[WorkCounter], partition: int, offset: int
) -> Columns:
    site, n = events[0].site, len(events)
    got = {name: column(events, name) for name in _WORK_FIELDS}
    host, job = or_empty(got["host"]), or_empty(got["job"])
    model = or_empty(got["served_model"])
    keys = list(zip(host, job, got["counter"], model, strict=True))
    deltas = state.work_columns(keys, got["ts"], got["total"])
    return [
        [site] * n,
        host,
        job,
        got["counter"],
        model,
        or_empty(got["source"]),
        got["ts"],
        got["total"],
        *deltas,
        [partition] * n,
        [offset] * n,
    ]
