"""Every named query on a small fixed data set in the real embedded store.

Raw rows go into the raw tables; the per-minute rollups fill through their materialized
views, as in production. The expected numbers are worked out by hand in the comments
next to them, from the rows below, not produced by the queries under test.

The window of every query is 09:10-10:10 UTC on 2026-11-20 (``since_s=3600``,
``until=10:10``); a few rows lie outside it on purpose and must not count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.core.rows import DOMAIN_POWER_COLUMNS, LINK_COLUMNS, SITE_POWER_COLUMNS
from pipeline.events import LinkCounters
from pipeline.store import Store, named_queries, named_query

pytestmark = pytest.mark.integration

T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 10:00:00
UNTIL = T + timedelta(minutes=10)
WINDOW = {"since_s": 3600, "until": UNTIL}
MW = 1_000_000.0


def at(minute: int, second: float = 0.0, hour: int = 10) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC) + timedelta(seconds=second)


def insert(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    store.insert_columns(table, names, [[row[n] for row in rows] for n in names])


# --- the data set ----------------------------------------------------------------------
def site_power_rows() -> list[dict[str, Any]]:
    """Four samples a minute (:00 :15 :30 :45). ams-1: cap 5 MW, warning at 0.9 (4.5 MW);
    fra-2: cap 10 MW, warning at 0.8 (8 MW); ord-1: no cap."""
    series = {
        # site: (region, cap MW, warn MW, {minute: [MW at :00, :15, :30, :45]})
        "ams-1": ("eu", 5.0, 4.5, {0: [4.0, 4.6, 4.6, 4.6], 1: [4.8, 5.2, 5.2, 4.8], 2: [4.2] * 4}),
        "fra-2": ("eu", 10.0, 8.0, {0: [7.0] * 4, 1: [8.0, 8.0, 7.0, 7.0], 2: [6.0] * 4}),
        "ord-1": ("us", None, None, {0: [1.0] * 4, 1: [1.0] * 4, 2: [2.0] * 4}),
    }
    rows = []
    for site, (region, cap, warn, minutes) in series.items():
        for minute, values in minutes.items():
            for i, mw in enumerate(values):
                rows.append(site_power_row(site, region, at(minute, 15 * i), mw, cap, warn))
    # outside the window: before its start and after its end
    rows.append(site_power_row("ams-1", "eu", at(0, hour=8), 9.0, 5.0, 4.5))
    rows.append(site_power_row("ams-1", "eu", at(15), 9.0, 5.0, 4.5))
    return rows


def site_power_row(
    site: str, region: str, ts: datetime, mw: float, cap: float | None, warn: float | None
) -> dict[str, Any]:
    return {
        "site": site,
        "ts": ts,
        "total_w": mw * MW,
        "cap_w": None if cap is None else cap * MW,
        "warn_w": None if warn is None else warn * MW,
        "headroom_w": None if cap is None else (cap - mw) * MW,
        "racks": 10,
        "stale_racks": 0,
        "warming": 0,
        "region": region,
    }


def rack_power_rows() -> list[dict[str, Any]]:
    def row(site: str, rack: str, ts: datetime, kw: float) -> dict[str, Any]:
        return {
            "site": site,
            "rack": rack,
            "ts": ts,
            "power_w": kw * 1000,
            "kafka_partition": 0,
            "kafka_offset": 0,
        }

    return [
        row("ams-1", "r01", at(0), 100),
        row("ams-1", "r01", at(0, 30), 200),
        row("ams-1", "r01", at(1), 300),
        row("ams-1", "r02", at(0, 10), 50),
        row("ams-1", "r02", at(0, 40), 50),
        row("fra-2", "r09", at(2), 400),
        row("ams-1", "r01", at(0, hour=8), 1000),  # outside
    ]


def gpu_rows() -> list[dict[str, Any]]:
    def row(
        site: str,
        rack: str,
        host: str,
        gpu: str,
        ts: datetime,
        util: float,
        watts: float,
        vendor: str,
        model: str,
    ) -> dict[str, Any]:
        return {
            "site": site,
            "rack": rack,
            "host": host,
            "gpu": gpu,
            "ts": ts,
            "util_pct": util,
            "power_w": watts,
            "vendor": vendor,
            "model": model,
            "kafka_partition": 0,
            "kafka_offset": 0,
        }

    nv = ("nvidia", "H100")
    amd = ("amd", "MI300X")
    return [
        # ams-1 r01: two GPUs, twice in minute 10:00 (a sample stands for 30 s), once in 10:01
        row("ams-1", "r01", "h1", "0", at(0), 80, 600, *nv),
        row("ams-1", "r01", "h1", "0", at(0, 30), 90, 600, *nv),
        row("ams-1", "r01", "h1", "1", at(0), 2, 120, *nv),
        row("ams-1", "r01", "h1", "1", at(0, 30), 3, 120, *nv),
        row("ams-1", "r01", "h1", "0", at(1), 100, 840, *nv),
        row("ams-1", "r01", "h1", "1", at(1), 1, 120, *nv),
        # fra-2 r09: one GPU, three samples in minute 10:00 (20 s each)
        row("fra-2", "r09", "h5", "0", at(0), 50, 500, *amd),
        row("fra-2", "r09", "h5", "0", at(0, 20), 0, 180, *amd),
        row("fra-2", "r09", "h5", "0", at(0, 40), 4, 180, *amd),
        row("ams-1", "r01", "h1", "1", at(0, hour=8), 0, 1000, *nv),  # outside
    ]


def link_rows() -> list[dict[str, Any]]:
    def row(
        site: str,
        link: str,
        link_class: str,
        peer: str,
        ts: datetime,
        d_tx: int,
        d_dropped: int,
        baseline: int = 0,
        reset: int = 0,
    ) -> dict[str, Any]:
        return {
            "site": site,
            "link": link,
            "link_class": link_class,
            "peer_site": peer,
            "ts": ts,
            "tx_packets": 0,
            "rx_packets": 0,
            "dropped_packets": 0,
            "d_tx": d_tx,
            "d_rx": d_tx,
            "d_dropped": d_dropped,
            "baseline": baseline,
            "reset": reset,
            "loss_ratio": None,
            "kafka_partition": 0,
            "kafka_offset": 0,
        }

    return [
        row("ams-1", "ams-fra-1", "wan", "fra-2", at(0), 0, 0, baseline=1),
        row("ams-1", "ams-fra-1", "wan", "fra-2", at(0, 30), 100_000, 10),
        row("ams-1", "ams-fra-1", "wan", "fra-2", at(1), 100_000, 0),
        row("ams-1", "ams-fra-1", "wan", "fra-2", at(1, 30), 200_000, 50),
        row("fra-2", "fra-ams-1", "wan", "ams-1", at(0, 30), 300_000, 0),
        row("fra-2", "fra-ams-1", "wan", "ams-1", at(2), 0, 0, baseline=1, reset=1),
        row("fra-2", "fra-ams-1", "wan", "ams-1", at(2, 30), 100_000, 20),
        row("ams-1", "ib-0", "fabric", "", at(0, 30), 1_000_000, 1),
        row("ord-1", "ord-ams-1", "wan", "ams-1", at(0, 30), 1_000_000, 0),
        row("ams-1", "ams-fra-1", "wan", "fra-2", at(0, hour=8), 500, 500),  # outside
    ]


FP = {"A": "a" * 16, "B": "b" * 16, "C": "c" * 16, "D": "d" * 16, "E": "e" * 16, "F": "f" * 16}


def alert_rows() -> list[dict[str, Any]]:
    offsets = iter(range(1, 1000))

    def row(
        fp: str,
        seq: int,
        rule: str,
        severity: str,
        status: str,
        site: str,
        starts: datetime,
        ends: datetime | None,
        value: float,
        link: str = "",
        test: int = 0,
        offset: int | None = None,
        domain: str = "",
    ) -> dict[str, Any]:
        return {
            "fingerprint": FP[fp],
            "seq": seq,
            "rule": rule,
            "severity": severity,
            "status": status,
            "site": site,
            "link": link,
            "peer_site": "",
            "rack": "",
            "domain": domain,
            "value": value,
            "threshold": 5.0,
            "starts_at": starts,
            "ends_at": ends,
            "forecast_at": None,
            "summary": f"{fp}{seq} {status}",
            "test": test,
            "kafka_partition": 0,
            "kafka_offset": offset if offset is not None else next(offsets),
        }

    return [
        row("A", 1, "cap_critical", "critical", "firing", "ams-1", at(1), None, 5.2),
        row("A", 2, "cap_critical", "critical", "resolved", "ams-1", at(1), at(1, 45), 4.8),
        # a redelivered copy of A's resolve with an older offset: FINAL keeps one
        row(
            "A", 2, "cap_critical", "critical", "resolved", "ams-1", at(1), at(1, 45), 4.8, offset=0
        ),
        # a power domain's alert: hall-a of ams-1 (migration 007)
        row(
            "B",
            1,
            "cap_warning",
            "warning",
            "firing",
            "ams-1",
            at(0, 15),
            None,
            4.6,
            domain="hall-a",
        ),
        row(
            "C",
            1,
            "link_loss_wan",
            "warning",
            "firing",
            "fra-2",
            at(0, hour=9),
            None,
            0.001,
            link="fra-ams-1",
        ),
        row(
            "C",
            2,
            "link_loss_wan",
            "warning",
            "resolved",
            "fra-2",
            at(0, hour=9),
            at(30, hour=9),
            0.0,
            link="fra-ams-1",
        ),
        row(
            "C",
            3,
            "link_loss_wan",
            "warning",
            "firing",
            "fra-2",
            at(2, 30),
            None,
            0.002,
            link="fra-ams-1",
        ),
        row(
            "C",
            4,
            "link_loss_wan",
            "warning",
            "resolved",
            "fra-2",
            at(2, 30),
            at(5, 30),
            0.0,
            link="fra-ams-1",
        ),
        row("D", 1, "cap_warning", "warning", "firing", "fra-2", at(0, hour=8), None, 8.1),
        row(
            "D",
            2,
            "cap_warning",
            "warning",
            "resolved",
            "fra-2",
            at(0, hour=8),
            at(30, hour=8),
            7.0,
        ),
        row("E", 1, "megawatch_test", "info", "firing", "ams-1", at(0), None, 1.0, test=1),
        row("F", 1, "cap_critical", "critical", "firing", "fra-2", at(3), None, 10.2),
        row("F", 2, "cap_critical", "critical", "resolved", "fra-2", at(3), at(4, 15), 9.0),
    ]


def dead_letter_rows() -> list[dict[str, Any]]:
    def row(ts: datetime, topic: str, code: str, reason: str) -> dict[str, Any]:
        return {
            "received_at": ts,
            "topic": topic,
            "partition": 0,
            "offset": 0,
            "index": -1,
            "reason_code": code,
            "reason": reason,
            "key": "",
            "raw": "{}",
            "raw_encoding": "utf-8",
        }

    return [
        row(at(0, 5), "telemetry.gpu", "invalid", "util_pct: too big"),
        row(at(3), "telemetry.gpu", "invalid", "power_w: negative"),
        row(at(1), "telemetry.rack_power", "not_json", "not JSON"),
        row(at(0, hour=8), "telemetry.gpu", "invalid", "old"),  # outside
    ]


def delivery_rows() -> list[dict[str, Any]]:
    def row(
        ts: datetime,
        fp: str,
        seq: int,
        receiver: str,
        kind: str,
        outcome: str,
        latency: float,
        error: str = "",
    ) -> dict[str, Any]:
        return {
            "at": ts,
            "fingerprint": FP[fp],
            "seq": seq,
            "status": "firing",
            "rule": "cap_critical",
            "site": "ams-1",
            "receiver": receiver,
            "receiver_kind": kind,
            "attempt": 1,
            "outcome": outcome,
            "http_status": 200,
            "latency_ms": latency,
            "error": error,
        }

    return [
        row(at(1, 1), "A", 1, "webhook-1", "webhook", "delivered", 10.0),
        row(at(1, 46), "A", 2, "webhook-1", "webhook", "delivered", 20.0),
        row(at(0, 16), "B", 1, "webhook-1", "webhook", "retry", 30.0, "HTTP 503"),
        row(at(0, 17), "B", 1, "slack", "slack", "failed", 5.0, "HTTP 400: invalid_token"),
    ]


def load_fixed_data(store: Store) -> None:
    """Insert the data set (every raw table; the rollups fill through their views)."""
    insert(store, "site_power", site_power_rows())
    insert(store, "rack_power", rack_power_rows())
    insert(store, "gpu_samples", gpu_rows())
    insert(store, "link_samples", link_rows())
    insert(store, "alerts", alert_rows())
    insert(store, "dead_letters", dead_letter_rows())
    insert(store, "alert_deliveries", delivery_rows())


@pytest.fixture
def data_store(store: Store) -> Store:
    load_fixed_data(store)
    return store


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    """Rows as tuples of plain values, NULL/NaN as None, for exact comparison."""
    out = []
    for row in frame[columns].itertuples(index=False):
        out.append(tuple(None if _missing(v) else _plain(v) for v in row))
    return out


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


# --- one test per query ----------------------------------------------------------------
def test_every_shipped_query_is_tested_here() -> None:
    import test_queries_energy  # the energy queries' tests, one per query, live there
    import test_queries_waves  # and the power-wave queries' tests

    names = [*globals(), *vars(test_queries_energy), *vars(test_queries_waves)]
    tested = {name.removeprefix("test_") for name in names if name.startswith("test_")}
    assert set(named_queries()) <= tested


def test_fleet_ledger(data_store: Store) -> None:
    frame = named_query(data_store, "fleet_ledger", **WINDOW)
    cols = [
        "level",
        "region",
        "site",
        "now_mw",
        "age_s",
        "avg_1m_mw",
        "peak_mw",
        "coincident_peak_mw",
        "cap_mw",
        "headroom_mw",
        "pct_of_cap",
    ]
    assert records(frame, cols) == [
        # now = the latest sample (10:02:45), 435 s before the window's end (10:10);
        # avg_1m = the samples after 10:01:45; peak = highest sample in the window (the
        # 9 MW samples at 08:00 and 10:15 lie outside it)
        ("site", "eu", "ams-1", 4.2, 435.0, 4.2, 5.2, 5.2, 5.0, 0.8, 84.0),
        ("site", "eu", "fra-2", 6.0, 435.0, 6.0, 8.0, 8.0, 10.0, 4.0, 60.0),
        # eu: now 4.2 + 6.0; caps 5 + 10; headroom 0.8 + 4.0; 10.2 / 15 = 68 %;
        # coincident peak: the highest sum within one second, 5.2 + 8.0 at 10:01:15
        ("region", "eu", "", 10.2, 435.0, 10.2, None, 13.2, 15.0, 4.8, 68.0),
        ("site", "us", "ord-1", 2.0, 435.0, 2.0, 2.0, 2.0, None, None, None),  # no cap
        ("region", "us", "", 2.0, 435.0, 2.0, None, 2.0, None, None, None),
        # fleet: now 12.2 against 15 MW of caps; capped sites' 10.2 MW / 15 = 68 %;
        # coincident peak 5.2 + 8.0 + 1.0 at 10:01:15
        ("fleet", "", "", 12.2, 435.0, 12.2, None, 14.2, 15.0, 4.8, 68.0),
    ]
    assert set(frame["now_at"]) == {at(2, 45)}


def ramp_rows() -> list[dict[str, Any]]:
    """dfw-1 (cap 4.8 MW) ramps from 4.0 to 5.5 MW in its last 30 s, 10:01:30-10:01:59,
    one row a second; lhr-1 holds 1.0 MW of 2 MW, then reads 1.5 MW at 10:02:30."""
    rows = []
    for second in range(120):  # 10:00:00-10:01:59, one row a second
        mw = 4.0 if second < 90 else 4.0 + (second - 89) * 0.05  # 4.05 ... 5.5 MW
        rows.append(site_power_row("dfw-1", "us-south", at(0, second), mw, 4.8, 4.32))
        rows.append(site_power_row("lhr-1", "eu", at(0, second), 1.0, 2.0, 1.8))
    rows.append(site_power_row("lhr-1", "eu", at(2, 30), 1.5, 2.0, 1.8))  # the latest of lhr-1
    return rows


def test_fleet_ledger_now_is_the_latest_evaluation(store: Store) -> None:
    """A site ramping over its cap in its last half minute: now is the latest evaluated
    power (what its cap alert judged), not the minute's average; its region, the only
    site in it, peaks exactly where the site does (issue 24)."""
    insert(store, "site_power", ramp_rows())
    frame = named_query(store, "fleet_ledger", since_s=3600, until=at(3))
    got = {(r.level, r.region, r.site): r for r in frame.itertuples(index=False)}
    dfw = got[("site", "us-south", "dfw-1")]
    # the latest row, 10:01:59: 4.0 + 30 x 0.05 = 5.5 MW, 1 s before until
    assert (dfw.now_mw, dfw.age_s, dfw.pct_of_cap) == (5.5, 61.0, 114.6)
    # the 60 s up to 10:01:59: 30 rows at 4.0, then 4.05 ... 5.5
    expected_avg = (30 * 4.0 + sum(4.0 + n * 0.05 for n in range(1, 31))) / 60
    assert dfw.avg_1m_mw == round(expected_avg, 3)
    region = got[("region", "us-south", "")]
    assert region.coincident_peak_mw == dfw.peak_mw == dfw.coincident_peak_mw == 5.5
    assert region.now_mw == 5.5
    lhr = got[("site", "eu", "lhr-1")]
    # its last minute: 29 rows at 1.0 (10:01:31-10:01:59) and the 1.5 of 10:02:30
    assert (lhr.now_mw, lhr.age_s, lhr.avg_1m_mw) == (1.5, 30.0, round((29 + 1.5) / 30, 3))
    fleet = got[("fleet", "", "")]
    # the fleet's now adds the latest of each site; its age is the oldest one's
    assert (fleet.now_mw, fleet.age_s) == (7.0, 61.0)
    # within one second both sites: 5.5 + 1.0 at 10:01:59
    assert fleet.coincident_peak_mw == 6.5


def test_every_peak_column_reads_the_true_peak(store: Store) -> None:
    """dfw-1 peaks at 5.5 MW in one second (ramp_rows); every named query's column named
    peak, for dfw-1 or for its region (of which it is the only site), reads exactly that:
    never a peak of averages under the same name (issue 24)."""
    insert(store, "site_power", ramp_rows())
    window = {"since_s": 3600, "until": at(3)}
    checked = []
    for name in named_queries():
        frame = named_query(store, name, **window)
        peaks = [c for c in frame.columns if "peak" in c and c.endswith("_mw")]
        if frame.empty or not peaks:
            continue
        groups = [frame[frame["site"] == "dfw-1"]] if "site" in frame else []
        if "level" in frame:  # the region's own row, apart from its site's
            groups.append(frame[(frame["level"] == "region") & (frame["region"] == "us-south")])
        for rows in groups:
            for column in peaks:
                values = [v for v in rows[column] if pd.notna(v)]
                if not values and rows is not groups[0]:
                    continue  # a column a region row leaves empty (a site's own peak)
                assert values and max(values) == 5.5, (name, column, values)
                checked.append((name, column))
    assert {("fleet_ledger", "coincident_peak_mw"), ("site_headroom", "peak_mw")} <= set(checked)


def test_site_headroom(data_store: Store) -> None:
    frame = named_query(data_store, "site_headroom", site="ams-1", bucket_s=120, **WINDOW)
    cols = [
        "site",
        "bucket",
        "avg_mw",
        "peak_mw",
        "cap_mw",
        "min_headroom_mw",
        "pct_above_warn",
        "pct_above_cap",
    ]
    assert records(frame, cols) == [
        # 10:00-10:01: 8 samples summing 17.8 + 20.0 MW -> 4.725; 7 of 8 >= 4.5 MW;
        # 2 of 8 >= 5 MW; least headroom 5 - 5.2
        ("ams-1", at(0), 4.725, 5.2, 5.0, -0.2, 87.5, 25.0),
        ("ams-1", at(2), 4.2, 4.2, 5.0, 0.8, 0.0, 0.0),
    ]
    every_site = named_query(data_store, "site_headroom", bucket_s="3m", **WINDOW)
    assert sorted(set(every_site["site"])) == ["ams-1", "fra-2", "ord-1"]
    assert len(every_site) == 3  # one 3-minute bucket (10:00-10:03) per site


def test_top_racks(data_store: Store) -> None:
    frame = named_query(data_store, "top_racks", **WINDOW)
    assert records(frame, ["site", "rack", "avg_kw", "peak_kw", "energy_mwh", "minutes_seen"]) == [
        ("fra-2", "r09", 400.0, 400.0, 0.0067, 1),  # 400 kW x 1 min = 6.67 kWh
        # r01: mean of 100, 200, 300 kW; energy (150 kW + 300 kW) x 1 min = 7.5 kWh
        ("ams-1", "r01", 200.0, 300.0, 0.0075, 2),
        ("ams-1", "r02", 50.0, 50.0, 0.0008, 1),  # 50 kW x 1 min = 0.83 kWh
    ]
    only = named_query(data_store, "top_racks", site="ams-1", limit=1, **WINDOW)
    assert records(only, ["site", "rack"]) == [("ams-1", "r01")]


def test_sites_above_warning(data_store: Store) -> None:
    frame = named_query(data_store, "sites_above_warning", **WINDOW)
    cols = [
        "site",
        "region",
        "hours_above_cap",
        "minutes_above_cap",
        "hours_observed",
        "peak_mw",
        "cap_mw",
        "warn_ratio",
    ]
    assert records(frame, cols) == [
        # ams-1: 3 of 4 samples >= 4.5 MW at 10:00 (45 s), 4 of 4 at 10:01 (60 s);
        # 2 of 4 >= 5 MW at 10:01 (30 s)
        ("ams-1", "eu", 0.01, 0.5, 0.05, 5.2, 5.0, 0.9),
        ("fra-2", "eu", 0.0, 0.0, 0.05, 8.0, 10.0, 0.8),  # 2 of 4 >= 8 MW at 10:01
        ("ord-1", "us", 0.0, 0.0, 0.05, 2.0, None, None),  # no cap, no warning level
    ]
    assert list(frame["minutes_above_warn"]) == pytest.approx([105 / 60, 0.5, 0.0], abs=0.051)
    assert list(frame["hours_above_warn"]) == pytest.approx([105 / 3600, 30 / 3600, 0], abs=0.0051)


def test_gpu_efficiency(data_store: Store) -> None:
    frame = named_query(data_store, "gpu_efficiency", **WINDOW)
    cols = [
        "vendor",
        "model",
        "gpu_count",
        "sample_count",
        "avg_util_pct",
        "avg_power_w",
        "watts_per_util_pt",
        "idle_pct",
    ]
    assert records(frame, cols) == [
        # util 80+90+2+3+100+1 = 276 over 6 samples; power 600+600+120+120+840+120 = 2400
        # W; 2400 / 276 = 8.696 W per point; samples under 5 %: 2, 3, 1
        ("nvidia", "H100", 2, 6, 46.0, 400.0, 8.696, 50.0),
        # util 50+0+4 = 54 over 3; power 500+180+180 = 860; 860 / 54 = 15.926; 2 of 3 idle
        ("amd", "MI300X", 1, 3, 18.0, 286.7, 15.926, 66.7),
    ]
    ams = named_query(data_store, "gpu_efficiency", site="ams-1", **WINDOW)
    assert records(ams, ["vendor", "sample_count"]) == [("nvidia", 6)]


def test_gpu_util_vs_power(data_store: Store) -> None:
    frame = named_query(data_store, "gpu_util_vs_power", bucket_s=60, **WINDOW)
    cols = ["site", "vendor", "bucket", "gpu_count", "avg_util_pct", "avg_power_w"]
    assert records(frame, cols) == [
        ("ams-1", "nvidia", at(0), 2, 43.75, 360.0),  # (80+90+2+3)/4, (600+600+120+120)/4
        ("ams-1", "nvidia", at(1), 2, 50.5, 480.0),  # (100+1)/2, (840+120)/2
        ("fra-2", "amd", at(0), 1, 18.0, 286.7),
    ]


def test_idle_power(data_store: Store) -> None:
    frame = named_query(data_store, "idle_power", **WINDOW)
    cols = ["site", "rack", "idle_mwh", "idle_gpu_hours", "gpu_mwh", "idle_share_pct", "gpu_count"]
    assert records(frame, cols) == [
        # ams-1 r01, 10:00: 2 GPUs, 4 samples -> 30 s each; idle h1/1: (120+120) W x 30 s
        # = 2 Wh; all: 1440 W x 30 s = 12 Wh. 10:01: 2 samples -> 60 s each; idle 120 W x
        # 60 s = 2 Wh; all 960 W x 60 s = 16 Wh. Idle 4 Wh of 28 Wh = 14.3 %; idle GPU
        # time 2 x 30 s + 60 s = 2 min = 0.03 h. (The 1000 W idle sample at 08:00 is out.)
        ("ams-1", "r01", 0.000004, 0.03, 0.000028, 14.3, 2),
        # fra-2 r09: 3 samples of 1 GPU -> 20 s each; idle (180+180) W x 20 s = 2 Wh of
        # 860 W x 20 s = 4.78 Wh (41.9 %); 40 s idle
        ("fra-2", "r09", 0.000002, 0.01, 0.000005, 41.9, 1),
    ]


def test_link_loss(data_store: Store) -> None:
    frame = named_query(data_store, "link_loss", **WINDOW)
    cols = [
        "site",
        "link",
        "link_class",
        "peer_site",
        "tx_packets",
        "dropped_packets",
        "loss_pct",
        "worst_minute_loss_pct",
        "worst_minute",
        "counter_resets",
    ]
    assert records(frame, cols) == [
        # 60 of 400k = 0.015 %; worst minute 10:01: 50 of 300k = 0.016667 %
        ("ams-1", "ams-fra-1", "wan", "fra-2", 400_000, 60, 0.015, 0.016667, at(1), 0),
        # 20 of 400k; worst 10:02: 20 of 100k; the reset sample adds no traffic
        ("fra-2", "fra-ams-1", "wan", "ams-1", 400_000, 20, 0.005, 0.02, at(2), 1),
        ("ams-1", "ib-0", "fabric", "", 1_000_000, 1, 0.0001, 0.0001, at(0), 0),
        ("ord-1", "ord-ams-1", "wan", "ams-1", 1_000_000, 0, 0.0, 0.0, at(0), 0),
    ]
    fabric = named_query(data_store, "link_loss", link_class="fabric", **WINDOW)
    assert records(fabric, ["link"]) == [("ib-0",)]


def test_wan_loss_by_site_pair(data_store: Store) -> None:
    frame = named_query(data_store, "wan_loss_by_site_pair", **WINDOW)
    assert records(
        frame, ["site_a", "site_b", "links", "tx_packets", "dropped_packets", "loss_pct"]
    ) == [
        ("ams-1", "fra-2", 2, 800_000, 80, 0.01),  # both directions: 60 + 20 of 400k + 400k
        ("ams-1", "ord-1", 1, 1_000_000, 0, 0.0),
    ]


def test_link_loss_over_time(data_store: Store) -> None:
    frame = named_query(data_store, "link_loss_over_time", bucket_s=60, **WINDOW)
    assert records(
        frame, ["site", "link", "bucket", "tx_packets", "dropped_packets", "loss_pct"]
    ) == [
        ("ams-1", "ams-fra-1", at(0), 100_000, 10, 0.01),
        ("ams-1", "ams-fra-1", at(1), 300_000, 50, 0.016667),
        ("fra-2", "fra-ams-1", at(0), 300_000, 0, 0.0),
        ("fra-2", "fra-ams-1", at(2), 100_000, 20, 0.02),
        ("ord-1", "ord-ams-1", at(0), 1_000_000, 0, 0.0),
    ]  # WAN only by default: ib-0 (fabric) is not listed


def test_alert_history(data_store: Store) -> None:
    frame = named_query(data_store, "alert_history", **WINDOW)
    cols = [
        "starts_at",
        "ends_at",
        "status",
        "rule",
        "site",
        "domain",
        "subject",
        "value",
        "time_to_resolve_s",
        "fingerprint",
    ]
    assert records(frame, cols) == [
        (at(3), at(4, 15), "resolved", "cap_critical", "fra-2", "", "", 10.2, 75.0, FP["F"]),
        (
            at(2, 30),
            at(5, 30),
            "resolved",
            "link_loss_wan",
            "fra-2",
            "",
            "fra-ams-1",
            0.002,
            180.0,
            FP["C"],
        ),
        # A's resolve was delivered twice: one episode
        (at(1), at(1, 45), "resolved", "cap_critical", "ams-1", "", "", 5.2, 45.0, FP["A"]),
        (at(0, 15), None, "firing", "cap_warning", "ams-1", "hall-a", "", 4.6, None, FP["B"]),
        # began before the window (09:00) but resolved inside it (09:30 > 09:10)
        (
            at(0, hour=9),
            at(30, hour=9),
            "resolved",
            "link_loss_wan",
            "fra-2",
            "",
            "fra-ams-1",
            0.001,
            1800.0,
            FP["C"],
        ),
    ]  # D ended before the window; E is a test alert
    crit = named_query(data_store, "alert_history", rule="cap_critical", site="fra-2", **WINDOW)
    assert records(crit, ["fingerprint"]) == [(FP["F"],)]


def test_alert_time_to_resolve(data_store: Store) -> None:
    frame = named_query(data_store, "alert_time_to_resolve", **WINDOW)
    cols = [
        "rule",
        "severity",
        "episodes",
        "still_firing",
        "sites",
        "avg_minutes_to_resolve",
        "max_minutes_to_resolve",
    ]
    assert records(frame, cols) == [
        ("cap_critical", "critical", 2, 0, 2, 1.0, 1.25),  # 45 s and 75 s
        ("cap_warning", "warning", 1, 1, 1, None, None),  # B still fires
        ("link_loss_wan", "warning", 1, 0, 1, 3.0, 3.0),  # C's 2nd episode; 1st began 09:00
    ]


def test_dead_letters(data_store: Store) -> None:
    frame = named_query(data_store, "dead_letters", **WINDOW)
    assert records(
        frame, ["topic", "reason_code", "dead_letters", "first_at", "last_at", "latest_reason"]
    ) == [
        ("telemetry.gpu", "invalid", 2, at(0, 5), at(3), "power_w: negative"),
        ("telemetry.rack_power", "not_json", 1, at(1), at(1), "not JSON"),
    ]


def test_delivery_outcomes(data_store: Store) -> None:
    frame = named_query(data_store, "delivery_outcomes", **WINDOW)
    assert records(
        frame, ["receiver", "outcome", "attempts", "alerts", "avg_latency_ms", "latest_error"]
    ) == [
        ("slack", "failed", 1, 1, 5.0, "HTTP 400: invalid_token"),
        ("webhook-1", "delivered", 2, 2, 15.0, ""),
        ("webhook-1", "retry", 1, 1, 30.0, "HTTP 503"),
    ]


def test_window_defaults_to_the_last_day_until_now(store: Store) -> None:
    """Without until, the window ends now: rows of an hour ago count, of two days not."""
    now = datetime.now(UTC)
    rows = [
        site_power_row("ams-1", "eu", now - timedelta(hours=1), 3.0, 5.0, 4.5),
        site_power_row("ams-1", "eu", now - timedelta(days=2), 4.9, 5.0, 4.5),
    ]
    insert(store, "site_power", rows)
    frame = named_query(store, "fleet_ledger")
    assert records(frame[frame.level == "site"], ["site", "now_mw", "peak_mw"]) == [
        ("ams-1", 3.0, 3.0)
    ]


# --- coverage and power domains (migration 005) -------------------------------------------
COVERAGE_WINDOW = {"since_s": 3600, "until": T + timedelta(minutes=10)}


def _coverage_rows(store: Store) -> None:
    """hx-3 loses 4 of 10 racks for a minute; hall-1 of atl-2 runs over its cap."""
    ts = [T + timedelta(seconds=s) for s in (0, 30, 60, 90)]  # 10:00 and 10:01
    # hx-3: full coverage, then 6 of 10 racks (0.48 MW estimated), then back.
    coverage = [1.0, 0.6, 0.6, 1.0]
    estimated = [0.0, 0.48e6, 0.48e6, 0.0]
    site_rows = [
        ["hx-3"] * 4,
        ts,
        [1.2e6] * 4,
        [1e6] * 4,
        [0.9e6] * 4,
        [-0.2e6] * 4,
        [10] * 4,
        [0, 4, 4, 0],
        [0] * 4,
        [""] * 4,
        [1.2e6 - e for e in estimated],
        estimated,
        coverage,
        [0, 0, 1, 0],
    ]
    store.insert_columns("site_power", SITE_POWER_COLUMNS, site_rows)
    domain_rows = [
        ["atl-2"] * 4,
        ["hall-1", "hall-1", "hall-2", "hall-2"],
        ts[:2] * 2,
        [34e6, 33e6, 20e6, 21e6],
        [34e6, 33e6, 20e6, 21e6],
        [0.0] * 4,
        [32e6] * 4,
        [28.8e6] * 4,
        [-2e6, -1e6, 12e6, 11e6],
        [1.0, 1.0, 0.5, 1.0],
        [10] * 4,
        [0, 0, 5, 0],
        [0] * 4,
        [0] * 4,
    ]
    store.insert_columns("domain_power", DOMAIN_POWER_COLUMNS, domain_rows)


def test_coverage(store: Store) -> None:
    _coverage_rows(store)
    cov = named_query(store, "coverage", site="hx-3", bucket_s=60, **COVERAGE_WINDOW)
    assert list(cov["min_coverage"]) == pytest.approx([0.6, 0.6])
    assert list(cov["max_estimated_mw"]) == [0.48, 0.48]
    assert list(cov["max_estimated_pct"]) == [40.0, 40.0]
    assert list(cov["max_unknown_racks"]) == [0, 1]


def test_domain_headroom(store: Store) -> None:
    _coverage_rows(store)
    heads = named_query(store, "domain_headroom", site="atl-2", **COVERAGE_WINDOW)
    assert list(heads["domain"]) == ["hall-1", "hall-2"]  # least headroom first
    first = heads.iloc[0]
    assert (first["peak_mw"], first["cap_mw"], first["min_headroom_mw"]) == (34.0, 32.0, -2.0)
    assert first["peak_pct_of_cap"] == 106.2 and first["pct_above_cap"] == 100.0
    assert heads.iloc[1]["min_coverage"] == 0.5
    assert list(heads["minutes_above_cap"]) == [1, 0]


# --- link health (migration 009) ------------------------------------------------------
def link_health_events() -> list[LinkCounters]:
    """Samples every 10 s from 10:00: ams-1/ib-7 with a bit of everything (an
    uncorrectable codeword, a reset of its corrected count, a flap, a pause share of
    20 % on priority 3, a weakest lane falling), ams-1/ib-8 with the device's own BER
    only, ams-1/ib-9 with no link-health field at all."""
    base = int(T.timestamp() * 1000)
    out = []
    for i in range(10):
        ts = base + i * 10_000
        packets = {"tx_packets": 1000 * i, "rx_packets": 1000 * i, "dropped_packets": 0}
        out.append(
            LinkCounters(
                site="ams-1",
                link="ib-7",
                link_class="fabric",
                ts=ts,
                **packets,
                rx_bits=10**12 * i,
                symbol_errors=5 * i,
                fec_uncorrectable_codewords=0 if i < 6 else 1,
                fec_corrected_codewords=300 * i if i < 4 else 10 * (i - 4),  # reset at 4
                carrier_transitions=8 if i < 5 else 10,
                carrier_up=i != 5,
                rx_pause_us={3: 2_000_000 * i, 0: 0},
                rx_power_dbm=[-2.0, -6.0 - 0.01 * i],
                rx_power_low_warn_dbm=-10.5,
            )
        )
        out.append(
            LinkCounters(
                site="ams-1",
                link="ib-8",
                link_class="fabric",
                ts=ts,
                **packets,
                effective_ber=1e-12 if i % 2 else 3e-12,
            )
        )
        out.append(LinkCounters(site="ams-1", link="ib-9", link_class="fabric", ts=ts, **packets))
    return out


def insert_link_health(store: Store) -> list[LinkCounters]:
    """The samples through the worker's own processor (its deltas), into link_samples."""
    events = link_health_events()
    processor = Processor(RuleConfig(), lambda site: None, lambda site: None)
    for offset, event in enumerate(events):
        out = processor.link([event], 0, offset, event.ts)
        assert out.columns is not None
        store.insert_columns("link_samples", LINK_COLUMNS, out.columns)
    return events


