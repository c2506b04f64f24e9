"""Decoding Kafka messages: batches, single events, and a dead-letter reason for each bad one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipeline.core.decode import Limits, MessageDecoder
from pipeline.events import GpuSample, RackPower

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def rack(i: int, **over: object) -> dict:
    return {"site": "atl-2", "rack": f"r{i}", "ts": NOW_MS - 1000, "power_w": 1000.0 + i, **over}


@pytest.fixture
def decoder() -> MessageDecoder[RackPower]:
    return MessageDecoder(RackPower, Limits(max_message_bytes=64 * 1024))


def test_good_batch(decoder: MessageDecoder[RackPower]) -> None:
    raw = orjson.dumps({"events": [rack(i) for i in range(50)]})
    out = decoder.decode(raw, b"atl-2", NOW)
    assert [e.rack for e in out.events] == [f"r{i}" for i in range(50)]
    assert out.rejects == []


def test_single_event_message(decoder: MessageDecoder[RackPower]) -> None:
    out = decoder.decode(orjson.dumps(rack(7)), b"atl-2", NOW)
    assert [e.power_w for e in out.events] == [1007.0]
    assert out.rejects == []


def test_batch_with_bad_events_keeps_the_good_ones(decoder: MessageDecoder[RackPower]) -> None:
    events = [rack(i) for i in range(6)]
    events[1]["power_w"] = -5
    events[2]["ts"] = NOW_MS + 3_600_000
    events[3]["ts"] = NOW_MS - 8 * 86_400_000
    events[4]["site"] = "ord-1"
    out = decoder.decode(orjson.dumps({"events": events}), b"atl-2", NOW)
    assert [e.rack for e in out.events] == ["r0", "r5"]
    got = {r.index: (r.code, r.reason) for r in out.rejects}
    assert set(got) == {1, 2, 3, 4}
    assert got[1][0] == "invalid" and got[1][1].startswith("events[1].power_w: Input should be")
    assert got[2][0] == "too_new" and "MEGAWATCH_MAX_CLOCK_SKEW_S" in got[2][1]
    assert got[3][0] == "too_old" and "MEGAWATCH_MAX_EVENT_AGE_S" in got[3][1]
    assert got[4][0] == "key_mismatch" and "'ord-1'" in got[4][1]
    # each reject carries the bad event's own bytes, not the whole batch
    assert orjson.loads(next(r.raw for r in out.rejects if r.index == 1))["power_w"] == -5


def test_time_only_rejects_on_the_fast_path(decoder: MessageDecoder[RackPower]) -> None:
    """A batch that passes pydantic but has a future event still splits per event."""
    events = [rack(0), rack(1, ts=NOW_MS + 10 * 60_000)]
    out = decoder.decode(orjson.dumps({"events": events}), b"atl-2", NOW)
    assert [e.rack for e in out.events] == ["r0"]
    [bad] = out.rejects
    assert (bad.index, bad.code) == (1, "too_new")
    assert orjson.loads(bad.raw)["rack"] == "r1"


def test_skew_and_age_limits_are_inclusive_bounds() -> None:
    limits = Limits(max_age=timedelta(seconds=60), max_skew=timedelta(seconds=5))
    dec = MessageDecoder(RackPower, limits)
    ok = [rack(0, ts=NOW_MS - 60_000), rack(1, ts=NOW_MS + 5_000)]
    bad = [rack(2, ts=NOW_MS - 60_001), rack(3, ts=NOW_MS + 5_001)]
    out = dec.decode(orjson.dumps({"events": ok + bad}), b"atl-2", NOW)
    assert [e.rack for e in out.events] == ["r0", "r1"]
    assert sorted(r.code for r in out.rejects) == ["too_new", "too_old"]


@pytest.mark.parametrize(
    ("raw", "key", "code", "text"),
    [
        (b"{nope", b"atl-2", "not_json", "not JSON"),
        (b"[1, 2]", b"atl-2", "not_object", "expected a JSON object"),
        (b'{"events": 3}', b"atl-2", "bad_batch", '"events" must be a list'),
        (b'{"site": "atl-2"}', b"atl-2", "invalid", "rack: Field required"),
        (orjson.dumps(rack(1)), None, "no_key", "message has no key"),
        (orjson.dumps(rack(1)), b"", "no_key", "message has no key"),
        (None, b"atl-2", "no_value", "tombstone"),
    ],
)
def test_whole_message_rejects(
    decoder: MessageDecoder[RackPower], raw: bytes | None, key: bytes | None, code: str, text: str
) -> None:
    out = decoder.decode(raw, key, NOW)
    assert out.events == []
    [reject] = out.rejects
    assert reject.index is None and reject.code == code and text in reject.reason
    assert reject.raw == (raw or b"")
    assert "\n" not in reject.reason


def test_oversized_message_is_rejected_before_parsing(decoder: MessageDecoder[RackPower]) -> None:
    raw = orjson.dumps({"events": [rack(i) for i in range(2000)]})
    assert len(raw) > 64 * 1024
    [reject] = decoder.decode(raw, b"atl-2", NOW).rejects
    assert reject.code == "too_large" and "MEGAWATCH_MAX_MESSAGE_BYTES" in reject.reason


def test_epoch_seconds_get_a_hint(decoder: MessageDecoder[RackPower]) -> None:
    [reject] = decoder.decode(orjson.dumps(rack(0, ts=NOW_MS // 1000)), b"atl-2", NOW).rejects
    assert "epoch milliseconds" in reject.reason


def test_gpu_batch_all_fields() -> None:
    dec = MessageDecoder(GpuSample)
    event = {
        "site": "s",
        "rack": "r",
        "host": "h",
        "gpu": "0",
        "ts": NOW_MS,
        "util_pct": 3.5,
        "power_w": 99.0,
        "vendor": "nvidia",
        "model": "H100 80GB HBM3",
        "temp_c": 41,
    }
    out = dec.decode(orjson.dumps({"events": [event, {**event, "util_pct": 250}]}), b"s", NOW)
    assert len(out.events) == 1 and out.events[0].model == "H100 80GB HBM3"
    assert out.rejects[0].reason.startswith("events[1].util_pct")


def test_a_timestamp_past_year_9999_rejects_only_its_event() -> None:
    """Issue 10 #7: an integer ts between year 10000 and 2**53 raised ValueError."""
    now = datetime.now(UTC)
    good = {"site": "s1", "rack": "r1", "ts": int(now.timestamp() * 1000), "power_w": 1.0}
    events = [good, {**good, "ts": 2**53}, {**good, "ts": 9 * 10**15}]
    decoded = MessageDecoder(RackPower).decode(orjson.dumps({"events": events}), b"s1", now)
    assert len(decoded.events) == 1 and decoded.positions == [0]
    assert [(r.code, r.index) for r in decoded.rejects] == [("too_new", 1), ("too_new", 2)]
    assert "past year 9999" in decoded.rejects[0].reason


