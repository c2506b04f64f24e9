"""The energy named queries on small fixed data in the real embedded store (one test per
query, named after it; test_queries.py counts them). Numbers worked out by hand from
energy_fixed.py and the rows below; the truth tests on simulated jobs are
test_energy_truth.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from energy_fixed import load_energy_rollups
from test_queries import MW, WINDOW, at, insert

from pipeline.analytics.headroom import read_headroom
from pipeline.core.energy.headroom import exceed_count
from pipeline.errors import QueryError
from pipeline.store import Store, named_query

pytestmark = pytest.mark.integration
SITE = "en-1"
RAW = "en-raw"


@pytest.fixture
def data_store(store: Store) -> Store:
    load_energy_rollups(store, SITE, at(0))
    site_power, domain_power, racks, samples = [], [], [], []
    for minute, (mw, rack_kw) in enumerate(
        zip([4, 5, 6, 7, 8], [100, 120, 140, 160, 180], strict=True)
    ):
        ts = at(minute)
        site_power.append(
            {
                "site": SITE,
                "ts": ts,
                "total_w": mw * MW,
                "cap_w": 10 * MW,
                "warn_w": 9 * MW,
                "headroom_w": (10 - mw) * MW,
                "racks": 5,
                "stale_racks": 0,
                "warming": 0,
                "region": "eu",
            }
        )
        domain_power.append(
            {
                "site": SITE,
                "domain": "hall-a",
                "ts": ts,
                "total_w": mw / 2 * MW,
                "reported_w": mw / 2 * MW,
                "estimated_w": 0.0,
                "cap_w": 5 * MW,
                "warn_w": 4.5 * MW,
                "headroom_w": (5 - mw / 2) * MW,
                "coverage": 1.0,
                "racks": 3,
                "stale_racks": 0,
                "unknown_racks": 0,
                "warming": 0,
            }
        )
        racks.append(
            {
                "site": SITE,
                "rack": "r1",
                "ts": ts,
                "power_w": rack_kw * 1e3,
                "kafka_partition": 0,
                "kafka_offset": minute,
            }
        )
    for second, (gpu, held) in enumerate([("0", 0), ("0", 4), ("0", 4), ("1", 0), ("1", 0x20)]):
        samples.append(
            {
                "site": RAW,  # a site of its own: these rows roll up too
                "rack": "r1",
                "host": "r1-h1",
                "gpu": gpu,
                "ts": at(0, 10.0 * second),
                "util_pct": 90.0,
                "power_w": 600.0,
                "job": "j1",
                "priority": "training",
                "interval_s": 10.0 if second not in (0, 3) else 0.0,
                "held_reasons": held,
                "kafka_partition": 0,
                "kafka_offset": second,
            }
        )
    insert(store, "site_power", site_power)
    insert(store, "domain_power", domain_power)
    insert(store, "rack_power", racks)
    insert(store, "gpu_samples", samples)
    return store


def records(frame: Any, key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in frame.to_dict("records")}


def test_job_energy(data_store: Store) -> None:
    jobs = records(named_query(data_store, "job_energy", site=SITE, **WINDOW), "job")
    assert jobs["j1"] | {"first_hour": None, "last_hour": None} == {
        "site": SITE,
        "job": "j1",
        "tenant": "lab",
        "priority": "training",
        "kwh": 4.8,
        "unknown_kwh": 0.0,
        "gpu_hours": 8.0,
        "unknown_gpu_hours": 0.0,
        "gpus": 8,
        "capped_hours": 0.0,
        "kwh_per_gpu_hour": 0.6,
        "accelerator": "nvidia H100",
        "first_hour": None,
        "last_hour": None,
    }
    assert (jobs["j2"]["kwh"], jobs["j2"]["gpus"], jobs["j2"]["capped_hours"]) == (1.6, 4, 1.0)
    # until_s moves the window's end back: an hour earlier, nothing of 10:00 is left
    earlier = named_query(data_store, "job_energy", site=SITE, until_s=3600, **WINDOW)
    assert earlier.empty


def test_tenant_energy(data_store: Store) -> None:
    tenants = records(named_query(data_store, "tenant_energy", site=SITE, **WINDOW), "tenant")
    assert (tenants["lab"]["kwh"], tenants["lab"]["jobs"], tenants["lab"]["priority"]) == (
        4.8,
        1,
        "training",
    )
    assert (tenants["shop"]["kwh"], tenants["shop"]["capped_pct"]) == (1.6, 25.0)


def test_capped_time(data_store: Store) -> None:
    classes = records(named_query(data_store, "capped_time", site=SITE, **WINDOW), "priority")
    inference = classes["inference"]
    assert (inference["gpu_hours"], inference["capped_hours"], inference["capped_pct"]) == (
        4.0,
        1.0,
        25.0,
    )
    assert (inference["power_cap_hours"], inference["capped_jobs"]) == (1.0, 1)
    assert classes["training"]["capped_hours"] == 0.0


def test_gpu_capped_time(data_store: Store) -> None:
    # gpu 0: two intervals of 10 s after power-capped readings; gpu 1: thermal only (0x20)
    (row,) = named_query(
        data_store, "gpu_capped_time", site=RAW, since_s=3600, until=at(10)
    ).to_dict("records")
    assert (row["gpu"], row["job"], row["capped_s"], row["known_s"], row["capped_pct"]) == (
        "0",
        "j1",
        20.0,
        20.0,
        100.0,
    )


def test_energy_reconciliation(data_store: Store) -> None:
    racks = records(named_query(data_store, "energy_reconciliation", site=SITE, **WINDOW), "rack")
    assert (racks["r1"]["pdu_kwh"], racks["r1"]["gpu_kwh"], racks["r1"]["unattributed_kwh"]) == (
        5.6,
        4.8,
        0.8,
    )
    assert (racks["r2"]["unattributed_kwh"], racks["r2"]["unattributed_pct"]) == (10.0, 86.21)
    assert racks["r2"]["job_kwh"] == 1.6 and racks["r2"]["domains"] == "hall-a"


def test_site_energy(data_store: Store) -> None:
    (hour,) = named_query(data_store, "site_energy", site=SITE, **WINDOW).to_dict("records")
    assert (hour["it_kwh"], hour["gpu_kwh"], hour["unattributed_kwh"]) == (17.2, 6.4, 10.8)
    assert (hour["facility_kwh"], hour["overhead_kwh"], hour["pue"]) == (21.5, 4.3, 1.25)


def test_work_per_joule(data_store: Store) -> None:
    (row,) = named_query(data_store, "work_per_joule", site=SITE, **WINDOW).to_dict("records")
    assert (row["served_model"], row["model"], row["work_per_joule"], row["joules_per_work"]) == (
        "llama-70b",
        "H100",
        2.0,
        0.5,
    )


def test_power_history(data_store: Store) -> None:
    site = named_query(data_store, "power_history", site=SITE, since_s=3600, until=at(10))
    assert (site["max_w"] / MW).tolist() == [4, 5, 6, 7, 8] and set(site["cap_w"]) == {10 * MW}
    hall = named_query(
        data_store, "power_history", site=SITE, domain="hall-a", since_s=3600, until=at(10)
    )
    assert (hall["max_w"] / MW).tolist() == [2, 2.5, 3, 3.5, 4]


def test_rack_power_profile(data_store: Store) -> None:
    frame = named_query(
        data_store, "rack_power_profile", site=SITE, rack="r1", since_s=3600, until=at(10)
    )
    assert (frame["max_w"] / 1e3).tolist() == [100, 120, 140, 160, 180]


def test_job_mix_profile(data_store: Store) -> None:
    # j1 held all of r1's GPU energy (1.0 rack); r1's PDU metered 5.6 kWh in the hour
    (hour,) = named_query(
        data_store, "job_mix_profile", site=SITE, jobs="j1, j9", **WINDOW
    ).to_dict("records")
    assert (hour["racks"], hour["w_per_rack"]) == (1.0, pytest.approx(5600.0))


def test_power_quantiles(data_store: Store) -> None:
    rows = records(
        named_query(data_store, "power_quantiles", site=SITE, since_s=3600, until=at(10)), "domain"
    )
    site, hall = rows[""], rows["hall-a"]
    # five minutes: quantileExact takes the value at floor(level x 5) = index 4 for both
    assert (site["minutes"], site["p99_mw"], site["p999_mw"], site["stranded_mw"]) == (
        5,
        8.0,
        8.0,
        2.0,
    )
    assert (hall["cap_mw"], hall["peak_mw"], hall["stranded_mw"]) == (5.0, 4.0, 1.0)


def test_headroom_reads_the_history_and_answers_as_the_brute_force(data_store: Store) -> None:
    answer = read_headroom(data_store, SITE, rack="r1", risk=0.2, since_s=3600, until=at(10))
    domain = np.array([4, 5, 6, 7, 8]) * MW
    profile = np.array([100, 120, 140, 160, 180]) * 1e3
    brute = max(k for k in range(100) if exceed_count(domain, profile, 10 * MW, k) <= 1)
    # per minute 60, 41, 28, 18, 11 racks fit; one minute in five may go over: 18
    assert answer.answer.racks == brute == 18 and answer.answer.points == 5
    assert answer.row()["more_racks"] == brute and answer.row()["cap_mw"] == 10.0
    with pytest.raises(QueryError, match="one profile"):
        read_headroom(data_store, SITE, risk=0.2)
    with pytest.raises(QueryError, match="no power history of domain hall-z"):
        read_headroom(data_store, SITE, domain="hall-z", rack="r1", since_s=3600, until=at(10))
    assert at(0) + timedelta(minutes=4) < at(10)


def test_domain_energy(data_store: Store) -> None:
    # both racks are in hall-a: PDUs 5.6 + 11.6 kWh, GPUs 4.8 + 1.6 kWh
    (hall,) = named_query(
        data_store, "domain_energy", site=SITE, domain="hall-a", **WINDOW
    ).to_dict("records")
    assert (hall["pdu_kwh"], hall["gpu_kwh"], hall["unattributed_kwh"], hall["racks"]) == (
        17.2,
        6.4,
        10.8,
        2,
    )
    assert named_query(data_store, "domain_energy", site=SITE, domain="hall-z", **WINDOW).empty
    (leaf,) = named_query(data_store, "domain_energy", site=SITE, **WINDOW).to_dict("records")
    assert leaf["domain"] == "hall-a" and leaf["pdu_kwh"] == 17.2


def test_gpu_energy(data_store: Store) -> None:
    # en-raw's GPU 0: two 10 s intervals at 600 W (the rows carry no energy_j: 0 kWh),
    # GPU 1 one; energy itself is the worker's (test_energy_truth.py)
    rows = records(
        named_query(data_store, "gpu_energy", site=RAW, since_s=3600, until=at(10)), "gpu"
    )
    assert (rows["0"]["hours"], rows["0"]["capped_s"], rows["0"]["job"]) == (
        round(20 / 3600, 4),
        20.0,
        "j1",
    )
    assert (rows["1"]["hours"], rows["1"]["capped_s"]) == (round(10 / 3600, 4), 0.0)
