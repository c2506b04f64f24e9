"""Fixes to Faust that megawatch applies on every broker (not Tansu quirks).

A worker that started on a backlog silently skipped the first messages of every
partition (the throughput benchmark: offsets 0-10 of each partition never read). At the
end of table recovery Faust resumes the stream partitions, seeks them to their committed
offsets, and only then resumes the flow, which clears the agents' queues
(faust-streaming issue #596). Records fetched during the seek were handed to the queues,
advanced the read offset, and were cleared; the re-fetched copies were then dropped as
already read.

* :class:`MegawatchRecovery` stops the consumer's flow before that sequence, so no record
  reaches a queue until the final resume (found and checked in 14 of 14 benchmark runs).
* :class:`MegawatchConsumerThread` also seeks a partition that has no committed offset
  (or offset 0) back to where ``auto_offset_reset`` starts a new group: aiokafka's
  ``seek_to_committed`` leaves such a partition wherever the fetcher had got to.

* :class:`MegawatchConsumerThread` pauses in aiokafka the partitions that Faust has
  paused. Faust pauses a partition only in its own bookkeeping (it stops asking for its
  records), so aiokafka kept fetching it: the changelog partitions of the worker's
  tables, written at every alert. Their records then sat in aiokafka's fetch buffer,
  never asked for, and aiokafka holds every fetch from a broker while a buffered result
  of that broker waits (``prefetch_backoff``, 100 ms): the first alert state written to
  each changelog partition stalled all telemetry for up to 100 ms (seen in a traced
  alert-latency run; :class:`PauseMirror`).

* :class:`MegawatchConsumer` keeps the app's sink draining while Faust waits for every
  message in flight to be acked (``wait_empty``, on a rebalance and on a graceful stop),
  and bounds that wait. megawatch acks a message only once its rows are stored, so
  without the drain a SIGTERM waited forever for acks that only a flush (its timer
  already stopped) could give, and a message never done held a rebalance, and with it
  every partition, forever (issue 10 #8). Giving up the wait loses nothing: only acked
  offsets are ever committed, the rest is redelivered.

Redeliveries that remain possible after a rebalance are absorbed downstream
(:meth:`pipeline.worker.positions.Positions.delivered_before` and the offset ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP


class PauseMirror:
    """Keeps the partitions paused in an ``AIOKafkaConsumer`` equal to those Faust has
    paused (a table's changelog once recovered). Synced before every fetch Faust makes,
    in the consumer's own thread (aiokafka is not thread-safe).

    A paused partition is not fetched. What was fetched of it anyway (aiokafka prefetches
    right after an assignment, and a fetch in flight when it was paused still lands)
    leaves the fetch buffer: its position has not moved, so on resume it is read again
    from there and nothing is skipped. A partition Faust only leaves out while its
    stream's queue is full is not paused: its buffered records are the next it reads.
    """

    def __init__(self) -> None:
        self._assignment: object = None  # aiokafka's frozenset, new at each assignment
        self._faust: frozenset[Any] = frozenset()
        self._paused: list[Any] = []  # what this mirror paused, as aiokafka's TPs

    def sync(self, consumer: Any, faust_paused: AbstractSet[Any]) -> None:
        """``faust_paused``: the Faust consumer's paused partitions (Faust's TP)."""
        assignment = consumer.assignment()
        # Called for every getmany: the full pass (45 us for 96 partitions) only when
        # the assignment or Faust's pauses changed, else a few dict lookups.
        if assignment is not self._assignment or faust_paused != self._faust:
            self._assignment, self._faust = assignment, frozenset(faust_paused)
            self._mirror(consumer, assignment)
        # aiokafka 0.14's buffer and its "plan the next fetch" signal, both private:
        # tests/integration/test_fetch_pause.py fails if they change. A list, not a
        # generator: every paused partition's records must go, not only the first.
        fetcher = consumer._fetcher
        if any([fetcher._records.pop(tp, None) for tp in self._paused]):
            fetcher._notify(fetcher._wait_consume_future)

    def _mirror(self, consumer: Any, assignment: AbstractSet[Any]) -> None:
        # aiokafka refuses Faust's TP: keep aiokafka's own TopicPartition objects.
        wanted = {tp for tp in assignment if tp in self._faust}
        paused = consumer.paused()
        if wanted - paused:
            consumer.pause(*(wanted - paused))
        if paused - wanted:
            consumer.resume(*(paused - wanted))
        self._paused = list(wanted)


class MegawatchConsumerThread(AIOKafkaConsumerThread):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pauses = PauseMirror()

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        self._pauses.sync(consumer, self.consumer._paused_partitions)
        return await super()._fetch_records(consumer, active_partitions, timeout, max_records)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        result: Mapping[TP, int] = await self.call_thread(self._seek_committed_or_reset)
        return result

    async def _seek_committed_or_reset(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[Any, int] = await consumer.seek_to_committed()
        unset = [tp for tp, offset in committed.items() if not offset]  # None, or 0
        if unset and self.consumer.app.conf.consumer_auto_offset_reset == "earliest":
            await consumer.seek_to_beginning(*unset)
        return committed


logger = logging.getLogger(__name__)

#: The app attribute holding the coroutine function that stores what is buffered (the
#: worker sets it to its sink's flush); ``wait_empty`` runs it while it waits.
DRAIN_ATTR = "megawatch_drain"
DRAIN_EVERY_S = 0.5
WAIT_EMPTY_LIMIT_S = 30.0


class MegawatchConsumer(Consumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return MegawatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_empty(self) -> None:
        """Faust's wait for the messages in flight, with the sink drained meanwhile and
        the wait bounded by :data:`WAIT_EMPTY_LIMIT_S` (then commit what is acked)."""
        drain: Callable[[], Awaitable[None]] | None = getattr(self.app, DRAIN_ATTR, None)
        draining = asyncio.ensure_future(_drain_until_cancelled(drain)) if drain else None
        try:
            await asyncio.wait_for(super().wait_empty(), WAIT_EMPTY_LIMIT_S)
        except TimeoutError:
            logger.warning(
                "%d messages in flight not done after %.0f s: not waiting longer "
                "(committing what is done; the rest is redelivered)",
                len(self._unacked_messages),
                WAIT_EMPTY_LIMIT_S,
            )
            await self.commit()
        finally:
            if draining is not None:
                draining.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await draining


async def _drain_until_cancelled(drain: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            # shielded: cancelling the drain must not cancel an insert half way (its
            # rows could land and then be written again)
            await asyncio.shield(drain())
        except Exception:  # the drain is a helper: Faust's own wait goes on regardless
            logger.exception("draining the sink while waiting for acks failed")
        await asyncio.sleep(DRAIN_EVERY_S)


class MegawatchTransport(Transport):
    """Faust's aiokafka transport with :class:`MegawatchConsumerThread`."""

    Consumer = MegawatchConsumer


class MegawatchRecovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        consumer = cast(FaustConsumer, self.app.consumer)
        consumer.stop_flow()  # nothing reaches a queue until Faust's own final resume
        await consumer.wait_for_stopped_flow()
        await super().on_recovery_completed(generation_id)


class MegawatchTableManager(TableManager):
    """Faust's table manager, recovering with :class:`MegawatchRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = MegawatchRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
