"""The agent's bounded buffer: what it keeps, what it drops (counted and logged)."""

from __future__ import annotations

import logging
import threading

import pytest

from pipeline.sources.base import OutMessage
from pipeline.sources.buffer import Outbox


def msg(i: int, size: int = 100) -> OutMessage:
    return OutMessage("telemetry.rack_power", b"s", str(i).encode().ljust(size - 1, b" "))


def test_keeps_everything_while_it_fits_and_sends_in_order():
    box = Outbox(capacity_bytes=1000)
    box.add(msg(i) for i in range(10))
    assert box.stats().pending == 10 and box.stats().dropped == 0
    taken = box.take(max_in_flight_bytes=350)
    assert [m.value.strip() for m in taken] == [b"0", b"1", b"2"]
    for m in taken:
        box.delivered(m)
    stats = box.stats()
    assert (stats.delivered, stats.pending, stats.in_flight, stats.buffered_bytes) == (3, 7, 0, 700)


def test_when_full_the_oldest_pending_go_counted_and_logged(caplog: pytest.LogCaptureFixture):
    box = Outbox(capacity_bytes=500, log_every_s=3600)
    with caplog.at_level(logging.WARNING, logger="pipeline.sources.buffer"):
        box.add(msg(i) for i in range(8))
        box.add([msg(8)])
    stats = box.stats()
    assert (stats.pending, stats.dropped, stats.dropped_bytes) == (5, 4, 400)
    assert [m.value.strip() for m in box.take(10_000)] == [b"4", b"5", b"6", b"7", b"8"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # rate-limited: the second drop is counted, not logged again
    assert "dropped the 3 oldest" in warnings[0] and "--buffer-mb" in warnings[0]


def test_in_flight_bytes_count_against_the_capacity_and_retries_go_first():
    box = Outbox(capacity_bytes=400)
    box.add(msg(i) for i in range(3))
    in_flight = box.take(10_000)
    box.add([msg(3), msg(4)])  # 5 x 100 > 400: the oldest *pending* (3) goes
    assert box.stats().dropped == 1 and box.stats().in_flight == 3
    box.give_back(in_flight[1:])
    box.delivered(in_flight[0])
    assert [m.value.strip() for m in box.take(10_000)] == [b"1", b"2", b"4"]
    assert box.stats().retried == 2


def test_take_always_releases_one_message_even_if_it_is_large():
    box = Outbox(capacity_bytes=10_000)
    box.add([msg(0, size=5000), msg(1)])
    assert len(box.take(max_in_flight_bytes=100)) == 1
    assert box.take(max_in_flight_bytes=100) == []


def test_rejected_messages_are_counted_and_wait_empty_returns():
    box = Outbox(capacity_bytes=10_000)
    box.add([msg(0), msg(1)])
    a, b = box.take(10_000)
    assert not box.wait_empty(0.05)
    threading.Timer(0.05, box.delivered, args=(a,)).start()
    box.reject(b, "MessageSizeTooLargeError")
    assert box.wait_empty(5.0)
    assert (box.stats().rejected, box.stats().delivered) == (1, 1)
