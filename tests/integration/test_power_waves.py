"""Power waves through a real worker, embedded broker and store: waves published, features
and alerts stored, against truth computed here with numpy from the very samples sent.

One worker reads a few minutes of waves of seven sites, sent as fast as the broker takes
them (event times in the past: the worker aligns them on event time, as it would live):

* ``swing-05`` and ``swing-3``: +-20 % at 0.5 Hz and at 3 Hz (sampled at 20 Hz) from
  +25 s: found in the right band within 10 s, amplitude within 5 % of a least-squares
  fit (``numpy.linalg.lstsq``), ``power_oscillation`` fires;
* ``ramp-1``: 30 % more load in 1 s: ``power_ramp``;
* ``drop-a`` and ``drop-b`` (region ``grid-east``): 40 % lost, 0.6 s apart: a
  ``load_drop`` each and one ``fleet_load_drop`` with both in its timeline;
* ``dr-1``: the simulator's training site curtails for a demand-response event published
  on control.dr against a baseline of ten prior days (rows in the store): time to
  target and compliance equal the injected truth, the verification's MWh within 1 %.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from worker_harness import WorkerProcess, producer, read_topic, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.core.wave.rows import FEATURE_COLUMNS
from pipeline.sources.sim.wave_site import SiteWaves, WaveSiteSpec, wave_events
from pipeline.sources.sim.waveform import Curtailment, TrainingJob
from pipeline.store import open_store
from pipeline.store.reader import settings_of_child

pytestmark = pytest.mark.integration

STEP = 50
METERS = 8
MEAN_W = 100_000.0  # per meter
SECONDS = 60
ONSET_S = 25  # the swings start
DR_SECONDS = 240
DR_START_S, DR_END_S, SLIP = 60.0, 210.0, (160.0, 190.0)
TOKEN = "s3cret-dr-token"
ENV = {
    "MEGAWATCH_DR_OFF_TARGET_FOR_S": "10",
    "MEGAWATCH_DR_BASELINE_SAME_DAY_TYPE": "false",
    "MEGAWATCH_DR_TOKEN": TOKEN,
}

Signal = Callable[[np.ndarray], np.ndarray]  # seconds from T0 -> W of one meter

SPECS = [
    {
        "site": "swing-05",
        "cap_mw": 10,
        "oscillation_limits": [{"band_hz": [0.1, 2], "max_mw": 0.1}],
    },
    {"site": "swing-3", "cap_mw": 10, "oscillation_limits": [{"band_hz": [3, 10], "max_mw": 0.1}]},
    {"site": "ramp-1", "cap_mw": 10, "ramp_limit_mw_per_s": 0.1},
    {"site": "drop-a", "cap_mw": 10, "region": "grid-east"},
    {"site": "drop-b", "cap_mw": 10, "region": "grid-east"},
    # its curtailment lapses for 30 s and comes back at once: a drop it is told to ignore
    {"site": "dr-1", "cap_mw": 50, "drop_ratio": 0.5},
]


def swing(hz: float) -> Signal:
    def signal(t: np.ndarray) -> np.ndarray:
        on = t >= ONSET_S
        return MEAN_W * (1 + np.where(on, 0.2 * np.sin(2 * np.pi * hz * (t - ONSET_S)), 0.0))

    return signal


def ramp(t: np.ndarray) -> np.ndarray:
    return MEAN_W * (1 + 0.3 * np.clip(t - 30.0, 0.0, 1.0))  # 30 % more over 1 s at +30 s


def drop(at_s: float) -> Signal:
    def signal(t: np.ndarray) -> np.ndarray:
        return MEAN_W * np.where(t >= at_s, 0.6, 1.0)  # 40 % lost at once

    return signal


@dataclass
class Run:
    worker: WorkerProcess
    bootstrap: str
    t0_ms: int
    sent: dict[str, np.ndarray]  # site -> its true series per cell (the samples summed)

    def features(self, site: str) -> list[dict[str, Any]]:
        columns = ", ".join(c for c in FEATURE_COLUMNS if c not in ("band_lo_hz", "band_hi_hz"))
        return self.worker.sql(
            f"SELECT {columns}, toUnixTimestamp64Milli(ts) AS ts_ms FROM wave_features FINAL "
            "WHERE site = {site:String} AND domain = '' ORDER BY ts",
            {"site": site},
        )

    def alerts(self) -> list[dict[str, Any]]:
        return read_topic(self.bootstrap, "alerts", 1)


def meter_events(site: str, signal: Signal, t0_ms: int, second: int) -> list[dict[str, Any]]:
    """One event of 20 samples per meter for ``second`` (meters on the grid, so the
    true cell value is the sum of the samples)."""
    t = second + STEP * np.arange(20) / 1000
    values = np.round(signal(t), 1)
    return [
        {
            "site": site,
            "rack": f"m{m}",
            "ts": t0_ms + second * 1000,
            "interval_ms": STEP,
            "power_w": values.tolist(),
        }
        for m in range(METERS)
    ]


def dr_waves() -> tuple[WaveSiteSpec, SiteWaves]:
    cut = Curtailment(DR_START_S, DR_END_S, reduction=0.3, ramp_s=30.0, slips=(SLIP,))
    steady = TrainingJob(start_s=-600, swing_frac=0.0, checkpoint_period_s=None)
    spec = WaveSiteSpec("dr-1", tuple(f"r{i}" for i in range(20)), job=steady, curtailment=cut)
    return spec, SiteWaves(spec)


def insert_history(worker: WorkerProcess, t0_ms: int, level_w: float) -> None:
    """Ten prior days of dr-1 at ``level_w`` over the event's minutes (and around them):
    a row per minute, as 60 strides of a second would add up to."""
    rows: dict[str, list[Any]] = {c: [] for c in FEATURE_COLUMNS}
    first = (t0_ms // 60_000 - 5) * 60_000
    for day in range(1, 11):
        for minute in range(15):
            values = {
                "site": "dr-1",
                "domain": "",
                "region": "",
                "ts": first - day * 86_400_000 + (minute + 1) * 60_000,
                "stride_ms": 60_000,
                "cells": 1200,
                "known_cells": 1200,
                "avg_w": level_w,
                "held_w": 0.0,
                "mean_w": level_w,
                "swing_w": 0.0,
                "ramp_1s_w": 0.0,
                "ramp_10s_w": 0.0,
                "dominant_hz": None,
                "dominant_w": None,
                "band_lo_hz": [],
                "band_hi_hz": [],
                "band_w": [],
            }
            for column, value in values.items():
                rows[column].append(value)
    with open_store(settings_of_child(worker.env)) as store:
        store.insert_columns("wave_features", list(rows), list(rows.values()))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("waves")
    with EmbeddedBroker(tmp / "data") as broker:
        worker = WorkerProcess(tmp / "data", ENV).start()
        try:
            yield _feed(worker, broker.bootstrap)
        finally:
            worker.stop()


def _feed(worker: WorkerProcess, bootstrap: str) -> Run:
    prod = producer(bootstrap)
    for spec in SPECS:
        prod.send("control.sites", key=spec["site"].encode(), value=json.dumps(spec).encode())
    t0_ms = (int(time.time()) - DR_SECONDS - 30) * 1000
    spec, waves = dr_waves()
    level = float(waves.power(np.array([0.0]), noise=False).sum())
    insert_history(worker, t0_ms, level)
    event = {
        "id": "util-77",
        "site": "dr-1",
        "start_ts": t0_ms + int(DR_START_S * 1000),
        "end_ts": t0_ms + int(DR_END_S * 1000),
        "reduction_pct": 25,
        "program": "test",
    }
    prod.send("control.dr", key=b"util-77", value=json.dumps(event).encode())
    prod.flush()
    wait_for(
        lambda: worker.sql("SELECT baseline_mw FROM dr_events FINAL WHERE event_id = 'util-77'"),
        60,
        "the DR event's baseline",
    )
    signals: dict[str, Signal] = {
        "swing-05": swing(0.5),
        "swing-3": swing(3.0),
        "ramp-1": ramp,
        "drop-a": drop(40.0),
        "drop-b": drop(40.6),
    }
    sent = {site: np.zeros(SECONDS * 20) for site in signals}
    sent["dr-1"] = np.zeros(DR_SECONDS * 20)
    for second in range(DR_SECONDS):
        for site, signal in signals.items():
            if second < SECONDS:
                events = meter_events(site, signal, t0_ms, second)
                sent[site][second * 20 : (second + 1) * 20] = METERS * np.array(
                    events[0]["power_w"]
                )
                _send(prod, site, events)
        t = second + STEP * np.arange(20) / 1000
        events = wave_events(
            "dr-1", spec.racks, t0_ms + second * 1000, STEP, waves.power(t, noise=False)
        )
        sent["dr-1"][second * 20 : (second + 1) * 20] = np.sum(
            [e["power_w"] for e in events], axis=0
        )
        _send(prod, "dr-1", events)
    prod.flush()
    return Run(worker, bootstrap, t0_ms, sent)


def _send(prod: Any, site: str, events: list[dict[str, Any]]) -> None:
    prod.send(
        "telemetry.power_wave", key=site.encode(), value=json.dumps({"events": events}).encode()
    )


def fitted_amplitude(x: np.ndarray, hz: float) -> float:
    """numpy's amplitude of a sinusoid at ``hz`` in ``x`` (least squares, with offset and
    slope), never the FFT path under test."""
    t = np.arange(len(x)) * STEP / 1000
    design = np.column_stack(
        [np.cos(2 * np.pi * hz * t), np.sin(2 * np.pi * hz * t), np.ones_like(t), t]
    )
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


def _rows_until(run: Run, site: str, offset_s: float) -> list[dict[str, Any]]:
    end = run.t0_ms + int(offset_s * 1000)
    return wait_for(
        lambda: (
            [r for r in run.features(site)]
            if any(r["ts_ms"] >= end for r in run.features(site))
            else []
        ),
        90,
        f"{site}'s features up to +{offset_s} s",
    )


@pytest.mark.parametrize(("site", "hz", "band"), [("swing-05", 0.5, 0), ("swing-3", 3.0, 1)])
def test_a_20_percent_swing_is_found_in_its_band_within_10_s(
    run: Run, site: str, hz: float, band: int
) -> None:
    rows = _rows_until(run, site, ONSET_S + 15)
    truth = run.sent[site]
    onset_ms = run.t0_ms + ONSET_S * 1000

    def expected(row: dict[str, Any]) -> float:
        end = (row["ts_ms"] - run.t0_ms) // STEP
        return fitted_amplitude(truth[end - 200 : end], hz)

    found = [
        r
        for r in rows
        if r["ts_ms"] > onset_ms
        and r["band_w"][band] is not None
        and abs(r["band_w"][band] / expected(r) - 1) <= 0.05
    ]
    assert found, [(r["ts_ms"] - onset_ms, r["band_w"]) for r in rows]
    first = found[0]
    assert first["ts_ms"] - onset_ms <= 10_000  # found within 10 s of the onset
    assert expected(first) == pytest.approx(0.2 * METERS * MEAN_W, rel=0.05)  # it is +-20 %
    assert first["band_w"][1 - band] < 0.05 * expected(first)  # and in its band only
    assert first["dominant_hz"] == pytest.approx(hz, abs=0.05)
    fired = [a for a in run.alerts() if a["site"] == site and a["rule"] == "power_oscillation"]
    assert fired and fired[0]["status"] == "firing" and fired[0]["value"] > 0.1
    assert fired[0]["summary"].startswith(f"site {site} oscillates")


def test_a_30_percent_step_in_1_s_fires_power_ramp(run: Run) -> None:
    rows = _rows_until(run, "ramp-1", 35)
    truth = run.sent["ramp-1"]
    one_s = np.abs(truth[20:] - truth[:-20]).max()
    assert one_s == pytest.approx(0.3 * METERS * MEAN_W, rel=1e-6)
    assert max(r["ramp_1s_w"] or 0 for r in rows) == pytest.approx(one_s, rel=1e-9)
    fired = wait_for(
        lambda: [a for a in run.alerts() if a["site"] == "ramp-1" and a["rule"] == "power_ramp"],
        30,
        "power_ramp",
    )
    # it fires on the first stride over the limit: the step half-way through its second
    first = fired[0]
    assert first["status"] == "firing" and 0.1 < first["value"] <= one_s / 1e6
    assert first["threshold"] == 0.1 and "over its 0.1 MW/s limit" in first["summary"]


def test_drops_fire_load_drop_and_two_sites_make_one_fleet_incident(run: Run) -> None:
    def fleet() -> list[dict[str, Any]]:
        return run.worker.sql(
            "SELECT region, sites, timeline, lost_w FROM fleet_incidents FINAL ORDER BY start_at"
        )

    incidents = wait_for(fleet, 90, "the fleet incident")
    assert len(incidents) == 1
    (incident,) = incidents
    assert incident["region"] == "grid-east" and incident["sites"] == ["drop-a", "drop-b"]
    assert incident["lost_w"] == pytest.approx(2 * 0.4 * METERS * MEAN_W, rel=1e-6)
    assert incident["timeline"][1].startswith("+0.60 s  drop-b")
    alerts = wait_for(
        lambda: (
            [a for a in run.alerts() if a["rule"] in ("load_drop", "fleet_load_drop")]
            if any(a["rule"] == "fleet_load_drop" for a in run.alerts())
            else []
        ),
        60,
        "the drop alerts",
    )
    firing = sorted((a["rule"], a["site"]) for a in alerts if a["status"] == "firing")
    assert firing == [
        ("fleet_load_drop", "grid-east"),
        ("load_drop", "drop-a"),
        ("load_drop", "drop-b"),
    ]
    drops = run.worker.sql("SELECT site, lost_ratio FROM load_drops FINAL ORDER BY site")
    assert [(d["site"], round(d["lost_ratio"], 6)) for d in drops] == [
        ("drop-a", 0.4),
        ("drop-b", 0.4),
    ]
    for site in ("swing-05", "swing-3", "ramp-1"):  # a swing or a ramp is no drop
        assert not [a for a in alerts if a["site"] == site]


def test_demand_response_equals_the_injected_truth(run: Run) -> None:
    def verified() -> list[dict[str, Any]]:
        rows = run.worker.sql(
            "SELECT sum(cells) n FROM dr_tracking FINAL WHERE event_id = 'util-77'"
        )
        want = int((DR_END_S - DR_START_S) * 20)
        return rows if rows and rows[0]["n"] == want else []

    wait_for(verified, 120, "every cell of the DR event measured")
    from pipeline.store import named_query

    with open_store(settings_of_child(run.worker.env)) as store:
        frame = named_query(store, "dr_verification", since_s=86_400 * 2, until=None, site="")
    (report,) = frame.to_dict("records")

    truth = run.sent["dr-1"]
    baseline = truth[0]  # the ten prior days' level is the site's own steady load
    t = np.arange(DR_SECONDS * 20) * STEP / 1000
    inside = (t >= DR_START_S) & (t < DR_END_S)
    target = 0.75 * baseline
    on = truth <= target * 1.01
    reached = t[inside & on][0]
    graced = inside & (t >= DR_START_S + 60)
    compliance = 100 * (on & graced).sum() / graced.sum()
    mwh = (baseline - truth[inside]).sum() * STEP / 1000 / 3.6e9

    assert report["time_to_target_s"] == pytest.approx(reached - DR_START_S, abs=1e-9)
    assert report["compliance_pct"] == pytest.approx(compliance, abs=1e-9)
    assert report["curtailed_mwh"] == pytest.approx(mwh, rel=0.01)
    assert report["coverage"] == 1.0
    assert report["baseline_method"].startswith("high 5 of 10 days")
    off = [a for a in run.alerts() if a["rule"] == "dr_off_target"]
    assert sorted(a["status"] for a in off) == ["firing", "resolved"]  # the slip, and back


def test_dr_events_over_http_need_the_token_and_reach_the_workers(run: Run) -> None:
    url = f"{run.worker.url}/api/dr"
    start = int(time.time() * 1000) + 3_600_000
    body = {"id": "http-1", "region": "grid-east", "start_ts": start, "end_ts": start + 60_000}
    assert httpx.post(url, json={**body, "ceiling_mw": 5}).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bad = httpx.post(url, json=body, headers=auth)  # neither a ceiling nor a reduction
    assert bad.status_code == 422
    assert bad.json() == {"error": "give ceiling_mw or reduction_pct, not both"}
    made = httpx.post(url, json={**body, "ceiling_mw": 5}, headers=auth)
    assert made.status_code == 201 and made.json()["ceiling_mw"] == 5
    listed = wait_for(
        lambda: [e for e in httpx.get(url, headers=auth).json() if e["id"] == "http-1"],
        20,
        "the event back from control.dr",
    )
    assert listed[0]["region"] == "grid-east"
    gone = httpx.delete(f"{url}/http-1", headers=auth)  # not started: forgotten
    assert gone.json() == {"id": "http-1", "status": "forgotten"}
    wait_for(
        lambda: not [e for e in httpx.get(url, headers=auth).json() if e["id"] == "http-1"],
        20,
        "the event forgotten",
    )
    assert TOKEN not in run.worker.log_path.read_text()


def test_megawatch_dr_add_list_cancel(run: Run) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["MEGAWATCH_DATA_DIR"] = run.worker.env["MEGAWATCH_DATA_DIR"]

    def dr(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pipeline", "dr", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    add = dr(
        "add",
        "--id",
        "cli-1",
        "--site",
        "dr-1",
        "--start",
        "now",
        "--for",
        "1h",
        "--reduction-pct",
        "20",
        "--program",
        "test program",
    )
    assert add.returncode == 0, add.stderr
    assert add.stdout.strip() == "published DR event cli-1 for dr-1: -20 % of the baseline"
    bad = dr("add", "--id", "cli-2", "--site", "dr-1", "--start", "now", "--for", "1h")
    assert bad.returncode == 2  # a usage problem: one line, exit 2
    assert bad.stderr.strip() == (
        "megawatch: DR event cli-2: give ceiling_mw or reduction_pct, not both"
    )
    listed = dr("list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows["cli-1"]["scope"] == "dr-1" and rows["cli-1"]["program"] == "test program"
    cancel = dr("cancel", "cli-1")
    assert cancel.returncode == 0 and "cancelled: ends now" in cancel.stdout
    again = json.loads(dr("list", "--format", "json").stdout)
    assert [r["cancelled"] for r in again if r["id"] == "cli-1"] == ["yes"]
    missing = dr("cancel", "nope")
    assert missing.returncode == 2 and "no DR event 'nope' on control.dr" in missing.stderr


def test_megawatch_agent_publishes_simulated_waves_the_worker_takes_in(run: Run) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["MEGAWATCH_DATA_DIR"] = run.worker.env["MEGAWATCH_DATA_DIR"]
    argv = [
        sys.executable,
        "-m",
        "pipeline",
        "agent",
        "--source",
        "sim-wave",
        "--site",
        "agent-1",
        "--racks",
        "4",
        "--wave-scenario",
        "training-swing",
        "--interval",
        "0.5",
        "--ticks",
        "6",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = wait_for(
        lambda: (
            run.worker.sql(
                "SELECT count() n, sum(samples) s FROM power_wave WHERE site = 'agent-1'"
            )[0]
            if run.worker.sql("SELECT count() n FROM power_wave WHERE site = 'agent-1'")[0]["n"]
            >= 24
            else None
        ),
        60,
        "the agent's waves",
    )
    assert rows == {"n": 24, "s": 24 * 10}  # 4 racks x 6 ticks of 0.5 s at 50 ms
