"""One receiver's independent pipeline: group buffer -> one lane per group -> HTTP.

Every receiver has its own channel and HTTP client, so a slow or dead receiver delays
nobody else. Inside a channel, as in Alertmanager's aggregation groups, each group
(site and rule) has its own lane: a FIFO worked through by one task, so per fingerprint
firing always goes out before its resolve, while one group stuck in retries does not
hold back the others. At most ``max_in_flight`` requests of a receiver run at once.

The channel also remembers which alerts still fire, for reminders: a repeat after the
repeat interval (webhooks, Slack) or, for the Alertmanager API, a re-send each resend
interval so that Alertmanager does not resolve them on its own. Reminders are queued in
their group's lane and built when their turn comes, so a reminder never overtakes a
resolve of the same alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from pipeline.events import Alert
from pipeline.notify.delivery import Attempt, deliver
from pipeline.notify.delivery_log import DeliveryRecord, attempt_records
from pipeline.notify.grouping import GroupBuffer
from pipeline.notify.notification import GroupKey, Notification, Pending, Purpose
from pipeline.notify.payloads import PayloadContext, build_request
from pipeline.notify.receivers import Receiver, ReceiverKind
from pipeline.notify.reminders import FiringSet
from pipeline.notify.retry import RetryPolicy

logger = logging.getLogger(__name__)

_REMINDER = object()  # lane marker: build this group's due reminders now
_ONE_SHOT = RetryPolicy(max_attempts=1)  # a failed re-send is simply redone next interval


@dataclass(frozen=True)
class ChannelTiming:
    group_wait_s: float = 1.0
    max_alerts: int = 50
    repeat_interval_s: float = 4 * 3600.0
    resend_s: float = 60.0
    max_in_flight: int = 8


@dataclass
class _Lane:
    items: deque[object] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    reminder_queued: bool = False


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
        self._firing = FiringSet(timing.resend_s if self._am_api else timing.repeat_interval_s)
        self._buffer = GroupBuffer(receiver.name, timing.max_alerts)
        self._timers: dict[GroupKey, asyncio.TimerHandle] = {}
        self._lanes: dict[GroupKey, _Lane] = {}
        self._in_flight = asyncio.Semaphore(timing.max_in_flight)
        self._ticker: asyncio.Task[None] | None = None
        self._secrets = receiver.secrets()
        self.counts = {"delivered": 0, "retry": 0, "failed": 0, "gave_up": 0}

    # --- intake (in the event loop, synchronous) ----------------------------------------
    def submit(self, pending: Pending) -> None:
        added = self._buffer.add(pending)
        if added.flushed is not None:
            self._enqueue(added.flushed.group, added.flushed)
        if added.opened:
            loop = asyncio.get_running_loop()
            self._timers[added.key] = loop.call_later(
                self._group_wait, self._flush_group, added.key, added.generation
            )

    def restore(self, alerts: list[Alert]) -> None:
        """Remember alerts that were firing before a restart, as if sent just now."""
        self._firing.track(alerts)

    def observe(self, alert: Alert) -> None:
        """Note a state change this receiver is not sent (no reminders after a resolve)."""
        self._firing.track([alert])

    @property
    def backlog(self) -> int:
        """Alerts waiting in groups, plus notifications queued or being sent."""
        busy = sum(len(lane.items) + (lane.task is not None) for lane in self._lanes.values())
        return len(self._buffer) + busy

    def _flush_group(self, key: GroupKey, generation: int) -> None:
        notification = self._buffer.flush(key, generation)
        if notification is not None:
            self._timers.pop(key, None)
            self._enqueue(key, notification)

    def _enqueue(self, key: GroupKey, item: object) -> None:
        lane = self._lanes.setdefault(key, _Lane())
        lane.items.append(item)
        if lane.task is None:
            lane.task = asyncio.create_task(self._drain(key, lane), name=f"notify-{key}")

    # --- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick(), name=f"notify-{self.receiver.name}")

    async def stop(self, drain_s: float = 0.0) -> None:
        """Flush open groups, give the lanes ``drain_s`` to finish, then cancel them.

        What is still queued or sending then is never completed, so its offsets stay
        uncommitted and the next start delivers it again.
        """
        await _cancel(self._ticker)
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for notification in self._buffer.flush_all():
            self._enqueue(notification.group, notification)
        deadline = time.monotonic() + drain_s
        while (tasks := self._lane_tasks()) and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(tasks, timeout=left)
        for task in self._lane_tasks():
            await _cancel(task)

    def _lane_tasks(self) -> list[asyncio.Task[None]]:
        return [lane.task for lane in self._lanes.values() if lane.task is not None]

    # --- sending -----------------------------------------------------------------------
    async def _drain(self, key: GroupKey, lane: _Lane) -> None:
        try:
            while lane.items:
                item = lane.items.popleft()
                for notification in self._notifications_for(key, lane, item):
                    await self._send(notification)
        finally:
            lane.task = None
            if not lane.items and self._lanes.get(key) is lane:
                del self._lanes[key]

    def _notifications_for(self, key: GroupKey, lane: _Lane, item: object) -> list[Notification]:
        if item is not _REMINDER:
            assert isinstance(item, Notification)
            self._firing.track(item.all_alerts)
            return [item]
        lane.reminder_queued = False
        alerts, repeats = self._firing.take_due(key, datetime.now(UTC))
        if not alerts:
            return []
        if self._am_api:
            return [Notification(self.receiver.name, key, tuple(alerts), purpose=Purpose.resend)]
        listed, left_out = alerts[: self._buffer.max_alerts], alerts[self._buffer.max_alerts :]
        return [
            Notification(
                self.receiver.name,
                key,
                tuple(listed),
                tuple(left_out),
                Purpose.repeat,
                repeats=repeats,
            )
        ]

    async def _tick(self) -> None:
        period = min(max(self._firing.interval_s / 4, 0.05), 60.0)
        while True:
            await asyncio.sleep(period)
            for key in self._firing.due_groups():
                lane = self._lanes.get(key)
                if lane is None or not lane.reminder_queued:
                    self._enqueue(key, _REMINDER)
                    self._lanes[key].reminder_queued = True

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
                limit=self._in_flight,
            )
        except Exception as exc:  # a bug must not stall every later alert of the group
            logger.exception("receiver %s: internal error while sending", self.receiver.name)
            final = Attempt(0, "failed", 0, 0.0, f"internal error: {type(exc).__name__}")
            self._report(n, final)
        if final.outcome == "delivered" and n.purpose is not Purpose.resend:
            self._firing.mark_sent(n.all_alerts)
        n.complete()

    def _report(self, n: Notification, attempt: Attempt) -> None:
        self.counts[attempt.outcome] = self.counts.get(attempt.outcome, 0) + 1
        _log_attempt(self.receiver, n, attempt)
        if n.purpose is not Purpose.resend:  # keep-alives are not deliveries
            self._on_records(attempt_records(self.receiver, n, attempt))


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _log_attempt(receiver: Receiver, n: Notification, attempt: Attempt) -> None:
    keys = [n.key_of(a) for a in n.listed[:3]]
    more = f" +{len(n.all_alerts) - len(keys)}" if len(n.all_alerts) > len(keys) else ""
    what = f"{n.purpose.value} {','.join(keys)}{more}"
    where = f"receiver {receiver.name} ({receiver.display_url})"
    if attempt.outcome == "delivered":
        logger.debug(
            "%s: delivered %s (attempt %s, %.1f ms)",
            where,
            what,
            attempt.number,
            attempt.latency_ms,
        )
    elif attempt.outcome == "retry":
        logger.info(
            "%s: attempt %s for %s failed, will retry: %s",
            where,
            attempt.number,
            what,
            attempt.error,
        )
    elif attempt.outcome == "failed":
        logger.warning("%s: rejected %s, not retried: %s", where, what, attempt.error)
    else:
        logger.error("%s: dead letter %s: %s", where, what, attempt.error)
