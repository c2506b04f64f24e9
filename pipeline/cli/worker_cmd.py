"""``megawatch worker``: run a stream-processing worker (Faust) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
from typing import Any

import click

from pipeline.cli.common import check_port_free, quiet_libraries, settings_from

logger = logging.getLogger(__name__)


@click.command()
@click.option("--quiet", is_flag=True, help="No Faust banner.")
def worker(quiet: bool) -> None:
    """Validate, aggregate and evaluate alert rules on the telemetry topics.

    With MEGAWATCH_KAFKA_BOOTSTRAP unset it uses the embedded broker of
    MEGAWATCH_DATA_DIR (started by `megawatch broker`, or by this worker if none runs).
    It migrates the store on start and serves /health, /metrics and /api/state on
    MEGAWATCH_WEB_HOST:MEGAWATCH_WEB_PORT (each worker on a machine needs its own port).
    Run more workers with the same MEGAWATCH_CONSUMER_GROUP to share the partitions.
    """
    settings = settings_from()
    if settings.web_port:
        check_port_free(settings.web_host, settings.web_port, "MEGAWATCH_WEB_PORT")
    import faust

    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.kafka.topics import ensure_topics
    from pipeline.worker.app import create_app
    from pipeline.worker.collector import tune_for_throughput
    from pipeline.worker.resources import open_resources

    endpoint, owned_broker = resolve_kafka(settings, start_if_missing=True)
    resources = None
    try:
        if owned_broker is not None:
            click.echo(f"started the embedded broker at {endpoint.bootstrap}", err=True)
        layout = ensure_topics(settings, endpoint)
        if layout.created:
            click.echo(f"created topics: {', '.join(layout.created)}", err=True)
        if layout.partitions != settings.kafka_partitions:
            settings = settings.model_copy(update={"kafka_partitions": layout.partitions})
        resources = open_resources(settings, endpoint)
        done = "migrated" if settings.migrates_on_start else "opened (MEGAWATCH_AUTO_MIGRATE off)"
        click.echo(f"store {settings.store_dsn_redacted} {done}", err=True)
        app = create_app(settings, endpoint=endpoint, resources=resources)
        _announce_ready(app, f"http://{settings.web_host}:{settings.web_port}")
        runner = plain_worker(faust.Worker)(
            app,
            loglevel=settings.log_level.lower(),
            quiet=quiet,
            redirect_stdouts=False,
        )
        runner.on_setup_root_logger = lambda *_: quiet_libraries(settings.log_level)
        tune_for_throughput()  # after setup: what exists now is never collected
        runner.execute_from_commandline()
    finally:
        if resources is not None:
            resources.store.close()
        if owned_broker is not None:
            owned_broker.stop()


def plain_worker(base: type[Any]) -> type[Any]:
    """Faust's Worker, writing nothing meant for a terminal into a file: its progress
    spinner (backspaces and the cursor codes ``ESC[?25l``/``ESC[?25h``) only on a
    terminal, and Ctrl-C as one log line instead of ``-INT- -INT- -INT-``."""

    class PlainWorker(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if not _is_terminal(self.stdout):
                self.spinner = None  # faust checks for one before each use

        def _on_sigint(self) -> None:
            if _is_terminal(self.stderr):
                super()._on_sigint()
                return
            logger.info("SIGINT: stopping")
            self._schedule_shutdown(signal.SIGINT)

    return PlainWorker


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _announce_ready(app: Any, url: str) -> None:
    """One line when the first assignment arrives: the worker is consuming."""
    announced = False

    async def on_assigned(app: Any, assigned: set[Any], **kwargs: Any) -> None:
        nonlocal announced
        if not announced:
            announced = True
            click.echo(
                f"megawatch worker ready: {len(assigned)} partitions assigned, "
                f"{url}/health and /metrics (Ctrl-C to stop)",
                err=True,
            )

    app.on_partitions_assigned.connect(on_assigned)
