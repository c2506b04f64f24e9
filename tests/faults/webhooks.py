"""Webhook faults through the real notifier: a receiver answering 503 for a while, one
hanging, one refusing connections until it comes up, and a healthy one beside them.

One :class:`~fault_run.Tally` row per receiver, the columns meaning: valid produced =
alerts submitted; stored = distinct Idempotency-Keys the receiver answered 2xx;
invalid produced = 0; dead letters = notifications the notifier gave up on;
duplicates = 2xx answers beyond one per key; lost = alerts never answered 2xx;
crashes = errors the notifier logged with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from fault_run import Tally
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from webhook_receiver import Reply, WebhookReceiver

from pipeline.broker.process import free_port
from pipeline.events import Alert
from pipeline.notify.channel import ChannelTiming
from pipeline.notify.notifier import Notifier
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.retry import RetryPolicy

SECRET = "fault-suite-signing-secret"


class LateReceiver(WebhookReceiver):
    """A receiver on a port chosen now and opened later: connection refused until then."""

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.count += 1


def alert(n: int) -> Alert:
    return Alert.model_validate(
        {
            "fingerprint": f"{n:016x}",
            "rule": "site_power_cap",
            "severity": "critical",
            "status": "firing",
            "site": f"fault{n % 7}",
            "value": 10.4e6,
            "threshold": 10e6,
            "starts_at": datetime.now(UTC),
            "summary": f"fault{n % 7} draws 10.4 MW against a 10 MW cap",
        }
    )


def _hook(name: str, url: str) -> Receiver:
    return Receiver(name=name, kind=ReceiverKind.webhook, url=url, secret=SecretStr(SECRET))


async def _campaign(
    receivers: list[Receiver], alerts: int, spread_s: float, late: LateReceiver, up_at: float
) -> Notifier:
    policy = RetryPolicy(
        give_up_s=spread_s + 120, initial_backoff_s=0.05, max_backoff_s=1.0, request_timeout_s=1.0
    )
    notifier = Notifier(receivers, policy=policy, timing=ChannelTiming(group_wait_s=0.05))
    await notifier.start()
    pending = [asyncio.Event() for _ in range(alerts)]
    try:
        for n, event in enumerate(pending):
            notifier.submit(alert(n), event.set)
            if time.monotonic() >= up_at and late._runner is None:
                await asyncio.to_thread(late.start)
            await asyncio.sleep(spread_s / alerts)
        while time.monotonic() < up_at:
            await asyncio.sleep(0.05)
        if late._runner is None:
            await asyncio.to_thread(late.start)
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in pending)), spread_s + 180)
    finally:
        await notifier.stop()
    return notifier


def run_webhooks(alerts: int = 200, outage_s: float = 6.0) -> list[Tally]:
    """Submit ``alerts`` over ``outage_s`` to four receivers at once: 503 for
    ``outage_s``, hanging (past the client's timeout) for ``outage_s``, connection
    refused for ``outage_s``, and healthy."""
    start = time.monotonic()
    until = start + outage_s
    failing, hanging, healthy = WebhookReceiver(), WebhookReceiver(), WebhookReceiver()
    failing.decide = lambda body: Reply(503) if time.monotonic() < until else None
    hanging.decide = lambda body: Reply(503, delay_s=3.0) if time.monotonic() < until else None
    late = LateReceiver()
    tracebacks = _Tracebacks()
    logging.getLogger("pipeline").addHandler(tracebacks)
    rows = {"503": failing, "hanging": hanging, "refused": late, "healthy": healthy}
    try:
        for rx in (failing, hanging, healthy):
            rx.start()
        receivers = [_hook(name, rx.url()) for name, rx in rows.items()]
        notifier = asyncio.run(_campaign(receivers, alerts, outage_s, late, until))
        stats = notifier.stats()["receivers"]
    finally:
        logging.getLogger("pipeline").removeHandler(tracebacks)
        for rx in rows.values():
            if rx._runner is not None:
                rx.stop()
    return [
        _tally(name, rx, alerts, outage_s, stats[name], tracebacks.count)
        for name, rx in rows.items()
    ]


def _tally(
    name: str,
    rx: WebhookReceiver,
    alerts: int,
    outage_s: float,
    stats: dict[str, int],
    crashes: int,
) -> Tally:
    expected = {f"{n:016x}" for n in range(alerts)}
    delivered = {key for key in rx.seen_keys if key.split(":")[0] in expected}
    fingerprints = {key.split(":")[0] for key in delivered}
    label = "healthy (beside them)" if name == "healthy" else f"{name} for {outage_s:.0f} s"
    return Tally(
        scenario=f"webhook {label}",
        valid_produced=alerts,
        stored=len(fingerprints),
        invalid_produced=0,
        dead_letters=int(stats.get("gave_up", 0)),
        duplicates=sum(rx.seen_keys.values()) - len(rx.seen_keys),
        lost=alerts - len(fingerprints),
        crashes=crashes,
    )
