"""The workers' own wave records on Kafka: a shard's aligned block for its site stage
(``megawatch.waves``, keyed by site), and a site's load drop or series for its region
(``megawatch.regions``, keyed by region).

Compact JSON (orjson: floats round-trip exactly, so sums add up the same across
workers). A record carries its version; a decoder refuses another version and a
malformed record with :class:`WaveRecordError` (one line). Fields it does not know are
ignored, so two versions of the worker can share the topics during an upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from pipeline.core.wave.align import AlignedBlock
from pipeline.core.wave.drops import Drop

VERSION = 1


class WaveRecordError(ValueError):
    """A value on a wave topic that is not a record of this version."""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """A part's block: a shard's for its site (``part`` = the shard), or a site's for its
    region (``part`` = the site)."""

    site: str
    part: str
    block: AlignedBlock
    domains: tuple[str, ...]
    region: str | None = None  # set on a site's series for its region


def encode_block(record: BlockRecord) -> bytes:
    b = record.block
    doc: dict[str, Any] = {
        "v": VERSION,
        "kind": "block",
        "site": record.site,
        "part": record.part,
        "start": b.start_ms,
        "step": b.step_ms,
        "total": b.total_w.tolist(),
        "held_w": b.held_w.tolist(),
        "measured": b.measured.tolist(),
        "held": b.held.tolist(),
        "unknown": b.unknown.tolist(),
        "samples": b.samples,
        "late": b.late,
        "domains": list(record.domains),
    }
    if record.domains:
        doc["domain_w"] = b.domain_w.tolist()
        doc["domain_held_w"] = b.domain_held_w.tolist()
        doc["domain_unknown"] = b.domain_unknown.tolist()
        if b.domain_meters is not None:
            doc["domain_meters"] = b.domain_meters.tolist()
    if record.region is not None:
        doc["region"] = record.region
    return orjson.dumps(doc)


def encode_drop(drop: Drop) -> bytes:
    return orjson.dumps(
        {
            "v": VERSION,
            "kind": "drop",
            "site": drop.site,
            "region": drop.region,
            "at": drop.at_ms,
            "peak": drop.peak_ms,
            "before": drop.before_w,
            "after": drop.after_w,
        }
    )


def decode(raw: bytes | None) -> BlockRecord | Drop:
    """The record in ``raw``; :class:`WaveRecordError` saying why not."""
    if not raw:
        raise WaveRecordError("empty value")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WaveRecordError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise WaveRecordError(f"not a wave record of version {VERSION}")
    try:
        if doc["kind"] == "drop":
            return Drop(
                site=str(doc["site"]),
                at_ms=int(doc["at"]),
                peak_ms=int(doc["peak"]),
                before_w=float(doc["before"]),
                after_w=float(doc["after"]),
                region=None if doc.get("region") is None else str(doc["region"]),
            )
        if doc["kind"] == "block":
            return _block(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise WaveRecordError(f"malformed wave record: {type(exc).__name__}: {exc}") from None
    raise WaveRecordError(f"unknown kind {doc.get('kind')!r}")


def _block(doc: dict[str, Any]) -> BlockRecord:
    domains = tuple(str(name) for name in doc.get("domains", ()))
    total = np.asarray(doc["total"], dtype=np.float64)
    n, d = len(total), len(domains)
    block = AlignedBlock(
        start_ms=int(doc["start"]),
        step_ms=int(doc["step"]),
        total_w=total,
        held_w=_floats(doc["held_w"], n),
        measured=_ints(doc["measured"], n),
        held=_ints(doc["held"], n),
        unknown=_ints(doc["unknown"], n),
        domain_w=_matrix(doc.get("domain_w"), d, n, np.float64),
        domain_held_w=_matrix(doc.get("domain_held_w"), d, n, np.float64),
        domain_unknown=_matrix(doc.get("domain_unknown"), d, n, np.int64),
        samples=int(doc.get("samples", 0)),
        late=int(doc.get("late", 0)),
        domain_meters=None
        if doc.get("domain_meters") is None
        else np.asarray(doc["domain_meters"], dtype=np.int64),
    )
    region = doc.get("region")
    return BlockRecord(
        str(doc["site"]), str(doc["part"]), block, domains, None if region is None else str(region)
    )


def _floats(values: Sequence[float], n: int) -> Any:
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"{len(out)} values for {n} cells")
    return out


def _ints(values: Sequence[int], n: int) -> Any:
    out = np.asarray(values, dtype=np.int64)
    if out.shape != (n,):
        raise ValueError(f"{len(out)} values for {n} cells")
    return out


def _matrix(values: Any, rows: int, n: int, dtype: Any) -> Any:
    if rows == 0:
        return np.zeros((0, n), dtype=dtype)
    out = np.asarray(values, dtype=dtype)
    if out.shape != (rows, n):
        raise ValueError(f"domain rows {out.shape}, expected {(rows, n)}")
    return out
