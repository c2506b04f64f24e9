"""Replay files: three formats, kinds, exact counters, time shifting and pacing."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.decode import MessageDecoder
from pipeline.errors import SourceError
from pipeline.events import GpuSample, LinkCounters, RackPower
from pipeline.sources.base import TOPICS
from pipeline.sources.replay import ReplaySource, ts_to_ms
from pipeline.sources.replay_read import read_recording

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "replay-sample.jsonl"
MODELS = {TOPICS["rack_power"]: RackPower, TOPICS["gpu"]: GpuSample, TOPICS["link"]: LinkCounters}
T0 = 1_785_168_000_000
BIG = 2**64 - 5  # a counter a float would round

ROWS = [
    {"kind": "rack_power", "site": "s1", "rack": "r1", "ts": T0, "power_w": 41000.5},
    {
        "kind": "gpu",
        "site": "s1",
        "rack": "r1",
        "host": "h1",
        "gpu": "0",
        "ts": T0,
        "util_pct": 93.0,
        "power_w": 551.2,
        "vendor": "nvidia",
        "model": "NVIDIA H100 80GB HBM3",
    },
    {
        "kind": "link",
        "site": "s1",
        "link": "wan-s2",
        "link_class": "wan",
        "ts": T0 + 1000,
        "tx_packets": BIG,
        "rx_packets": BIG - 7,
        "dropped_packets": 7,
        "peer_site": "s2",
    },
    {"kind": "rack_power", "site": "s2", "rack": "r9", "ts": T0 + 2000, "power_w": 60000.0},
]


def write(path: Path, rows: list[dict]) -> Path:
    """Rows as a file, the way an exporter writes them: counters as exact integers."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if path.suffix == ".jsonl":
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    elif path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(rows)
    else:
        types = {name: pa.uint64() if name.endswith("_packets") else None for name in columns}
        arrays = [pa.array([r.get(c) for r in rows], type=types[c]) for c in columns]
        pq.write_table(pa.table(arrays, names=columns), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_all_formats_read_the_same_readings_exactly(tmp_path: Path, suffix: str):
    rows = read_recording(write(tmp_path / f"rec{suffix}", ROWS)).rows
    assert rows == ROWS
    assert isinstance(rows[2]["tx_packets"], int) and rows[2]["tx_packets"] == BIG


def test_kind_from_option_or_inferred_and_unroutable_rows_skipped(tmp_path: Path):
    no_kind = [{k: v for k, v in r.items() if k != "kind"} for r in ROWS]
    rows = read_recording(write(tmp_path / "a.jsonl", no_kind)).rows
    assert [r["kind"] for r in rows] == [r["kind"] for r in ROWS]
    forced = read_recording(write(tmp_path / "b.jsonl", no_kind[:1]), kind="rack_power").rows
    assert forced[0]["kind"] == "rack_power"
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps(ROWS[0]) + b"\nnot json\n" + orjson.dumps({"site": "s1"}) + b"\n")
    recording = read_recording(path)
    assert len(recording.rows) == 1
    assert recording.skipped == {"not a JSON object": 1, "no kind (add a kind column or --kind)": 1}
    assert recording.first_skipped["not a JSON object"] == "line 2"


def test_by_default_the_recording_ends_when_it_is_sent(tmp_path: Path):
    path = write(tmp_path / "r.jsonl", ROWS)
    now = T0 + 3_600_000
    fast = ReplaySource(path, speed=None, now_ms=now)
    assert (fast.first_ms, fast.last_ms) == (T0, T0 + 2000)
    ticks = list(fast.ticks())
    assert [t.due_s for t in ticks] == [0.0, 0.0, 0.0]
    sent = [e for t in ticks for m in t.messages for e in orjson.loads(m.value)["events"]]
    assert [e["ts"] for e in sent] == [now - 2000, now - 2000, now - 1000, now]
    assert all("kind" not in e for e in sent)
    real = ReplaySource(path, speed=1.0, now_ms=now)
    assert [t.due_s for t in real.ticks()] == [0.0, 1.0, 2.0]
    assert real.shift_ms == now + 2000 - (T0 + 2000)
    ten = ReplaySource(path, speed=10.0, now_ms=now)
    for tick in ten.ticks():
        for m in tick.messages:
            for e in orjson.loads(m.value)["events"]:
                assert e["ts"] <= now + tick.due_s * 1000  # never stamped after it is sent


