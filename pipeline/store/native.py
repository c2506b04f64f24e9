"""ClickHouse's Native format for one insert block, for the column types of megawatch's
tables (``sql/migrations``).

clickhouse-connect serializes an insert column by column, partly in Python: a
dictionary loop per LowCardinality row, list comprehensions for every Nullable column,
a conversion pass for floats; in a worker draining millions of readings that ran at
~10 % of all samples, under the GIL the worker's main thread needs. This encoder skips
the per-row Python where the data allows it: a LowCardinality column holding one value
(a site's batch, an optional field left empty) costs one ``list.count``; a Nullable
column without None is packed as it is; numbers go to ``struct.pack`` in one call.
Where a lookup per row is unavoidable (a LowCardinality column of many values) it runs
the same one-lookup loop as clickhouse-connect.

A column may come in pieces (:class:`pipeline.store.columns.Chunked`: the worker's sink
holds each message's column lists as they came, rather than copying them into one list
per column on the event loop); each encoder writes its pieces one after another, so
the block is the one the joined column gives.

Its bytes are the bytes clickhouse-connect writes for the same block (the unit tests
compare them), LowCardinality included: the server parses what it parsed before, on
every supported version. For anything else - another type, a container that is not a
list or tuple, a value that does not fit its type (a datetime, None outside Nullable, an
integer out of range, a float in an integer column) - :func:`encode_block` returns None
and the caller inserts through clickhouse-connect, whose errors users then see.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, chain, repeat
from struct import Struct, pack
from struct import error as struct_error
from typing import Any

from pipeline.store.columns import Chunked

#: struct codes of the fixed-width types ('<': little-endian, standard sizes, as the wire)
_NUMBER_CODES = {
    "UInt8": "B",
    "UInt16": "H",
    "UInt32": "I",
    "UInt64": "Q",
    "Int8": "b",
    "Int16": "h",
    "Int32": "i",
    "Int64": "q",
    "Float32": "f",
    "Float64": "d",
}
# DateTime64 given as integer ticks (epoch ms for precision 3) is an Int64 on the wire.
_DATETIME64 = re.compile(r"^DateTime64\(\d+(?:, '[^']*')?\)$")
_NULLABLE = re.compile(r"^Nullable\((.+)\)$")
# Arrays and maps of numbers (the link-health columns: power per lane, counters per
# priority): an Array is its offsets (UInt64, cumulative) then its values as one
# column; a Map is an Array of (key, value) tuples: offsets, then keys, then values.
_ARRAY = re.compile(r"^Array\((\w+)\)$")
_MAP = re.compile(r"^Map\((\w+), (\w+)\)$")

# LowCardinality: serialization version 1 (shared dictionaries with additional keys),
# then per block the index width (0-3: UInt8..UInt64) with the flags "has additional
# keys" (bit 9) and "needs a dictionary update" (bit 10), as clickhouse-connect sends.
_LC_PREFIX = (1).to_bytes(8, "little")
_LC_FLAGS = (1 << 9) | (1 << 10)
_LC_INDEX_CODES = "BHIQ"
_U64 = Struct("<Q")
_U64X2 = Struct("<QQ")

# The LEB128 length of every string up to 16 KiB, looked up from C (map) per value.
_SHORT_LEN = 1 << 14

#: a column's values in pieces, in order (one piece: the whole column) -> its Native bytes
Encoder = Callable[[Sequence[Sequence[Any]]], bytes]


def leb128(value: int) -> bytes:
    """An unsigned integer as LEB128 (Native's lengths and counts)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(0x80 | low)


_LENGTHS = [leb128(n) for n in range(_SHORT_LEN)]
_ASCII = [chr(n) for n in range(128)]


def encode_block(
    column_names: Sequence[str], type_names: Sequence[str], columns: Sequence[Sequence[Any]]
) -> bytes | None:
    """One Native block (no compression, no block info) holding ``columns`` under
    ``column_names`` with the ClickHouse types ``type_names``; None when a type, a
    container or a value is not one this encoder handles. A column that is a
    :class:`~pipeline.store.columns.Chunked` is encoded piece by piece, never joined."""
    if not len(column_names) == len(type_names) == len(columns):
        return None
    pieces = [_pieces(values) for values in columns]
    rows = sum(map(len, pieces[0])) if pieces else 0
    if not rows:
        # clickhouse-connect sends nothing for an empty insert, and ClickHouse reads no
        # column prefix in an empty block: leave that case to the caller's own path.
        return None
    encoders = [encoder_for(name) for name in type_names]
    parts = [leb128(len(columns)), leb128(rows)]
    for name, type_name, encode, chunks in zip(
        column_names, type_names, encoders, pieces, strict=True
    ):
        if encode is None or not _well_formed(chunks, rows):
            return None
        try:
            data = encode(chunks)
        except (TypeError, ValueError, OverflowError, AttributeError, struct_error):
            return None  # a value that does not fit: clickhouse-connect says which
        if type_name.startswith("LowCardinality("):
            data = _LC_PREFIX + data
        parts += (_string(name), _string(type_name), data)
    return b"".join(parts)


def _pieces(values: Sequence[Any]) -> Sequence[Sequence[Any]]:
    """A column as its pieces, without the empty ones (an encoder reads each piece's
    first and last value)."""
    if isinstance(values, Chunked):
        return [chunk for chunk in values.chunks if len(chunk)]
    return [values]


def _well_formed(chunks: Sequence[Sequence[Any]], rows: int) -> bool:
    """Lists or tuples only (their length is their row count; a str or range is not a
    column), ``rows`` values in all."""
    return all(type(chunk) in (list, tuple) for chunk in chunks) and sum(map(len, chunks)) == rows


def encoder_for(type_name: str) -> Encoder | None:
    """The encoder of a column of ``type_name``, or None for a type not handled here."""
    if type_name == "String":
        return _strings
    if type_name == "LowCardinality(String)":
        return _low_cardinality_strings
    if container := _ARRAY.match(type_name) or _MAP.match(type_name):
        names = container.groups()
        codes = [code for name in names if (code := _NUMBER_CODES.get(name))]
        if len(codes) != len(names):
            return None
        return _arrays(codes[0]) if len(codes) == 1 else _maps(codes[0], codes[1])
    nullable = _NULLABLE.match(type_name)
    code = _number_code(nullable.group(1) if nullable else type_name)
    if code is None:
        return None
    return _nullable_numbers(code) if nullable else _numbers(code)


def _number_code(type_name: str) -> str | None:
    if _DATETIME64.match(type_name):
        return "q"
    return _NUMBER_CODES.get(type_name)


def _numbers(code: str) -> Encoder:
    def encode(chunks: Sequence[Sequence[Any]]) -> bytes:
        # struct, not array: it refuses a float beyond Float32 (array rounds it to inf)
        # and packs from the argument tuple faster; clickhouse-connect packs the same.
        # One pack per piece: a list unpacks into the arguments by copying its pointers.
        return b"".join([pack(f"<{len(values)}{code}", *values) for values in chunks])

    return encode


def _nullable_numbers(code: str) -> Encoder:
    encode_values = _numbers(code)

    def encode(chunks: Sequence[Sequence[Any]]) -> bytes:
        try:  # most columns hold no None: do not look for one first
            return bytes(sum(map(len, chunks))) + encode_values(chunks)
        except struct_error:
            if not any(None in values for values in chunks):
                raise  # not a None: a value that does not fit
        values = list(chain.from_iterable(chunks))
        nulls = bytes(map(operator.is_, values, repeat(None)))
        return nulls + encode_values([[0 if v is None else v for v in values]])

    return encode


def _offsets(values: Sequence[Any]) -> bytes:
    """The cumulative lengths of an Array or Map column (a value without one raises)."""
    return pack(f"<{len(values)}Q", *accumulate(map(len, values)))


def _arrays(code: str) -> Encoder:
    encode_values = _numbers(code)

    def encode(chunks: Sequence[Sequence[Any]]) -> bytes:
        values = list(chain.from_iterable(chunks))  # link rows: few, joined once
        if not all(map(operator.is_, map(type, values), repeat(list))):
            raise TypeError("not a list")  # a tuple or str has a length too
        return _offsets(values) + encode_values([list(chain.from_iterable(values))])

    return encode


def _maps(key_code: str, value_code: str) -> Encoder:
    encode_keys, encode_values = _numbers(key_code), _numbers(value_code)

    def encode(chunks: Sequence[Sequence[Any]]) -> bytes:
        values = list(chain.from_iterable(chunks))
        if not all(map(operator.is_, map(type, values), repeat(dict))):
            raise TypeError("not a dict")
        keys = list(chain.from_iterable(values))
        counts = list(chain.from_iterable(map(dict.values, values)))
        return _offsets(values) + encode_keys([keys]) + encode_values([counts])

    return encode


def _strings(chunks: Sequence[Sequence[Any]]) -> bytes:
    """Each value as its UTF-8 length (LEB128) and bytes; non-str values raise."""
    return b"".join([_string_values(values) for values in chunks])


def _string_values(values: Sequence[Any]) -> bytes:
    parts: list[Any] = [b""] * (2 * len(values))
    try:
        # ASCII strings shorter than 128 (ids, most names): the length byte is the ASCII
        # character of that code, so the column is one str join and one encode, with no
        # bytes object per value.
        parts[::2] = map(_ASCII.__getitem__, map(len, values))
        parts[1::2] = values
        text = "".join(parts)
        if text.isascii():
            return text.encode("ascii")
    except IndexError:  # a string of 128 characters or more
        pass
    encoded = list(map(str.encode, values))
    try:
        parts[::2] = map(_LENGTHS.__getitem__, map(len, encoded))
    except IndexError:  # a string over 16 KiB: its length the long way
        parts[::2] = [leb128(len(raw)) for raw in encoded]
    parts[1::2] = encoded
    return b"".join(parts)


def _low_cardinality_strings(chunks: Sequence[Sequence[Any]]) -> bytes:
    """The dictionary (distinct values in first-seen order) and one index per row."""
    first = chunks[0][0]
    rows = sum(map(len, chunks))
    if all(values[-1] == first and values.count(first) == len(values) for values in chunks):
        # One value (a site's batch, an optional field left empty): no lookups at all.
        # count() compares by identity first, and `[site] * n` holds one object.
        keys: list[Any] = [first]
        indexes: list[int] | bytes = bytes(rows)
    else:
        keys, indexes = _dictionary(chain.from_iterable(chunks))
    width = (len(keys).bit_length() - 1) >> 3
    if not isinstance(indexes, bytes):
        indexes = pack(f"<{len(indexes)}{_LC_INDEX_CODES[width]}", *indexes)
    return b"".join(
        (
            _U64X2.pack(_LC_FLAGS | width, len(keys)),
            _string_values(keys),
            _U64.pack(rows),
            indexes,
        )
    )


def _dictionary(values: Iterable[Any]) -> tuple[list[Any], list[int]]:
    """Distinct values in first-seen order and each row's position among them.

    A plain loop, one dictionary lookup a row: the lookup (hash compare, then the
    bytes of two equal strings) is the cost, and every C-level spelling measured
    (dict.fromkeys then map, setdefault over count()) needs two passes and was slower."""
    positions: dict[Any, int] = {}
    find = positions.get
    indexes: list[int] = []
    add = indexes.append
    for value in values:
        at = find(value)
        if at is None:
            at = positions[value] = len(positions)
        add(at)
    return list(positions), indexes


def _string(text: str) -> bytes:
    raw = text.encode()
    return leb128(len(raw)) + raw


def insert_native(
    client: Any, table: str, column_names: Sequence[str], block: bytes, settings: dict[str, Any]
) -> None:
    """Send a Native block built by :func:`pipeline.store.native.encode_block` the way
    ``Client.insert`` sends its own: the table quoted as it quotes it, compressed as
    the client compresses inserts (none on the store server's loopback)."""
    from clickhouse_connect.driver.binding import quote_identifier

    compression = client.write_compression
    client.raw_insert(
        table if "." in table else quote_identifier(table),
        column_names=list(column_names),
        insert_block=compressed(block, compression),
        settings=settings,
        fmt="Native",
        compression=compression,
    )


def compressed(block: bytes, compression: str | None) -> bytes:
    """``block`` compressed with the client's insert compression (lz4, zstd, gzip...),
    by clickhouse-connect's own compressors; as it is when there is none."""
    if not compression:
        return block
    from clickhouse_connect.driver.compression import get_compressor

    compressor = get_compressor(compression)
    head = bytes(compressor.compress_block(block))
    tail = compressor.flush()  # type: ignore[no-untyped-call]  # untyped in the library
    return head + (tail or b"")
