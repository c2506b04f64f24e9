"""``megawatch notifier``: deliver alerts from the ``alerts`` topic, standalone."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from pipeline.cli.alerts_cmd import NO_RECEIVERS
from pipeline.cli.common import settings_from
from pipeline.errors import ConfigError, StoreError
from pipeline.store.reader import store_hint


@click.command()
@click.option("--no-store", is_flag=True, help="Do not record attempts in alert_deliveries.")
def notifier(no_store: bool) -> None:
    """Deliver alerts from the alerts topic to the receivers, until Ctrl-C or SIGTERM.

    Run it on its own with MEGAWATCH_NOTIFIER_IN_WORKER=false on the workers (the
    embedded store is shared through its store server, like a ClickHouse server). Uses
    its own consumer group (MEGAWATCH_CONSUMER_GROUP-notifier) and commits an alert only
    when every receiver is done with it.
    """
    from pipeline.notify.delivery_log import store_sink
    from pipeline.notify.service import NotifierService, firing_alerts, run_until_signalled

    settings = settings_from()
    store = None
    if not no_store:
        from pipeline.store import open_store

        store = open_store(settings)
    try:
        try:
            firing = firing_alerts(store) if store is not None else []
        except StoreError as exc:
            raise StoreError(store_hint(str(exc))) from exc
        service = NotifierService(
            settings, record_sink=store_sink(store) if store else None, firing=firing
        )
        if not service.receivers:
            raise ConfigError(NO_RECEIVERS)
        if settings.notifier_metrics_port:
            _serve_metrics(settings.web_host, settings.notifier_metrics_port, service.stats)
        click.echo(
            f"notifier: {len(service.receivers)} receiver(s), "
            f"{len(firing)} firing alert(s) restored",
            err=True,
        )
        asyncio.run(run_until_signalled(service))
    finally:
        if store is not None:
            store.close()


def _serve_metrics(host: str, port: int, stats: Any) -> None:
    """Prometheus /metrics of the standalone notifier (deliveries and backlog per
    receiver), the same series a worker with the notifier inside exposes."""
    from prometheus_client import CollectorRegistry, start_http_server

    from pipeline.cli.common import check_port_free
    from pipeline.worker.metrics import LiveCollector

    check_port_free(host, port, "MEGAWATCH_NOTIFIER_METRICS_PORT")
    registry = CollectorRegistry()
    collector = LiveCollector()
    collector.deliveries = stats
    registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
    click.echo(f"notifier: metrics at http://{host}:{port}/metrics", err=True)
