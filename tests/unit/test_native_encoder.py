"""The Native encoder against clickhouse-connect's own serialization: for every column
type of megawatch's tables, at the boundaries of each, its bytes are the bytes
clickhouse-connect's insert writes for the same block, and they read back as the same
values with clickhouse-connect's Native reader. Values it does not handle give None."""

from __future__ import annotations

import random
from array import array
from datetime import UTC, datetime
from typing import Any

import pytest
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.ctypes import RespBuffCls
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.query import QueryContext
from clickhouse_connect.driver.transform import NativeTransform

from pipeline.store.columns import SMALL_PIECE, Chunked
from pipeline.store.native import compressed, encode_block, encoder_for, leb128

_FORMAT_LINE = b"FORMAT Native\n"


def reference_block(names: list[str], types: list[str], columns: list[list[Any]]) -> bytes:
    """clickhouse-connect's insert body for the block, less its INSERT line (one block:
    block_size above the row count, as the encoder writes one)."""
    context = InsertContext(
        "t",
        names,
        [get_from_name(t) for t in types],
        columns,
        column_oriented=True,
        block_size=len(columns[0]) + 1,
    )
    body = b"".join(NativeTransform.build_insert(context))
    assert context.insert_exception is None
    return body[body.index(_FORMAT_LINE) + len(_FORMAT_LINE) :]


def decoded(block: bytes) -> list[list[Any]]:
    """The block read back by clickhouse-connect's Native reader, as columns."""

    class Source:
        def __init__(self, data: bytes) -> None:
            self.gen = iter([data])

        def close(self, _: Any = None) -> None:
            pass

    result = NativeTransform.parse_response(RespBuffCls(Source(block)), QueryContext(use_none=True))
    return [list(column) for column in result.result_columns]


