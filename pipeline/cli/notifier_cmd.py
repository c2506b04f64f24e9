"""``megawatch notifier``: deliver alerts from the ``alerts`` topic, standalone."""

from __future__ import annotations

import asyncio

import click

from pipeline.cli.alerts_cmd import NO_RECEIVERS
from pipeline.cli.common import settings_from
from pipeline.errors import ConfigError, StoreError, StoreInUseError
from pipeline.store.reader import store_hint


@click.command()
@click.option("--no-store", is_flag=True, help="Do not record attempts in alert_deliveries.")
def notifier(no_store: bool) -> None:
    """Deliver alerts from the alerts topic to the receivers, until Ctrl-C or SIGTERM.

    For deployments with a ClickHouse server: with the embedded store, the worker runs
    the notifier itself. Uses its own consumer group (MEGAWATCH_CONSUMER_GROUP-notifier)
    and commits an alert only when every receiver is done with it.
    """
    from pipeline.notify.delivery_log import store_sink
    from pipeline.notify.service import NotifierService, firing_alerts, run_until_signalled

    settings = settings_from()
    store = None
    if not no_store:
        from pipeline.store import open_store

        try:
            store = open_store(settings)
        except StoreInUseError as exc:
            raise StoreError(
                f"{exc}; the worker runs the notifier itself in embedded mode "
                "(or run `megawatch notifier --no-store`)"
            ) from None
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
        click.echo(
            f"notifier: {len(service.receivers)} receiver(s), "
            f"{len(firing)} firing alert(s) restored",
            err=True,
        )
        asyncio.run(run_until_signalled(service))
    finally:
        if store is not None:
            store.close()
