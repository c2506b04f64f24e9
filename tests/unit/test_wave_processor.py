"""The wave stream's core as the worker runs it (:class:`WaveProcessor`): messages in,
ticks out, shards on two "workers" joined through the wire format, a region's drops
grouped, demand response measured; and a steady site that raises nothing in an hour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pipeline.core.alert_book import AlertBook
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.wave.demand import BaselineFound
from pipeline.core.wave.processor import WaveOutcome, WaveProcessor
from pipeline.core.wave.rows import DR_TRACKING_COLUMNS, FEATURE_COLUMNS
from pipeline.core.wave.stage import WaveConfig
from pipeline.events import DemandResponse, PowerWave, SiteSpec

T0 = 1_785_168_000_000
STEP = 50
Signal = Callable[[np.ndarray], np.ndarray]  # seconds -> W of one meter


class Fleet:
    """Processors ("workers") sharing specs and alert books, as the worker wires them."""

    def __init__(self, specs: list[dict[str, Any]], config: WaveConfig | None = None) -> None:
        self.config = config or WaveConfig()
        rules = RuleConfig()
        self.policies = {
            s["site"]: SitePolicy.of(s["site"], SiteSpec.model_validate(s), rules) for s in specs
        }
        self.books: dict[str, AlertBook] = {}

    def processor(self, stages_here: bool = True) -> WaveProcessor:
        return WaveProcessor(
            self.config,
            lambda site: self.policies.get(site) or SitePolicy.of(site, None, RuleConfig()),
            lambda key, partition: self.books.setdefault(key, AlertBook(key)),
            (lambda site: 0) if stages_here else (lambda site: None),
        )


def waves(site: str, meters: list[str], signal: Signal, second: int) -> list[PowerWave]:
    t = second + STEP * np.arange(20) / 1000
    values = signal(t).tolist()
    return [
        PowerWave.model_construct(
            site=site, rack=m, ts=T0 + second * 1000, interval_ms=STEP, power_w=values
        )
        for m in meters
    ]


def run(
    processor: WaveProcessor,
    key: str,
    signal: Signal,
    seconds: int,
    meters: int = 10,
    on_tick: Callable[[int, WaveOutcome], None] = lambda s, out: None,
) -> None:
    site = key.split("/")[0]
    names = [f"m{i}" for i in range(meters)]
    for second in range(seconds):
        processor.wave(waves(site, names, signal, second), 0, second, 0, key)
        on_tick(second, processor.tick(T0 + (second + 1) * 1000 + 2100))


def features(out: WaveOutcome) -> list[dict[str, Any]]:
    columns = out.stage.features
    return [dict(zip(FEATURE_COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)]


def test_a_site_on_two_workers_reads_as_on_one() -> None:
    """Half the meters keyed s/row0 on a worker that does not own the site stage (its
    blocks go over the wire), half s/row1 where the stage is: the same features as one
    processor reading every meter under the plain key (up to the order of additions)."""
    fleet = Fleet([{"site": "s", "cap_mw": 10}])

    def signal_of(offset: float) -> Signal:
        return lambda t: 1e5 * (1 + 0.2 * np.sin(2 * np.pi * 0.5 * t + offset))

    one, far, near = fleet.processor(), fleet.processor(False), fleet.processor()
    alone: list[dict[str, Any]] = []
    split: list[dict[str, Any]] = []
    for second in range(30):
        for i, proc_key in enumerate(("s/row0", "s/row1")):
            names = [f"r{i}m{m}" for m in range(5)]
            events = waves("s", names, signal_of(i), second)
            one.wave(events, 0, second, 0, "s")
            (far if i == 0 else near).wave(events, 0, second, 0, proc_key)
        now = T0 + (second + 1) * 1000 + 2100
        alone += features(one.tick(now))
        for record in far.tick(now).blocks:
            near.receive_block(record[1], 0, now)
        split += features(near.tick(now))
    by_ts = {r["ts"]: r for r in split}
    common = [r for r in alone if r["ts"] in by_ts and r["mean_w"] is not None]
    assert len(common) > 10
    for row in common:
        other = by_ts[row["ts"]]
        for name, value in row.items():
            if isinstance(value, float) or (
                isinstance(value, list) and value and isinstance(value[0], float)
            ):
                assert other[name] == pytest.approx(value, rel=1e-12, abs=1e-6), name
            else:
                assert other[name] == value, name


def test_a_steady_site_with_incoherent_noise_raises_nothing_in_an_hour() -> None:
    """100 meters of 100 kW, 2 % white noise each (20 kW on the site's 10 MW): an hour
    of strides against a ramp limit of 3 % of the load per second, band limits of 0.5 %
    and the default drop ratio: no alert, no drop."""
    spec = {
        "site": "calm",
        "cap_mw": 20,
        "ramp_limit_mw_per_s": 0.3,
        "oscillation_limits": [
            {"band_hz": [0.1, 2], "max_mw": 0.05},
            {"band_hz": [3, 10], "max_mw": 0.05},
        ],
    }
    processor = Fleet([spec]).processor()
    rng = np.random.default_rng(11)
    names = [f"m{i}" for i in range(100)]
    strides, alerts = 0, []
    for second in range(3600):
        values = 1e5 * (1 + 0.02 * rng.standard_normal((100, 20)))
        events = [
            PowerWave.model_construct(
                site="calm", rack=m, ts=T0 + second * 1000, interval_ms=STEP, power_w=v.tolist()
            )
            for m, v in zip(names, values, strict=True)
        ]
        processor.wave(events, 0, second, 0, "calm")
        out = processor.tick(T0 + (second + 1) * 1000 + 2100)
        strides += len(out.stage.features[0])
        alerts += out.alerts
        assert not out.stage.drop_rows[0]
    assert strides >= 3590 and alerts == []


def test_drops_of_two_sites_of_a_region_make_one_fleet_incident() -> None:
    fleet = Fleet(
        [
            {"site": "a", "cap_mw": 10, "region": "east"},
            {"site": "b", "cap_mw": 10, "region": "east"},
            {"site": "c", "cap_mw": 10, "region": "west"},
        ]
    )
    proc = fleet.processor()
    at = {"a": 30.0, "b": 30.6, "c": 30.3}
    alerts = []
    rows: list[list[Any]] = []
    for second in range(60):
        for site, when in at.items():
            signal = (lambda w: lambda t: 1e5 * np.where(t >= w, 0.6, 1.0))(when)
            proc.wave(waves(site, ["m0", "m1"], signal, second), 0, second, 0, site)
        now = T0 + (second + 1) * 1000 + 2100
        out = proc.tick(now)
        for _region, record in out.regional:
            proc.receive_regional(record, 0, now)
        alerts += out.alerts
        rows += list(zip(*out.region.incidents, strict=True))
    fired = sorted((a.rule, a.site, a.status.value) for a in alerts if a.status.value == "firing")
    assert fired == [
        ("fleet_load_drop", "east", "firing"),
        ("load_drop", "a", "firing"),
        ("load_drop", "b", "firing"),
        ("load_drop", "c", "firing"),
    ]
    (incident,) = rows  # c is in another region: alone, no incident
    assert incident[0] == "east" and incident[2] == ["a", "b"]
    assert incident[3] == [T0 + 30_000, T0 + 30_600]
    fleet_alert = next(a for a in alerts if a.rule == "fleet_load_drop")
    assert "+0.60 s  b: 0.2 MW -> 0.1 MW (-40%)" in fleet_alert.summary


def test_demand_response_rows_add_up_to_the_tracker_and_a_cancel_ends_it() -> None:
    fleet = Fleet([{"site": "d", "cap_mw": 10}])
    proc = fleet.processor()
    event = DemandResponse(
        id="e1", site="d", start_ts=T0 + 20_000, end_ts=T0 + 80_000, ceiling_mw=0.15
    )
    proc.demand.apply("e1", event.model_dump_json().encode())
    asked = proc.tick(T0).baselines
    assert [r.event.id for r in asked] == ["e1"] and asked[0].sites == ("d",)
    found = BaselineFound(np.full(5, 2e5), T0, 60_000, "test method")
    columns = proc.set_baseline(asked[0], found)
    assert columns[0] == ["e1"] and columns[9] == ["test method"]
    rows: list[tuple[Any, ...]] = []
    rewritten: list[tuple[Any, ...]] = []

    def cut(t: np.ndarray) -> np.ndarray:  # 2 meters of 100 kW, cut to 70 kW from +25 s
        return 1e5 * np.where(t >= 25, 0.7, 1.0)

    def collect(second: int, out: WaveOutcome) -> None:
        rows.extend(zip(*out.stage.dr_rows, strict=True))
        rewritten.extend(zip(*out.dr_events, strict=True))
        if second == 50:  # called off at +50 s: measured until then
            stop = event.model_copy(update={"end_ts": T0 + 50_000, "cancelled": True})
            proc.demand.apply("e1", stop.model_dump_json().encode())

    run(proc, "d", cut, 90, meters=2, on_tick=collect)
    (again,) = rewritten  # the event's row again, with its new end
    assert (again[0], again[4], again[8]) == ("e1", T0 + 50_000, 1)
    table = [dict(zip(DR_TRACKING_COLUMNS, r, strict=True)) for r in rows]
    assert sum(r["cells"] for r in table) == 30 * 20  # +20 s to +50 s
    assert min(r["reached_at"] for r in table if r["reached_at"]) == T0 + 25_000
    actual = sum(r["actual_wms"] for r in table) / 3.6e12
    assert actual == pytest.approx((5 * 2e5 + 25 * 1.4e5) / 3600 / 1e6, rel=1e-12)
    assert sum(r["baseline_wms"] for r in table) / 3.6e12 == pytest.approx(30 * 2e5 / 3.6e9)


def test_samples_for_closed_cells_are_counted_late() -> None:
    proc = Fleet([{"site": "s", "cap_mw": 10}]).processor()
    run(proc, "s", lambda t: np.full(len(t), 1e5), 10, meters=2)
    late = proc.wave(waves("s", ["m0"], lambda t: np.full(len(t), 1e5), 3), 0, 99, 0, "s")
    assert late.late == 20 and late.columns is not None and late.columns[7] == [20]
    fresh = proc.wave(waves("s", ["m0"], lambda t: np.full(len(t), 1e5), 10), 0, 100, 0, "s")
    assert fresh.late == 0


def test_revoked_partitions_forget_keys_and_stages() -> None:
    proc = Fleet([{"site": "s", "cap_mw": 10}]).processor()
    run(proc, "s", lambda t: np.full(len(t), 1e5), 3, meters=1)
    assert set(proc.keys) == {"s"} and set(proc.stages) == {"s"}
    assert proc.revoke({0}) == ["s", "s"]
    assert not proc.keys and not proc.stages
