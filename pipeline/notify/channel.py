"""One receiver's independent pipeline: group buffer -> FIFO queue -> one sender task.

Every receiver has its own channel, HTTP client and queue, so a slow or dead receiver
delays nobody else. Within a channel one sender works through the queue in order, which
keeps firing before resolved per fingerprint. The channel also keeps the set of alerts
that still fire, for reminders: a repeat notification after the repeat interval
(webhooks, Slack) or, for the Alertmanager API, a re-send of every firing alert each
resend interval so that Alertmanager does not resolve them on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from pipeline.notify.delivery import Attempt, deliver
from pipeline.notify.grouping import GroupBuffer
from pipeline.notify.notification import GroupKey, Notification, Pending, Purpose
from pipeline.notify.payloads import PayloadContext, build_request
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.records import DeliveryRecord
from pipeline.notify.reminders import FiringSet
from pipeline.notify.retry import RetryPolicy

logger = logging.getLogger(__name__)

_TICK = object()  # queue marker: time to check reminders
_ONE_SHOT = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class ChannelTiming:
    group_wait_s: float = 1.0
    max_alerts: int = 50
    repeat_interval_s: float = 4 * 3600.0
    resend_s: float = 60.0


class ReceiverChannel:
    def __init__(
        self,
        receiver: Receiver,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        timing: ChannelTiming,
        ctx: PayloadContext,
        on_records: Callable[[list[DeliveryRecord]], None],
    ) -> None:
        self.receiver = receiver
        self._client = client
        self._policy = policy
        self._ctx = ctx
        self._on_records = on_records
        self._am_api = receiver.kind is ReceiverKind.alertmanager_api
        # Alertmanager groups by itself: push at once (alerts of one poll still batch).
        self._group_wait = 0.0 if self._am_api else timing.group_wait_s
        interval = timing.resend_s if self._am_api else timing.repeat_interval_s
        self._firing = FiringSet(interval)
        self._buffer = GroupBuffer(receiver.name, timing.max_alerts)
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._timers: dict[GroupKey, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._tick_queued = False
        self._secrets = receiver.secrets()
        self.counts = {"delivered": 0, "retry": 0, "failed": 0, "gave_up": 0}

    # --- intake (event loop thread, synchronous) ----------------------------------------
    def submit(self, pending: Pending) -> None:
        added = self._buffer.add(pending)
        if added.flushed is not None:
            self._enqueue(added.flushed)
        if added.opened:
            loop = asyncio.get_running_loop()
            self._timers[added.key] = loop.call_later(
                self._group_wait, self._flush_group, added.key, added.generation
            )

    def _flush_group(self, key: GroupKey, generation: int) -> None:
        notification = self._buffer.flush(key, generation)
        if notification is not None:
            self._timers.pop(key, None)
            self._enqueue(notification)

    def _enqueue(self, notification: Notification) -> None:
        self._queue.put_nowait(notification)

    @property
    def backlog(self) -> int:
        """Alerts waiting in groups plus notifications queued (not counting the one sending)."""
        return len(self._buffer) + self._queue.qsize()

    # --- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        name = self.receiver.name
        self._tasks = [
            asyncio.create_task(self._run(), name=f"notify-{name}"),
            asyncio.create_task(self._tick(), name=f"notify-{name}-reminders"),
        ]

    async def stop(self, drain_s: float = 0.0) -> None:
        """Flush open groups, give the queue ``drain_s`` to empty, then stop the sender.

        What is still queued or sending then is not completed, so its offsets stay
        uncommitted and the next start delivers it again.
        """
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for notification in self._buffer.flush_all():
            self._enqueue(notification)
        if drain_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- sending -----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                for notification in self._notifications_for(item):
                    await self._send(notification)
            finally:
                self._queue.task_done()

    def _notifications_for(self, item: object) -> list[Notification]:
        if item is _TICK:
            self._tick_queued = False
            return self._reminders()
        assert isinstance(item, Notification)
        self._firing.track(item.all_alerts)
        return [item]

    def _reminders(self) -> list[Notification]:
        now = datetime.now(UTC)
        if self._am_api:
            firing = self._firing.all()
            if not firing:
                return []
            key = GroupKey("*", "*")
            return [Notification(self.receiver.name, key, tuple(firing), purpose=Purpose.resend)]
        out = []
        for key, alerts, repeats in self._firing.due_repeats(now):
            listed = tuple(alerts[: self._buffer.max_alerts])
            left_out = tuple(alerts[self._buffer.max_alerts :])
            out.append(
                Notification(
                    self.receiver.name, key, listed, left_out, Purpose.repeat, repeats=repeats
                )
            )
        return out

    async def _tick(self) -> None:
        period = min(max(self._firing.interval_s / 4, 0.05), 60.0)
        while True:
            await asyncio.sleep(period)
            if not self._tick_queued and self._queue.empty():
                self._tick_queued = True
                self._queue.put_nowait(_TICK)

    async def _send(self, n: Notification) -> None:
        policy = _ONE_SHOT if n.purpose is Purpose.resend else self._policy

        try:
            final = await deliver(
                self._client,
                lambda now: build_request(self.receiver, n, self._ctx, now),
                policy,
                n.queued_at,
                lambda attempt: self._report(n, attempt),
                self._secrets,
            )
        except Exception as exc:  # a bug must not stall every later alert of the receiver
            logger.exception("receiver %s: internal error while sending", self.receiver.name)
            final = Attempt(0, "failed", 0, 0.0, f"internal error: {type(exc).__name__}")
            self._report(n, final)
        if final.outcome == "delivered" and n.purpose is not Purpose.resend:
            self._firing.mark_sent(n.all_alerts)
        n.complete()

    def _report(self, n: Notification, attempt: Attempt) -> None:
        self.counts[attempt.outcome] = self.counts.get(attempt.outcome, 0) + 1
        _log_attempt(self.receiver, n, attempt)
        if n.purpose is Purpose.resend:
            return  # keep-alives are not deliveries; failures are logged above
        self._on_records(_records(self.receiver, n, attempt))


def _records(receiver: Receiver, n: Notification, attempt: Attempt) -> list[DeliveryRecord]:
    at = datetime.now(UTC)
    listed = {id(a) for a in n.listed}
    return [
        DeliveryRecord(
            at=at,
            fingerprint=alert.fingerprint,
            seq=alert.seq,
            status=alert.status.value,
            rule=alert.rule,
            site=alert.site,
            receiver=receiver.name,
            receiver_kind=receiver.kind.value,
            attempt=attempt.number,
            outcome=attempt.outcome,
            http_status=attempt.http_status,
            latency_ms=round(attempt.latency_ms, 3),
            error=attempt.error if id(alert) in listed else _truncated(attempt.error),
        )
        for alert in n.all_alerts
    ]


def _truncated(error: str) -> str:
    return "truncated (counted, not listed)" + (f"; {error}" if error else "")


def _log_attempt(receiver: Receiver, n: Notification, attempt: Attempt) -> None:
    keys = [n.key_of(a) for a in n.listed[:3]]
    more = f" +{len(n.all_alerts) - len(keys)}" if len(n.all_alerts) > len(keys) else ""
    what = f"{n.purpose.value} {','.join(keys)}{more}"
    where = f"receiver {receiver.name} ({receiver.display_url})"
    if attempt.outcome == "delivered":
        logger.debug("%s: delivered %s (attempt %s, %.1f ms)", where, what, attempt.number,
                     attempt.latency_ms)
    elif attempt.outcome == "retry":
        logger.info("%s: attempt %s for %s failed, will retry: %s", where, attempt.number, what,
                    attempt.error)
    elif attempt.outcome == "failed":
        logger.warning("%s: rejected %s, not retried: %s", where, what, attempt.error)
    else:
        logger.error("%s: dead letter %s: %s", where, what, attempt.error)