def test_an_event_nested_too_deep_to_re_encode_rejects_only_itself() -> None:
    """Found by the fault corpus: orjson refuses to re-encode an item nested deeper than
    254 levels for its dead letter, which raised out of the decoder."""
    now = datetime.now(UTC)
    good = {"site": "s1", "rack": "r1", "ts": int(now.timestamp() * 1000), "power_w": 1.0}
    deep = b'{"site":"s1","rack":"r2","ts":1,"power_w":' + b"[" * 300 + b"]" * 300 + b"}"
    raw = b'{"events":[' + orjson.dumps(good) + b"," + deep + b"]}"
    decoded = MessageDecoder(RackPower).decode(raw, b"s1", now)
    assert len(decoded.events) == 1
    assert [(r.code, r.index) for r in decoded.rejects] == [("invalid", 1)]


def test_a_shard_key_takes_events_of_its_site(decoder: MessageDecoder[RackPower]) -> None:
    """SITE/SHARD: the events' site is the key's part before the slash."""
    events = [rack(0), rack(1)]
    events[1]["site"] = "ord-1"
    out = decoder.decode(orjson.dumps({"events": events}), b"atl-2/hall-3", NOW)
    assert [e.rack for e in out.events] == ["r0"]
    [reject] = out.rejects
    assert reject.code == "key_mismatch"
    assert reject.reason == (
        "site 'ord-1' does not match the message key 'atl-2/hall-3' (site 'atl-2'): "
        "key every message by its site id, or SITE/SHARD"
    )


@pytest.mark.parametrize(
    ("key", "what"),
    [
        (b"atl-2/", "the shard after 'atl-2'/ is empty"),
        (b"atl-2/a/b", "the shard after 'atl-2'/ contains another '/'"),
        (b"atl-2/hall 3", "the shard after 'atl-2'/ is not an id"),
    ],
)
def test_a_malformed_shard_rejects_the_message(
    decoder: MessageDecoder[RackPower], key: bytes, what: str
) -> None:
    out = decoder.decode(orjson.dumps({"events": [rack(0)]}), key, NOW)
    assert out.events == [] and [r.code for r in out.rejects] == ["bad_key"]
    assert what in out.rejects[0].reason and "SITE/SHARD" in out.rejects[0].reason


def test_or_empty_stores_null_text_as_empty_in_each_shape_of_column() -> None:
    from pipeline.core.columnar import or_empty

    full = ["a", "b"]
    assert or_empty(full) is full  # nothing to replace: the column itself
    assert or_empty([None, None, None]) == ["", "", ""]
    assert or_empty(["a", None, "", "b"]) == ["a", "", "", "b"]
    assert or_empty([]) == []
