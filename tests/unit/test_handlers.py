"""The Faust handlers without Faust: bytes in; rows, dead letters, alerts and acks out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from pipeline.core.decode import MessageDecoder
from pipeline.core.processor import Processor
from pipeline.events import RackPower, SiteSpec
from pipeline.kafka.topics import RACK_POWER
from pipeline.settings import Settings
from pipeline.worker.handlers import Handlers, Publishers
from pipeline.worker.metrics import Metrics
from pipeline.worker.parameters import decode_limits, rule_config
from pipeline.worker.sink import ClickHouseSink


class MemoryWriter:
    """Collects inserts like a store would (the handlers' tests need no ClickHouse)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

    def insert_columns(
        self,
        table: str,
        column_names: Sequence[str],
        columns: Sequence[Sequence[object]],
        dedup_token: str | None = None,
    ) -> None:
        self.rows.setdefault(table, []).extend(zip(*columns, strict=True))

    def query_rows(self, sql: str, params: dict[str, object] | None = None) -> list[tuple]:
        return []  # an empty ledger


class Harness:
    def __init__(self) -> None:
        settings = Settings(cap_for_s=0, stale_after_s=1)
        self.writer = MemoryWriter()
        self.sink = ClickHouseSink(self.writer, "cluster-a", flush_interval=60)
        self.alerts: list[dict] = []
        self.dead: list[dict] = []
        self.acks: list[int] = []
        spec = SiteSpec(site="atl-2", cap_mw=1.0)
        self.processor = Processor(rule_config(settings), {"atl-2": spec}.get, lambda s: None)
        self.metrics = Metrics()

        async def send_alert(key: bytes, value: bytes) -> None:
            self.alerts.append(orjson.loads(value))

        async def send_dead(key: bytes | None, value: bytes) -> None:
            self.dead.append(orjson.loads(value))

        self.handlers = Handlers(
            self.processor,
            self.sink,
            {RACK_POWER: MessageDecoder(RackPower, decode_limits(settings))},
            Publishers(send_alert, send_dead, lambda site, durable: None),
            self.metrics,
        )

    def message(self, offset: int, value: bytes, key: bytes = b"atl-2") -> None:
        asyncio.run(
            self.handlers.telemetry(
                RACK_POWER, 0, offset, key, value, lambda: self.acks.append(offset)
            )
        )

    def flush(self) -> None:
        asyncio.run(self.sink.flush())

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def batch(mw: float, racks: int = 4) -> bytes:
    ts = int(time.time() * 1000)
    return orjson.dumps(
        {
            "events": [
                {"site": "atl-2", "rack": f"r{i}", "ts": ts, "power_w": mw * 1e6 / racks}
                for i in range(racks)
            ]
        }
    )


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_rows_are_acked_only_once_stored(h: Harness) -> None:
    h.message(0, batch(0.5))
    assert h.acks == [] and "rack_power" not in h.writer.rows
    h.flush()
    assert h.acks == [0] and len(h.writer.rows["rack_power"]) == 4
    row = h.writer.rows["rack_power"][0]
    # partition, offset, cluster, via (empty: not through the gateway)
    assert row[0] == "atl-2" and row[-4:] == (0, 0, "cluster-a", "")


def test_bad_input_is_dead_lettered_and_acked(h: Harness) -> None:
    h.message(0, b"{nope")
    assert h.acks == [0]
    [dead] = h.dead
    assert (dead["reason_code"], dead["topic"], dead["offset"]) == ("not_json", RACK_POWER, 0)
    assert h.metric("megawatch_dead_letters_total", topic=RACK_POWER, reason="not_json") == 1


def test_a_crash_inside_processing_is_dead_lettered_not_fatal(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(h.processor, "rack_power", broken)  # inject the fault
    h.message(0, batch(0.5))
    assert h.acks == [0]
    assert h.dead[0]["reason_code"] == "internal_error"
    assert "ZeroDivisionError" in h.dead[0]["reason"]
    monkeypatch.undo()
    h.message(1, batch(0.5))  # the worker goes on
    h.flush()
    assert h.acks == [0, 1]


def test_a_redelivered_message_is_not_applied_twice(h: Harness) -> None:
    h.message(0, batch(0.5))
    h.message(0, batch(0.5))  # Faust hands it over again before the flush
    h.flush()
    assert len(h.writer.rows["rack_power"]) == 4
    assert h.acks == [0, 0]  # both deliveries acked, after the rows are stored
    assert h.metric("megawatch_replayed_messages_total", topic=RACK_POWER) == 1


def test_an_offset_gap_is_counted(h: Harness) -> None:
    h.message(0, batch(0.5))
    h.message(5, batch(0.5))
    assert h.metric("megawatch_offset_gaps_total", topic=RACK_POWER) == 4


def test_a_breach_publishes_an_alert_after_warm_up(h: Harness) -> None:
    h.message(0, batch(0.5))
    time.sleep(1.1)  # one staleness window of warm-up (stale_after_s=1)
    h.message(1, batch(1.5))
    [alert] = [a for a in h.alerts if a["rule"] == "cap_critical"]
    assert (alert["status"], alert["site"], alert["seq"]) == ("firing", "atl-2", 1)


def test_acks_reach_faust_in_offset_order(h: Harness) -> None:
    """Issue 10 #1: a dead-letter-only message must not be acked before the valid
    message ahead of it is stored (Faust would commit past it; a SIGKILL lost it)."""
    h.message(0, batch(0.5))  # rows wait in the sink's buffer
    h.message(1, b"{nope")  # dead letter only: done at once, but behind offset 0
    h.message(2, b"")
    assert h.acks == [] and len(h.dead) == 2
    h.flush()
    assert h.acks == [0, 1, 2]
    h.message(3, b"{nope")  # nothing pending ahead of it: acked at once
    assert h.acks == [0, 1, 2, 3]


def test_a_processing_bug_in_one_event_rejects_that_event_only(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = h.processor.rack_power

    def breaks_on_r2(events: Any, *args: Any, **kwargs: Any) -> Any:
        if any(e.rack == "r2" for e in events):
            raise ZeroDivisionError("division by zero")
        return real(events, *args, **kwargs)

    monkeypatch.setattr(h.processor, "rack_power", breaks_on_r2)  # inject the fault
    h.message(0, batch(0.5))
    h.flush()
    assert sorted(row[1] for row in h.writer.rows["rack_power"]) == ["r0", "r1", "r3"]
    [dead] = h.dead
    assert (dead["reason_code"], dead["index"]) == ("internal_error", 2)
    assert h.acks == [0]


def test_an_oversize_message_gets_a_bounded_dead_letter(h: Harness) -> None:
    """Issue 10 #6: the dead letter of a message over the size limit must fit on its topic."""
    import hashlib

    from pipeline.worker.dead_letters import MAX_RAW_BYTES

    value = b'{"events": [' + b" " * 3_000_000 + b"]}"
    h.message(0, value)
    [dead] = h.dead
    assert dead["reason_code"] == "too_large" and h.acks == [0]
    assert len(orjson.dumps(dead)) < 2 * MAX_RAW_BYTES
    assert dead["raw"] == value[:MAX_RAW_BYTES].decode()
    assert dead["raw_size"] == len(value)
    assert dead["raw_sha256"] == hashlib.sha256(value).hexdigest()


def test_a_huge_key_is_bounded_in_the_dead_letter(h: Harness) -> None:
    h.message(0, b"not json", key=b"k" * 1_000_000)
    [dead] = h.dead
    assert len(dead["key"]) == 256


def test_a_dead_letter_that_fails_to_send_is_retried_not_dropped(h: Harness) -> None:
    sent: list[bytes] = []
    failures = [RuntimeError("broker away")]

    async def flaky(key: bytes | None, value: bytes) -> None:
        if failures:
            raise failures.pop()
        sent.append(value)

    h.handlers.publish.send_dead_letter = flaky
    h.message(0, b"{nope")
    assert len(sent) == 1 and h.acks == [0]


def test_a_ledger_past_the_end_of_the_log_is_set_aside_not_trusted(h: Harness) -> None:
    """Issue 10 #11: a recreated topic (offsets from 0 again) under a ledger that says
    5,000 were stored: its messages are new and must be stored, and that is reported."""
    h.writer.query_rows = lambda sql, params=None: [(0, 5_000)]  # type: ignore[method-assign]
    h.handlers.positions.ledger.log_end = lambda topic, partition: 3
    h.message(1, batch(0.5))
    h.flush()
    assert len(h.writer.rows["rack_power"]) == 4 and h.acks == [1]
    assert h.metric("megawatch_ledger_resets_total", topic=RACK_POWER) == 1
    [reset] = h.writer.rows["ledger_resets"]
    assert reset[2:] == ("rack_power", RACK_POWER, 0, 5_000, 3)


def test_a_ledger_below_the_end_of_the_log_skips_replays(h: Harness) -> None:
    h.writer.query_rows = lambda sql, params=None: [(0, 5_000)]  # type: ignore[method-assign]
    h.handlers.positions.ledger.log_end = lambda topic, partition: 9_000
    h.message(4_999, batch(0.5))
    assert h.acks == [4_999] and "rack_power" not in h.writer.rows


def test_a_message_never_done_is_reported_once_with_a_metric(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10 #8: a partition waiting on one message is a stall: never silent."""
    h.message(5, batch(0.5))  # rows buffered, not flushed: not done
    h.handlers.positions.watch_pending(warn_after_s=0.0)
    h.handlers.positions.watch_pending(warn_after_s=0.0)
    age = h.metric("megawatch_oldest_pending_seconds", topic=RACK_POWER, partition="0")
    assert age > 0
    warnings = [r for r in caplog.records if "not done after" in r.getMessage()]
    assert len(warnings) == 1 and "offset 5" in warnings[0].getMessage()
    h.flush()
    h.handlers.positions.watch_pending(warn_after_s=0.0)
    assert h.acks == [5]
    assert h.metric("megawatch_oldest_pending_seconds", topic=RACK_POWER, partition="0") == 0


def test_a_cancelled_flush_gives_its_rows_back_and_acks_them_later(h: Harness) -> None:
    """A flush cancelled half way (a stop, the drain during Faust's wait for acks) kept
    neither the rows nor their done callbacks: the message was never done (a stall)."""
    h.message(1, batch(0.5))
    real = h.writer.insert_columns

    def cancelled(*args: Any, **kwargs: Any) -> None:
        raise asyncio.CancelledError

    h.writer.insert_columns = cancelled  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        h.flush()
    assert h.acks == [] and h.sink.buffered_rows == 4
    h.writer.insert_columns = real  # type: ignore[method-assign]
    h.flush()
    assert h.acks == [1] and len(h.writer.rows["rack_power"]) == 4


def test_a_store_away_while_reading_the_ledger_is_waited_for_not_fatal(h: Harness) -> None:
    """The ledger of a partition is read on its first message: a store that is away then
    must neither crash the agent (the partition would wait forever) nor skip the check."""
    from pipeline.errors import StoreError

    failures = [StoreError("store away"), StoreError("store away")]
    real = h.writer.query_rows

    def flaky(sql: str, params: dict[str, object] | None = None) -> list[tuple]:
        if failures:
            raise failures.pop()
        return real(sql, params)

    h.writer.query_rows = flaky  # type: ignore[method-assign]
    h.message(0, batch(0.5))
    h.flush()
    assert failures == [] and h.acks == [0] and len(h.writer.rows["rack_power"]) == 4


def test_an_alert_that_fails_to_send_is_retried_before_the_message_is_acked(
    h: Harness,
) -> None:
    sent: list[dict] = []
    failures = [RuntimeError("broker away")]

    async def flaky(key: bytes, value: bytes) -> None:
        if failures:
            raise failures.pop()
        sent.append(orjson.loads(value))

    h.handlers.publish.send_alert = flaky
    h.message(0, batch(0.5))  # under the cap: warming up, no alert yet
    h.processor.monitors["atl-2"].created_ms -= 60_000  # warmed up: the key
    h.processor.stages["atl-2"].created_ms -= 60_000  # and its site stage
    h.message(1, batch(1.5))  # over the 1 MW cap, `for` is 0: fires
    h.flush()
    assert failures == [] and [a["rule"] for a in sent] == ["cap_warning", "cap_critical"]
    assert h.acks == [0, 1]


def test_a_tick_lets_messages_through_between_sites(h: Harness) -> None:
    """A campus tick takes tens of ms: it goes key by key, then site stage by site stage,
    and yields in between, so a message that arrives meanwhile is processed (and alerted
    on) before the rest."""
    h.message(0, batch(0.5))
    other = batch(0.5).replace(b'"atl-2"', b'"atl-3"')
    h.message(1, other, key=b"atl-3")
    order: list[str] = []
    keys, stages = h.processor.tick_keys, h.processor.tick_stages

    def tick_keys(now_ms: int, names: Sequence[str]) -> Any:
        order.extend(f"key {name}" for name in names)
        return keys(now_ms, names)

    def tick_stages(now_ms: int, names: Sequence[str]) -> Any:
        order.extend(f"stage {name}" for name in names)
        return stages(now_ms, names)

    h.processor.tick_keys = tick_keys  # type: ignore[method-assign]
    h.processor.tick_stages = tick_stages  # type: ignore[method-assign]

    async def scenario() -> None:
        async def meanwhile() -> None:
            order.append("message")

        task = asyncio.ensure_future(meanwhile())
        await h.handlers.tick()
        await task

    asyncio.run(scenario())
    assert order == ["key atl-2", "message", "key atl-3", "stage atl-2", "stage atl-3"]
