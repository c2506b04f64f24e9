"""The notifier as a component of a process: embedded in the worker, or run alone.

The worker embeds it in its own event loop::

    service = NotifierService(settings, endpoint=endpoint,
                              record_sink=store_sink(store),
                              firing=firing_alerts(store))
    await service.start()     # in the running loop; returns once consuming
    ...
    await service.stop()      # drains for a moment, commits what is done

``megawatch notifier`` runs the same service alone, for deployments with a ClickHouse
server (or without recording, ``--no-store``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeline.core.rows import ALERT_FIELDS
from pipeline.events import Alert
from pipeline.notify.consumer import AlertOutbox
from pipeline.notify.delivery_log import RecordSink
from pipeline.notify.notifier import Notifier
from pipeline.notify.receivers import Receiver, receivers_from_settings
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.kafka.endpoint import KafkaEndpoint

logger = logging.getLogger(__name__)

NOTIFIER_GROUP_SUFFIX = "-notifier"
#: Alert fields as stored in the ``alerts`` table (optional strings stored as '').
_FIRING_SQL = f"""
SELECT * FROM (
    SELECT {", ".join(ALERT_FIELDS)} FROM alerts FINAL
    WHERE test = 0
    ORDER BY fingerprint, seq DESC
    LIMIT 1 BY fingerprint
) WHERE status = 'firing'
LIMIT 100000
"""


def notifier_group(settings: Settings) -> str:
    """The notifier's own consumer group: it commits independently of the workers."""
    return settings.consumer_group + NOTIFIER_GROUP_SUFFIX


class NotifierService:
    def __init__(
        self,
        settings: Settings,
        *,
        endpoint: KafkaEndpoint | None = None,
        record_sink: RecordSink | None = None,
        receivers: list[Receiver] | None = None,
        firing: Iterable[Alert] = (),
    ) -> None:
        self.settings = settings
        self.receivers = receivers if receivers is not None else receivers_from_settings(settings)
        self._endpoint = endpoint
        self._firing = list(firing)
        self.notifier = Notifier.from_settings(settings, record_sink, self.receivers)
        self.outbox: AlertOutbox | None = None

    async def start(self) -> None:
        """Start delivering; with no receiver configured, nothing is consumed."""
        if not self.receivers:
            logger.warning(
                "notifier: no receivers (set MEGAWATCH_WEBHOOK_URLS, MEGAWATCH_ALERTMANAGER_URL, "
                "MEGAWATCH_SLACK_WEBHOOK_URL or MEGAWATCH_RECEIVERS_FILE); alerts are not sent"
            )
            return
        from pipeline.kafka.endpoint import aiokafka_options, resolve_kafka

        endpoint = self._endpoint
        if endpoint is None:
            endpoint, _ = resolve_kafka(self.settings, start_if_missing=False)
        await self.notifier.start()
        self.notifier.restore_firing(self._firing)
        self.outbox = AlertOutbox(
            self.notifier,
            aiokafka_options(self.settings, endpoint, "consumer"),
            notifier_group(self.settings),
            max_age_s=self.settings.notify_max_age_s,
        )
        try:
            await self.outbox.start()
        except BaseException:
            await self.notifier.stop()
            raise

    async def stop(self, drain_s: float = 2.0) -> None:
        if self.outbox is not None:
            await self.outbox.stop(drain_s)
            self.outbox = None

    def stats(self) -> dict[str, Any]:
        return self.outbox.stats() if self.outbox is not None else self.notifier.stats()


def firing_alerts(store: Any) -> list[Alert]:
    """The alerts whose latest stored state is firing (to seed a restarted notifier)."""
    rows = store.query_rows(_FIRING_SQL)
    out = []
    for row in rows:
        data = {k: v for k, v in zip(ALERT_FIELDS, row, strict=True) if v not in ("", None)}
        out.append(Alert.model_validate(data))
    return out


async def run_until_signalled(service: NotifierService) -> None:
    """Run ``service`` until SIGINT or SIGTERM (``megawatch notifier``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # add_signal_handler raises NotImplementedError where the loop has no signal
        # support (Windows); Ctrl-C then ends the process as usual.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await service.start()
    try:
        await stop.wait()
    finally:
        await service.stop(drain_s=5.0)
