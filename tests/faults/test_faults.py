"""The short fault suite: exact accounting through a real worker, broker and store.

Every scenario must end with 0 lost, 0 duplicates, 0 crashes. The long campaign with the
same scenarios at scale is ``python benchmarks/faults.py --minutes 10``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus import SHAPES, corpus, interleaved
from fault_run import run_with_kills, table
from store_full import can_mount, fill, free, run_store_full, tmpfs
from webhooks import run_webhooks

from pipeline.broker.process import EmbeddedBroker
from pipeline.core.decode import MessageDecoder
from pipeline.errors import StoreError
from pipeline.events import RackPower
from pipeline.settings import load_settings
from pipeline.store import open_store

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.exclusive]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path / "data") as running:  # the worker finds it there
        yield running


def test_the_corpus_has_30_shapes_whose_outcomes_the_decoder_agrees_with() -> None:
    decoder = MessageDecoder(RackPower)
    seen: dict[str, tuple[int, int]] = {}
    for item in corpus(len(SHAPES) * 2, heavy_every=3):
        decoded = decoder.decode(item.value, item.key, datetime.now(UTC))
        seen[item.shape] = (len(decoded.events) - item.valid, len(decoded.rejects) - item.dead)
    assert len(seen) >= 30
    assert {shape: diff for shape, diff in seen.items() if diff != (0, 0)} == {}


def test_sigkills_with_interleaved_dead_letters_lose_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Issue 10 #1 and #2: valid batches each followed by a dead-letter-only message,
    three SIGKILLs mid-stream: every reading stored once, every dead letter once."""
    result = run_with_kills(
        broker.bootstrap,
        tmp_path / "data",
        "3 SIGKILLs, interleaved",
        interleaved(3_000),
        chunk=750,
        kills=3,
        # rows wait in the sink for 5 s while Faust commits every 2.8 s, and each kill
        # comes 3.5 s after a chunk: the window in which a commit could pass them
        pause_s=3.5,
        extra_env={"MEGAWATCH_SINK_FLUSH_INTERVAL_S": "5"},
    )
    print(table([result]))
    assert (result.lost, result.duplicates, result.crashes) == (0, 0, 0), table([result])


def test_fuzzed_messages_each_cost_their_dead_letters_and_nothing_else(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    result = run_with_kills(
        broker.bootstrap,
        tmp_path / "data",
        "fuzz, 1 SIGKILL",
        corpus(1_200, heavy_every=150),
        chunk=600,
        kills=1,
    )
    print(table([result]))
    assert (result.lost, result.duplicates, result.crashes) == (0, 0, 0), table([result])


@pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root")
def test_store_full_then_freed_with_a_sigkill_while_full_loses_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Issue 10 #1 and #9: inserts fail for lack of space, the worker stops consuming
    (back-pressure, bounded memory), is SIGKILLed while full, and after the space is
    freed stores every reading and dead letter exactly once."""
    result, seen = run_store_full(
        broker.bootstrap,
        tmp_path / "data",
        "store full, SIGKILL while full",
        interleaved(2_000),
        chunk=1_000,
    )
    print(table([result]))
    print(
        f"while full: peak RSS {seen.peak_rss_mib:.0f} MiB, peak buffered {seen.peak_buffered_rows} rows"
    )
    assert seen.failing and seen.paused, seen.health[-3:]
    assert seen.peak_buffered_rows <= 5_000 + 1_000
    assert (result.lost, result.duplicates, result.crashes) == (0, 0, 0), table([result])


def test_webhooks_503_hanging_and_refused_get_every_alert_once() -> None:
    """503 for a while, a receiver hanging past the client's timeout, one refusing
    connections until it comes up, and a healthy one beside them: every alert reaches
    each once per Idempotency-Key, none lost, nothing crashed."""
    rows = run_webhooks(alerts=120, outage_s=5.0)
    print(table(rows))
    bad = [r for r in rows if (r.lost, r.duplicates, r.crashes, r.dead_letters) != (0, 0, 0, 0)]
    assert bad == [], table(rows)
    assert all(r.stored == r.valid_produced == 120 for r in rows)


@pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root")
def test_an_insert_into_a_full_store_fails_instead_of_reporting_rows(tmp_path: Path) -> None:
    """chDB's streaming insert reports rows written on a full disk and stores nothing
    (the loss behind issue 10 #1 with the store full): the store must raise instead."""
    path = tmp_path / "small"
    settings = load_settings(clickhouse_dsn=f"chdb://{path / 'ch'}", data_dir=tmp_path / "d")
    with tmpfs(path, 40), open_store(settings) as store:
        store.command("CREATE TABLE t (x UInt64) ENGINE = MergeTree ORDER BY x")
        store.insert_columns("t", ["x"], [[1]])
        fill(path)
        with pytest.raises(StoreError, match="not enough space"):
            store.insert_columns("t", ["x"], [list(range(1000))], "token-1")
        free(path)
        store.insert_columns("t", ["x"], [list(range(1000))], "token-1")  # the retry
        assert store.query_rows("SELECT count() FROM t") == [(1001,)]