UINT_MAX = {"UInt8": 2**8 - 1, "UInt16": 2**16 - 1, "UInt32": 2**32 - 1, "UInt64": 2**64 - 1}
INT_BOUNDS = {f"Int{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64)}
LONG = "ü" * 100 + "x"  # 201 bytes: a two-byte length
UNICODE = ["", "a", "hx-3", "湖南-1", "🔥 rack", LONG, "é" * 9000]  # 18,000 bytes: > 16 KiB


def columns_of_every_type(rows: int, seed: int) -> tuple[list[str], list[str], list[list[Any]]]:
    rnd = random.Random(seed)
    spec: list[tuple[str, list[Any]]] = []
    for name, top in UINT_MAX.items():
        spec.append((name, [rnd.choice([0, 1, top, rnd.randint(0, top)]) for _ in range(rows)]))
    for name, (low, high) in INT_BOUNDS.items():
        spec.append((name, [rnd.choice([0, -1, low, high]) for _ in range(rows)]))
    spec += [
        ("Float32", [rnd.choice([0.0, -0.5, 412.25, 3.4e38, 1e-30, 7]) for _ in range(rows)]),
        ("Float64", [rnd.choice([0.0, -1.5, 1e308, 5e-324, 12]) for _ in range(rows)]),
        ("DateTime64(3, 'UTC')", [rnd.choice([0, 1_764_400_000_123, -1]) for _ in range(rows)]),
        ("String", [rnd.choice(UNICODE) for _ in range(rows)]),
        ("LowCardinality(String)", [rnd.choice(UNICODE[:6]) for _ in range(rows)]),
        ("Nullable(Float32)", [rnd.choice([None, 1.5, 0.0, 3]) for _ in range(rows)]),
        ("Nullable(Float64)", [rnd.choice([None, -2.25, 0]) for _ in range(rows)]),
        ("Nullable(UInt64)", [rnd.choice([None, 0, 2**64 - 1]) for _ in range(rows)]),
        (
            "Nullable(DateTime64(3, 'UTC'))",
            [rnd.choice([None, 1_764_400_000_123]) for _ in range(rows)],
        ),
        ("Nullable(Float64)", [None] * rows),
        ("Nullable(UInt16)", [7] * rows),
        # the link-health columns: power per lane, counters per priority
        (
            "Array(Float32)",
            [rnd.choice([[], [-3.5], [-40.0, 10.0, 0.25], [1.5] * 8]) for _ in range(rows)],
        ),
        (
            "Map(UInt8, UInt64)",
            [rnd.choice([{}, {3: 2**64 - 1}, {0: 0, 7: 12, 3: 5}]) for _ in range(rows)],
        ),
    ]
    names = [f"c{i}" for i in range(len(spec))]
    return names, [t for t, _ in spec], [values for _, values in spec]


@pytest.mark.parametrize(("rows", "seed"), [(1, 1), (3, 2), (257, 3), (2000, 4)])
def test_bytes_equal_clickhouse_connects_for_every_type(rows: int, seed: int) -> None:
    names, types, columns = columns_of_every_type(rows, seed)
    block = encode_block(names, types, columns)
    assert block is not None
    assert block == reference_block(names, types, columns)


def test_values_read_back_with_clickhouse_connects_reader() -> None:
    names, types, columns = columns_of_every_type(300, 5)
    block = encode_block(names, types, columns)
    assert block is not None
    back = decoded(block)
    for type_name, sent, got in zip(types, columns, back, strict=True):
        if type_name == "Array(Float32)":
            sent = [[float(_f32(x)) for x in v] for v in sent]
        elif "Float32" in type_name:
            sent = [None if v is None else float(_f32(v)) for v in sent]
        if "DateTime64" in type_name:
            got = [None if v is None else _epoch_ms(v) for v in got]
        assert got == sent, type_name


def in_pieces(values: list[Any], rnd: random.Random) -> Chunked:
    """``values`` cut at random places into pieces (empty ones and ones below
    SMALL_PIECE, which the column copies together, included), as the sink gathers them."""
    column = Chunked()
    start = 0
    while start < len(values):
        size = rnd.choice([0, 1, 5, SMALL_PIECE, 2 * SMALL_PIECE + 3, 400])
        column.add(values[start : start + size])
        start += size
    return column


@pytest.mark.parametrize(("rows", "seed"), [(1, 7), (70, 8), (2000, 9)])
def test_a_column_in_pieces_is_the_block_of_the_joined_column(rows: int, seed: int) -> None:
    names, types, columns = columns_of_every_type(rows, seed)
    rnd = random.Random(seed)
    pieces = [in_pieces(values, rnd) for values in columns]
    assert [list(column) for column in pieces] == columns
    assert any(len(column.chunks) > 1 for column in pieces) or rows < SMALL_PIECE
    block = encode_block(names, types, pieces)
    assert block is not None
    assert block == reference_block(names, types, columns)


def test_a_column_in_pieces_is_read_as_one_sequence() -> None:
    column = Chunked()
    for piece in ([1, 2], [], [3], list(range(10, 110)), [4]):
        column.add(piece)
    joined = [1, 2, 3, *range(10, 110), 4]
    assert len(column) == len(joined) and list(column) == joined
    assert [column[i] for i in range(-len(joined), len(joined))] == joined * 2
    assert column[5:9] == joined[5:9]
    assert column.chunks[0] == [1, 2, 3]  # the small pieces copied into one list
    with pytest.raises(IndexError):
        column[len(joined)]


def test_a_piece_that_is_not_a_list_is_kept_as_one() -> None:
    """What the sink's copy into one list did for any sequence (an array's values, a
    range), the column does for a piece that is neither a list nor a tuple."""
    column = Chunked()
    column.add(range(100))
    column.add(array("d", [0.5] * 100))
    assert [type(piece) for piece in column.chunks] == [list, list]
    block = encode_block(["a"], ["Float64"], [column])
    assert block == reference_block(["a"], ["Float64"], [[*map(float, range(100)), *[0.5] * 100]])


def test_pieces_that_do_not_fit_fall_back() -> None:
    ragged = Chunked([[1, 2], [3]])
    assert encode_block(["a", "b"], ["UInt8", "UInt8"], [ragged, [1, 2]]) is None
    assert encode_block(["a"], ["UInt8"], [Chunked([[1], range(3)])]) is None
    assert encode_block(["a"], ["UInt8"], [Chunked([[1], [256]])]) is None
    assert encode_block(["a"], ["UInt8"], [Chunked([[], []])]) is None  # no rows


def _f32(value: float) -> float:
    from array import array

    return array("f", [value])[0]


def _epoch_ms(value: datetime) -> int:
    return round(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000)


@pytest.mark.parametrize("keys", [255, 256, 65_536])
def test_low_cardinality_index_width_follows_the_dictionary_size(keys: int) -> None:
    values = [f"k{i}" for i in range(keys)] + ["k0"]
    block = encode_block(["s"], ["LowCardinality(String)"], [values])
    assert block == reference_block(["s"], ["LowCardinality(String)"], [values])


def test_lengths_are_leb128() -> None:
    assert [leb128(n) for n in (0, 127, 128, 300, 16384)] == [
        b"\x00",
        b"\x7f",
        b"\x80\x01",
        b"\xac\x02",
        b"\x80\x80\x01",
    ]


@pytest.mark.parametrize(
    ("type_name", "values"),
    [
        ("DateTime64(3, 'UTC')", [datetime(2026, 11, 20, tzinfo=UTC)]),  # datetimes: fallback
        ("UInt8", [256]),  # does not fit
        ("UInt64", [-1]),
        ("Int8", [128]),
        ("UInt16", [1.5]),  # clickhouse-connect truncates floats in integer columns
        ("Float32", [1e39]),  # beyond Float32: clickhouse-connect refuses it
        ("Float64", [None]),  # None outside Nullable
        ("String", [None]),
        ("String", [b"raw bytes"]),
        ("LowCardinality(String)", ["a", 3]),
        ("LowCardinality(String)", [["unhashable"]]),
        ("Nullable(UInt8)", [None, 300]),
        ("Array(String)", [["a"]]),  # a type it does not handle
        ("Array(Float32)", [None]),  # an Array is never null
        ("Array(Float32)", [(1.0,)]),  # a tuple: clickhouse-connect's own path decides
        ("Array(UInt8)", [[300]]),
        ("Map(UInt8, UInt64)", [{8: -1}]),
        ("Map(UInt8, UInt64)", [[(1, 2)]]),
        ("Map(String, UInt64)", [{"a": 1}]),
        ("LowCardinality(Nullable(String))", ["a"]),
        ("Decimal(10, 2)", [1]),
    ],
)
def test_what_it_does_not_handle_falls_back(type_name: str, values: list[Any]) -> None:
    assert encode_block(["c"], [type_name], [values]) is None


def test_empty_batch_and_foreign_containers_fall_back() -> None:
    assert encode_block(["a"], ["UInt8"], [[]]) is None  # clickhouse-connect skips it
    assert encode_block([], [], []) is None
    assert encode_block(["a"], ["UInt8"], [range(3)]) is None
    assert encode_block(["a", "b"], ["UInt8", "UInt8"], [[1], [1, 2]]) is None  # ragged
    assert encode_block(["a"], ["UInt8", "UInt8"], [[1]]) is None


def test_encoders_exist_for_every_type_of_the_raw_tables() -> None:
    for type_name in (
        "String",
        "LowCardinality(String)",
        "Float32",
        "Float64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Int32",
        "DateTime64(3, 'UTC')",
        "Nullable(Float32)",
        "Nullable(Float64)",
        "Nullable(UInt64)",
        "Nullable(DateTime64(3, 'UTC'))",
        "Array(Float32)",
        "Map(UInt8, UInt64)",
    ):
        assert encoder_for(type_name) is not None, type_name


@pytest.mark.parametrize("compression", ["gzip", "lz4", "zstd"])
def test_a_compressed_block_decompresses_to_the_block(compression: str) -> None:
    from clickhouse_connect.driver._backend.httpcommon import decompress_response
    from clickhouse_connect.driver.compression import available_compression

    if compression not in available_compression:
        pytest.skip(f"{compression} is not installed")
    names, types, columns = columns_of_every_type(500, 6)
    block = encode_block(names, types, columns)
    assert block is not None
    body = compressed(block, compression)
    assert body != block
    if compression == "lz4":
        import lz4.frame

        assert lz4.frame.decompress(body) == block
    else:
        assert decompress_response(body, compression) == block
    assert compressed(block, None) is block
