"""Latest power per rack -> site total, coverage, staleness and headroom.

Readings arrive at least once and possibly out of order, so a rack's live value only
moves forward in event time: an older or duplicate reading never replaces a newer one.
Freshness is judged against the wall clock (``now_ms``), not the stream. Missing
telemetry is never read as zero power: a rack whose newest reading is older than the
staleness window is *silent*; for the hold time (``stale_hold_ms``) it still counts at
its last known power (*estimated*), after that its power is *unknown*. A
:class:`Draw` keeps reported, estimated and unknown apart for the site and for every
power domain (:mod:`pipeline.core.domains`), so rules and texts can say what is known.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.core.domains import DomainTree

#: Stale racks named in a snapshot; the count is always exact.
MAX_STALE_NAMED = 20


@dataclass(frozen=True, slots=True)
class Draw:
    """What is known of the power of a site or a domain at one instant."""

    reported_w: float  # racks that reported within the staleness window
    estimated_w: float  # silent racks, at their last known power (within the hold)
    racks: int  # racks known (that ever reported and are not forgotten)
    held: int  # silent racks counted at their last known power
    unknown: int  # silent racks past the hold: power unknown
    expected: int = 0  # racks the spec says exist (0: not declared)
    silent_since_ms: int | None = None  # the oldest last reading of a silent rack
    # a sharded site (pipeline.core.site_stage): shards the spec expects and never seen,
    # and shards whose partial is late (held at its last value, then unknown)
    shards_missing: int = 0
    shards_expected: int = 0
    late_shards: tuple[str, ...] = ()

    @property
    def total_w(self) -> float:
        """Reported plus estimated: the least the site is known to draw."""
        return self.reported_w + self.estimated_w

    @property
    def silent(self) -> int:
        return self.held + self.unknown

    @property
    def fresh(self) -> int:
        return self.racks - self.silent

    @property
    def missing(self) -> int:
        """Racks not reporting: silent ones, and expected ones never heard from."""
        return max(self.racks, self.expected) - self.fresh

    @property
    def coverage(self) -> float | None:
        """Fresh racks / known (or expected) racks; None when there is nothing to cover."""
        known = max(self.racks, self.expected)
        return self.fresh / known if known else None

    @property
    def complete(self) -> bool:
        """Every known rack reported within the window: nothing estimated or unknown."""
        return self.silent == 0 and self.racks >= self.expected


#: What a snapshot sums per slot, before any roll-up:
#: (reported_w, estimated_w, fresh, held, unknown, silent_since_ms or -1).
Sums = tuple[float, float, int, int, int, int]
NO_SUMS: Sums = (0.0, 0.0, 0, 0, 0, -1)


@dataclass(frozen=True, slots=True)
class PowerSnapshot:
    """The site's power as seen at ``at_ms``; ``domains`` follows the tree's order.

    ``slots`` are the sums before the roll-up: with a tree, one per domain of the tree
    (non-leaves empty) and a last one for the racks of no leaf; without, one. A shard
    sends them to its site stage (:class:`pipeline.core.partial.Partial`)."""

    at_ms: int
    draw: Draw
    stale_names: tuple[str, ...]
    newest_ms: int | None
    domains: tuple[Draw, ...] = ()
    forgettable: int = 0  # racks silent past forget_after_ms
    slots: tuple[Sums, ...] = ()

    @property
    def total_w(self) -> float:
        return self.draw.total_w

    @property
    def racks(self) -> int:
        return self.draw.racks

    @property
    def stale_racks(self) -> int:
        return self.draw.silent


@dataclass(frozen=True, slots=True)
class Windows:
    """The time limits a snapshot classifies racks by (milliseconds)."""

    stale_after_ms: int
    hold_ms: int
    forget_after_ms: int
    racks_expected: int = 0


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

    def snapshot(
        self, now_ms: int, windows: Windows, tree: DomainTree | None = None
    ) -> PowerSnapshot:
        """Reported, estimated and unknown power of the site (and of each domain of
        ``tree``): fresh racks report, silent ones are held, then unknown."""
        if tree is not None:
            return self._snapshot_tree(now_ms, windows, tree)
        oldest_fresh = now_ms - windows.stale_after_ms
        oldest_held = oldest_fresh - windows.hold_ms
        reported = estimated = 0.0
        held = unknown = 0
        stale: list[str] = []
        newest = silent_since = -1
        for rack, (ts, watts) in self._latest.items():
            if ts > newest:
                newest = ts
            if ts >= oldest_fresh:
                reported += watts
                continue
            # Silent: off the hot path (most racks are fresh).
            if ts >= oldest_held:
                estimated += watts
                held += 1
            else:
                unknown += 1
            if silent_since < 0 or ts < silent_since:
                silent_since = ts
            if len(stale) < MAX_STALE_NAMED:
                stale.append(rack)
        draw = Draw(
            reported,
            estimated,
            len(self._latest),
            held,
            unknown,
            windows.racks_expected,
            silent_since if silent_since >= 0 else None,
        )
        forgettable = self._forgettable(now_ms, windows) if unknown else 0
        fresh = len(self._latest) - held - unknown
        return PowerSnapshot(
            now_ms,
            draw,
            tuple(sorted(stale)),
            newest if newest >= 0 else None,
            forgettable=forgettable,
            slots=((reported, estimated, fresh, held, unknown, silent_since),),
        )

    def _snapshot_tree(self, now_ms: int, windows: Windows, tree: DomainTree) -> PowerSnapshot:
        """As :meth:`snapshot`, also summing each rack into its leaf, then leaves up.

        Slot ``n`` collects the racks of no leaf; the site is the sum of all slots. The
        fresh path is two list additions and a cached dict lookup per rack."""
        oldest_fresh = now_ms - windows.stale_after_ms
        oldest_held = oldest_fresh - windows.hold_ms
        n = len(tree.domains)
        reported = [0.0] * (n + 1)
        fresh = [0] * (n + 1)
        silent: list[list[float | int]] = [[0.0, 0, 0, -1] for _ in range(n + 1)]
        stale: list[str] = []
        newest = -1
        cached = tree.cached_leaves()
        for rack, (ts, watts) in self._latest.items():
            if ts > newest:
                newest = ts
            leaf = cached.get(rack)
            if leaf is None:
                leaf = tree.leaf_of(rack)
            if leaf < 0:
                leaf = n
            if ts >= oldest_fresh:
                reported[leaf] += watts
                fresh[leaf] += 1
                continue
            acc = silent[leaf]  # [estimated, held, unknown, silent_since]
            if ts >= oldest_held:
                acc[0] += watts
                acc[1] += 1
            else:
                acc[2] += 1
            if acc[3] < 0 or ts < acc[3]:
                acc[3] = ts
            if len(stale) < MAX_STALE_NAMED:
                stale.append(rack)
        slots: tuple[Sums, ...] = tuple(
            (reported[i], silent[i][0], fresh[i], silent[i][1], silent[i][2], silent[i][3])  # type: ignore[misc]
            for i in range(n + 1)
        )
        site, draws = roll_up(tree, slots, windows.racks_expected)
        forgettable = self._forgettable(now_ms, windows) if site.unknown else 0
        return PowerSnapshot(
            now_ms,
            site,
            tuple(sorted(stale)),
            newest if newest >= 0 else None,
            draws,
            forgettable,
            slots,
        )

    def _forgettable(self, now_ms: int, windows: Windows) -> int:
        cutoff = now_ms - windows.forget_after_ms
        return sum(1 for ts, _ in self._latest.values() if ts < cutoff)

    def racks_older_than(self, cutoff_ms: int) -> list[str]:
        return [rack for rack, (ts, _) in self._latest.items() if ts < cutoff_ms]

    def forget_older_than(self, cutoff_ms: int) -> int:
        """Drop racks silent since before ``cutoff_ms`` (decommissioned); returns how many."""
        gone = [rack for rack, (ts, _) in self._latest.items() if ts < cutoff_ms]
        for rack in gone:
            del self._latest[rack]
        return len(gone)


def roll_up(
    tree: DomainTree, slots: Sequence[Sums], site_expected: int
) -> tuple[Draw, tuple[Draw, ...]]:
    """The site's draw and each domain's from per-slot sums (``slots[i]``: the racks of
    leaf ``i`` of ``tree``; the last: racks of no leaf): leaves add up to their parents,
    and leaves plus the racks of no leaf to the site."""
    n = len(tree.domains)
    sums = [list(slot) for slot in slots]
    site: list[float | int] = list(NO_SUMS)
    for i in range(n + 1):
        if i == n or tree.domains[i].leaf:
            add_sums(site, sums[i])
    for i, domain in enumerate(tree.domains):  # children come before their parents
        if domain.parent is not None:
            add_sums(sums[domain.parent], sums[i])
    draws = tuple(draw_of(sums[i], tree.domains[i].racks_expected) for i in range(n))
    return draw_of(site, site_expected), draws


def add_sums(parent: list[float | int], child: Sequence[float | int]) -> None:
    """Add ``child``'s sums into ``parent`` (the oldest silent_since wins)."""
    for k in range(5):
        parent[k] += child[k]
    if child[5] >= 0 and (parent[5] < 0 or child[5] < parent[5]):
        parent[5] = child[5]


def draw_of(a: Sequence[float | int], expected: int) -> Draw:
    """[reported, estimated, fresh, held, unknown, silent_since] -> Draw."""
    since = int(a[5])
    racks = int(a[2]) + int(a[3]) + int(a[4])
    return Draw(
        float(a[0]),
        float(a[1]),
        racks,
        int(a[3]),
        int(a[4]),
        expected,
        since if since >= 0 else None,
    )
