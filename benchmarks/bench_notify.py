"""Alert delivery latency: alerts topic -> notifier -> webhook receivers, on loopback.

Phase 1 (healthy): alerts are produced to the ``alerts`` topic of the real embedded
broker at a steady rate; a plain aiokafka consumer measures the topic's own latency
(the baseline, same run), and the notifier (group wait 0, as with ``for`` = 0 in the
stream benchmark) delivers to N healthy receivers. Added latency = receiver arrival
minus topic arrival, per alert.

Phase 2 (outage): one more receiver answers 503 for ``--outage`` seconds. The healthy
receivers' latency during the outage is compared with phase 1, and the failing receiver
must catch up afterwards with every alert (nothing lost).

    python benchmarks/bench_notify.py --rate 20 --seconds 20 --outage 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bench_output import add_smoke, result_path, smallest, write_json
from pydantic import SecretStr

from pipeline.broker.process import EmbeddedBroker
from pipeline.events import Alert, AlertStatus, Severity
from pipeline.kafka.endpoint import KafkaEndpoint, aiokafka_options
from pipeline.notify.channel import ChannelTiming
from pipeline.notify.consumer import AlertOutbox
from pipeline.notify.notifier import Notifier
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.retry import RetryPolicy
from pipeline.settings import Settings


class LoopbackReceiver:
    """An aiohttp receiver in its own thread: arrival time per idempotency key."""

    def __init__(self, failing_until: float = 0.0) -> None:
        self.failing_until = failing_until
        self.arrivals: dict[str, float] = {}
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        now = time.perf_counter()
        self.requests += 1
        if now < self.failing_until:
            return web.Response(status=503, text="outage")
        for key in request.headers.get("Idempotency-Key", "").split(","):
            self.arrivals.setdefault(key.strip(), now)
        return web.Response(text="ok")


def alert(n: int) -> Alert:
    return Alert(
        fingerprint=f"{n:016x}",
        rule="site_power_cap",
        severity=Severity.critical,
        status=AlertStatus.firing,
        site=f"s{n}",
        value=11e6,
        threshold=10e6,
        starts_at=datetime.now(UTC),
        summary="bench",
    )


class TimedNotifier(Notifier):
    """Notes when each alert leaves the Kafka consumer: the notifier's own delay starts."""

    dispatched: dict[str, float]

    def submit(self, alert: Alert, done: Any = None) -> int:
        self.dispatched.setdefault(f"{alert.fingerprint}:{alert.seq}", time.perf_counter())
        return super().submit(alert, done)


def hook(name: str, rx: LoopbackReceiver) -> Receiver:
    url = f"http://127.0.0.1:{rx.port}/hook"
    return Receiver(name=name, kind=ReceiverKind.webhook, url=url, secret=SecretStr("bench"))


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {
        "n": len(values),
        "p50_ms": round(pick(0.5) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
    }


async def produce(
    bootstrap: str, first: int, count: int, rate: float, sent: dict[str, float]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for n in range(first, first + count):
            a = alert(n)
            sent[f"{a.fingerprint}:0"] = time.perf_counter()
            await producer.send_and_wait(
                "alerts", a.model_dump_json().encode(), key=a.fingerprint.encode()
            )
            await asyncio.sleep(1 / rate)
    finally:
        await producer.stop()


async def topic_arrivals(bootstrap: str, arrivals: dict[str, float], stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        "alerts",
        bootstrap_servers=bootstrap,
        group_id="bench-baseline",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=50)).values():
                now = time.perf_counter()
                for m in messages:
                    arrivals.setdefault(f"{m.key.decode()}:0", now)
    finally:
        await consumer.stop()


async def run(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    healthy = [LoopbackReceiver() for _ in range(args.receivers)]
    failing = LoopbackReceiver()
    receivers = [hook(f"ok{i}", rx) for i, rx in enumerate(healthy)] + [hook("flaky", failing)]
    policy = RetryPolicy(give_up_s=args.outage + 120, max_backoff_s=args.backoff_max)
    dispatched: dict[str, float] = {}
    notifier = TimedNotifier(receivers, timing=ChannelTiming(group_wait_s=0.0), policy=policy)
    notifier.dispatched = dispatched
    await notifier.start()
    embedded = KafkaEndpoint(bootstrap, embedded=True)
    outbox = AlertOutbox(
        notifier, aiokafka_options(Settings(), embedded, "consumer"), "bench-notifier"
    )
    await outbox.start()
    stop = asyncio.Event()
    topic: dict[str, float] = {}
    baseline = asyncio.create_task(topic_arrivals(bootstrap, topic, stop))
    await asyncio.sleep(args.join_s)  # both groups joined (the embedded broker is slow at it)

    sent: dict[str, float] = {}
    n1 = int(args.rate * args.seconds)
    await produce(bootstrap, 1, n1, args.rate, sent)
    phase1 = set(sent)
    failing.failing_until = time.perf_counter() + args.outage
    n2 = int(args.rate * min(args.seconds, args.outage))
    await produce(bootstrap, n1 + 1, n2, args.rate, sent)
    phase2 = set(sent) - phase1
    deadline = time.monotonic() + args.outage + 60
    while len(failing.arrivals) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop.set()
    await baseline
    await outbox.stop()

    def added(keys: set[str], rx: LoopbackReceiver) -> list[float]:
        return [rx.arrivals[k] - topic[k] for k in keys if k in rx.arrivals and k in topic]

    def notifier_own(keys: set[str], rx: LoopbackReceiver) -> list[float]:
        return [rx.arrivals[k] - dispatched[k] for k in keys if k in rx.arrivals]

    def end_to_end(keys: set[str], rx: LoopbackReceiver) -> list[float]:
        return [rx.arrivals[k] - sent[k] for k in keys if k in rx.arrivals]

    return {
        "rate_per_s": args.rate,
        "receivers_healthy": args.receivers,
        "outage_s": args.outage,
        "topic_latency": quantiles([topic[k] - sent[k] for k in phase1 if k in topic]),
        "healthy_added": quantiles([d for rx in healthy for d in added(phase1, rx)]),
        "healthy_notifier_own": quantiles([d for rx in healthy for d in notifier_own(phase1, rx)]),
        "healthy_notifier_own_during_outage": quantiles(
            [d for rx in healthy for d in notifier_own(phase2, rx)]
        ),
        "healthy_end_to_end": quantiles([d for rx in healthy for d in end_to_end(phase1, rx)]),
        "healthy_added_during_outage": quantiles([d for rx in healthy for d in added(phase2, rx)]),
        "flaky_added_before_outage": quantiles(added(phase1, failing)),
        "flaky_requests": failing.requests,
        "flaky_delivered": len(failing.arrivals),
        "sent": len(sent),
        "lost_at_flaky": len(set(sent) - set(failing.arrivals)),
        "lost_at_healthy": sum(len(set(sent) - set(rx.arrivals)) for rx in healthy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--receivers", type=int, default=3, help="healthy receivers")
    parser.add_argument("--outage", type=float, default=60.0, help="503 seconds of one receiver")
    parser.add_argument("--backoff-max", type=float, default=30.0, help="retry back-off cap")
    parser.add_argument("--join-s", type=float, default=8.0, help="wait for group joins")
    parser.add_argument("--out", type=Path, default=result_path("notify.json"))
    add_smoke(parser)
    args = smallest(
        parser.parse_args(), rate=5.0, seconds=2.0, receivers=1, outage=2.0, backoff_max=1.0
    )
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(Path(tmp)) as broker:
        result = asyncio.run(run(args, broker.bootstrap))
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
