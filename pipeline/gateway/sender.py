"""Contract events -> checked, batched Kafka messages, sent and acknowledged.

Events of one site and kind go out as agents send them
(:func:`pipeline.sources.base.encode_batches`: ``{"events": [...]}`` keyed by site, at
most ``MEGAWATCH_MAX_MESSAGE_BYTES``),
each message with the header ``megawatch-via: gateway`` (the worker stores such events
once per identity). Before sending, every message goes through the worker's own decoder
(:class:`pipeline.core.decode.MessageDecoder`): an event the worker would dead-letter
(a bound, an id, event time) is refused here instead, counted by reason, so that a
retried request cannot make the same dead letter twice.

:meth:`KafkaSender.send` returns once Kafka acknowledged every message (aiokafka,
``acks=all``, idempotent where the broker supports it: a real Kafka; the embedded broker
does not) or raises :class:`KafkaUnavailable` after ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from pipeline.core.decode import Limits, MessageDecoder
from pipeline.events import GpuSample, LinkCounters, RackPower, WorkCounter
from pipeline.gateway.table import TOPIC_OF
from pipeline.sources.base import DEFAULT_BATCH_SIZE, OutMessage, encode_batches
from pipeline.worker.identity import VIA_GATEWAY, VIA_HEADER

logger = logging.getLogger(__name__)

HEADERS = [(VIA_HEADER, VIA_GATEWAY.encode())]
MODELS: dict[str, type[BaseModel]] = {
    "rack_power": RackPower,
    "gpu": GpuSample,
    "link": LinkCounters,
    "work": WorkCounter,
}


@dataclass
class Outgoing:
    messages: list[OutMessage] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # events per kind


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge in time (or refused): the request is answered 503."""


class KafkaSender:
    def __init__(self, producer: Any, limits: Limits, timeout_s: float) -> None:
        self.producer = producer  # a started aiokafka.AIOKafkaProducer
        self.limits = limits
        self.timeout_s = timeout_s
        self.decoders: dict[str, MessageDecoder[Any]] = {
            kind: MessageDecoder(model, limits) for kind, model in MODELS.items()
        }
        self.refused: Counter[tuple[str, str]] = Counter()  # (kind, reason code)
        self.sent: Counter[str] = Counter()  # events acknowledged, per kind
        self._logged: set[tuple[str, str]] = set()

    def messages(self, events: Iterable[tuple[str, dict[str, Any]]]) -> Outgoing:
        """The checked messages of ``events`` ((kind, event) pairs), per site and kind."""
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for kind, event in events:
            grouped[(kind, event["site"])].append(event)
        out = Outgoing()
        for (kind, site), batch in grouped.items():
            good = self._checked(kind, site, batch)
            out.counts[kind] += len(good)
            out.messages += encode_batches(
                kind, site, good, DEFAULT_BATCH_SIZE, self.limits.max_message_bytes, TOPIC_OF[kind]
            )
        return out

    def _checked(self, kind: str, site: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raw = orjson.dumps({"events": events})
        decoded = self.decoders[kind].decode(raw, site.encode(), datetime.now(UTC))
        if not decoded.rejects:
            return events
        bad = set()
        for reject in decoded.rejects:
            self.refused[(kind, reject.code)] += 1
            bad.add(reject.index)
            if (kind, reject.code) not in self._logged:  # once per cause: not a flood
                self._logged.add((kind, reject.code))
                logger.warning(
                    "gateway: %s event refused (%s): %s", kind, reject.code, reject.reason
                )
        if None in bad:
            return []
        return [event for i, event in enumerate(events) if i not in bad]

    async def send(self, outgoing: Outgoing) -> None:
        """Send and wait for every acknowledgement, or raise :class:`KafkaUnavailable`."""
        messages = outgoing.messages
        if not messages:
            return
        headers = HEADERS
        try:
            async with asyncio.timeout(self.timeout_s):
                futures = [
                    await self.producer.send(m.topic, m.value, key=m.key, headers=headers)
                    for m in messages
                ]
                await asyncio.gather(*futures)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.timeout_s} s") from None
        except Exception as exc:  # aiokafka's KafkaError family, a closed producer
            raise KafkaUnavailable(f"Kafka refused: {type(exc).__name__}: {exc}") from None
        self.sent.update(outgoing.counts)
