"""Missing telemetry and power domains through a real worker, embedded broker and store.

hx-3 runs over its 1 MW cap on 10 racks, loses 4 racks' telemetry, then all of it, then
gets it back under the cap: the cap alerts must stay firing through the silence,
telemetry_missing must fire (warning, then critical from the tick alone) and everything
must resolve once data returns. A hall over its cap inside a site under its cap fires
the hall's alerts only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from worker_harness import WorkerProcess, now_ms, producer, read_topic, send_batch, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = pytest.mark.integration
RACKS = [f"r{i}" for i in range(10)]
# Telemetry rule `for` of 1 s, as the cap rules in the harness.
EXTRA = {"MEGAWATCH_TELEMETRY_FOR_S": "1"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:
        yield running


@pytest.fixture
def worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(tmp_path / "data", EXTRA).start()
    try:
        yield proc
    finally:
        proc.stop()


class Feeder:
    """Sends one batch for the racks of the current phase every 0.5 s, in a thread."""

    def __init__(self, bootstrap: str, site: str) -> None:
        self.prod = producer(bootstrap)
        self.site = site
        self.watts: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            ts = now_ms()
            events = [
                {"site": self.site, "rack": rack, "ts": ts, "power_w": w}
                for rack, w in dict(self.watts).items()
            ]
            if events:
                send_batch(self.prod, "telemetry.rack_power", self.site, events)
                self.prod.flush()
            time.sleep(0.5)


def publish_spec(bootstrap: str, spec: dict) -> None:
    prod = producer(bootstrap)
    prod.send("control.sites", key=spec["site"].encode(), value=json.dumps(spec).encode())
    prod.flush()
    prod.close()


def episodes(alerts: list[dict]) -> set[tuple[str, str, str, str | None]]:
    return {(a["rule"], a["severity"], a["status"], a.get("domain")) for a in alerts}


def test_silence_keeps_the_cap_alert_and_fires_telemetry_missing(
    broker: EmbeddedBroker, worker: WorkerProcess
) -> None:
    publish_spec(broker.bootstrap, {"site": "hx-3", "cap_mw": 1.0})
    time.sleep(1.0)
    seen: list[dict] = []
    sequence: list[tuple[str, str, str, str]] = []

    def new_alerts(phase: str) -> set[tuple[str, str, str, str | None]]:
        alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
        known = {(a["fingerprint"], a["seq"]) for a in seen}
        fresh = [a for a in alerts if (a["fingerprint"], a["seq"]) not in known]
        seen[:] = alerts
        sequence.extend((phase, a["rule"], a["severity"], a["status"]) for a in fresh)
        return episodes(fresh)

    def until(phase: str, episode: tuple[str, str, str, str | None]) -> bool:
        new_alerts(phase)
        return episode in episodes(seen)

    with Feeder(broker.bootstrap, "hx-3") as feeder:
        feeder.watts = {r: 120_000.0 for r in RACKS}  # 1.2 MW against 1.0 MW
        critical = ("cap_critical", "critical", "firing", None)
        wait_for(lambda: until("over cap", critical), 30, "the cap alerts")
        feeder.watts = {r: 120_000.0 for r in RACKS[:6]}  # 4 racks go silent
        warning = ("telemetry_missing", "warning", "firing", None)
        wait_for(lambda: until("4 of 10 silent", warning), 30, "telemetry_missing (warning)")
        feeder.watts = {}  # the agent stops sending anything: only the tick can tell
        silent = ("telemetry_missing", "critical", "firing", None)
        wait_for(lambda: until("all silent", silent), 30, "telemetry_missing (critical)")
        state = httpx.get(f"{worker.url}/api/state", timeout=10).json()
        hx3 = next(s for s in state["sites"] if s["site"] == "hx-3")
        assert (hx3["silent_racks"], hx3["coverage"], hx3["reported_w"]) == (10, 0.0, 0.0)
        assert hx3["estimated_w"] == pytest.approx(1.2e6)
        # Through all of it, no cap alert resolved: silence is not safety.
        assert not [a for a in seen if a["rule"].startswith("cap_") and a["status"] == "resolved"]
        feeder.watts = {r: 50_000.0 for r in RACKS}  # data returns, under the cap

        def all_resolved() -> bool:
            new_alerts("data back")
            got = episodes(seen)
            return all(
                (rule, sev, "resolved", None) in got
                for rule, sev in [
                    ("cap_critical", "critical"),
                    ("cap_warning", "warning"),
                    ("telemetry_missing", "warning"),
                    ("telemetry_missing", "critical"),
                ]
            )

        wait_for(all_resolved, 40, "every alert resolved")
    print("\nalert sequence of the silence scenario:")
    for phase, rule, severity, status in sequence:
        print(f"  [{phase}] {rule} {severity} {status}")
    counts = sorted((a["rule"], a["severity"], a["status"]) for a in seen)
    assert counts == [
        ("cap_critical", "critical", "firing"),
        ("cap_critical", "critical", "resolved"),
        ("cap_warning", "warning", "firing"),
        ("cap_warning", "warning", "resolved"),
        ("telemetry_missing", "critical", "firing"),
        ("telemetry_missing", "critical", "resolved"),
        ("telemetry_missing", "warning", "firing"),
        ("telemetry_missing", "warning", "resolved"),
    ]
    critical = next(a for a in seen if a["rule"] == "cap_critical" and a["status"] == "firing")
    assert "of its 1.00 MW cap" in critical["summary"]
    rows = worker.sql(
        "SELECT max(estimated_w) est, min(coverage) cov, max(stale_racks) silent "
        "FROM site_power WHERE site = 'hx-3'"
    )[0]
    assert rows["est"] == pytest.approx(1.2e6) and rows["cov"] == 0 and rows["silent"] == 10


def test_a_hall_over_its_cap_in_a_site_under_its_cap_fires_the_halls_alert_only(
    broker: EmbeddedBroker, worker: WorkerProcess
) -> None:
    spec = {
        "site": "atl-2",
        "cap_mw": 10.0,
        "domains": [
            {"name": "feed-a", "cap_mw": 5.0, "children": ["hall-1", "hall-2"]},
            {"name": "hall-1", "cap_mw": 1.0, "racks": ["h1-*"]},
            {"name": "hall-2", "cap_mw": 1.0, "racks": ["h2-*"]},
        ],
    }
    publish_spec(broker.bootstrap, spec)
    time.sleep(1.0)
    with Feeder(broker.bootstrap, "atl-2") as feeder:
        feeder.watts = {f"h1-{i}": 120_000.0 for i in range(10)}  # hall-1: 1.2 MW
        feeder.watts.update({f"h2-{i}": 50_000.0 for i in range(10)})  # hall-2: 0.5 MW

        def hall_alerts() -> list[dict]:
            alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
            return alerts if len(alerts) >= 2 else []

        wait_for(hall_alerts, 30, "the hall's cap alerts")
        time.sleep(3)  # anything else would have fired by now
        alerts = read_topic(broker.bootstrap, "alerts", settle_s=1)
        state = httpx.get(f"{worker.url}/api/state", timeout=10).json()
    assert episodes(alerts) == {
        ("cap_warning", "warning", "firing", "hall-1"),
        ("cap_critical", "critical", "firing", "hall-1"),
    }
    crit = next(a for a in alerts if a["rule"] == "cap_critical")
    assert crit["summary"].startswith("domain hall-1 of atl-2 draws 1.20 MW")
    site = next(s for s in state["sites"] if s["site"] == "atl-2")
    domains = {d["domain"]: d for d in site["domains"]}
    assert domains["hall-1"]["firing"] == ["cap_critical", "cap_warning"]
    assert domains["feed-a"]["total_w"] == pytest.approx(1.7e6)

    def stored() -> list[dict]:
        return worker.sql(
            "SELECT domain, max(total_w) w, any(cap_w) cap FROM domain_power "
            "WHERE site = 'atl-2' GROUP BY domain ORDER BY domain"
        )

    rows = wait_for(lambda: len(stored()) == 3 and stored(), 20, "domain_power rows")
    assert [(r["domain"], r["cap"]) for r in rows] == [
        ("feed-a", 5e6),
        ("hall-1", 1e6),
        ("hall-2", 1e6),
    ]
