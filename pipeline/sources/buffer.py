"""The agent's bounded local buffer: messages waiting for, or in flight to, the broker.

Every message enters here first. The sender thread takes messages out (``take``) and
reports each one back as delivered (``delivered``) or to be retried (``give_back``: it
goes to the front again). While the broker is away nothing is delivered, so messages
pile up; the buffer keeps at most ``capacity_bytes`` (pending plus in flight). When a
new tick does not fit, the *oldest pending* messages are dropped to make room: live
views and alerts need the newest readings most, and old ones would arrive late anyway.
Every drop is counted (:class:`OutboxStats`) and logged as a warning (the first at once,
then at most one summary every ``log_every_s``), never silent.

Where the broker may lose what it acknowledged (the embedded broker keeps everything in
memory, so a restart empties it, and Tansu even acknowledges writes to topics it no
longer has), an acknowledgement is held as *unconfirmed* until the publisher has seen
the same broker (cluster id) alive after it; ``requeue_unconfirmed`` sends them again.

Thread-safe: the tick loop adds, kafka-python's I/O thread reports deliveries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.sources.base import OutMessage

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class OutboxStats:
    delivered: int  # messages acknowledged by the broker
    delivered_bytes: int
    pending: int  # waiting to be sent
    in_flight: int  # handed to the Kafka client, not yet acknowledged
    unconfirmed: int  # acknowledged, waiting for the broker to be seen alive after it
    buffered_bytes: int  # pending + in flight + unconfirmed
    dropped: int  # oldest messages discarded because the buffer was full
    dropped_bytes: int
    retried: int  # messages given back for another attempt
    rejected: int  # refused by the broker for good (e.g. too large): counted, logged


class Outbox:
    """A byte-bounded FIFO with in-flight accounting."""

    def __init__(self, capacity_bytes: int = DEFAULT_CAPACITY_BYTES, log_every_s: float = 10.0):
        if capacity_bytes < 1:
            raise ValueError("capacity_bytes must be >= 1")
        self.capacity_bytes = capacity_bytes
        self.log_every_s = log_every_s
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._pending: deque[OutMessage] = deque()
        self._pending_bytes = 0
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._unconfirmed: deque[tuple[float, OutMessage]] = deque()
        self._unconfirmed_bytes = 0
        self._delivered = self._delivered_bytes = 0
        self._dropped = self._dropped_bytes = 0
        self._retried = self._rejected = 0
        self._unlogged_drops = 0
        self._last_drop_log = float("-inf")

    # --- producer side (the tick loop) ----------------------------------------------
    def add(self, messages: Iterable[OutMessage]) -> None:
        with self._lock:
            for message in messages:
                self._pending.append(message)
                self._pending_bytes += message.size
            self._make_room()
            self._ready.notify_all()

    def _held_bytes(self) -> int:
        return self._pending_bytes + self._in_flight_bytes + self._unconfirmed_bytes

    def _make_room(self) -> None:
        while self._pending and self._held_bytes() > self.capacity_bytes:
            old = self._pending.popleft()
            self._pending_bytes -= old.size
            self._dropped += 1
            self._dropped_bytes += old.size
            self._unlogged_drops += 1
        now = time.monotonic()
        if self._unlogged_drops and now - self._last_drop_log >= self.log_every_s:
            logger.warning(
                "agent buffer full (%d bytes, broker away or slow): dropped the %d oldest "
                "messages, %d dropped in all; raise --buffer-mb to keep more",
                self.capacity_bytes,
                self._unlogged_drops,
                self._dropped,
            )
            self._unlogged_drops = 0
            self._last_drop_log = now

    # --- sender side ----------------------------------------------------------------
    def take(self, max_in_flight_bytes: int, timeout: float = 0.0) -> list[OutMessage]:
        """Pending messages, oldest first, while in-flight bytes stay under the limit
        (at least one message when nothing is in flight). Waits up to ``timeout``."""
        with self._lock:
            if not self._pending and timeout > 0:
                self._ready.wait(timeout)
            out: list[OutMessage] = []
            while self._pending:
                size = self._pending[0].size
                if self._in_flight and self._in_flight_bytes + size > max_in_flight_bytes:
                    break
                out.append(self._pending.popleft())
                self._pending_bytes -= size
                self._in_flight += 1
                self._in_flight_bytes += size
            return out

    def delivered(self, message: OutMessage, *, confirmed: bool = True) -> None:
        """The broker acknowledged ``message``; ``confirmed=False`` holds it until
        :meth:`confirm` (see the module doc)."""
        with self._lock:
            self._settle(message)
            if confirmed:
                self._count_delivered(message)
            else:
                self._unconfirmed.append((time.monotonic(), message))
                self._unconfirmed_bytes += message.size
            self._ready.notify_all()

    def _count_delivered(self, message: OutMessage) -> None:
        self._delivered += 1
        self._delivered_bytes += message.size

    def confirm(self, acknowledged_before: float) -> int:
        """Acknowledgements older than ``acknowledged_before`` (monotonic) are final."""
        with self._lock:
            done = 0
            while self._unconfirmed and self._unconfirmed[0][0] < acknowledged_before:
                _, message = self._unconfirmed.popleft()
                self._unconfirmed_bytes -= message.size
                self._count_delivered(message)
                done += 1
            self._ready.notify_all()
            return done

    def requeue_unconfirmed(self) -> int:
        """The broker lost what it acknowledged: send those messages again, first."""
        with self._lock:
            messages = [message for _, message in self._unconfirmed]
            self._unconfirmed.clear()
            self._unconfirmed_bytes = 0
            for message in reversed(messages):
                self._pending.appendleft(message)
                self._pending_bytes += message.size
            self._retried += len(messages)
            self._make_room()
            self._ready.notify_all()
            return len(messages)

    def give_back(self, messages: list[OutMessage]) -> None:
        """In-flight messages to retry: back to the front, in their order."""
        with self._lock:
            for message in reversed(messages):
                self._settle(message)
                self._pending.appendleft(message)
                self._pending_bytes += message.size
                self._retried += 1
            self._make_room()
            self._ready.notify_all()

    def reject(self, message: OutMessage, reason: str) -> None:
        with self._lock:
            self._settle(message)
            self._rejected += 1
            self._ready.notify_all()
        logger.error(
            "message to %s refused for good (%d bytes): %s", message.topic, message.size, reason
        )

    def _settle(self, message: OutMessage) -> None:
        self._in_flight -= 1
        self._in_flight_bytes -= message.size

    # --- observers ------------------------------------------------------------------
    def wait_empty(self, timeout: float) -> bool:
        """Block until nothing is pending or in flight, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._in_flight or self._unconfirmed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
            return True

    def wake(self) -> None:
        with self._lock:
            self._ready.notify_all()

    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(
                delivered=self._delivered,
                delivered_bytes=self._delivered_bytes,
                pending=len(self._pending),
                in_flight=self._in_flight,
                unconfirmed=len(self._unconfirmed),
                buffered_bytes=self._held_bytes(),
                dropped=self._dropped,
                dropped_bytes=self._dropped_bytes,
                retried=self._retried,
                rejected=self._rejected,
            )
