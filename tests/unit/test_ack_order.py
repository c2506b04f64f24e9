"""Acks reach Faust in offset order, whatever order messages finish in."""

from __future__ import annotations

from pipeline.worker.ack_order import InOrderAcks


def _tracker() -> tuple[InOrderAcks, list[int]]:
    return InOrderAcks(), []


def test_a_later_message_done_first_waits_for_the_earlier_one() -> None:
    acks, seen = _tracker()
    first = acks.begin("t", 0, 10, lambda: seen.append(10))
    second = acks.begin("t", 0, 11, lambda: seen.append(11))
    second()  # a dead-letter-only message: done at once
    assert seen == []
    first()  # its rows are stored
    assert seen == [10, 11]
    assert acks.oldest() == {("t", 0): None}  # nothing left waiting


def test_partitions_are_independent() -> None:
    acks, seen = _tracker()
    a = acks.begin("t", 0, 5, lambda: seen.append(5))
    b = acks.begin("t", 1, 7, lambda: seen.append(7))
    b()
    assert seen == [7]
    a()
    assert seen == [7, 5]


def test_a_redelivery_of_a_pending_message_joins_its_first_delivery() -> None:
    acks, seen = _tracker()
    done = acks.begin("t", 0, 3, lambda: seen.append(1))
    again = acks.begin("t", 0, 3, lambda: seen.append(2))
    again()  # the redelivery has nothing of its own to wait for
    assert seen == []
    done()
    assert seen == [1, 2]


def test_a_redelivery_of_a_released_message_is_acked_when_handled() -> None:
    acks, seen = _tracker()
    acks.begin("t", 0, 3, lambda: seen.append(3))()
    late = acks.begin("t", 0, 3, lambda: seen.append(33))
    assert seen == [3]
    late()
    assert seen == [3, 33]


def test_a_message_below_the_pending_ones_is_ordered_before_them() -> None:
    """After a seek back, a message below those pending (never seen before) must not
    let the ones above it be acked first."""
    acks, seen = _tracker()
    acks.begin("t", 0, 0, lambda: seen.append(0))()
    high = acks.begin("t", 0, 15, lambda: seen.append(15))
    low = acks.begin("t", 0, 12, lambda: seen.append(12))
    high()
    assert seen == [0]
    low()
    assert seen == [0, 12, 15]


def test_forgotten_partitions_stop_waiting() -> None:
    acks, seen = _tracker()
    acks.begin("t", 0, 1, lambda: seen.append(1))
    acks.begin("t", 1, 1, lambda: seen.append(1))
    acks.keep("t", {1})
    assert list(acks.oldest()) == [("t", 1)]
    assert seen == []  # a forgotten partition's message is never acked


def test_oldest_names_the_message_a_partition_waits_for_and_its_age() -> None:
    """Issue 10 #8: a message never done holds its partition; it must be nameable."""
    now = [100.0]
    acks = InOrderAcks(clock=lambda: now[0])
    acks.begin("t", 0, 7, lambda: None)
    now[0] = 130.0
    acks.begin("t", 0, 8, lambda: None)()
    acks.begin("t", 1, 3, lambda: None)()
    oldest = acks.oldest()
    assert oldest[("t", 0)] == (7, 30.0, 1)  # offset 7, 30 s, one done message behind it
    assert oldest[("t", 1)] is None


def test_a_redelivery_keeps_the_age_of_its_first_delivery() -> None:
    now = [0.0]
    acks = InOrderAcks(clock=lambda: now[0])
    acks.begin("t", 0, 4, lambda: None)
    now[0] = 90.0
    acks.begin("t", 0, 4, lambda: None)()
    assert acks.oldest()[("t", 0)] == (4, 90.0, 0)
