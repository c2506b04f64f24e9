"""The power_wave kind: validated like every other kind, dead-lettered with a reason,
published in batches the worker accepts, on a co-partitioned topic."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from pipeline.cli.publish_cmd import messages
from pipeline.core.columnar import ColumnarDecoder
from pipeline.core.decode import MAX_BATCH_EVENTS, Limits, MessageDecoder
from pipeline.events import KINDS, PowerWave
from pipeline.kafka.topics import CONTRACT_TOPICS, COPARTITIONED, POWER_WAVE

NOW = datetime(2026, 7, 27, 16, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
GOOD = {
    "site": "atl-2",
    "rack": "r1",
    "ts": NOW_MS - 2000,
    "interval_ms": 50,
    "power_w": [1e5, 9.5e4],
}


def decode(event: object, key: bytes = b"atl-2") -> tuple[list[PowerWave], list[tuple[str, str]]]:
    decoded = MessageDecoder(PowerWave, Limits()).decode(orjson.dumps(event), key, NOW)
    return list(decoded.events), [(r.code, r.reason) for r in decoded.rejects]


def test_a_wave_decodes_with_its_samples() -> None:
    events, rejects = decode({"events": [GOOD, {**GOOD, "rack": "pdu-7", "source": "pdu-fast"}]})
    assert rejects == []
    assert [(e.rack, e.ts, e.interval_ms, e.power_w) for e in events] == [
        ("r1", NOW_MS - 2000, 50, [1e5, 9.5e4]),
        ("pdu-7", NOW_MS - 2000, 50, [1e5, 9.5e4]),
    ]
    assert KINDS["power_wave"] is PowerWave


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        (
            {"interval_ms": 5},
            "invalid",
            "interval_ms: Input should be greater than or equal to 10 (got 5)",
        ),
        (
            {"interval_ms": 1001},
            "invalid",
            "interval_ms: Input should be less than or equal to 1000",
        ),
        ({"interval_ms": 50.5}, "invalid", "interval_ms: Input should be a valid integer"),
        ({"power_w": []}, "invalid", "power_w: List should have at least 1 item"),
        ({"power_w": [1.0] * 1001}, "invalid", "power_w: List should have at most 1000 items"),
        (
            {"power_w": [1.0, -5.0]},
            "invalid",
            "power_w.1: Input should be greater than or equal to 0 (got -5.0)",
        ),
        ({"power_w": [3e6]}, "invalid", "power_w.0: Input should be less than or equal to 2000000"),
        ({"power_w": [1.0, "x"]}, "invalid", "power_w.1: Input should be a valid number"),
        ({"power_w": 100.0}, "invalid", "power_w: Input should be a valid list"),
        ({"rack": "r 1"}, "invalid", "rack: String should match pattern"),
        ({"ts": NOW_MS - 8 * 86_400_000}, "too_old", "older than the accepted age"),
        ({"ts": NOW_MS + 3_600_000}, "too_new", "in the future"),
        ({"site": "elsewhere"}, "key_mismatch", "does not match the message key"),
    ],
)
def test_a_bad_wave_is_dead_lettered_alone_with_its_reason(
    change: dict[str, object], code: str, reason: str
) -> None:
    events, rejects = decode({"events": [GOOD, {**GOOD, **change}]})
    assert len(events) == 1 and events[0].rack == "r1"  # the good one of the batch passes
    assert len(rejects) == 1
    assert rejects[0][0] == code
    assert reason in rejects[0][1]
    assert rejects[0][1].startswith("events[1].") or code != "invalid"


def test_waves_take_the_pydantic_path_on_purpose() -> None:
    """No columnar fast path for waves: measured (benchmarks/power_wave.py) pydantic
    validates 4-19 M samples/s of wave batches, msgspec plus numpy bounds 4-17 M/s; the
    per-sample work is in the list check, which both do in C."""
    assert ColumnarDecoder.of(PowerWave, MAX_BATCH_EVENTS) is None
    assert MessageDecoder(PowerWave)._columnar is None


def test_publish_keeps_wave_batches_under_the_message_limit() -> None:
    wave = {**GOOD, "power_w": [123456.7] * 1000}  # ~9 kB each
    out = messages(POWER_WAVE, b"atl-2", [wave] * 300, batch_size=500, max_bytes=100_000)
    assert all(len(m.value) <= 100_000 for m in out)
    assert sum(len(orjson.loads(m.value)["events"]) for m in out) == 300
    size = len(orjson.dumps(wave))
    per_message = (100_000 - len(b'{"events":[]}') + 1) // (size + 1)  # n events, n-1 commas
    assert len(out) == -(-300 // per_message)  # as few messages as the limit allows
    for m in out:
        events, rejects = decode(orjson.loads(m.value))
        assert rejects == [] and len(events) == len(orjson.loads(m.value)["events"])


def test_the_topic_is_created_with_the_others_and_co_partitioned() -> None:
    assert POWER_WAVE == "telemetry.power_wave"
    assert POWER_WAVE in {spec.name for spec in CONTRACT_TOPICS}
    assert POWER_WAVE in COPARTITIONED
