"""The columnar fast path against the models: same events, same values, same dead letters.

Two decoders per kind, one with the fast path (what the worker runs) and one without
(pydantic only, the contract's definition), decode the same messages at the same
instant: the fault suite's fuzz corpus, and seeded generated messages covering every
field of every kind (optional fields absent and null, boundary values and one step
past them, ints where floats go, both ``ts`` forms, unicode and odd ids, batches and
single events). Every accepted event must match field by field, value and type; every
rejected one must carry the same code, reason, bytes and index. Keys are the site, shards
of it (``SITE/SHARD``) and malformed or foreign ones.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from pipeline.core.columnar import EventColumns
from pipeline.core.decode import Decoded, MessageDecoder
from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.events import GpuSample, LinkCounters, RackPower, SiteSpec
from tests.faults.corpus import corpus

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_MS = int(NOW.timestamp() * 1000)
SITE = "dc-1"


def assert_same(fast: Decoded[Any], slow: Decoded[Any], model: type[BaseModel]) -> None:
    assert len(fast.events) == len(slow.events)
    for mine, theirs in zip(fast.events, slow.events, strict=True):
        for name in model.model_fields:
            a, b = getattr(mine, name), getattr(theirs, name)
            assert (type(a), a) == (type(b), b), name
    assert [(r.code, r.reason, r.raw, r.index) for r in fast.rejects] == [
        (r.code, r.reason, r.raw, r.index) for r in slow.rejects
    ]
    assert list(fast.positions) == list(slow.positions)


def decoders(model: type[BaseModel]) -> tuple[MessageDecoder[Any], MessageDecoder[Any]]:
    return MessageDecoder(model), MessageDecoder(model, fast=False)


def test_fuzz_corpus_decodes_the_same() -> None:
    fast, slow = decoders(RackPower)
    now = datetime.now(UTC)
    shapes = set()
    for item in corpus(600, heavy_every=50):
        shapes.add(item.shape)
        assert_same(
            fast.decode(item.value, item.key, now),
            slow.decode(item.value, item.key, now),
            RackPower,
        )
    assert len(shapes) > 30


# --- generated messages -----------------------------------------------------------------
ID_CHARS = "abcXYZ019._:-"
ODD_IDS = ["é", "r 1", "", "x" * 65, "r1\n", 5, None, ["r"], "ü" * 3, "x" * 64, "Ω-1"]


def gen_id(rng: random.Random, odd: bool = True) -> Any:
    if odd and rng.random() < 0.03:
        return rng.choice(ODD_IDS)
    return "".join(rng.choice(ID_CHARS) for _ in range(rng.randint(1, 8)))


def gen_ts(rng: random.Random, odd: bool = True) -> Any:
    roll = rng.random() * (1 if odd else 0.85)
    if roll < 0.6:
        return NOW_MS - rng.randint(0, 60_000)
    if roll < 0.85:
        zone = timezone(timedelta(hours=rng.choice([0, 2, -5, 5.5])))
        at = NOW - timedelta(milliseconds=rng.randint(0, 60_000))
        text = at.astimezone(zone).isoformat(timespec=rng.choice(["seconds", "milliseconds"]))
        return text.replace("+00:00", "Z") if rng.random() < 0.5 else text
    return rng.choice(
        [
            str(NOW_MS),
            float(NOW_MS),
            NOW.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: not aware
            NOW.strftime("%Y-%m-%d"),
            "yesterday",
            True,
            -1,
            2**53,
            2**53 + 1,
            NOW_MS + 10**9,  # too new
            NOW_MS - 8 * 86_400_000,  # too old
            None,
        ]
    )


def gen_number(rng: random.Random, lo: float, hi: float, odd: bool = True) -> Any:
    roll = rng.random() * (1 if odd else 0.8)
    if roll < 0.7:
        return round(rng.uniform(lo, hi), rng.choice([0, 1, 3]))
    if roll < 0.8:
        return rng.randint(int(max(lo, 0)), int(hi))
    return rng.choice([lo, hi, -0.0, hi + 0.001, lo - 0.001, hi + 1, True, "1", None, 2**63, 1e300])


def gen_counter(rng: random.Random, odd: bool = True) -> Any:
    if not odd or rng.random() < 0.85:
        return rng.randint(0, 10**12)
    return rng.choice([0, 2**64 - 1, 2**64, -1, 1.0, 1.5, "5", True, None, 2**63])


def gen_flag(rng: random.Random, odd: bool = True) -> Any:
    if not odd or rng.random() < 0.8:
        return rng.random() < 0.5
    return rng.choice([1, 0, "true", "yes", 0.0, None, [True]])


def gen_priorities(rng: random.Random, odd: bool = True) -> Any:
    """Counters per PFC priority: canonical keys "0".."7", else the odd spellings."""
    keys = rng.sample(range(8), rng.randint(1, 8))
    out: dict[str, Any] = {str(p): gen_counter(rng, odd) for p in keys}
    if odd and rng.random() < 0.15:
        out[rng.choice(["03", "8", "-1", "x", " 3", "3.0", ""])] = gen_counter(rng, odd)
    if odd and rng.random() < 0.05:
        return rng.choice([{}, [1, 2], 5, "3:1"])
    return out


def gen_lanes(rng: random.Random, odd: bool = True) -> Any:
    """dBm per lane: 1..8 numbers within [-40, 10], else the odd ones."""
    lanes = [gen_number(rng, -40, 10, odd) for _ in range(rng.randint(1, 8))]
    if odd and rng.random() < 0.1:
        return rng.choice([[], [-3.0] * 9, {"0": -3.0}, -3.0, [[-3.0]], [-3.0, None]])
    return lanes


LINK_COUNTERS = (
    "error_packets",
    "fec_corrected_codewords",
    "fec_uncorrectable_codewords",
    "symbol_errors",
    "rx_bits",
    "carrier_transitions",
    "link_down_events",
    "rx_discarded_packets",
    "pause_storm_warnings",
    "pause_storm_errors",
)
PER_PRIORITY = ("rx_pause_frames", "tx_pause_frames", "rx_pause_us", "tx_pause_us")
THRESHOLDS = (
    "rx_power_low_warn_dbm",
    "rx_power_low_alarm_dbm",
    "rx_power_high_warn_dbm",
    "rx_power_high_alarm_dbm",
)


def link_health(rng: random.Random, odd: bool) -> dict[str, Any]:
    """The optional link-health fields; a third of the events carry none of them."""
    if rng.random() < 0.33:
        return {}
    out: dict[str, Any] = {name: gen_counter(rng, odd) for name in LINK_COUNTERS[1:]}
    out |= {name: gen_priorities(rng, odd) for name in PER_PRIORITY}
    out |= {name: gen_number(rng, -40, 10, odd) for name in THRESHOLDS}
    out |= {"rx_power_dbm": gen_lanes(rng, odd), "tx_power_dbm": gen_lanes(rng, odd)}
    out |= {"effective_ber": gen_number(rng, 0, 1, odd), "carrier_up": gen_flag(rng, odd)}
    return out


def maybe(rng: random.Random, value: Any) -> tuple[bool, Any]:
    """(present, value): optional fields absent, null or set."""
    roll = rng.random()
    return (False, None) if roll < 0.3 else (True, None) if roll < 0.4 else (True, value)


MODELS = ["NVIDIA H100 80GB HBM3", "MI300X", "", "m" * 65, "ü", 7]
CLASSES = ["fabric", "wan", "lan", 1, None]
PRIORITIES = ["inference", "training", "batch", "", "p" * 65, 3, ["x"]]
REASONS = [0, 0x4, 0x8, 0x80, 0x4 | 0x80, 0x1]  # idle, power cap, slowdown, brake


def gen_event(
    kind: type[BaseModel], rng: random.Random, site: str, odd: bool = True
) -> dict[str, Any]:
    event: dict[str, Any] = {"site": site if not odd or rng.random() > 0.02 else gen_id(rng)}
    optional: dict[str, Any] = {}
    if kind is RackPower:
        event |= {
            "rack": gen_id(rng, odd),
            "ts": gen_ts(rng, odd),
            "power_w": gen_number(rng, 0, 2e6, odd),
        }
        optional = {"pdu": gen_id(rng, odd), "source": gen_id(rng, odd)}
    elif kind is GpuSample:
        event |= {
            "rack": gen_id(rng, odd),
            "host": gen_id(rng, odd),
            "gpu": gen_id(rng, odd),
            "ts": gen_ts(rng, odd),
            "util_pct": gen_number(rng, 0, 100, odd),
            "power_w": gen_number(rng, 0, 5000, odd),
        }
        optional = {
            "vendor": gen_id(rng, odd),
            "model": rng.choice(MODELS if odd else MODELS[:2]),
            "mem_used_pct": gen_number(rng, 0, 100, odd),
            "temp_c": gen_number(rng, -40, 150, odd),
            "power_limit_w": gen_number(rng, 0, 5000, odd),
            "job": gen_id(rng, odd),
            "tenant": gen_id(rng, odd),
            "priority": rng.choice(PRIORITIES if odd else PRIORITIES[:3]),
            "clock_reasons": rng.choice(REASONS) if rng.random() < 0.5 else gen_counter(rng, odd),
        }
    else:
        event |= {
            "link": gen_id(rng, odd),
            "link_class": rng.choice(CLASSES if odd else CLASSES[:2]),
            "ts": gen_ts(rng, odd),
            "tx_packets": gen_counter(rng, odd),
            "rx_packets": gen_counter(rng, odd),
            "dropped_packets": gen_counter(rng, odd),
        }
        optional = {"peer_site": gen_id(rng, odd), "error_packets": gen_counter(rng, odd)}
        optional |= link_health(rng, odd)
    for name, value in optional.items():
        present, chosen = maybe(rng, value)
        if present:
            event[name] = chosen
    if rng.random() < 0.05:
        event["firmware"] = {"v": [1, 2]}  # unknown fields are ignored
    if odd and rng.random() < 0.02:
        del event[rng.choice(list(event))]
    return event


def gen_messages(
    kind: type[BaseModel], seed: int, n: int, odd: bool = True
) -> Iterator[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    for _ in range(n):
        site = SITE if not odd or rng.random() > 0.05 else gen_id(rng)
        key = gen_key(rng, odd)
        events = [gen_event(kind, rng, site, odd) for _ in range(rng.randint(1, 12))]
        doc = events[0] if rng.random() < 0.3 else {"events": events, "agent": "sim"}
        # the standard library writes integers past 64 bits too; escaped or raw UTF-8
        yield key, json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()


#: keys: the site, a shard of it (SITE/SHARD), and keys a producer gets wrong
SHARD_KEYS = [f"{SITE}/hall-1", f"{SITE}/h:2.b", f"{SITE}/{'x' * 64}"]
ODD_KEYS = [f"{SITE}/", f"{SITE}/a/b", f"{SITE}/é", f"{SITE}/{'x' * 65}", "other/hall-1", "/x"]


def gen_key(rng: random.Random, odd: bool = True) -> bytes:
    roll = rng.random()
    if roll < 0.5:
        return SITE.encode()
    if roll < 0.9 or not odd:
        return rng.choice(SHARD_KEYS).encode()
    return rng.choice(ODD_KEYS).encode()


KINDS = [RackPower, GpuSample, LinkCounters]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_generated_messages_decode_the_same(kind: type[BaseModel]) -> None:
    fast, slow = decoders(kind)
    for key, value in gen_messages(kind, seed=13, n=1500):
        assert_same(fast.decode(value, key, NOW), slow.decode(value, key, NOW), kind)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_valid_messages_take_the_fast_path(kind: type[BaseModel]) -> None:
    """Guards the test above against a fast path that silently always falls back."""
    fast, slow = decoders(kind)
    valid = 0
    for key, value in gen_messages(kind, seed=5, n=300, odd=False):
        decoded, expected = fast.decode(value, key, NOW), slow.decode(value, key, NOW)
        assert_same(decoded, expected, kind)
        if not expected.rejects:  # canonical values only: the fast path must take it
            valid += 1
            assert isinstance(decoded.events, EventColumns), value
    assert valid >= 200


def test_boundaries_are_the_models() -> None:
    fast, slow = decoders(GpuSample)
    base = {"site": SITE, "rack": "r", "host": "h", "gpu": "0", "ts": NOW_MS}
    cases = [
        {"util_pct": 100, "power_w": 5000},
        {"util_pct": 100.0000001, "power_w": 1},
        {"util_pct": 0, "power_w": 0, "power_limit_w": 0},
        {"util_pct": 0, "power_w": 0, "power_limit_w": 5e-324},
        {"util_pct": 0, "power_w": 0, "temp_c": -40, "mem_used_pct": 100},
        {"util_pct": 0, "power_w": 0, "temp_c": -40.01},
        {"util_pct": -0.0, "power_w": 5000.0},
    ]
    for extra in cases:
        raw = orjson.dumps({"events": [base | extra]})
        assert_same(
            fast.decode(raw, SITE.encode(), NOW), slow.decode(raw, SITE.encode(), NOW), GpuSample
        )


def test_link_health_boundaries_are_the_models() -> None:
    """dBm bounds, lane and priority counts, flags: the models' limits, one step past
    them refused by both paths with the same reason; the canonical ones fast."""
    fast, slow = decoders(LinkCounters)
    base = {
        "site": SITE,
        "link": "l1",
        "link_class": "fabric",
        "ts": NOW_MS,
        "tx_packets": 1,
        "rx_packets": 1,
        "dropped_packets": 0,
    }
    accepted = [
        {"rx_power_dbm": [-40, 10, -3.25], "rx_power_low_warn_dbm": -40},
        {"tx_power_dbm": [0.5] * 8, "rx_power_high_alarm_dbm": 10.0},
        {"rx_pause_us": {"0": 0, "7": 2**64 - 1}, "carrier_up": False},
        {"effective_ber": 0, "symbol_errors": 0, "rx_bits": 2**64 - 1},
        {"effective_ber": 1.0, "carrier_up": True, "tx_pause_frames": {"3": 5}},
    ]
    refused = [
        {"rx_power_dbm": [-40.001]},
        {"rx_power_dbm": [10.5]},
        {"rx_power_dbm": [-3.0] * 9},
        {"rx_power_dbm": []},
        {"rx_power_low_alarm_dbm": -41},
        {"rx_pause_us": {"8": 1}},
        {"rx_pause_us": {}},
        {"rx_pause_us": {"3": -1}},
        {"fec_uncorrectable_codewords": -1},
        {"effective_ber": 1.5},
    ]
    for extra in accepted + refused + [{"carrier_up": 1}, {"rx_pause_us": {"03": 4}}]:
        raw = orjson.dumps({"events": [base | extra]})
        decoded = fast.decode(raw, SITE.encode(), NOW)
        assert_same(decoded, slow.decode(raw, SITE.encode(), NOW), LinkCounters)
        if extra in accepted:
            assert isinstance(decoded.events, EventColumns), extra
        if extra in refused:
            assert decoded.rejects and decoded.rejects[0].code == "invalid", extra
    # a dead letter's reason names the field, the lane or priority, and the bound
    reasons = [
        fast.decode(orjson.dumps({"events": [base | extra]}), SITE.encode(), NOW).rejects[0].reason
        for extra in refused[:2] + refused[5:6] + refused[8:9]
    ]
    assert reasons == [
        "events[0].rx_power_dbm.0: Input should be greater than or equal to -40 (got -40.001)",
        "events[0].rx_power_dbm.0: Input should be less than or equal to 10 (got 10.5)",
        "events[0].rx_pause_us.8: Input should be less than or equal to 7 (got '8')",
        "events[0].fec_uncorrectable_codewords: Input should be greater than or equal to 0 "
        "(got -1)",
    ]


def typed(columns: list[list[Any]] | None) -> list[list[tuple[type, Any]]]:
    """Columns with each value's type: 1 == 1.0 and "wan" == LinkClass.wan, yet a store
    column gets them differently."""
    return [[(type(v), v) for v in column] for column in columns or []]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_processor_gives_the_same_rows_and_alerts_from_columns(kind: type[BaseModel]) -> None:
    """The processor reads the fast path's columns directly: same rows (link deltas and
    losses included), same alerts, same site series as from the models' events."""
    spec = SiteSpec(site=SITE, cap_mw=0.05)  # low: cap alerts fire on the way
    runs = []
    for fast in (True, False):
        decoder = MessageDecoder(kind, fast=fast)
        processor = Processor(RuleConfig(), {SITE: spec}.get, lambda s: None)
        process = {RackPower: processor.rack_power, GpuSample: processor.gpu}.get(
            kind, processor.link
        )
        outcomes = []
        for offset, (key, value) in enumerate(gen_messages(kind, seed=21, n=300, odd=False)):
            decoded = decoder.decode(value, key, NOW)
            if decoded.events:
                out = process(decoded.events, 0, offset, NOW_MS, key.decode())
                outcomes.append((typed(out.columns), [a.model_dump() for a in out.alerts]))
        assert len(processor.monitors) == 1 + len(SHARD_KEYS)  # the site and its shards
        tick = processor.tick_sites(NOW_MS + 1000, [*processor.monitors, *processor.stages])
        runs.append((outcomes, typed(tick.columns), [a.model_dump() for a in tick.alerts]))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) > 200 and runs[0][1] and runs[0][1][0]  # rows and a site series


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_valid_messages_take_the_typed_path(kind: type[BaseModel]) -> None:
    """msgspec's stage is what makes the fast path fast: valid messages must pass it,
    not quietly fall through to orjson (the test above would not notice)."""
    fast = MessageDecoder(kind)
    columnar = fast._columnar
    assert columnar is not None
    taken = 0
    for key, value in gen_messages(kind, seed=7, n=300, odd=False):
        if not MessageDecoder(kind, fast=False).decode(value, key, NOW).rejects:
            taken += columnar.from_bytes(value) is not None
    assert taken >= 200


