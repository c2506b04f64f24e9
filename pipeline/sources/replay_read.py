"""Reading recorded readings for ``--source replay``: JSONL, CSV or Parquet.

One reading per line or row, with the contract's field names. The event kind of a row
is, in this order: its ``kind`` field (``rack_power``, ``gpu`` or ``link``: one file may
mix kinds), else ``--kind`` for the whole file, else inferred from the fields (``link``
-> link, ``gpu`` -> gpu, ``rack`` and ``power_w`` -> rack_power). Empty cells are absent
fields.

CSV and Parquet are read with pandas. CSV cells are read as text and converted by the
contract's field types, so 64-bit counters stay exact (a float column would round them);
JSONL lines are parsed with orjson for the same reason. A value that does not convert is
kept as written, and the worker dead-letters that reading with the reason: replay sends
what was recorded, bad readings included. Lines that are not JSON and rows of no
recognisable kind cannot be routed: they are skipped, counted and logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.errors import SourceError
from pipeline.sources.base import KINDS

logger = logging.getLogger(__name__)

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
INT_FIELDS = frozenset({"tx_packets", "rx_packets", "dropped_packets", "error_packets"})
FLOAT_FIELDS = frozenset(
    {"power_w", "util_pct", "mem_used_pct", "temp_c", "power_limit_w", "cap_mw"}
)


@dataclass
class Recording:
    """Rows of a replay file, each a dict with ``kind`` and the event's fields."""

    rows: list[dict[str, Any]]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    first_skipped: dict[str, str] = field(default_factory=dict)  # reason -> where


def infer_kind(row: dict[str, Any]) -> str | None:
    if "link" in row:
        return "link"
    if "gpu" in row:
        return "gpu"
    if "rack" in row and "power_w" in row:
        return "rack_power"
    return None


def _convert(name: str, value: Any) -> Any:
    """A cell in its contract type where it converts; else as written."""
    if isinstance(value, str) and (name in INT_FIELDS or name in FLOAT_FIELDS or name == "ts"):
        text = value.strip()
        try:
            if name in FLOAT_FIELDS:
                return float(text)
            return int(text)
        except ValueError:
            return value  # ts as RFC 3339, or a bad number for the worker to reject
    if isinstance(value, float) and name in INT_FIELDS | {"ts"} and value.is_integer():
        return int(value)
    return value


def _present(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return False
    return not (isinstance(value, float) and math.isnan(value))


def clean_row(raw: dict[str, Any]) -> dict[str, Any]:
    """Absent fields dropped, numbers and timestamps in the contract's types."""
    row: dict[str, Any] = {}
    for name, value in raw.items():
        if not _present(value):
            continue
        if hasattr(value, "to_pydatetime"):  # a Parquet timestamp column
            value = value.to_pydatetime()
        if hasattr(value, "isoformat") and name == "ts":
            value = value.isoformat()
        elif hasattr(value, "item"):  # numpy scalar
            value = value.item()
        row[str(name)] = _convert(str(name), value)
    return row


def _read_jsonl(path: Path, skipped: dict[str, int], first: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                item = None
            if not isinstance(item, dict):
                skipped["not a JSON object"] = skipped.get("not a JSON object", 0) + 1
                first.setdefault("not a JSON object", f"line {number}")
                continue
            rows.append(clean_row(item))
    return rows


def _read_table(path: Path, fmt: str) -> list[dict[str, Any]]:
    import pandas as pd

    if fmt == "csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    else:
        frame = pd.read_parquet(path, dtype_backend="pyarrow")  # exact uint64, None for nulls
    return [clean_row(record) for record in frame.to_dict("records")]


def read_recording(path: Path, kind: str | None = None) -> Recording:
    """Rows of ``path`` with their kind resolved; :class:`SourceError` if unreadable."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceError(f"replay file {path}: unknown format; use {', '.join(FORMATS)}")
    if kind is not None and kind not in KINDS:
        raise SourceError(f"--kind {kind}: expected one of {', '.join(KINDS)}")
    skipped: dict[str, int] = {}
    first: dict[str, str] = {}
    try:
        rows = _read_jsonl(path, skipped, first) if fmt == "jsonl" else _read_table(path, fmt)
    except FileNotFoundError:
        raise SourceError(f"replay file {path}: no such file") from None
    except (OSError, ValueError, ImportError) as exc:  # pandas/pyarrow parse errors are ValueErrors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"replay file {path}: cannot read it as {fmt}: {reason}") from exc
    kept = []
    for index, row in enumerate(rows, 1):
        row_kind = row.pop("kind", None) or kind or infer_kind(row)
        if row_kind not in KINDS:
            reason = "no kind (add a kind column or --kind)"
            skipped[reason] = skipped.get(reason, 0) + 1
            first.setdefault(reason, f"reading {index}")
            continue
        row["kind"] = row_kind
        kept.append(row)
    for reason, count in skipped.items():
        logger.warning(
            "replay file %s: skipped %d rows: %s (first at %s)", path, count, reason, first[reason]
        )
    if not kept:
        raise SourceError(f"replay file {path}: no readings to replay")
    return Recording(kept, skipped, first)
