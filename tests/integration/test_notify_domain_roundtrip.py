"""A power domain's alert keeps its domain through the store (issue 19).

Fired by a real worker (a hall over its cap in a site under its cap), stored by that
worker in its embedded store, the worker stopped; then a restarted notifier (the
:class:`pipeline.notify.service.NotifierService` the worker and ``megawatch notifier``
run, on the same broker) seeded from the store with
:func:`pipeline.notify.service.firing_alerts`. Its reminders, a repeat on the generic
webhook and a re-send to the Alertmanager API, must still say which domain fires.

The restarted notifier skips the alert records still on the topic (older than its
``notify_max_age_s``): whatever it sends was rebuilt from the store alone.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import Received, WebhookReceiver
from worker_harness import WorkerProcess, now_ms, producer, read_topic, send_batch, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.notify.service import NotifierService, firing_alerts
from pipeline.notify.signing import verify
from pipeline.settings import Settings, load_settings
from pipeline.store import open_store

pytestmark = pytest.mark.integration

SECRET = "domain-roundtrip-secret"
SITE = "atl-2"
SPEC = {
    "site": SITE,
    "cap_mw": 10.0,
    "domains": [
        {"name": "feed-a", "cap_mw": 5.0, "children": ["hall-1", "hall-2"]},
        {"name": "hall-1", "cap_mw": 1.0, "racks": ["h1-*"]},
        {"name": "hall-2", "cap_mw": 1.0, "racks": ["h2-*"]},
    ],
}
# hall-1 draws 1.2 MW against its 1 MW cap; hall-2, feed-a and the site stay under theirs
WATTS = {**{f"h1-{i}": 120_000.0 for i in range(10)}, **{f"h2-{i}": 50_000.0 for i in range(10)}}
MAX_AGE_S = 1.0
REPEAT_KEY = re.compile(r"^[0-9a-f]{16}:[0-9]+:r[0-9]+$")


def fire_and_store(broker: EmbeddedBroker, data: Path) -> list[dict[str, Any]]:
    """Run a worker until it has stored the hall's cap alerts; the alerts topic after."""
    worker = WorkerProcess(data).start()
    prod = producer(broker.bootstrap)
    try:
        prod.send("control.sites", key=SITE.encode(), value=json.dumps(SPEC).encode())
        prod.flush()

        def stored() -> list[dict[str, Any]]:
            events = [
                {"site": SITE, "rack": r, "ts": now_ms(), "power_w": w} for r, w in WATTS.items()
            ]
            send_batch(prod, "telemetry.rack_power", SITE, events)
            prod.flush()
            rows = worker.sql(
                "SELECT rule, domain, status FROM alerts FINAL WHERE site = {s:String}", {"s": SITE}
            )
            return rows if len(rows) >= 2 else []

        rows = wait_for(stored, 60, "the hall's cap alerts in the store")
    finally:
        prod.close()
        worker.stop()
    assert sorted((r["rule"], r["domain"], r["status"]) for r in rows) == [
        ("cap_critical", "hall-1", "firing"),
        ("cap_warning", "hall-1", "firing"),
    ]
    return [a for a in read_topic(broker.bootstrap, "alerts", settle_s=1) if a["site"] == SITE]


def restarted_settings(data: Path, hook: WebhookReceiver, am: WebhookReceiver) -> Settings:
    return load_settings(
        data_dir=data,
        clickhouse_dsn=f"chdb://{data / 'clickhouse'}",
        webhook_urls=[hook.url("/hook")],
        webhook_secret=SECRET,
        alertmanager_url=am.url("/am"),
        notify_group_wait_s=0.0,
        notify_repeat_interval_s=0.5,
        alertmanager_resend_s=0.5,
        notify_max_age_s=MAX_AGE_S,
    )


def run_restarted_notifier(
    settings: Settings, hook: WebhookReceiver, am: WebhookReceiver, records: int
) -> dict[str, Any]:
    """Start the notifier as a restarted worker does, until both receivers were reminded
    and the ``records`` alert records on the topic were consumed; its stats."""

    def reminded(service: NotifierService) -> bool:
        rules = {a["rule"] for r in hook.requests for a in r.json()["alerts"]}
        hooked = rules == {"cap_critical", "cap_warning"}
        return hooked and len(am.requests) >= 2 and service.stats()["consumed"] >= records

    async def scenario() -> dict[str, Any]:
        # the worker's order (pipeline/worker/services.py): read back, then start
        with open_store(settings) as store:
            service = NotifierService(settings, firing=firing_alerts(store))
        await service.start()
        try:
            deadline = time.monotonic() + 30
            while not reminded(service):
                assert time.monotonic() < deadline, "no reminders from the restarted notifier"
                await asyncio.sleep(0.1)
            return service.stats()
        finally:
            await service.stop()

    return asyncio.run(scenario())


def signed(request: Received) -> bool:
    ts = request.headers["X-Megawatch-Timestamp"]
    signature = request.headers["X-Megawatch-Signature"]
    return verify(SECRET, ts, signature, request.body, float(ts))


def test_a_restarted_notifier_reminds_with_the_domain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedBroker(data) as broker:
        published = fire_and_store(broker, data)
        # what the worker fired, read independently of the store
        fired = {(a["fingerprint"], a["rule"], a.get("domain")) for a in published}
        assert {(rule, domain) for _, rule, domain in fired} == {
            ("cap_critical", "hall-1"),
            ("cap_warning", "hall-1"),
        }
        time.sleep(MAX_AGE_S + 0.5)  # the records on the topic are now too old to send
        with WebhookReceiver() as hook, WebhookReceiver() as am:
            settings = restarted_settings(data, hook, am)
            stats = run_restarted_notifier(settings, hook, am, len(published))
            hooked, pushed = list(hook.requests), list(am.requests)

    assert stats["too_old"] == len(published)  # nothing came from the topic
    # the generic webhook: repeats of the stored alerts, each with its domain
    assert {r.json()["purpose"] for r in hooked} == {"repeat"} and all(map(signed, hooked))
    reminded = {
        (a["fingerprint"], a["rule"], a["domain"]) for r in hooked for a in r.json()["alerts"]
    }
    assert reminded == fired
    fired_as = {f"{a['fingerprint']}:{a['seq']}" for a in published}
    for key in (k for r in hooked for k in r.keys):  # fingerprint:seq:r<repeat number>
        assert REPEAT_KEY.match(key) and key.rsplit(":", 1)[0] in fired_as, key
    # the Alertmanager API: re-sends whose labels name the domain
    assert {r.path for r in pushed} == {"/am/api/v2/alerts"}
    labels = {tuple(sorted(a["labels"].items())) for r in pushed for a in r.json()}
    assert labels == {
        (
            ("alertname", "cap_critical"),
            ("domain", "hall-1"),
            ("severity", "critical"),
            ("site", SITE),
        ),
        (
            ("alertname", "cap_warning"),
            ("domain", "hall-1"),
            ("severity", "warning"),
            ("site", SITE),
        ),
    }
