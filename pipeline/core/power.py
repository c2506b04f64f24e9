"""Latest power per rack -> site total, staleness and headroom.

Readings arrive at least once and possibly out of order, so a rack's live value only
moves forward in event time: an older or duplicate reading never replaces a newer one.
Freshness is judged against the wall clock (``now_ms``), not the stream: a rack whose
newest reading is older than the site's staleness window no longer counts toward the
total, and is named as stale.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

#: Stale racks named in a snapshot; the count is always exact.
MAX_STALE_NAMED = 20


@dataclass(frozen=True, slots=True)
class PowerSnapshot:
    """The site's power as seen at ``at_ms``."""

    at_ms: int
    total_w: float
    racks: int
    stale_racks: int
    stale_names: tuple[str, ...]
    newest_ms: int | None


class SitePower:
    """Latest reading per rack of one site (soft state, rebuilt from the stream)."""

    __slots__ = ("_latest", "site")

    def __init__(self, site: str) -> None:
        self.site = site
        # rack -> (ts_ms, power_w); a tuple per rack keeps memory well under 1 KiB/rack.
        self._latest: dict[str, tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._latest)

    def update(self, rack: str, ts_ms: int, power_w: float) -> bool:
        """Apply one reading; False when it is older than (or as old as) what we hold."""
        current = self._latest.get(rack)
        if current is not None and ts_ms <= current[0]:
            return False
        self._latest[rack] = (ts_ms, power_w)
        return True

    def update_many(
        self, racks: Iterable[str], ts_ms: Iterable[int], power_w: Iterable[float]
    ) -> int:
        """Apply a column batch; returns how many readings moved live state forward."""
        latest = self._latest
        applied = 0
        for rack, ts, watts in zip(racks, ts_ms, power_w, strict=True):
            current = latest.get(rack)
            if current is None:
                # One copy of the id for the rack's power, GPU and link state.
                latest[sys.intern(rack)] = (ts, watts)
                applied += 1
            elif ts > current[0]:
                latest[rack] = (ts, watts)
                applied += 1
        return applied

    def snapshot(self, now_ms: int, stale_after_ms: int) -> PowerSnapshot:
        """Total over fresh racks; racks older than ``stale_after_ms`` are stale."""
        oldest_fresh = now_ms - stale_after_ms
        total = 0.0
        stale: list[str] = []
        stale_count = 0
        newest: int | None = None
        for rack, (ts, watts) in self._latest.items():
            if newest is None or ts > newest:
                newest = ts
            if ts >= oldest_fresh:
                total += watts
            else:
                stale_count += 1
                if len(stale) < MAX_STALE_NAMED:
                    stale.append(rack)
        return PowerSnapshot(
            at_ms=now_ms,
            total_w=total,
            racks=len(self._latest),
            stale_racks=stale_count,
            stale_names=tuple(sorted(stale)),
            newest_ms=newest,
        )

    def forget_older_than(self, cutoff_ms: int) -> int:
        """Drop racks silent since before ``cutoff_ms`` (decommissioned); returns how many."""
        gone = [rack for rack, (ts, _) in self._latest.items() if ts < cutoff_ms]
        for rack in gone:
            del self._latest[rack]
        return len(gone)
