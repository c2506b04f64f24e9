"""``megawatch demo``: broker, store, worker + notifier, a signed-webhook receiver and a
simulated fleet, shown live, then summarised; everything started is stopped again.

Each step prints its progress; a failure prints one line naming what to fix, and the
steps already taken are undone in reverse order (an ExitStack).
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.live import Live

from pipeline.demo.options import DEMO_SCENARIOS, DemoOptions
from pipeline.demo.receiver import SignedWebhookReceiver
from pipeline.demo.summary import EXAMPLES, print_examples, print_summary
from pipeline.demo.view import plain_line, render
from pipeline.demo.worker_process import WorkerProcess, child_env
from pipeline.errors import MegawatchError
from pipeline.settings import Settings


class Demo:
    def __init__(self, settings: Settings, options: DemoOptions, console: Console) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self.started = datetime.now(UTC)
        self.log_path = Path(settings.data_dir) / "demo.log"

    # --- steps ------------------------------------------------------------------------
    def run(self) -> int:
        with ExitStack() as stack:
            stack.enter_context(_logging_to(self.log_path))
            endpoint = self._broker(stack)
            self._migrate(stack)
            receiver = self._receiver(stack)
            worker = self._worker(stack, receiver)
            fleet = self._fleet(stack, endpoint)
            self._watch(worker, receiver, endpoint)
            self.console.print("[bold]stopping the fleet, letting the worker store the rest…")
            fleet.stop()
            time.sleep(3.0)  # two sink flushes and a notifier group wait
            print_summary(self.console, worker, receiver, self.started)
            print_examples(self.console, worker, self.started, EXAMPLES)
        self.console.print("[green]demo finished: broker, worker and receiver stopped.")
        return 0

    def _step(self, text: str) -> None:
        self.console.print(f"[cyan]•[/cyan] {text}")

    def _broker(self, stack: ExitStack) -> Any:
        from pipeline.kafka.endpoint import resolve_kafka
        from pipeline.kafka.topics import ensure_topics

        endpoint, owned = resolve_kafka(self.settings, start_if_missing=True)
        if owned is not None:
            stack.callback(owned.stop)
            self._step(f"embedded broker up at {endpoint.bootstrap} (Tansu, in memory)")
        else:
            self._step(f"using the Kafka at {endpoint.bootstrap}")
        ensure_topics(self.settings, endpoint)
        return endpoint

    def _migrate(self, stack: ExitStack) -> None:
        from pipeline.store import open_store, owner
        from pipeline.store.connection import parse_target

        path = parse_target(self.settings).path
        if path is not None and owner.discover(path) is None:
            # The demo starts the embedded store's server: it stops it too, last (after
            # the worker has stored the rest), instead of leaving it to its idle timeout.
            stack.callback(owner.stop, path)
        with open_store(self.settings) as store:
            applied = store.migrate()
            rows = store.query_rows("SELECT count() FROM site_power")[0][0]
        self._step(
            f"store {self.settings.store_dsn_redacted} migrated "
            f"({len(applied)} new migrations; {rows:,} power points from earlier runs)"
        )

    def _receiver(self, stack: ExitStack) -> SignedWebhookReceiver:
        secret = (
            self.settings.webhook_secret.get_secret_value()
            if self.settings.webhook_secret
            else secrets.token_hex(16)
        )
        receiver = SignedWebhookReceiver(secret).start()
        stack.callback(receiver.stop)
        self._step(f"webhook receiver at {receiver.url} (verifies HMAC signatures)")
        return receiver

    def _worker(self, stack: ExitStack, receiver: SignedWebhookReceiver) -> WorkerProcess:
        urls = [*self.settings.webhook_urls, receiver.url]
        env = child_env(
            {
                "MEGAWATCH_DATA_DIR": str(self.settings.data_dir),
                "MEGAWATCH_WEBHOOK_URLS": ",".join(urls),
                "MEGAWATCH_WEBHOOK_SECRET": receiver.secret,
            }
        )
        env.pop("MEGAWATCH_WEB_PORT", None)  # a free port, whatever the user's worker uses
        worker = WorkerProcess(env, Path(self.settings.data_dir) / "demo-worker.log")
        self._step("starting the worker (Faust: joins the group, recovers its tables)…")
        stack.callback(worker.stop)
        worker.start()
        self._step(
            f"worker ready at {worker.url} with {worker.assigned_partitions()} "
            "partitions; the notifier runs inside it"
        )
        return worker

    def _fleet(self, stack: ExitStack, endpoint: Any) -> Any:
        from pipeline.kafka.site_specs import publish_specs
        from pipeline.sources.agent import AgentRun, kafka_publisher, simulated_fleet
        from pipeline.sources.sim.fleet_gen import generate_fleet

        fleet = generate_fleet(self.options.sites)
        publish_specs(self.settings, fleet.site_specs())
        caps = sum(spec.cap_mw for spec in fleet.site_specs())
        self._step(f"published the specs of {self.options.sites} sites ({caps:,.1f} MW of caps)")
        source = simulated_fleet(
            fleet,
            DEMO_SCENARIOS,
            seed=self.options.seed,
            gpu_every=self.options.gpu_every,
            effects_at_s=self.options.breach_after_s,
        )
        for note in source.simulator.plan.notes:
            self._step(f"scenario {note}")
        agent = AgentRun(source, kafka_publisher(self.settings, endpoint)).start()
        stack.callback(lambda: agent.stop() if agent.running else None)
        self._step("simulated fleet publishing (one batch per site and tick, lz4)")
        return agent

    # --- the live part ----------------------------------------------------------------
    def _watch(self, worker: WorkerProcess, receiver: SignedWebhookReceiver, endpoint: Any) -> None:
        live = self.console.is_terminal if self.options.live is None else self.options.live
        bad_sent = False
        deadline = (
            None
            if self.options.duration_s is None
            else (time.monotonic() + self.options.duration_s)
        )
        start = time.monotonic()
        hint = " (Ctrl-C to stop)" if deadline is None else f" of {self.options.duration_s:.0f} s"
        with ExitStack() as screen, _interrupt_sets() as stopping:
            display = (
                screen.enter_context(Live(console=self.console, auto_refresh=False))
                if live
                else None
            )
            while not stopping.is_set() and (deadline is None or time.monotonic() < deadline):
                elapsed = time.monotonic() - start
                if not bad_sent and elapsed > self.options.breach_after_s + 5:
                    _send_bad_messages(self.settings, endpoint)
                    bad_sent = True
                self._refresh(display, worker, receiver, elapsed, hint)
                stopping.wait(1.0)
        if stopping.is_set():
            self.console.print("\n[bold]Ctrl-C: wrapping up…")

    def _refresh(
        self,
        display: Live | None,
        worker: WorkerProcess,
        receiver: SignedWebhookReceiver,
        elapsed: float,
        hint: str,
    ) -> None:
        if worker.proc is not None and worker.proc.poll() is not None:
            raise MegawatchError(f"the worker stopped: {worker.last_error()}")
        try:
            state = worker.state()
        except Exception:  # a busy worker may miss one refresh; the next one catches up
            return
        alerts, rejected, _ = receiver.received.snapshot()
        header = (
            f"megawatch demo: {len(state.get('sites', []))} sites, {elapsed:.0f} s{hint}, "
            f"{len(alerts)} alerts received, {rejected} rejected"
        )
        if display is not None:
            width, height = self.console.size
            display.update(render(state, alerts, header, width, height), refresh=True)
        elif int(elapsed) % 5 == 0:
            self.console.print(plain_line(state, alerts, header))


@contextmanager
def _interrupt_sets() -> Iterator[threading.Event]:
    """While the demo runs live, Ctrl-C (SIGINT) sets an event instead of raising
    KeyboardInterrupt wherever the main thread happens to be: raised inside
    kafka-python's network code (the bad messages' producer connecting), the exception
    was caught and logged there, and the demo ran on as if never interrupted."""
    stopping = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: stopping.set())
    try:
        yield stopping
    finally:
        signal.signal(signal.SIGINT, previous)


def _send_bad_messages(settings: Settings, endpoint: Any) -> None:
    """A misbehaving producer: one message that is not JSON, one with a negative power."""
    from kafka import KafkaProducer

    from pipeline.kafka.endpoint import kafka_python_options

    producer = KafkaProducer(**kafka_python_options(settings, endpoint, "producer"))
    site = b"inf-fra-1"
    bad = {"site": site.decode(), "rack": "r01", "ts": int(time.time() * 1000), "power_w": -1}
    try:
        producer.send("telemetry.rack_power", key=site, value=b"power=4.2MW")
        producer.send("telemetry.rack_power", key=site, value=orjson.dumps({"events": [bad]}))
        producer.flush(10)
    finally:
        producer.close(5)


class _logging_to:
    """Send log records to a file while the live view owns the terminal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: list[logging.Handler] = []

    def __enter__(self) -> _logging_to:
        root = logging.getLogger()
        self.saved = root.handlers[:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.handlers = [handler]
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        for handler in root.handlers:
            handler.close()
        root.handlers = self.saved
