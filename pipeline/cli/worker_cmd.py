"""``megawatch worker``: run a stream-processing worker (Faust) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging

import click

from pipeline.cli.common import settings_from

logger = logging.getLogger(__name__)


@click.command()
@click.option("--quiet", is_flag=True, help="No Faust banner.")
def worker(quiet: bool) -> None:
    """Validate, aggregate and evaluate alert rules on the telemetry topics.

    With MEGAWATCH_KAFKA_BOOTSTRAP unset it uses the embedded broker of
    MEGAWATCH_DATA_DIR (started by `megawatch broker`, or by this worker if none runs).
    It owns the ClickHouse store in embedded mode, migrates it on start, and serves
    /health, /metrics, /api/state and /api/sql on MEGAWATCH_WEB_HOST:MEGAWATCH_WEB_PORT.
    Run more workers with the same MEGAWATCH_CONSUMER_GROUP to share the partitions.
    """
    settings = settings_from()
    import faust

    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.kafka.topics import ensure_topics
    from pipeline.worker.app import create_app
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
        click.echo(f"store {settings.store_dsn_redacted} migrated", err=True)
        app = create_app(settings, endpoint=endpoint, resources=resources)
        faust.Worker(
            app,
            loglevel=settings.log_level.lower(),
            quiet=quiet,
            redirect_stdouts=False,
        ).execute_from_commandline()
    finally:
        if resources is not None:
            resources.store.close()
        if owned_broker is not None:
            owned_broker.stop()
