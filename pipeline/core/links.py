"""Link counters -> per-sample deltas, reset detection and a windowed loss ratio.

Counters are cumulative, as NICs, switches and gNMI report them. The loss of a window is
(sum of dropped-packet deltas) / (sum of transmitted-packet deltas) over the window,
which weighs busy seconds more than quiet ones, as the traffic does. A
counter that goes down is a reset (device reboot, counter wrap, agent restart): the sample
becomes the new baseline and never counts as loss.
"""

from __future__ import annotations

from array import array
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pipeline.core.link_health import LinkHealth


class LinkDelta(NamedTuple):
    """What one sample contributed; ``baseline`` means its deltas carry no information.

    A named tuple, not a frozen dataclass: one is made per link sample, and a frozen
    dataclass costs ~1 us to build; the processor transposes these into columns.
    """

    d_tx: int
    d_rx: int
    d_dropped: int
    baseline: bool
    reset: bool
    late: bool
    loss_ratio: float | None  # the window's loss ratio after this sample


#: Buckets of the loss window; the window is resolved to ``window / (BUCKETS - 1)``.
BUCKETS = 7


class LinkState:
    """Last counters and the recent deltas of one link (soft state).

    The window's deltas are summed into ``BUCKETS`` time buckets (start, d_tx,
    d_dropped) in one flat ``array('q')``: ~0.3 KiB per link whatever the sample rate,
    where one entry per sample took 1-5 KiB (a 1 GW campus has thousands of links). The
    window is resolved to a bucket: the loss covers the buckets that end inside the last
    ``window_ms`` of event time, i.e. between ``window_ms`` and one bucket more.

    ``health`` is the link's :class:`pipeline.core.link_health.LinkHealth`, made when
    its first sample with a link-health field arrives (None for links without any).
    """

    __slots__ = ("_buckets", "bucket_ms", "health", "last", "last_ts", "resets", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.bucket_ms = _bucket_ms(window_ms)
        self.last_ts: int | None = None
        self.last: tuple[int, int, int] = (0, 0, 0)  # tx, rx, dropped
        self.resets = 0
        self.health: LinkHealth | None = None
        # The buckets, then the window's sums until the next sample changes them (a
        # sample's row, the loss rule and its minimum-traffic check all ask for them:
        # three scans of the buckets otherwise), kept in the array: 16 B, no objects.
        self._buckets = array("q", [-1, 0, 0] * BUCKETS + [_NO_SUMS, 0])

    def observe(self, ts_ms: int, tx: int, rx: int, dropped: int) -> LinkDelta:
        """Apply one sample in event time; older or duplicate samples change nothing."""
        if self.last_ts is not None and ts_ms <= self.last_ts:
            return LinkDelta(0, 0, 0, True, False, True, self.loss())
        previous, first = self.last, self.last_ts is None
        self.last_ts, self.last = ts_ms, (tx, rx, dropped)
        self._buckets[_SUMS] = _NO_SUMS  # the window moved with last_ts
        reset = not first and (tx < previous[0] or rx < previous[1] or dropped < previous[2])
        if first or reset:
            self.resets += int(reset)
            return LinkDelta(0, 0, 0, True, reset, False, self.loss())
        d_tx, d_rx, d_dropped = tx - previous[0], rx - previous[1], dropped - previous[2]
        self._add(ts_ms, d_tx, d_dropped)
        return LinkDelta(d_tx, d_rx, d_dropped, False, False, False, self.loss())

    def _add(self, ts_ms: int, d_tx: int, d_dropped: int) -> None:
        begins = ts_ms - ts_ms % self.bucket_ms
        base = (ts_ms // self.bucket_ms) % BUCKETS * 3
        buckets = self._buckets
        if buckets[base] != begins:
            buckets[base], buckets[base + 1], buckets[base + 2] = begins, 0, 0
        # Clipped: deltas of 64-bit counters overflow the signed array only after a
        # wrap that the reset check did not catch.
        buckets[base + 1] = min(buckets[base + 1] + d_tx, _MAX)
        buckets[base + 2] = min(buckets[base + 2] + d_dropped, _MAX)

    def _sums(self) -> tuple[int, int]:
        buckets = self._buckets
        if buckets[_SUMS] != _NO_SUMS:
            return buckets[_SUMS], buckets[_SUMS + 1]
        if self.last_ts is None:
            return 0, 0
        oldest_end = self.last_ts - self.window_ms  # buckets must end after this
        tx = dropped = 0
        size = self.bucket_ms
        for base in range(0, 3 * BUCKETS, 3):
            if buckets[base] >= 0 and buckets[base] + size > oldest_end:
                tx += buckets[base + 1]
                dropped += buckets[base + 2]
        if tx <= _MAX and dropped <= _MAX:  # sums of clipped buckets can pass 64 bits
            buckets[_SUMS], buckets[_SUMS + 1] = tx, dropped
        return tx, dropped

    def loss(self) -> float | None:
        """Dropped / transmitted over the window; None without traffic to judge."""
        tx, dropped = self._sums()
        return dropped / tx if tx > 0 else None

    @property
    def window_tx(self) -> int:
        return self._sums()[0]


_MAX = 2**63 - 1
_SUMS = 3 * BUCKETS  # where the cached window sums are kept in the bucket array
_NO_SUMS = -1  # no sums cached (sums are never negative)


@lru_cache(maxsize=64)
def _bucket_ms(window_ms: int) -> int:
    """Bucket width: ceil, so BUCKETS-1 buckets span the window; one shared int object
    for every link of a window (32 B a link otherwise)."""
    return max(1, -(-window_ms // (BUCKETS - 1)))
