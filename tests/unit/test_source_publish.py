"""`megawatch publish`: batching per the contract, one-line errors naming the line."""

from __future__ import annotations

import orjson
import pytest

from pipeline.cli.publish_cmd import messages, parse_line
from pipeline.errors import SourceError


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


@pytest.mark.parametrize(
    ("line", "reason"), [("{oops", "not JSON"), ("[1, 2]", "expected a JSON object")]
)
def test_bad_lines_name_their_number(line: str, reason: str) -> None:
    with pytest.raises(SourceError, match=f"^stdin line 7: {reason}") as info:
        parse_line(7, line)
    assert "\n" not in str(info.value)
