"""A message's readings as the columns of its table, and what they do to live state.

The processor (:mod:`pipeline.core.processor`) stores every valid reading and feeds it
to the live state of its key (:class:`pipeline.core.site.SiteMonitor`). Both happen
here, column-wise: rows are built as columns (one list per column, the shape
column-oriented inserts want, in the orders of :mod:`pipeline.core.rows`), and GPU
samples and link counters reach their racks and links through one call per run of
samples or one ``map`` over the columns, never a Python loop body per reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, islice
from operator import ne, or_
from typing import Any

import numpy as np

from pipeline.core.columnar import column as field_column
from pipeline.core.columnar import or_empty
from pipeline.core.energy.book import EnergyBook
from pipeline.core.gpu import board_power_w
from pipeline.core.link_health import HEALTH_FIELDS, HealthRow
from pipeline.core.rows import GPU_COLUMNS, Columns
from pipeline.core.site import SiteMonitor
from pipeline.events import GpuSample, LinkClass, LinkCounters, RackPower

#: the event fields of a GPU row: its columns between the site and the Kafka position
_GPU_FIELDS = GPU_COLUMNS[1 : GPU_COLUMNS.index("kafka_partition")]
_LINK_COUNTERS = ("ts", "tx_packets", "rx_packets", "dropped_packets", "error_packets")
_LINK_CLASS_TEXT = {member: member.value for member in LinkClass}


def rack_power_columns(events: Sequence[RackPower], partition: int, offset: int) -> Columns:
    """The rows of table rack_power (columns 1-3: rack, ts, power_w: what live state
    takes)."""
    n = len(events)
    return [
        [events[0].site] * n,
        field_column(events, "rack"),
        field_column(events, "ts"),
        field_column(events, "power_w"),
        or_empty(field_column(events, "pdu")),
        or_empty(field_column(events, "source")),
        [partition] * n,
        [offset] * n,
    ]


def gpu_columns(
    monitor: SiteMonitor,
    events: Sequence[GpuSample],
    partition: int,
    offset: int,
    energy: EnergyBook,
    max_gap_ms: int,
) -> Columns:
    """The rows of table gpu_samples (:data:`pipeline.core.rows.GPU_COLUMNS`, then
    :data:`pipeline.core.rows.GPU_ENERGY_COLUMNS`); the samples fed to their racks' GPU
    state and integrated in the key's energy state (labelled from ``energy``'s job map)."""
    got = {name: field_column(events, name) for name in _GPU_FIELDS}
    _aggregate_gpus(monitor, got)
    labels, intervals = energy.gpu_columns(monitor.site, monitor.energy, got, max_gap_ms)
    n = len(events)
    return [
        [events[0].site] * n,
        got["rack"],
        got["host"],
        got["gpu"],
        got["ts"],
        got["util_pct"],
        got["power_w"],
        or_empty(got["vendor"]),
        or_empty(got["model"]),
        got["mem_used_pct"],
        got["temp_c"],
        got["power_limit_w"],
        *labels,
        [partition] * n,
        [offset] * n,
        *intervals,
    ]


def link_columns(
    monitor: SiteMonitor, events: Sequence[LinkCounters], partition: int, offset: int
) -> tuple[Columns, set[str]]:
    """The rows of table link_samples (column 1: the links), with each sample's deltas
    and loss from its link's state, which it moves forward; and the links whose samples
    carried link-health fields."""
    links, classes = field_column(events, "link"), field_column(events, "link_class")
    peers = field_column(events, "peer_site")
    counters = [field_column(events, name) for name in _LINK_COUNTERS]
    # One map over the columns, then a transpose: no per-sample Python loop body.
    deltas = map(monitor.observe_link, links, classes, peers, *counters[:4])
    d_tx, d_rx, d_dropped, baseline, reset, _late, loss = map(list, zip(*deltas, strict=True))
    reported, derived, health = _link_health(monitor, events, links, counters[0])
    n = len(events)
    columns: Columns = [
        [events[0].site] * n,
        links,
        list(map(_LINK_CLASS_TEXT.__getitem__, classes)),
        or_empty(peers),
        *counters,
        d_tx,
        d_rx,
        d_dropped,
        list(map(int, baseline)),
        list(map(int, reset)),
        loss,
        *reported,
        *derived,
        [partition] * n,
        [offset] * n,
    ]
    return columns, health


#: what a sample without link-health fields stores in the derived columns
_NO_HEALTH = HealthRow(0, 0, 0, 0, 0, {}, {}, None, None)
#: a map or array field -> what its store column holds where a sample has none (one
#: object per field, shared by its rows: the columns are only read)
_EMPTY: dict[str, Any] = {
    name: [] if name.endswith("_dbm") else {}
    for name in (
        *("rx_pause_frames", "tx_pause_frames", "rx_pause_us", "tx_pause_us"),
        *("rx_power_dbm", "tx_power_dbm"),
    )
}


def _link_health(
    monitor: SiteMonitor, events: Sequence[LinkCounters], links: list[str], stamps: list[int]
) -> tuple[Columns, Columns, set[str]]:
    """The link-health columns as stored (maps and arrays empty, flags 0/1, where a
    sample has none), the derived ones, and the links whose samples carried any.

    Most messages carry none: that is told by one ``count`` per field, in C, and costs
    no per-sample Python."""
    reported = [field_column(events, name) for name in HEALTH_FIELDS]
    n = len(links)
    if all(column.count(None) == n for column in reported):
        stored = list(map(_stored, HEALTH_FIELDS, reported))
        return stored, [[value] * n for value in _NO_HEALTH], set()
    rows: list[HealthRow] = []
    health: set[str] = set()
    for link, ts, sample in zip(links, stamps, zip(*reported, strict=True), strict=True):
        if sample.count(None) == len(sample):
            rows.append(_NO_HEALTH)
            continue
        rows.append(monitor.observe_health(link, ts, sample))
        health.add(link)
    stored = list(map(_stored, HEALTH_FIELDS, reported))
    return stored, list(map(list, zip(*rows, strict=True))), health


def _stored(name: str, values: list[Any]) -> list[Any]:
    """A link-health column as its store column takes it: a map or array is never
    null (empty instead), a flag is 0/1."""
    if name == "carrier_up":
        if values.count(None) == len(values):
            return values
        return [None if v is None else int(v) for v in values]
    empty = _EMPTY.get(name)
    if empty is None:
        return values
    absent = values.count(None)
    if absent == 0:
        return values
    return (
        [empty] * absent if absent == len(values) else [empty if v is None else v for v in values]
    )


def _aggregate_gpus(monitor: SiteMonitor, got: dict[str, list[Any]]) -> None:
    """Feed a message's GPU samples to their racks, one ``add`` per run of samples of the
    same rack and instant (agents send a host's or rack's GPUs of a tick together).

    Column-wise: the runs start where the rack or the instant changes from the sample
    before, and each run's sums and maximum are numpy segment reductions (``reduceat``)
    over the message's columns, so Python does one ``add`` call per run and nothing per
    sample (a per-sample loop cost ~1 us a reading; slices and ``sum`` per run, with
    runs of a host's 4-8 GPUs, ~0.4 us)."""
    racks, stamps = got["rack"], got["ts"]
    n = len(racks)
    if not n:
        return
    changed = map(
        or_, map(ne, racks, islice(racks, 1, None)), map(ne, stamps, islice(stamps, 1, None))
    )
    starts = [0, *compress(range(1, n), changed)]
    util = np.array(got["util_pct"], np.float64)
    sums = np.add.reduceat(util, starts).tolist()
    peaks = np.maximum(np.maximum.reduceat(util, starts), 0.0).tolist()
    watts = np.add.reduceat(np.array(got["power_w"], np.float64), starts).tolist()
    reported = got["power_limit_w"]
    # no limit reported: the model's board power, else unknown; reported ones are > 0
    limits = list(map(board_power_w, got["model"], reported)) if None in reported else reported
    if None in limits:
        unknown = np.add.reduceat(np.array([w is None for w in limits], np.int64), starts).tolist()
        limits = [w or 0.0 for w in limits]
    else:
        unknown = [0] * len(starts)
    limit_sums = np.add.reduceat(np.array(limits, np.float64), starts).tolist()
    counts = np.diff([*starts, n]).tolist()
    for i, at in enumerate(starts):
        monitor.rack_gpus(racks[at]).add(
            stamps[at], counts[i], sums[i], peaks[i], watts[i], limit_sums[i], unknown[i]
        )