def test_keep_time_keeps_recorded_times(tmp_path: Path):
    rows = [dict(ROWS[0], ts="2026-07-27T16:00:00.250Z"), dict(ROWS[3], ts=T0 + 500)]
    source = ReplaySource(write(tmp_path / "k.jsonl", rows), speed=None, keep_time=True)
    sent = [e for t in source.ticks() for m in t.messages for e in orjson.loads(m.value)["events"]]
    assert [e["ts"] for e in sent] == ["2026-07-27T16:00:00.250Z", T0 + 500]


def test_one_message_per_site_kind_and_tick_keyed_by_site(tmp_path: Path):
    source = ReplaySource(write(tmp_path / "m.jsonl", ROWS), speed=1.0, now_ms=T0)
    first = next(source.ticks())
    assert sorted((m.topic, m.key) for m in first.messages) == [
        ("telemetry.gpu", b"s1"),
        ("telemetry.rack_power", b"s1"),
    ]
    only = ReplaySource(write(tmp_path / "n.jsonl", ROWS), speed=None, sites=["s2"])
    assert [m.key for t in only.ticks() for m in t.messages] == [b"s2"]


def test_unreadable_timestamps_are_sent_unchanged_for_the_worker(tmp_path: Path):
    rows = [
        ROWS[0],
        dict(ROWS[0], rack="r2", ts="2026-07-27 16:00:00"),
        dict(ROWS[0], rack="r3", ts=True),
    ]
    source = ReplaySource(write(tmp_path / "u.jsonl", rows), speed=None, now_ms=T0 + 10)
    assert source.unreadable_ts == 2
    sent = [e for t in source.ticks() for m in t.messages for e in orjson.loads(m.value)["events"]]
    assert [e["ts"] for e in sent] == [T0 + 10, "2026-07-27 16:00:00", True]


def test_the_shipped_sample_replays_252_valid_readings_and_2_bad_ones():
    source = ReplaySource(SAMPLE, speed=None)
    now = datetime.now(UTC)
    valid, rejects = 0, 0
    for tick in source.ticks():
        for m in tick.messages:
            decoded = MessageDecoder(MODELS[m.topic]).decode(m.value, m.key, now)
            valid += len(decoded.events)
            rejects += len(decoded.rejects)
            assert m.key == b"lab-sfo-1"
    assert (valid, rejects) == (252, 2)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("x.txt", {}, "unknown format"),
        ("missing.jsonl", {}, "no such file"),
        ("ok.jsonl", {"speed": 0}, "--speed"),
        ("ok.jsonl", {"sites": ["zz"]}, "no readings of site zz"),
        ("bad.parquet", {}, "cannot read it as parquet"),
    ],
)
def test_replay_errors_are_one_line(tmp_path: Path, name: str, kwargs: dict, message: str):
    write(tmp_path / "ok.jsonl", ROWS)
    (tmp_path / "x.txt").write_text("hello")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(SourceError, match=message) as caught:
        ReplaySource(tmp_path / name, **kwargs)
    assert "\n" not in str(caught.value)


def test_ts_to_ms():
    assert ts_to_ms("2026-07-27T16:00:00Z") == T0
    assert ts_to_ms("2026-07-27T18:00:00.5+02:00") == T0 + 500
    assert ts_to_ms(T0) == T0
    assert ts_to_ms("2026-07-27T16:00:00") is None  # no offset: not guessed
    assert ts_to_ms("yesterday") is None


def test_parquet_timestamp_columns_become_rfc3339(tmp_path: Path):
    path = tmp_path / "t.parquet"
    stamp = pa.array([datetime.fromtimestamp(T0 / 1000, UTC)], type=pa.timestamp("ms", tz="UTC"))
    table = pa.table(
        [pa.array(["s1"]), pa.array(["r1"]), stamp, pa.array([5.0])],
        names=["site", "rack", "ts", "power_w"],
    )
    pq.write_table(table, path)
    (row,) = read_recording(path).rows
    assert row["kind"] == "rack_power" and ts_to_ms(row["ts"]) == T0
