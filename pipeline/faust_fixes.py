"""A fix to Faust's aiokafka consumer that megawatch applies on every broker.

After a (re)assignment Faust seeks each stream partition to its committed offset, then
drops what its buffers fetched meanwhile. aiokafka's ``seek_to_committed`` does not move a
partition that has no committed offset (or offset 0), so for a new consumer group the
messages fetched during table recovery were dropped and never read again: a worker that
started on a backlog silently skipped the first messages of every partition (seen in
the throughput benchmark: offsets 0-10 of each partition missing). Such partitions are
sent back to where ``auto_offset_reset`` says a new group starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP


class MegawatchConsumerThread(AIOKafkaConsumerThread):
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


class MegawatchConsumer(Consumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return MegawatchConsumerThread(self, loop=self.loop, beacon=self.beacon)


class MegawatchTransport(Transport):
    """Faust's aiokafka transport with :class:`MegawatchConsumerThread`."""

    Consumer = MegawatchConsumer
