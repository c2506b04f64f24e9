"""``megawatch broker``: the embedded Kafka-compatible broker, in the foreground."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from pipeline.cli.common import settings_from
from pipeline.errors import BrokerError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """An event set by Ctrl-C, SIGTERM or SIGHUP while the block runs."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in _STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to listen on, on 127.0.0.1 only.  [default: a free port]",
)
def broker(port: int | None) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, in memory) until Ctrl-C.

    Other megawatch commands with the same MEGAWATCH_DATA_DIR find and use it; feed it
    with `megawatch publish` (kcat fails against it: docs/feeding.md). Kafka client
    libraries (kafka-python, aiokafka) connect to the printed address.
    """
    from pipeline.broker.process import EmbeddedBroker, broker_lock, discover

    settings = settings_from()
    data_dir = settings.data_dir.resolve()
    with broker_lock(data_dir):
        running = discover(data_dir)
        if running is not None:
            raise BrokerError(
                f"an embedded broker already runs for data dir {data_dir} at "
                f"{running.bootstrap} (pid {running.pid}); use it, or stop it first"
            )
        embedded = EmbeddedBroker(data_dir, port)
        info = embedded.start()
    try:
        _print_banner(info.bootstrap, info.cluster_id, str(data_dir), str(embedded.log_path))
        if settings.kafka_bootstrap:
            click.echo(
                "note: MEGAWATCH_KAFKA_BOOTSTRAP is set in this environment; commands that "
                "see it use that Kafka, not this broker.",
                err=True,
            )
        with _stop_requested() as stop:
            while not stop.wait(0.5):
                if not embedded.running:
                    raise BrokerError(
                        f"the embedded broker at {info.bootstrap} exited unexpectedly; "
                        f"see {embedded.log_path}"
                    )
        click.echo("stopping the broker...")
    finally:
        embedded.stop()
    click.echo("broker stopped")


def _print_banner(bootstrap: str, cluster_id: str, data_dir: str, log_path: str) -> None:
    click.echo(f"megawatch broker: Kafka-compatible broker listening on {bootstrap}")
    click.echo(f"  cluster id  {cluster_id}")
    click.echo(f"  data dir    {data_dir}")
    click.echo(f"  broker log  {log_path}")
    click.echo(
        f"Other megawatch commands with MEGAWATCH_DATA_DIR={data_dir} use it automatically;\n"
        "send it JSON lines with  megawatch publish TOPIC --key SITE  (kcat fails against\n"
        "this broker; Kafka client libraries such as kafka-python connect to the address)\n"
        "Storage is in memory (about 250 bytes per record, never compacted or expired):\n"
        "topics and messages are gone when it stops. Ctrl-C to stop."
    )
