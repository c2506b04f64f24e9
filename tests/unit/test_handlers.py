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
    assert row[0] == "atl-2" and row[-3:] == (0, 0, "cluster-a")  # partition, offset, cluster


def test_bad_input_is_dead_lettered_and_acked(h: Harness) -> None:
    h.message(0, b"{nope")
    assert h.acks == [0]
    [dead] = h.dead
    assert (dead["reason_code"], dead["topic"], dead["offset"]) == ("not_json", RACK_POWER, 0)
    assert h.metric("megawatch_dead_letters_total", topic=RACK_POWER, reason="not_json") == 1


def test_a_crash_inside_processing_is_dead_lettered_not_fatal(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
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