def test_parser_edges_decode_the_same() -> None:
    """Where JSON parsers differ: duplicate keys, escapes, big numbers, odd shapes."""
    fast, slow = decoders(GpuSample)
    event = f'"site":"dc-1","rack":"r","host":"h","gpu":"0","ts":{NOW_MS}'
    bodies = [
        '{"events":[{EVENT,"util_pct":1,"power_w":2,"util_pct":3}]}',
        '{"events":[{EVENT,"util_pct":1,"power_w":2,"model":"\\ud800"}]}',
        '{"events":[{EVENT,"util_pct":1,"power_w":2,"model":"\\u00e9\\ud83d\\ude00"}]}',
        '{"events":[{EVENT,"util_pct":1,"power_w":123456789012345678901234567890}]}',
        '{"events":[{EVENT,"util_pct":1,"power_w":1e400}]}',
        '{"events":[{EVENT,"util_pct":1.0e1,"power_w":2E2}]}',
        '{EVENT,"util_pct":1,"power_w":2,"events":[{"util_pct":true}]}',
        '{EVENT,"util_pct":1,"power_w":2,"events":"nope"}',
        '{EVENT,"util_pct":1,"power_w":2}',
        '{"events":[]}',
        '{"events":[{EVENT,"util_pct":1,"power_w":2}],"events":[]}',
        '[{EVENT,"util_pct":1,"power_w":2}]',
        '{"events":[{EVENT,"util_pct":1,"power_w":2}]} x',
        '{"events":[{EVENT,"util_pct":NaN,"power_w":2}]}',
    ]
    for body in bodies:
        raw = body.replace("EVENT", event).encode()
        assert_same(fast.decode(raw, b"dc-1", NOW), slow.decode(raw, b"dc-1", NOW), GpuSample)
