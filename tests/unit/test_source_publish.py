"""`megawatch publish`: batching per the contract; every line checked with the worker's
decoder, what it would dead-letter refused by line with its reason (issue 24 item 3)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from pipeline.cli.publish_cmd import messages
from pipeline.core.decode import Limits
from pipeline.errors import SourceError
from pipeline.kafka.topics import FACILITY, POWER_WAVE, RACK_POWER, WORK
from pipeline.sources.line_check import Checked, LineChecker


def test_telemetry_events_are_batched_and_batches_pass_as_they_are() -> None:
    values = [
        {"rack": "r1"},
        {"rack": "r2"},
        {"rack": "r3"},
        {"events": [{"rack": "r9"}]},
        {"rack": "r4"},
    ]
    out = messages("telemetry.rack_power", b"atl-2", values, batch_size=2)
    assert [orjson.loads(m.value) for m in out] == [
        {"events": [{"rack": "r1"}, {"rack": "r2"}]},
        {"events": [{"rack": "r3"}]},
        {"events": [{"rack": "r9"}]},
        {"events": [{"rack": "r4"}]},
    ]
    assert {(m.topic, m.key) for m in out} == {("telemetry.rack_power", b"atl-2")}


def test_other_topics_get_one_message_per_line() -> None:
    out = messages("control.sites", b"atl-2", [{"site": "atl-2", "cap_mw": 5}], batch_size=500)
    assert [orjson.loads(m.value) for m in out] == [{"site": "atl-2", "cap_mw": 5}]


NOW_MS = int(datetime.now(UTC).timestamp() * 1000)


def rack(power: object = 1000.0, site: str = "atl-2", **extra: object) -> dict[str, object]:
    event: dict[str, object] = {"site": site, "rack": "r1", "ts": NOW_MS, **extra}
    if power is not None:
        event["power_w"] = power
    return event


def lines(*values: object) -> list[tuple[int, str]]:
    return [
        (n, v if isinstance(v, str) else orjson.dumps(v).decode()) for n, v in enumerate(values, 1)
    ]


def check(topic: str, key: str, *values: object, send_invalid: bool = False) -> Checked:
    return LineChecker(topic, key, Limits()).check(lines(*values), send_invalid)


def test_lines_the_worker_would_dead_letter_are_refused_with_their_reason() -> None:
    """The worker's own decoder decides, so the reasons are the dead letters' reasons."""
    out = check(
        RACK_POWER,
        "atl-2",
        rack(),
        rack(power=None),
        rack(power=-5),
        '{"site": "atl-2",, "rack": "r1"}',
        rack(site="atl-3"),
        "[1, 2]",
    )
    assert out.values == [rack()] and out.events == 1
    assert str(out.refused[0]).startswith("line 2: power_w: Field required (got {'site'")
    assert [str(r) for r in out.refused[1:]] == [
        "line 3: power_w: Input should be greater than or equal to 0 (got -5)",
        "line 4, column 18: not JSON: unexpected character, expected a string key",
        "line 5: site 'atl-3' does not match the message key 'atl-2': key every message by "
        "its site id, or SITE/SHARD",
        'line 6: expected a JSON object: one event or {"events": [...]}',
    ]
    assert out.refused_events == 5


def test_a_batch_line_keeps_its_good_events() -> None:
    batch = {"events": [rack(), rack(power=-1), rack(power=2.0)]}
    out = check(RACK_POWER, "atl-2", batch)
    assert out.values == [{"events": [rack(), rack(power=2.0)]}] and out.events == 2
    assert [str(r) for r in out.refused] == [
        "line 1, events[1]: events[1].power_w: Input should be greater than or equal to 0 (got -1)"
    ]


def test_send_invalid_sends_refused_lines_as_written() -> None:
    out = check(RACK_POWER, "atl-2", rack(), rack(power=-5), "{oops", send_invalid=True)
    assert out.values == [rack(), orjson.dumps(rack(power=-5)), b"{oops"]
    assert len(out.refused) == 2 and out.events == 3


def test_site_slash_shard_keys_take_the_events_of_their_site() -> None:
    assert check(RACK_POWER, "atl-2/hall-1", rack()).refused == []
    [refusal] = check(RACK_POWER, "atl-3/hall-1", rack()).refused
    assert "does not match the message key 'atl-3'" in refusal.reason
    with pytest.raises(SourceError, match="--key 'atl-2/': expected a site id, or SITE/SHARD"):
        LineChecker(RACK_POWER, "atl-2/", Limits())


def test_power_waves_are_checked_too() -> None:
    wave = {"site": "atl-2", "rack": "r1", "ts": NOW_MS, "interval_ms": 50, "power_w": [9e4]}
    assert check(POWER_WAVE, "atl-2", wave).refused == []
    [refusal] = check(POWER_WAVE, "atl-2", {**wave, "power_w": [-1.0]}).refused
    assert refusal.reason == "power_w.0: Input should be greater than or equal to 0 (got -1.0)"


def test_facility_meters_and_work_counters_are_checked_too() -> None:
    meter = {"site": "atl-2", "meter": "m1", "meter_kind": "cooling", "ts": NOW_MS, "power_w": 9e5}
    assert check(FACILITY, "atl-2", meter).refused == []
    [refusal] = check(FACILITY, "atl-2", {**meter, "meter_kind": "lights"}).refused
    assert refusal.reason.startswith("meter_kind: Input should be 'utility', 'cooling'")
    work = {"site": "atl-2", "ts": NOW_MS, "counter": "generation_tokens", "total": 5.0}
    assert check(WORK, "atl-2/hall-1", {**work, "host": "h1"}).refused == []
    [refusal] = check(WORK, "atl-2", work).refused
    assert "host or job: a work counter belongs to at least one" in refusal.reason


def test_other_topics_need_one_json_object_a_line() -> None:
    out = check("control.sites", "atl-2", {"site": "atl-2", "cap_mw": 5}, "[1]")
    assert out.values == [{"site": "atl-2", "cap_mw": 5}]
    assert [str(r) for r in out.refused] == ["line 2: expected a JSON object"]


def test_a_line_sent_as_written_is_a_message_of_its_own() -> None:
    values = [{"rack": "r1"}, b"{oops", {"rack": "r2"}]
    out = messages(RACK_POWER, b"atl-2", values, batch_size=10)
    assert [m.value for m in out] == [
        b'{"events":[{"rack":"r1"}]}',
        b"{oops",
        b'{"events":[{"rack":"r2"}]}',
    ]
