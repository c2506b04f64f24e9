"""A shard's *partial*: what the site stage needs of one shard to evaluate its site.

The owner of a shard (one ``SITE/SHARD`` key, or a plain ``SITE`` key) keeps its racks'
power; the site stage (:mod:`pipeline.core.site_stage`) owns the site's and its power
domains' rules. Between them goes a :class:`Partial`: the shard's power as sums, not
racks: reported and estimated watts and rack counts (fresh, held, unknown) for all its
racks, and, on the periodic tick, per power-domain leaf it covers (``""``: racks of no
leaf). Rack-to-leaf mapping stays with the racks; the site stage adds leaves of every
shard by name, so a domain may span shards (a feed over several halls), and evaluates
every domain cap from those sums.

Partials are idempotent: each carries the epoch of its owner (when that owner took the
shard on, ms) and a sequence number within the epoch; the site stage keeps the newest
per shard, so a replayed or older partial changes nothing and a new owner's partials
supersede the old owner's.

Later additive per-shard figures (a waveform block of ``telemetry.power_wave``, whose
sums add up across shards) are further fields of this object; the codec ignores fields it
does not know, so workers of two versions can share a partials topic during an upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.core.power import Sums

#: The version of the encoding (a decoder refuses another).
VERSION = 1
#: A shard whose site stage is on another worker sends at most one partial per this many
#: ms after messages, plus one per tick (MEGAWATCH_PARTIAL_INTERVAL_MS; docs/scaling.md
#: has what it costs in alert latency and messages).
PARTIAL_INTERVAL_MS = 50


@dataclass(frozen=True, slots=True)
class Partial:
    """One shard's power at ``at_ms`` (the owner's wall clock), as sums."""

    site: str
    shard: str  # "" for a plain SITE key
    epoch: int  # when this owner took the shard on (ms): a new owner's partials win
    seq: int  # within the epoch
    at_ms: int
    warming: bool  # the owner is still warming up: its sums may miss racks
    newest_ms: int | None  # the newest event time among its racks
    total: Sums  # all its racks
    leaves: tuple[tuple[str, Sums], ...] | None = None  # per leaf; None: totals only
    stale: tuple[str, ...] = ()  # a few silent racks by name, for the live view

    @property
    def order(self) -> tuple[int, int]:
        return (self.epoch, self.seq)

    @property
    def racks(self) -> int:
        return self.total[2] + self.total[3] + self.total[4]


def encode(partial: Partial) -> bytes:
    """The partial as a compact JSON object (the value on the partials topic)."""
    doc: dict[str, Any] = {
        "v": VERSION,
        "site": partial.site,
        "shard": partial.shard,
        "epoch": partial.epoch,
        "seq": partial.seq,
        "at": partial.at_ms,
        "warming": partial.warming,
        "newest": partial.newest_ms,
        "total": partial.total,
    }
    if partial.leaves is not None:
        doc["leaves"] = dict(partial.leaves)
    if partial.stale:
        doc["stale"] = partial.stale
    return orjson.dumps(doc)


class PartialError(ValueError):
    """A value on the partials topic that is not a partial of this version."""


def decode(raw: bytes | None) -> Partial:
    """The partial in ``raw``; :class:`PartialError` with one line saying why not."""
    if not raw:
        raise PartialError("empty value")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PartialError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or int(doc.get("v", 0)) != VERSION:
        raise PartialError(f"not a partial of version {VERSION}")
    try:
        leaves = doc.get("leaves")
        return Partial(
            site=str(doc["site"]),
            shard=str(doc["shard"]),
            epoch=int(doc["epoch"]),
            seq=int(doc["seq"]),
            at_ms=int(doc["at"]),
            warming=bool(doc["warming"]),
            newest_ms=None if doc.get("newest") is None else int(doc["newest"]),
            total=_sums(doc["total"]),
            leaves=None if leaves is None else _leaves(leaves),
            stale=tuple(str(name) for name in doc.get("stale", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PartialError(f"malformed partial: {type(exc).__name__}: {exc}") from None


def _sums(value: Any) -> Sums:
    reported, estimated, fresh, held, unknown, since = value
    return (float(reported), float(estimated), int(fresh), int(held), int(unknown), int(since))


def _leaves(value: Mapping[str, Any]) -> tuple[tuple[str, Sums], ...]:
    return tuple((str(name), _sums(sums)) for name, sums in value.items())


def is_empty(sums: Sums) -> bool:
    """No rack behind these sums (a leaf this shard has no rack of)."""
    return sums[2] + sums[3] + sums[4] == 0


__all__ = [
    "PARTIAL_INTERVAL_MS",
    "VERSION",
    "Partial",
    "PartialError",
    "decode",
    "encode",
    "is_empty",
]
