"""Load skew within one worker: one partition carrying most of its readings.

Partitions are the unit of scale-out (a site's streams all live in the partition its key
hashes to), so a worker whose readings come mostly from one of the several partitions it
owns cannot be helped by adding workers: that partition goes to one of them, whole. The
detector is pure (counts in, a verdict out); :class:`SkewWatch` keeps a window of counts
and rate-limits the warning so a lasting skew logs one line per ``warn_every_s``, not one
per message. The window also counts readings per message key, so that the warning and
the ``megawatch_partition_key_readings`` metric name the sites or shards (``SITE/SHARD``)
that make a partition heavy. docs/scaling.md says what to do about it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

logger = logging.getLogger(__name__)

#: a partition above this share of a worker's readings is "concentrated"
SHARE = 0.5
#: below this many readings in a window the shares say nothing
MIN_READINGS = 1_000


#: keys named per partition (the heaviest first)
KEYS_NAMED = 3


@dataclass(frozen=True)
class Skew:
    partition: int
    share: float  # of this worker's readings in the window, 0..1
    owned: int  # partitions the worker owned
    #: the partition's heaviest message keys (sites, or shards SITE/SHARD) and their share
    #: of its readings: what to re-key or split
    keys: tuple[tuple[str, float], ...] = field(default=(), compare=False)


def concentrated(
    readings: Mapping[int, int],
    owned: int,
    share: float = SHARE,
    min_readings: int = MIN_READINGS,
) -> Skew | None:
    """The partition carrying more than ``share`` of ``readings`` (partition -> count)
    while the worker owns several partitions; None when the load is spread, too small to
    judge, or the worker owns one partition (then the whole load is that partition's by
    construction, and adding workers is the remedy, not re-keying)."""
    total = sum(readings.values())
    owned = max(owned, len(readings))
    if owned < 2 or total < min_readings:
        return None
    partition, top = max(readings.items(), key=lambda item: (item[1], -item[0]))
    if top / total <= share:
        return None
    return Skew(partition, top / total, owned)


class SkewWatch:
    """Readings per partition over a window; a warning when one partition dominates."""

    def __init__(
        self,
        window_s: float = 60.0,
        warn_every_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.warn_every_s = warn_every_s
        self.clock = clock
        self._counts: dict[int, int] = {}
        self._keys: dict[int, dict[str, int]] = {}  # partition -> key -> readings
        #: partition -> its heaviest keys and their readings, in the last window over
        self.heaviest: dict[int, list[tuple[str, int]]] = {}
        self._window_start = clock()
        self._last_warned: float | None = None

    def add(self, partition: int, readings: int, key: str = "") -> None:
        self._counts[partition] = self._counts.get(partition, 0) + readings
        keys = self._keys.get(partition)
        if keys is None:
            keys = self._keys[partition] = {}
        keys[key] = keys.get(key, 0) + readings

    def check(self, owned: Callable[[], int]) -> Skew | None:
        """At the end of each window: the window's verdict (logged at most once per
        ``warn_every_s``), and a new window. None until the window is over; ``owned``
        (partitions this worker owns) is asked only then."""
        now = self.clock()
        if now - self._window_start < self.window_s:
            return None
        skew = concentrated(self._counts, owned())
        self.heaviest = {
            p: sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))[:KEYS_NAMED]
            for p, keys in self._keys.items()
        }
        if skew is not None:
            total = self._counts[skew.partition]
            named = tuple((k, n / total) for k, n in self.heaviest.get(skew.partition, ()))
            skew = replace(skew, keys=named)
        self._counts, self._keys = {}, {}
        self._window_start = now
        if skew is not None and self._may_warn(now):
            keys = ", ".join(f"{key or '?'} {share * 100:.0f}%" for key, share in skew.keys)
            logger.warning(
                "load skew: partition %d carried %.0f%% of this worker's readings in the "
                "last %.0f s while it owns %d partitions (its keys: %s); more workers will "
                "not help (see docs/scaling.md: site keys, shards, partition count)",
                skew.partition,
                skew.share * 100,
                self.window_s,
                skew.owned,
                keys or "none named",
            )
        return skew

    def _may_warn(self, now: float) -> bool:
        if self._last_warned is not None and now - self._last_warned < self.warn_every_s:
            return False
        self._last_warned = now
        return True
