"""Dead letters on the real store: one row per rejected message or event, however often
it is published (issue 10 #2: a SIGKILL re-published them, 6,000 became 6,414 rows)."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.core.decode import Reject
from pipeline.core.processor import Processor
from pipeline.kafka.topics import DEADLETTER, RACK_POWER
from pipeline.settings import Settings
from pipeline.store import Store
from pipeline.worker.dead_letters import MAX_RAW_BYTES, dead_letter_record
from pipeline.worker.handlers import Handlers, Publishers
from pipeline.worker.metrics import Metrics
from pipeline.worker.parameters import rule_config
from pipeline.worker.sink import ClickHouseSink
from pipeline.worker.topic_rows import without_stored_dead_letters

pytestmark = pytest.mark.integration


async def _nothing(key: bytes | None, value: bytes) -> None:
    return None


def handlers(store: Store) -> Handlers:
    processor = Processor(rule_config(Settings()), lambda s: None, lambda s: None)
    sink = ClickHouseSink(
        store,
        "cluster-a",
        flush_interval=60,
        before_insert={"dead_letters": without_stored_dead_letters},
    )
    return Handlers(
        processor, sink, {}, Publishers(_nothing, _nothing, lambda s, d: None), Metrics()
    )


def test_a_republished_dead_letter_is_stored_once(store: Store) -> None:
    h = handlers(store)
    bad = Reject("not_json", "not JSON: unexpected character", b"{nope")
    event = Reject("invalid", "events[3].power_w: negative", b'{"power_w": -1}', 3)
    records = [
        dead_letter_record(RACK_POWER, 2, 40, b"atl-2", bad),
        dead_letter_record(RACK_POWER, 2, 41, b"atl-2", event),
        # after a SIGKILL, the same two again (new received_at), at later topic offsets
        dead_letter_record(RACK_POWER, 2, 40, b"atl-2", bad),
        dead_letter_record(RACK_POWER, 2, 41, b"atl-2", event),
    ]
    acks: list[int] = []

    async def run() -> None:
        for offset, record in enumerate(records[:3]):  # a copy within one batch
            await h.stored_topic(DEADLETTER, 0, offset, record, lambda o=offset: acks.append(o))
        await h.sink.flush()
        await h.stored_topic(DEADLETTER, 0, 3, records[3], lambda: acks.append(3))
        await h.sink.flush()  # a copy of one stored by an earlier batch

    asyncio.run(run())
    assert acks == [0, 1, 2, 3]
    rows = store.query_rows(
        "SELECT `offset`, `index`, reason_code FROM dead_letters ORDER BY `offset`"
    )
    assert rows == [(40, -1, "not_json"), (41, 3, "invalid")]


def test_an_oversize_dead_letter_keeps_its_size_and_digest(store: Store) -> None:
    h = handlers(store)
    raw = b"x" * (MAX_RAW_BYTES * 3)
    record = dead_letter_record(RACK_POWER, 0, 7, b"s", Reject("too_large", "too large", raw))

    async def run() -> None:
        await h.stored_topic(DEADLETTER, 0, 0, record, lambda: None)
        await h.sink.flush()

    asyncio.run(run())
    [(length, size, digest)] = store.query_rows(
        "SELECT length(raw), raw_size, raw_sha256 FROM dead_letters"
    )
    assert (length, size, len(digest)) == (MAX_RAW_BYTES, 3 * MAX_RAW_BYTES, 64)
