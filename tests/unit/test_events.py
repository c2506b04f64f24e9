"""The wire contract: valid and invalid events, with the reason an operator sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline.core.decode import describe_validation_error
from pipeline.events import Alert, GpuSample, LinkCounters, RackPower, SiteSpec

NOW_MS = 1_795_701_727_250
RACK = {"site": "atl-2", "rack": "r12", "ts": NOW_MS, "power_w": 118_250.0}
GPU = {
    "site": "atl-2",
    "rack": "r12",
    "host": "n3",
    "gpu": "5",
    "ts": NOW_MS,
    "util_pct": 97.0,
    "power_w": 688.4,
}
LINK = {
    "site": "atl-2",
    "link": "atl-wis-1",
    "link_class": "wan",
    "ts": NOW_MS,
    "tx_packets": 10,
    "rx_packets": 9,
    "dropped_packets": 1,
}


def reason(model: type, data: dict) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe_validation_error(info.value)


def test_epoch_ms_and_rfc3339_are_the_same_instant() -> None:
    a = RackPower.model_validate(RACK)
    b = RackPower.model_validate({**RACK, "ts": "2026-11-26T14:02:07.250Z"})
    c = RackPower.model_validate({**RACK, "ts": "2026-11-26T15:02:07.250+01:00"})
    # held as epoch milliseconds, whichever form arrived
    assert a.ts == int(datetime(2026, 11, 26, 14, 2, 7, 250_000, tzinfo=UTC).timestamp() * 1000)
    assert a.ts == b.ts == c.ts
    assert RackPower.model_validate({**RACK, "ts": float(NOW_MS)}).ts == NOW_MS


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        (RackPower, {**RACK, "power_w": -1}, "power_w: Input should be greater than or equal to 0"),
        (
            RackPower,
            {**RACK, "power_w": 3e6},
            "power_w: Input should be less than or equal to 2000000",
        ),
        (RackPower, {**RACK, "power_w": "NaN"}, "power_w: Input should be a finite number"),
        (RackPower, {**RACK, "site": ""}, "site: String should match pattern"),
        (RackPower, {**RACK, "rack": "r 12"}, "rack: String should match pattern"),
        (RackPower, {**RACK, "rack": "x" * 65}, "rack: String should match pattern"),
        (RackPower, {**RACK, "ts": "2026-11-26T10:42:07"}, "ts: Input should have timezone info"),
        (RackPower, {**RACK, "ts": "yesterday"}, "ts: Input should be a valid datetime"),
        (RackPower, {k: v for k, v in RACK.items() if k != "power_w"}, "power_w: Field required"),
        (
            GpuSample,
            {**GPU, "util_pct": 101},
            "util_pct: Input should be less than or equal to 100",
        ),
        (
            GpuSample,
            {**GPU, "util_pct": -0.5},
            "util_pct: Input should be greater than or equal to 0",
        ),
        (
            GpuSample,
            {**GPU, "power_w": 9000},
            "power_w: Input should be less than or equal to 5000",
        ),
        (
            LinkCounters,
            {**LINK, "link_class": "lan"},
            "link_class: Input should be 'fabric' or 'wan'",
        ),
        (
            LinkCounters,
            {**LINK, "tx_packets": -3},
            "tx_packets: Input should be greater than or equal to 0",
        ),
        (
            LinkCounters,
            {**LINK, "dropped_packets": 2**64},
            "dropped_packets: Input should be less than or equal to",
        ),
        (SiteSpec, {"site": "a", "cap_mw": 0}, "cap_mw: Input should be greater than 0"),
        (
            SiteSpec,
            {"site": "a", "cap_mw": 5, "warn_ratio": 1.2},
            "warn_ratio: Input should be less than 1",
        ),
        (SiteSpec, {"site": "a", "cap_mw": 5, "capmw": 3}, "capmw: Extra inputs are not permitted"),
    ],
)
def test_invalid_events_name_the_field(model: type, data: dict, expected: str) -> None:
    assert reason(model, data).startswith(expected)


def test_reason_is_one_line_and_shows_a_short_input() -> None:
    text = reason(RackPower, {**RACK, "rack": "y" * 500})
    assert "\n" not in text
    assert len(text) < 200


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    event = GpuSample.model_validate({**GPU, "fan_rpm": 3000})
    assert not hasattr(event, "fan_rpm")


def test_optional_fields_and_ids() -> None:
    event = GpuSample.model_validate(
        {
            **GPU,
            "gpu": "GPU-3f9c2a1b-7d4e-8f60-aaaa-0123456789ab",
            "vendor": "amd",
            "model": "MI300X",
            "mem_used_pct": 50,
            "temp_c": 70,
        }
    )
    assert event.vendor == "amd" and event.temp_c == 70
    link = LinkCounters.model_validate({**LINK, "peer_site": "wis-1", "error_packets": 2})
    assert link.peer_site == "wis-1"


def test_alert_fingerprint_is_16_hex() -> None:
    base = {
        "fingerprint": "3f9c2a1b7d4e8f60",
        "rule": "cap_critical",
        "severity": "critical",
        "status": "firing",
        "site": "atl-2",
        "value": 5.1,
        "threshold": 5.0,
        "starts_at": "2026-11-26T10:00:00Z",
        "summary": "over cap",
    }
    assert Alert.model_validate(base).seq == 0
    assert "fingerprint" in reason(Alert, {**base, "fingerprint": "XYZ"})
    assert "severity" in reason(Alert, {**base, "severity": "page"})
