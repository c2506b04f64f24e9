"""Sends the agent's messages to Kafka with kafka-python, from its own thread.

The tick loop only appends to the :class:`~pipeline.sources.buffer.Outbox`, so a slow
or absent broker never stalls the readings' clock. The sender thread connects (creating
the contract's topics first, so the broker does not auto-create them with another
partition count), hands messages to kafka-python (the producer options of
:func:`pipeline.kafka.endpoint.kafka_python_options`: lz4, bounded retries), and
kafka-python retries each one until ``delivery_timeout_ms``. While the broker is away
the thread tries again with capped exponential back-off (:data:`RECONNECT_BACKOFF`).
A message that still fails is given back to the outbox and sent again once the broker
answers, so the outbox's bound is the only place data is lost, and there it is counted
and logged. In-flight bytes are capped because kafka-python 3's own accumulator has no
memory bound.

The embedded broker keeps topics and data in memory, and Tansu 0.6 acknowledges writes
to topics it does not have (measured: acknowledged at offset 0, no topic listed, and the
stray batch later collides with the re-created topic's first one: UnknownError), so after
a restart a producer with cached metadata would write into the void for ever. With ``cluster_id``
given, the publisher asks the broker for its cluster id every ``CHECK_EVERY_S``: an
acknowledgement becomes final only once the same cluster answered after it; a new id
means a new broker: the producer is replaced, the topics re-created, and everything
acknowledged since the last good check is sent again (duplicates are possible, never
silent loss).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.core.retry import Backoff
from pipeline.errors import BrokerError, ConfigError
from pipeline.sources.base import OutMessage
from pipeline.sources.buffer import Outbox, OutboxStats

logger = logging.getLogger(__name__)

IN_FLIGHT_BYTES = 8 * 1024 * 1024
RECONNECT_BACKOFF = Backoff(first_s=0.5, max_s=10.0)
STALL_S = 5.0  # in-flight messages without any delivery this long: re-check the topics
CHECK_EVERY_S = 0.5
#: Kafka's UNKNOWN_SERVER_ERROR is not retriable by the book, but Tansu answers it for
#: transient storage conflicts (seen right after a restart): a few more tries, then refuse.
UNKNOWN_ERROR_TRIES = 5


class KafkaPublisher:
    """Outbox in front, kafka-python behind, one sender thread in between.

    ``connect`` builds the producer; ``prepare`` (optional) makes sure the topics exist
    and runs again after delivery stalls; ``cluster_id`` (optional) reports the cluster
    id of the broker now answering, or None when none answers (see the module doc).
    All run in the sender thread and are retried with back-off while the broker is away.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        outbox: Outbox | None = None,
        in_flight_bytes: int = IN_FLIGHT_BYTES,
        describe: str = "Kafka",
        prepare: Callable[[], object] | None = None,
        cluster_id: Callable[[], str | None] | None = None,
        expected_cluster: str | None = None,
    ) -> None:
        self._connect, self._prepare, self._cluster_id = connect, prepare, cluster_id
        self._needs_prepare = prepare is not None
        self._expected_cluster = expected_cluster
        self.outbox = outbox or Outbox()
        self.in_flight_bytes = in_flight_bytes
        self.describe = describe
        self._producer: Any = None
        self._generation = 0
        self._tokens = itertools.count()
        self._sent: dict[int, tuple[int, OutMessage]] = {}  # token -> generation, message
        self._sent_lock = threading.Lock()
        self._unknown_errors: dict[int, int] = {}  # id(message) -> UnknownError answers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0  # tries in a row that found the broker away
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.broker_changes = 0
        self.compression_ratio: float | None = None  # compressed/raw, read at close
        self._last_delivered, self._progress_at, self._checked_at = 0, time.monotonic(), 0.0

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> KafkaPublisher:
        self._thread = threading.Thread(
            target=self._run, name="megawatch-agent-sender", daemon=True
        )
        self._thread.start()
        return self

    def publish(self, messages: Iterable[OutMessage]) -> None:
        """Queue messages; never blocks on the broker."""
        self.outbox.add(messages)

    def close(self, timeout: float = 10.0) -> OutboxStats:
        """Deliver what is buffered within ``timeout`` s, then stop; the final counts.

        Messages still buffered then are lost: counted in the stats and logged."""
        deadline = time.monotonic() + timeout
        if self._thread is not None:  # a short run may end before the first connect
            self.connected.wait(max(0.0, deadline - time.monotonic()))
        if self.connected.is_set():
            self.outbox.wait_empty(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        self.outbox.wake()
        if self._thread is not None:
            self._thread.join(max(1.0, deadline - time.monotonic()))
        if self._producer is not None:
            self.compression_ratio = compression_ratio(self._producer)
            self._close_producer(max(0.5, deadline - time.monotonic()))
        stats = self.outbox.stats()
        left = stats.pending + stats.in_flight + stats.unconfirmed
        if left:
            logger.warning(
                "agent stopped with %d messages (%d bytes) undelivered to %s",
                left,
                stats.buffered_bytes,
                self.describe,
            )
        return stats

    def __enter__(self) -> KafkaPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the sender thread -----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if (self._needs_prepare and not self._try_prepare()) or (
                self._producer is None and not self._try_connect()
            ):
                self._back_off()
                continue
            batch = self.outbox.take(self.in_flight_bytes, timeout=0.2)
            if batch:
                self._send(batch)
            self._check_stall()
            self._check_cluster()

    def _try_prepare(self) -> bool:
        assert self._prepare is not None
        try:
            self._prepare()
        except Exception as exc:  # BrokerError, or kafka-python's while the broker is away
            self._note_error(
                str(exc) if isinstance(exc, BrokerError) else f"{self.describe}: {exc}"
            )
            return False
        self._needs_prepare = False
        return True

    def _try_connect(self) -> bool:
        try:
            self._producer = self._connect()
        except (BrokerError, ConfigError) as exc:
            self._note_error(str(exc))
            return False
        except Exception as exc:  # kafka-python raises a variety while the broker is away
            self._note_error(f"cannot connect to {self.describe}: {exc}")
            return False
        logger.info("agent connected to %s", self.describe)
        self._failures = 0
        self.last_error = None
        self.connected.set()
        return True

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            logger.warning("%s; buffering (retrying in the background)", message)
        self.last_error = message

    def _send(self, batch: list[OutMessage]) -> None:
        from kafka.errors import KafkaError

        for i, message in enumerate(batch):
            token = next(self._tokens)
            with self._sent_lock:
                self._sent[token] = (self._generation, message)
            try:
                future = self._producer.send(
                    message.topic, value=message.value, key=message.key or None
                )
            except KafkaError as exc:
                self._settle(token)
                if getattr(exc, "retriable", False):
                    # no metadata within max_block_ms: the broker is away; wait and retry
                    self._note_error(f"{self.describe} not answering ({type(exc).__name__})")
                    self._needs_prepare = self._prepare is not None
                    self.outbox.give_back(batch[i:])
                    self._back_off()
                    return
                self.outbox.reject(message, f"{type(exc).__name__}: {exc}")
                continue
            future.add_callback(self._on_delivered, token)
            future.add_errback(self._on_failed, token)
        self._failures = 0

    def _back_off(self) -> None:
        """Wait before trying the broker again, longer after each failure in a row (a
        stop ends the wait at once)."""
        self._failures += 1
        self._stop.wait(RECONNECT_BACKOFF.delay(self._failures))

    def _settle(self, token: int) -> tuple[int, OutMessage] | None:
        """Forget a sent message once; None if already settled (a replaced producer)."""
        with self._sent_lock:
            return self._sent.pop(token, None)

    def _on_delivered(self, token: int, _metadata: Any) -> None:
        sent = self._settle(token)
        if sent is not None:
            if self._unknown_errors:
                with self._sent_lock:
                    self._unknown_errors.pop(id(sent[1]), None)
            self.outbox.delivered(sent[1], confirmed=self._cluster_id is None)

    def _on_failed(self, token: int, exc: BaseException) -> None:
        sent = self._settle(token)
        if sent is None:
            return
        message = sent[1]
        if self._worth_retrying(message, exc) or sent[0] != self._generation:
            self._note_error(f"delivery to {message.topic} failed ({type(exc).__name__})")
            self._needs_prepare = self._prepare is not None
            self.outbox.give_back([message])
        else:
            self.outbox.reject(message, f"{type(exc).__name__}: {exc}")

    def _worth_retrying(self, message: OutMessage, exc: BaseException) -> bool:
        if getattr(exc, "retriable", False):
            return True
        if type(exc).__name__ != "UnknownError":
            return False
        with self._sent_lock:
            tries = self._unknown_errors[id(message)] = self._unknown_errors.get(id(message), 0) + 1
            if tries >= UNKNOWN_ERROR_TRIES:
                del self._unknown_errors[id(message)]
        return tries < UNKNOWN_ERROR_TRIES

    # --- health checks -----------------------------------------------------------------
    def _check_stall(self) -> None:
        """In-flight messages without any delivery for a while: the topics may be gone;
        re-running ``prepare`` recreates them sooner than kafka-python's delivery timeout."""
        stats, now = self.outbox.stats(), time.monotonic()
        if stats.delivered != self._last_delivered or not stats.in_flight:
            self._last_delivered, self._progress_at = stats.delivered, now
        elif now - self._progress_at > STALL_S and self._prepare is not None:
            self._needs_prepare = True
            self._progress_at = now

    def _check_cluster(self) -> None:
        now = time.monotonic()
        if self._cluster_id is None or now - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = now
        answered = self._cluster_id()
        if answered is None:
            return  # nobody answers: acknowledgements stay unconfirmed
        if self._expected_cluster in (None, answered):
            self._expected_cluster = answered
            self.outbox.confirm(acknowledged_before=now)
            return
        self._replace_producer(answered)

    def _replace_producer(self, cluster: str) -> None:
        """Another broker answers at the address (a restart): start over with it."""
        self.broker_changes += 1
        self._generation += 1
        self._close_producer(0.0)
        with self._sent_lock:
            orphans = [message for _, message in self._sent.values()]
            self._sent.clear()
        self.outbox.give_back(orphans)
        resent = self.outbox.requeue_unconfirmed()
        logger.warning(
            "%s is another broker now (cluster %s, was %s): its data is gone; re-creating "
            "the topics and sending again %d messages acknowledged or in flight since the "
            "last check",
            self.describe,
            cluster,
            self._expected_cluster,
            resent + len(orphans),
        )
        self._expected_cluster = cluster
        self._needs_prepare = self._prepare is not None

    def _close_producer(self, timeout: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=timeout)
        except Exception as exc:  # closing must not mask the run's outcome
            logger.warning("closing the Kafka producer: %s", exc)


def compression_ratio(producer: Any) -> float | None:
    """kafka-python's average compressed/uncompressed size of the batches it sent."""
    try:
        value = producer.metrics().get("producer-metrics", {}).get("compression-rate-avg")
    except Exception:  # metrics are informative only
        return None
    return float(value) if isinstance(value, int | float) and value == value else None