def test_link_health(store: Store) -> None:
    events = insert_link_health(store)
    frame = named_query(store, "link_health", **WINDOW)
    assert list(frame["link"]) == ["ib-7", "ib-8"]  # uncorrectable first; ib-9 has none
    ib7 = frame.iloc[0]
    mine = [e for e in events if e.link == "ib-7"]
    # worked out from the raw counters: 9 increments of 1e12 bits and 5 errors each
    assert ib7["bits_counted"] == 9 * 10**12 and ib7["post_fec_errors"] == 45
    assert ib7["ber"] == pytest.approx(45 / 9e12)
    # corrected: 300 x 3 before the reset at sample 4 (a baseline), 10 x 5 after it
    assert (ib7["fec_corrected"], ib7["fec_uncorrectable"]) == (950, 1)
    assert (ib7["transitions"], ib7["down_samples"]) == (2, 1)
    # 2 s of pause per 10 s sample after the first, over the 90 s the samples cover
    assert ib7["worst_pause_pct"] == pytest.approx(100 * 9 * 2_000_000 / 90_000_000)
    days = np.array([e.ts for e in mine]) / 86_400_000
    weakest = np.array([min(e.rx_power_dbm or ()) for e in mine], dtype=np.float32)
    assert ib7["rx_power_min_dbm"] == round(float(weakest.min()), 2) == -6.09
    slope = np.polyfit(days - days[0], weakest.astype(float), 1)[0]  # -86.4 dB a day
    assert ib7["rx_power_trend_db_day"] == pytest.approx(slope, abs=0.01)
    assert ib7["rx_low_warn_dbm"] == -10.5
    ib8 = frame.iloc[1]
    assert ib8["ber"] == pytest.approx(2e-12) and ib8["bits_counted"] == 0  # the device's own
    only_wan = named_query(store, "link_health", link_class="wan", **WINDOW)
    assert only_wan.empty
