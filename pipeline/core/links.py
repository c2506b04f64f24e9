"""Link counters -> per-sample deltas, reset detection and a windowed loss ratio.

Counters are cumulative, as NICs, switches and gNMI report them. The loss of a window is
(sum of dropped-packet deltas) / (sum of transmitted-packet deltas) over the samples in
the window, which weighs busy seconds more than quiet ones, as the traffic does. A
counter that goes down is a reset (device reboot, counter wrap, agent restart): the sample
becomes the new baseline and never counts as loss.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


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


@dataclass(slots=True)
class LinkState:
    """Last counters and the recent deltas of one link (soft state)."""

    window_ms: int
    last_ts: int | None = None
    last: tuple[int, int, int] = (0, 0, 0)  # tx, rx, dropped
    resets: int = 0
    window: deque[tuple[int, int, int]] = field(default_factory=deque)  # ts, d_tx, d_dropped
    win_tx: int = 0
    win_dropped: int = 0

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
        self.window.append((ts_ms, d_tx, d_dropped))
        self.win_tx += d_tx
        self.win_dropped += d_dropped
        self._expire(ts_ms)
        return LinkDelta(d_tx, d_rx, d_dropped, False, False, False, self.loss())

    def _expire(self, newest_ms: int) -> None:
        oldest = newest_ms - self.window_ms
        while self.window and self.window[0][0] <= oldest:
            _, d_tx, d_dropped = self.window.popleft()
            self.win_tx -= d_tx
            self.win_dropped -= d_dropped

    def loss(self) -> float | None:
        """Dropped / transmitted over the window; None without traffic to judge."""
        if self.win_tx <= 0:
            return None
        return self.win_dropped / self.win_tx

    @property
    def window_tx(self) -> int:
        return self.win_tx
