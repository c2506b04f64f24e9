"""ClickHouseSink on the real embedded store: batches, ledger, retries, back-pressure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from pipeline.core.retry import Backoff
from pipeline.core.rows import RACK_POWER_COLUMNS
from pipeline.errors import StoreError
from pipeline.store import Store
from pipeline.worker.metrics import Metrics
from pipeline.worker.sink import ClickHouseSink

pytestmark = pytest.mark.integration
COLUMNS = (*RACK_POWER_COLUMNS, "kafka_cluster")
TOPIC = "telemetry.rack_power"
QUICK = Backoff(first_s=0.01, max_s=0.02)  # retries of a failing store, in a test's time


def failing_sink(store: Any, **options: Any) -> ClickHouseSink:
    """A sink that flushes only when asked and retries a failing store in a test's time."""
    return ClickHouseSink(
        store, "cluster-a", max_rows=1_000, flush_interval=60, backoff=QUICK, **options
    )


def message(offset: int, racks: int = 3, partition: int = 0) -> list[list[Any]]:
    ts = int(time.time() * 1000)
    return [
        ["s"] * racks,
        [f"r{i}" for i in range(racks)],
        [ts + offset] * racks,
        [1000.0 + offset] * racks,
        [""] * racks,
        [""] * racks,
        [partition] * racks,
        [offset] * racks,
        ["cluster-a"] * racks,
    ]


class FlakyStore:
    """The real store behind a switch that makes inserts fail (fault injection)."""

    def __init__(self, store: Store, failures: int = 0) -> None:
        self.store, self.failures, self.attempts = store, failures, 0

    def insert_columns(
        self,
        table: str,
        column_names: Sequence[str],
        columns: Sequence[Sequence[object]],
        dedup_token: str | None = None,
    ) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("injected: store unavailable")
        self.store.insert_columns(table, column_names, columns, dedup_token)

    def query_rows(self, sql: str, params: dict[str, object] | None = None) -> list[tuple]:
        return self.store.query_rows(sql, params)


def count(store: Store) -> int:
    return int(store.query_rows("SELECT count() FROM rack_power")[0][0])


def test_rows_and_ledger_land_together_and_acks_follow(store: Store) -> None:
    acked: list[int] = []

    async def run() -> ClickHouseSink:
        sink = ClickHouseSink(store, "cluster-a", max_rows=1_000, flush_interval=60)
        for offset in range(5):
            await sink.add(
                "rack_power",
                COLUMNS,
                message(offset),
                source=(TOPIC, 0, offset),
                done=lambda o=offset: acked.append(o),
            )
        assert acked == [] and count(store) == 0  # nothing acked before it is stored
        await sink.flush()
        return sink

    asyncio.run(run())
    assert acked == [0, 1, 2, 3, 4] and count(store) == 15
    fresh = ClickHouseSink(store, "cluster-a")  # a restarted worker reads the ledger
    fresh.ledger.load("rack_power", TOPIC, [0, 1])
    assert fresh.ledger.stored_before("rack_power", TOPIC, 0, 4)
    assert not fresh.ledger.stored_before("rack_power", TOPIC, 0, 5)
    assert not fresh.ledger.stored_before("rack_power", TOPIC, 1, 0)
    other = ClickHouseSink(store, "cluster-b")  # another Kafka (a fresh embedded broker)
    other.ledger.load("rack_power", TOPIC, [0])
    assert not other.ledger.stored_before("rack_power", TOPIC, 0, 0)


def test_store_failures_are_retried_and_nothing_is_stored_twice(store: Store) -> None:
    flaky = FlakyStore(store, failures=3)
    failed: list[int] = []  # what the failure metric counts, at each failure
    acked: list[int] = []

    async def run() -> None:
        sink = failing_sink(flaky, on_failed=lambda: failed.append(count(store)))
        await sink.add(
            "rack_power", COLUMNS, message(0), source=(TOPIC, 0, 0), done=lambda: acked.append(0)
        )
        await sink.flush()

    asyncio.run(run())
    assert failed == [0, 0, 0]  # three failures counted, nothing stored meanwhile
    assert flaky.attempts == 4 and count(store) == 3 and acked == [0]


