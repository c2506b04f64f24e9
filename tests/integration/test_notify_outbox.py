"""The outbox end to end: alerts topic on the real embedded broker -> notifier process
-> real webhook receivers, with the notifier killed while a receiver is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer
from webhook_receiver import Reply, WebhookReceiver

from pipeline.broker.process import EmbeddedBroker
from pipeline.events import Alert
from pipeline.notify.signing import verify

pytestmark = pytest.mark.integration

SECRET = "outbox-test-secret"


def alerts() -> list[Alert]:
    start = datetime.now(UTC)
    base = {
        "rule": "site_power_cap",
        "severity": "critical",
        "status": "firing",
        "value": 11e6,
        "threshold": 10e6,
        "starts_at": start,
        "summary": "over cap",
    }
    out = [
        Alert.model_validate(base | {"fingerprint": f"{n:016x}", "site": f"site{n}"})
        for n in range(1, 6)
    ]
    resolved = {"status": "resolved", "seq": 1, "ends_at": datetime.now(UTC)}
    out.append(Alert.model_validate(out[0].model_dump() | resolved))
    return out


def keys(items: list[Alert]) -> set[str]:
    return {f"{a.fingerprint}:{a.seq}" for a in items}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:
        yield running


def produce(bootstrap: str, items: list[Alert]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    for alert in items:
        producer.send(
            "alerts", key=alert.fingerprint.encode(), value=alert.model_dump_json().encode()
        )
    producer.flush()
    producer.close()


class NotifierProcess:
    """``megawatch notifier --no-store`` as a child process, output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "-v", "notifier", "--no-store"],
                env=env,
                cwd=log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no {text!r}: {self.log.read_text()[-3000:]}"
            time.sleep(0.05)

    def stop(self, sig: int) -> None:
        self.process.send_signal(sig)
        self.process.wait(30)


def test_killed_notifier_delivers_after_restart_once_per_key(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    sent = alerts()
    expected = keys(sent)
    with WebhookReceiver() as healthy, WebhookReceiver(Reply(503, body="down")) as down:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
        env.update(
            MEGAWATCH_DATA_DIR=str(broker.data_dir),  # finds the running embedded broker
            MEGAWATCH_CONSUMER_GROUP="outbox-test",
            MEGAWATCH_WEBHOOK_URLS=f"{healthy.url('/a')},{down.url('/b')}",
            MEGAWATCH_WEBHOOK_SECRET=SECRET,
            MEGAWATCH_NOTIFY_GROUP_WAIT_S="0.1",
            MEGAWATCH_NOTIFY_BACKOFF_MAX_S="0.2",
        )
        produce(broker.bootstrap, sent)
        log = tmp_path / "notifier.log"

        first = NotifierProcess(env, log)
        healthy.wait_for(lambda: healthy.delivered_keys() == expected, timeout=60)
        # Each group (site, rule) retries in its own lane: b saw every alert, refused all.
        down.wait_for(
            lambda: {k for r in down.requests for k in r.keys} >= expected - {f"{1:016x}:1"}
        )  # the resolve waits behind its firing, in the same lane
        first.stop(signal.SIGKILL)  # receiver b never took one: nothing may be committed
        healthy_first = dict(healthy.seen_keys)

        down.default = Reply(200)
        second = NotifierProcess(env, log)
        down.wait_for(lambda: down.delivered_keys() == expected, timeout=60)
        healthy.wait_for(lambda: sum(healthy.seen_keys.values()) > sum(healthy_first.values()))
        second.stop(signal.SIGTERM)  # graceful: commits everything done

        # Receiver b: each key exactly once. Receiver a got the uncommitted alerts again
        # (at-least-once); its dedupe on Idempotency-Key sees each key as one delivery.
        assert down.seen_keys == {key: 1 for key in expected}
        assert healthy.delivered_keys() == expected
        for r in healthy.requests + down.requests:
            ts, sig = r.headers["X-Megawatch-Timestamp"], r.headers["X-Megawatch-Signature"]
            assert verify(SECRET, ts, sig, r.body, now=time.time())
        # Per fingerprint, firing reached each receiver before its resolve.
        for rx in (healthy, down):
            order = [k for r in rx.requests if r.status == 200 for k in r.keys]
            first_fp = f"{1:016x}"
            assert order.index(f"{first_fp}:0") < order.index(f"{first_fp}:1")

        # A third start finds everything committed: nothing is sent again.
        before = (len(healthy.requests), len(down.requests))
        third = NotifierProcess(env, log)
        third.wait_for_log("notifier: reading alerts", timeout=60)
        time.sleep(1.5)
        third.stop(signal.SIGTERM)
        assert (len(healthy.requests), len(down.requests)) == before
