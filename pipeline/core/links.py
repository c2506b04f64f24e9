"""Link counters -> per-sample deltas, reset detection and a windowed loss ratio.

Counters are cumulative, as NICs, switches and gNMI report them. The loss of a window is
(sum of dropped-packet deltas) / (sum of transmitted-packet deltas) over the samples in
the window, which weighs busy seconds more than quiet ones, as the traffic does. A
counter that goes down is a reset (device reboot, counter wrap, agent restart): the sample
becomes the new baseline and never counts as loss.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkDelta:
    """What one sample contributed; ``baseline`` means its deltas carry no information."""

    d_tx: int
    d_rx: int
    d_dropped: int
    baseline: bool
    reset: bool
    late: bool
    loss_ratio: float | None  # the window's loss ratio after this sample


class LinkState:
    """Last counters and the recent deltas of one link (soft state).

    The window's deltas live in one flat ``array('q')`` of (ts, d_tx, d_dropped) triples
    with a moving head: about 1 KiB per link at 1 Hz and 30 s, where a deque of tuples
    of Python ints took 5.6 KiB (a 1 GW campus has thousands of links).
    """

    __slots__ = ("_head", "_window", "last", "last_ts", "resets", "win_dropped", "win_tx",
                 "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.last_ts: int | None = None
        self.last: tuple[int, int, int] = (0, 0, 0)  # tx, rx, dropped
        self.resets = 0
        self._window = array("q")
        self._head = 0  # index of the oldest live triple
        self.win_tx = 0
        self.win_dropped = 0

    def observe(self, ts_ms: int, tx: int, rx: int, dropped: int) -> LinkDelta:
        """Apply one sample in event time; older or duplicate samples change nothing."""
        if self.last_ts is not None and ts_ms <= self.last_ts:
            return LinkDelta(0, 0, 0, baseline=True, reset=False, late=True, loss_ratio=self.loss())
        previous, first = self.last, self.last_ts is None
        self.last_ts, self.last = ts_ms, (tx, rx, dropped)
        reset = not first and (tx < previous[0] or rx < previous[1] or dropped < previous[2])
        if first or reset:
            self.resets += int(reset)
            self._expire(ts_ms)
            return LinkDelta(0, 0, 0, True, reset, late=False, loss_ratio=self.loss())
        d_tx, d_rx, d_dropped = tx - previous[0], rx - previous[1], dropped - previous[2]
        self._window.extend((ts_ms, _clip(d_tx), _clip(d_dropped)))
        self.win_tx += d_tx
        self.win_dropped += d_dropped
        self._expire(ts_ms)
        return LinkDelta(d_tx, d_rx, d_dropped, False, False, False, self.loss())

    def _expire(self, newest_ms: int) -> None:
        oldest, window, head = newest_ms - self.window_ms, self._window, self._head
        while head < len(window) and window[head] <= oldest:
            self.win_tx -= window[head + 1]
            self.win_dropped -= window[head + 2]
            head += 3
        if head and head * 3 >= len(window):  # compact once a third is dead
            del window[:head]
            head = 0
        self._head = head

    def loss(self) -> float | None:
        """Dropped / transmitted over the window; None without traffic to judge."""
        if self.win_tx <= 0:
            return None
        return self.win_dropped / self.win_tx

    @property
    def window_tx(self) -> int:
        return self.win_tx


def _clip(value: int) -> int:
    """Deltas of 64-bit counters fit in the signed 64-bit array except after a wrap that
    a reset check did not catch; clip so the array never raises."""
    return min(value, 2**63 - 1)