def test_back_pressure_stops_the_stream_while_the_store_is_down(store: Store) -> None:
    flaky = FlakyStore(store, failures=10**6)

    async def run() -> None:
        sink = failing_sink(flaky, max_buffered_rows=30)
        for offset in range(9):  # 27 rows: buffered, not yet over the limit
            await sink.add("rack_power", COLUMNS, message(offset), source=(TOPIC, 0, offset))
        blocked = asyncio.ensure_future(
            sink.add("rack_power", COLUMNS, message(9), source=(TOPIC, 0, 9))
        )
        await asyncio.sleep(0.3)
        assert not blocked.done()  # the agent waits: consumption has stopped
        flaky.failures = 0  # the store comes back
        await asyncio.wait_for(blocked, 10)

    asyncio.run(run())
    assert count(store) == 30


def test_each_ack_follows_its_own_rows_into_the_store(store: Store) -> None:
    """A message is acked only once its rows are stored: at each ack the store already
    holds them; a flush with nothing buffered stores nothing and acks nothing."""
    stored_at_ack: dict[int, int] = {}

    def ack(offset: int) -> None:
        stored_at_ack[offset] = count(store)

    async def run() -> None:
        sink = ClickHouseSink(store, "cluster-a", max_rows=1_000, flush_interval=60)
        await sink.flush()  # nothing buffered
        assert count(store) == 0 and sink.buffered_rows == 0
        await sink.add("rack_power", COLUMNS, message(0), source=(TOPIC, 0, 0), done=lambda: ack(0))
        await sink.flush()
        await sink.add("rack_power", COLUMNS, message(1), source=(TOPIC, 0, 1), done=lambda: ack(1))
        assert stored_at_ack == {0: 3}  # the second waits in the buffer
        await sink.flush()

    asyncio.run(run())
    assert stored_at_ack == {0: 3, 1: 6}


def test_back_pressure_counts_the_batch_being_written(store: Store) -> None:
    """Issue 10 #9: while a failing insert retried, new rows piled up beside it (the
    batch in flight did not count): 200k rows and 700 MB with the store full."""
    flaky = FlakyStore(store, failures=10**6)
    states: list[tuple[bool, bool]] = []
    metrics = Metrics()

    def on_state(sink: ClickHouseSink) -> None:
        states.append((sink.backpressure, sink.failing))
        metrics.on_sink_state(sink)

    async def run() -> None:
        sink = failing_sink(flaky, max_buffered_rows=30, on_state=on_state)
        for offset in range(9):  # 27 rows
            await sink.add("rack_power", COLUMNS, message(offset), source=(TOPIC, 0, offset))
        flushing = asyncio.ensure_future(sink.flush())  # the timer's flush: it fails, retried
        await asyncio.sleep(0.1)
        assert sink.failing and sink.buffered_rows == 27
        blocked = asyncio.ensure_future(
            sink.add("rack_power", COLUMNS, message(9), source=(TOPIC, 0, 9))
        )
        await asyncio.sleep(0.3)
        assert not blocked.done() and sink.backpressure  # 27 in flight + 3: the limit
        flaky.failures = 0
        await asyncio.wait_for(blocked, 10)
        await flushing
        assert not sink.backpressure and not sink.failing and sink.buffered_rows == 0
        # the pause is counted once it ends: at least the 0.3 s the add was seen blocked
        paused = sink.backpressure_seconds
        assert paused >= 0.3
        counted = metrics.registry.get_sample_value("megawatch_sink_backpressure_seconds_total")
        assert counted == pytest.approx(paused)

    asyncio.run(run())
    assert count(store) == 30
    assert states[0] == (False, True) and states[-1] == (False, False)


def test_a_pause_two_agents_wait_out_is_counted_once(store: Store) -> None:
    """Each agent that adds while the store is behind waits: one pause of the worker's
    consumption, counted once (the first count summed every waiter's wait: 67.7 s of
    pauses in a 33 s run), and back-pressure stays on until the last waiter goes on."""
    flaky = FlakyStore(store, failures=10**6)
    states: list[bool] = []

    async def run() -> None:
        sink = failing_sink(
            flaky, max_buffered_rows=6, on_state=lambda s: states.append(s.backpressure)
        )
        await sink.add("rack_power", COLUMNS, message(0), source=(TOPIC, 0, 0))
        began = time.monotonic()
        waiting = [
            asyncio.ensure_future(sink.add("rack_power", COLUMNS, message(o), source=(TOPIC, 0, o)))
            for o in (1, 2)
        ]
        await asyncio.sleep(0.3)
        assert not any(w.done() for w in waiting) and sink.backpressure
        flaky.failures = 0
        await asyncio.wait_for(asyncio.gather(*waiting), 10)
        window = time.monotonic() - began
        assert not sink.backpressure
        assert 0.3 <= sink.backpressure_seconds <= window

    asyncio.run(run())
    assert count(store) == 9
    assert states[-1] is False and states.count(False) == 1  # on once, off once
