"""The outbox reader: the ``alerts`` topic into a :class:`Notifier`, committing when done.

Its own consumer group (``<MEGAWATCH_CONSUMER_GROUP>-notifier``), manual commits only.
Each message's offset enters an :class:`~pipeline.notify.offsets.OffsetLedger` and is
marked done by the notifier's callback; every ``commit_interval_s`` the contiguous done
prefix of each partition is committed. A kill loses nothing: whatever was not done is
read again by the next start, and receivers dedupe on ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, Field, ValidationError

from pipeline.core.retry import Backoff, retry
from pipeline.errors import BrokerError
from pipeline.events import Alert
from pipeline.notify.notifier import Notifier
from pipeline.notify.offsets import OffsetLedger

logger = logging.getLogger(__name__)

ALERTS_TOPIC = "alerts"
#: while the broker is away or the group in trouble: try reading again every second
READ_BACKOFF = Backoff(first_s=1.0, max_s=1.0)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, outbox: AlertOutbox) -> None:
        self._outbox = outbox

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._outbox.commit(only=set(revoked))
        self._outbox.ledger.drop(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        logger.info(
            "notifier: reading %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        )


class AlertOutbox:
    def __init__(
        self,
        notifier: Notifier,
        kafka_options: dict[str, Any],
        group_id: str,
        *,
        topic: str = ALERTS_TOPIC,
        max_age_s: float = 86400.0,
        commit_interval_s: float = 0.2,
        fetch_max_wait_ms: int = 20,
    ) -> None:
        """``kafka_options``: :func:`pipeline.kafka.endpoint.aiokafka_options` of the
        consumer role (security, bootstrap servers, group timeouts)."""
        self.notifier = notifier
        self.ledger = OffsetLedger()
        self.topic = topic
        self.group_id = group_id
        self._max_age_ms = max_age_s * 1000
        self._commit_interval_s = commit_interval_s
        self._consumer = AIOKafkaConsumer(
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Alerts are few and urgent: a broker that does not answer a long poll as
            # soon as data arrives (the embedded one) would otherwise add up to the
            # default 500 ms wait to every alert.
            fetch_max_wait_ms=fetch_max_wait_ms,
            **kafka_options,
        )
        self._task: asyncio.Task[None] | None = None
        self.consumed = 0
        self.invalid = 0
        self.too_old = 0

    async def start(self) -> None:
        try:
            await self._consumer.start()
        except (KafkaError, OSError) as exc:
            raise BrokerError(
                f"notifier: cannot reach Kafka for topic {self.topic}: {exc}"
            ) from exc
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        self._task = asyncio.create_task(self._run(), name="notify-outbox")

    async def stop(self, drain_s: float = 2.0) -> None:
        """Stop reading, let receivers finish for ``drain_s``, commit what is done."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.notifier.stop(drain_s)
        await self.commit()
        await self._consumer.stop()

    def _read_failed(self, exc: Exception, delay: float) -> None:
        # the broker away or a group error: keep trying
        logger.error("notifier: reading %s failed, retrying in %.0f s: %s", self.topic, delay, exc)

    async def _run(self) -> None:
        last_commit = time.monotonic()
        while True:
            read = partial(self._consumer.getmany, timeout_ms=100, max_records=1000)
            batches = await retry(read, READ_BACKOFF, self._read_failed, retry_on=(KafkaError,))
            for tp, messages in batches.items():
                for message in messages:
                    self._dispatch(tp, message)
            if time.monotonic() - last_commit >= self._commit_interval_s:
                await self.commit()
                last_commit = time.monotonic()

    def _dispatch(self, tp: TopicPartition, message: Any) -> None:
        self.consumed += 1
        try:
            done = self.ledger.add(tp, message.offset)
        except ValueError:  # fetched again within one assignment: already dispatched
            logger.debug("notifier: %s[%s]@%s seen already", tp.topic, tp.partition, message.offset)
            return
        where = f"{tp.topic}[{tp.partition}]@{message.offset}"
        if (
            message.timestamp is not None
            and time.time() * 1000 - message.timestamp > self._max_age_ms
        ):
            self.too_old += 1
            logger.info("notifier: skipped %s: older than MEGAWATCH_NOTIFY_MAX_AGE_S", where)
            done()
            return
        try:
            alerts = decode_alerts(message.value)
        except (ValidationError, ValueError, TypeError) as exc:
            self.invalid += 1
            logger.error(
                "notifier: skipped %s: not an alert event (%s)", where, str(exc).splitlines()[0]
            )
            done()
            return
        countdown = _countdown(len(alerts), done)
        for alert in alerts:
            self.notifier.submit(alert, countdown)

    async def commit(self, only: set[Any] | None = None) -> None:
        offsets = self.ledger.to_commit(only)
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # a rebalance in progress: the next owner reads again
            logger.warning("notifier: commit of %s failed: %s", _describe(offsets), exc)
            return
        self.ledger.mark_committed(offsets)
        logger.debug("notifier: committed %s", _describe(offsets))

    def stats(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "invalid": self.invalid,
            "too_old": self.too_old,
            "in_flight": self.ledger.in_flight,
            **self.notifier.stats(),
        }


def decode_alerts(raw: bytes | None) -> list[Alert]:
    """One alert event, or a batch ``{"events": [...]}`` of them (as telemetry topics)."""
    if raw is None:
        raise ValueError("empty message")
    data = orjson.loads(raw)
    if isinstance(data, dict) and "events" in data and "fingerprint" not in data:
        return _AlertBatch.model_validate(data).events
    return [Alert.model_validate(data)]


class _AlertBatch(BaseModel):
    events: list[Alert] = Field(min_length=1)


def _countdown(count: int, done: Callable[[], None]) -> Callable[[], None]:
    left = [count]

    def one_done() -> None:
        left[0] -= 1
        if left[0] == 0:
            done()

    return one_done


def _describe(offsets: dict[Any, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]={off}" for tp, off in offsets.items())
