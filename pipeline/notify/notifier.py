"""The notifier: fans each alert out to the receivers that want it, one channel each.

:class:`Notifier` is transport-agnostic: :meth:`Notifier.submit` takes an alert and a
``done`` callback that fires once every receiver has delivered, rejected or given up on
that alert; :class:`pipeline.notify.consumer.AlertOutbox` feeds it from the ``alerts``
topic and commits on ``done``. It runs in whatever event loop starts it (the worker's,
or the standalone ``megawatch notifier``), and writes delivery records only through the
:data:`~pipeline.notify.delivery_log.RecordSink` it is handed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from pipeline.errors import ConfigError
from pipeline.events import Alert, AlertStatus
from pipeline.notify.channel import ChannelTiming, ReceiverChannel
from pipeline.notify.delivery_log import DeliveryRecord, RecordBatcher, RecordSink
from pipeline.notify.notification import DoneCallback, Pending
from pipeline.notify.payloads import PayloadContext
from pipeline.notify.receivers import Receiver, receivers_from_settings
from pipeline.notify.retry import RetryPolicy
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


class _Countdown:
    """Calls ``done`` when it has been called ``count`` times."""

    def __init__(self, count: int, done: DoneCallback) -> None:
        self._left = count
        self._done = done

    def __call__(self) -> None:
        self._left -= 1
        if self._left == 0:
            self._done()


class Notifier:
    def __init__(
        self,
        receivers: Sequence[Receiver],
        *,
        policy: RetryPolicy | None = None,
        timing: ChannelTiming | None = None,
        context: PayloadContext | None = None,
        record_sink: RecordSink | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.receivers = list(receivers)
        self.policy = policy or RetryPolicy()
        self.timing = timing or ChannelTiming()
        self.context = context or PayloadContext("http://127.0.0.1:6066", self.timing.resend_s)
        self._transport = transport
        self._records = RecordBatcher(record_sink)
        self._channels: dict[str, ReceiverChannel] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._started = False
        self.submitted = 0
        self.unrouted = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        record_sink: RecordSink | None = None,
        receivers: Sequence[Receiver] | None = None,
    ) -> Notifier:
        """The notifier the settings describe (receivers, timings, links)."""
        timing = ChannelTiming(
            group_wait_s=settings.notify_group_wait_s,
            max_alerts=settings.notify_max_alerts,
            repeat_interval_s=settings.notify_repeat_interval_s,
            resend_s=settings.alertmanager_resend_s,
        )
        policy = RetryPolicy(
            give_up_s=settings.notify_give_up_s,
            max_backoff_s=settings.notify_backoff_max_s,
            request_timeout_s=settings.notify_request_timeout_s,
        )
        external = settings.external_url or f"http://{settings.web_host}:{settings.web_port}"
        return cls(
            receivers if receivers is not None else receivers_from_settings(settings),
            policy=policy,
            timing=timing,
            context=PayloadContext(external.rstrip("/"), settings.alertmanager_resend_s),
            record_sink=record_sink,
        )

    async def start(self) -> None:
        """Open one HTTP client and one channel per receiver (in the running loop)."""
        for receiver in self.receivers:
            client = httpx.AsyncClient(
                timeout=self.policy.request_timeout_s,
                transport=self._transport,
                follow_redirects=False,
            )
            self._clients.append(client)
            channel = ReceiverChannel(
                receiver, client, self.policy, self.timing, self.context, self._add_records
            )
            channel.start()
            self._channels[receiver.name] = channel
        self._records.start()
        self._started = True
        logger.info(
            "notifier: %s receiver(s): %s",
            len(self.receivers),
            ", ".join(f"{r.name} ({r.kind.value} {r.display_url})" for r in self.receivers),
        )

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop the channels (giving them ``drain_s`` to finish), then write the records."""
        await asyncio.gather(*(c.stop(drain_s) for c in self._channels.values()))
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        await self._records.stop()

    def submit(self, alert: Alert, done: DoneCallback | None = None) -> int:
        """Queue ``alert`` for every receiver that wants it; returns how many do.

        ``done`` is called (in the loop) once all of them are finished with it, at once
        when none wants it.
        """
        if not self._started:
            raise RuntimeError("Notifier.submit() before start()")
        self.submitted += 1
        targets = []
        for channel in self._channels.values():
            if channel.receiver.wants(alert):
                targets.append(channel)
            elif alert.status is AlertStatus.resolved:
                channel.observe(alert)  # e.g. send_resolved: false, but stop reminders
        if not targets:
            self.unrouted += 1
            if done is not None:
                done()
            return 0
        countdown = _Countdown(len(targets), done) if done is not None else None
        for channel in targets:
            channel.submit(Pending(alert, countdown))
        return len(targets)

    def restore_firing(self, alerts: Iterable[Alert]) -> None:
        """Seed the still-firing alerts after a restart (from the store's ``alerts`` table),
        so that Alertmanager keeps getting them and repeats go on."""
        alerts = list(alerts)
        for channel in self._channels.values():
            channel.restore([a for a in alerts if channel.receiver.wants(a)])

    def stats(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "unrouted": self.unrouted,
            "records_written": self._records.written,
            "records_dropped": self._records.dropped,
            "receivers": {
                name: {"backlog": c.backlog, **c.counts} for name, c in self._channels.items()
            },
        }

    def _add_records(self, records: list[DeliveryRecord]) -> None:
        self._records.add(records)


def single_receiver(receivers: Sequence[Receiver], name: str | None) -> list[Receiver]:
    """All receivers, or the one named (for ``alerts test --receiver``)."""
    if name is None:
        return list(receivers)
    chosen = [r for r in receivers if r.name == name]
    if not chosen:
        known = ", ".join(r.name for r in receivers) or "none configured"
        raise ConfigError(f"no receiver named {name!r} (configured: {known})")
    return chosen
