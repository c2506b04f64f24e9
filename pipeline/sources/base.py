"""What every site-agent source produces: ticks of ready-to-send Kafka messages.

A source (simulator, replay, NVML) yields :class:`Tick` objects: when to send (seconds
after the run started) and the messages of that moment. One message carries one site's
readings of one kind as a batch ``{"events": [...]}``, keyed by the site id as the wire
contract asks (or by shard, ``SITE/SHARD``, for a site spread over partitions:
:class:`ShardedSource`, the simulator's halls); a tick larger than ``batch_size`` events
(or the broker's message size limit) is split into several messages. Events are plain
dicts with ``ts`` in epoch milliseconds: building pydantic objects per reading would cost
more than the rest of the agent, and tests validate the output against the models instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from pipeline.kafka.topics import GPU, LINK, RACK_POWER

#: Event kind -> Kafka topic.
TOPICS: dict[str, str] = {"rack_power": RACK_POWER, "gpu": GPU, "link": LINK}
KINDS = tuple(TOPICS)

DEFAULT_BATCH_SIZE = 2000
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One Kafka message to send. ``expected_rejects`` counts events a worker must
    dead-letter (deliberately bad events of the chaos scenario; 0 otherwise)."""

    topic: str
    key: bytes
    value: bytes
    expected_rejects: int = 0

    @property
    def size(self) -> int:
        return len(self.key) + len(self.value)


@dataclass(frozen=True, slots=True)
class Tick:
    """The messages of one moment, ``due_s`` seconds after the run started."""

    due_s: float
    messages: list[OutMessage] = field(default_factory=list)


class Source(Protocol):
    """Anything that yields ticks in due order; the agent loop paces and sends them."""

    def ticks(self) -> Iterator[Tick]: ...

    def describe(self) -> str: ...


class ShardedSource:
    """A source whose site messages are keyed ``SITE/SHARD`` (``megawatch agent --shard``):
    one agent per hall or row spreads a site too big for one worker over partitions. A
    message already keyed by shard, or without a key, is sent as it is."""

    def __init__(self, source: Source, shard: str) -> None:
        self.source = source
        self.shard = shard

    def describe(self) -> str:
        return f"{self.source.describe()}; keyed by shard {self.shard}"

    def ticks(self) -> Iterator[Tick]:
        suffix = f"/{self.shard}".encode()
        for tick in self.source.ticks():
            messages = [
                m if not m.key or b"/" in m.key else replace(m, key=m.key + suffix)
                for m in tick.messages
            ]
            yield Tick(tick.due_s, messages)


def _encode(events: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"events": events})


def encode_batches(
    kind: str,
    site: str,
    events: Sequence[dict[str, Any]],
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    topic: str | None = None,
    shard: str | None = None,
) -> list[OutMessage]:
    """Messages of at most ``batch_size`` events and ``max_bytes`` bytes, keyed by site
    (``SITE/SHARD`` with ``shard``), on ``topic`` (default: the kind's, from :data:`TOPICS`).

    A chunk over ``max_bytes`` is halved until it fits, so huge ticks still go out; a
    single event over the limit is sent alone and left to the broker to refuse (counted
    as a send failure), never dropped here.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    topic, key = topic or TOPICS[kind], (f"{site}/{shard}" if shard else site).encode()
    out: list[OutMessage] = []
    pending = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
    pending.reverse()
    while pending:
        chunk = pending.pop()
        value = _encode(chunk)
        if len(value) + len(key) > max_bytes and len(chunk) > 1:
            half = len(chunk) // 2
            pending.extend((chunk[half:], chunk[:half]))
            continue
        out.append(OutMessage(topic, key, value))
    return out
