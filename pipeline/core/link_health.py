"""A link's health beyond loss: FEC and BER, flaps, PFC pauses, optics (soft state).

The optional link-health fields of :class:`pipeline.events.LinkCounters` are cumulative
counters, the carrier state and the optics' power. Per link that sends any of them, a
:class:`LinkHealth` turns them into what the rules read (:mod:`pipeline.core.rules`:
``link_ber``, ``link_flap``, ``pfc_storm``, ``optics_drift``) and into the derived
columns of its stored row:

* deltas of each counter since the link's previous sample. Counters reset on their
  own (the PHY's, the kernel's and the module's counters come from different places):
  one that goes down is a new baseline for itself alone, never an error burst, and
  one that was absent is a baseline when it comes back;
* window sums (:class:`pipeline.core.link_window.WindowSums`): post-FEC errors, bits,
  uncorrectable and corrected codewords over the BER window; carrier transitions over
  the flap window; the time covered, pause time per priority and direction and pause
  storm events over the PFC window;
* the carrier: since when it has been down, in event time;
* the optics (:class:`pipeline.core.optics.Optics`).

Samples older than the newest one change nothing (as for the loss window).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pipeline.core.link_window import WindowSums
from pipeline.core.optics import Optics, Thresholds
from pipeline.events import MAX_PRIORITY

PRIORITIES = range(MAX_PRIORITY + 1)
#: the link-health fields of LinkCounters, in the order :meth:`LinkHealth.observe` takes
HEALTH_FIELDS = (
    "fec_corrected_codewords",
    "fec_uncorrectable_codewords",
    "symbol_errors",
    "rx_bits",
    "effective_ber",
    "carrier_transitions",
    "link_down_events",
    "carrier_up",
    "rx_discarded_packets",
    "pause_storm_warnings",
    "pause_storm_errors",
    "rx_pause_frames",
    "tx_pause_frames",
    "rx_pause_us",
    "tx_pause_us",
    "rx_power_dbm",
    "tx_power_dbm",
    "rx_power_low_warn_dbm",
    "rx_power_low_alarm_dbm",
    "rx_power_high_warn_dbm",
    "rx_power_high_alarm_dbm",
)
_AT = {name: i for i, name in enumerate(HEALTH_FIELDS)}
#: the key of a counter of one priority in a link's last values, one tuple object shared
#: by every link (a tuple per link and priority otherwise: 2 KiB a link)
_PRIORITY_KEYS = {
    name: tuple((name, p) for p in PRIORITIES)
    for name in ("rx_pause_frames", "tx_pause_frames", "rx_pause_us", "tx_pause_us")
}
_PFC_WIDTH = 1 + 2 * len(PRIORITIES) + 2  # elapsed ms, rx us x 8, tx us x 8, storms


class Windows(NamedTuple):
    """Window lengths (ms) of the link-health state."""

    ber_ms: int
    flap_ms: int
    pfc_ms: int
    drift_ms: int


class HealthRow(NamedTuple):
    """What one sample adds to its stored row: deltas (0 at a baseline) and the window
    figures the rules saw after it."""

    d_fec_corrected: int
    d_fec_uncorrectable: int
    d_symbol_errors: int
    d_rx_bits: int
    d_transitions: int
    d_rx_pause_us: dict[int, int]
    d_tx_pause_us: dict[int, int]
    ber: float | None
    pause_share: float | None


class Pause(NamedTuple):
    """The PFC window: the most paused priority, its share of the time covered, the
    direction (``rx``: the peer paused this end), storm events and the time covered."""

    share: float
    priority: int
    direction: str
    storm_warnings: float
    storm_errors: float
    covered_ms: float


class LinkHealth:
    __slots__ = (
        "_last",
        "ber_window",
        "down_since_ms",
        "effective_ber",
        "flaps",
        "last_ts",
        "optics",
        "pfc",
        "resets",
    )

    def __init__(self, windows: Windows) -> None:
        self.last_ts: int | None = None
        self._last: dict[Any, int] = {}  # counter (or (counter, priority)) -> last value
        self.resets = 0
        self.ber_window = WindowSums(windows.ber_ms, 4)  # errors, bits, uncorrectable, corrected
        self.flaps = WindowSums(windows.flap_ms, 1)
        self.pfc = WindowSums(windows.pfc_ms, _PFC_WIDTH)
        self.optics = Optics(windows.drift_ms)
        self.effective_ber: float | None = None  # as the device reported it, newest
        self.down_since_ms: int | None = None

    def observe(self, ts_ms: int, sample: Sequence[Any]) -> HealthRow:
        """One sample's link-health fields, in the order of :data:`HEALTH_FIELDS`."""
        if self.last_ts is not None and ts_ms <= self.last_ts:
            return HealthRow(0, 0, 0, 0, 0, {}, {}, self.ber(), self.pause_share())
        elapsed = 0 if self.last_ts is None else ts_ms - self.last_ts
        self.last_ts = ts_ms
        delta = self._delta
        corrected = delta("fec_corrected_codewords", sample)
        uncorrectable = delta("fec_uncorrectable_codewords", sample)
        errors, bits = delta("symbol_errors", sample), delta("rx_bits", sample)
        self.ber_window.add(ts_ms, (errors, bits, uncorrectable, corrected))
        transitions = self._transitions(sample)
        self.flaps.add(ts_ms, (transitions,))
        rx_us = self._per_priority("rx_pause_us", sample)
        tx_us = self._per_priority("tx_pause_us", sample)
        self._pfc(ts_ms, elapsed, rx_us, tx_us, sample)
        self._carrier(ts_ms, sample[_AT["carrier_up"]])
        if sample[_AT["effective_ber"]] is not None:
            self.effective_ber = sample[_AT["effective_ber"]]
        thresholds = Thresholds(*sample[_AT["rx_power_low_warn_dbm"] :])
        self.optics.observe(ts_ms, sample[_AT["rx_power_dbm"]] or (), thresholds)
        return HealthRow(
            corrected,
            uncorrectable,
            errors,
            bits,
            transitions,
            rx_us,
            tx_us,
            self.ber(),
            self.pause_share(),
        )

    # --- counters -----------------------------------------------------------------------
    def _delta(self, name: str, sample: Sequence[Any]) -> int:
        return self._step(name, sample[_AT[name]])

    def _step(self, key: Any, value: int | None) -> int:
        """The counter's increase since its last value; 0 at a baseline: its first
        value, its first after an absence, and a reset (it went down)."""
        if value is None:
            self._last.pop(key, None)
            return 0
        last = self._last.get(key)
        self._last[key] = value
        if last is None:
            return 0
        if value < last:
            self.resets += 1
            return 0
        return value - last

    def _per_priority(self, name: str, sample: Sequence[Any]) -> dict[int, int]:
        counts: Mapping[int, int] = sample[_AT[name]] or {}
        keys = _PRIORITY_KEYS[name]
        out: dict[int, int] = {}
        for p in PRIORITIES:
            value = counts.get(p)
            delta = self._step(keys[p], value)  # an absent priority: a baseline when back
            if value is not None:
                out[p] = delta
        return out

    def _transitions(self, sample: Sequence[Any]) -> int:
        """Carrier transitions since the last sample: the kernel's or switch's count,
        else the PHY's link-down events, two each (down and up again)."""
        transitions = self._delta("carrier_transitions", sample)
        downs = self._delta("link_down_events", sample)
        return transitions if sample[_AT["carrier_transitions"]] is not None else 2 * downs

    def _pfc(
        self,
        ts_ms: int,
        elapsed: int,
        rx_us: dict[int, int],
        tx_us: dict[int, int],
        sample: Sequence[Any],
    ) -> None:
        warnings = self._delta("pause_storm_warnings", sample)
        errors = self._delta("pause_storm_errors", sample)
        if not (rx_us or tx_us or warnings or errors):
            self.pfc.add(ts_ms, (float(elapsed),))
            return
        values = [float(elapsed)] + [0.0] * (_PFC_WIDTH - 1)
        for p, us in rx_us.items():
            values[1 + p] = us
        for p, us in tx_us.items():
            values[1 + len(PRIORITIES) + p] = us
        values[-2:] = (warnings, errors)
        self.pfc.add(ts_ms, values)

    def _carrier(self, ts_ms: int, up: bool | None) -> None:
        if up is True:
            self.down_since_ms = None
        elif up is False and self.down_since_ms is None:
            self.down_since_ms = ts_ms

    # --- what the rules read ------------------------------------------------------------
    def reports(self, name: str) -> bool:
        """True while the link's samples carry the counter ``name`` (a field of
        :data:`HEALTH_FIELDS`): a window of zeros then means none, not unknown."""
        return name in self._last

    def ber(self) -> float | None:
        """Post-FEC BER over the window: errors / bits where bits are counted, else the
        newest rate the device reported; None with neither."""
        errors, bits, _, _ = self.ber_window.sums()
        return errors / bits if bits > 0 else self.effective_ber

    def ber_counts(self) -> tuple[float, float, float, float]:
        """(post-FEC errors, bits, uncorrectable, corrected codewords) over the window."""
        errors, bits, uncorrectable, corrected = self.ber_window.sums()
        return errors, bits, uncorrectable, corrected

    def outage_ms(self) -> int:
        """How long the carrier has been down, in event time up to the newest sample."""
        if self.down_since_ms is None or self.last_ts is None:
            return 0
        return self.last_ts - self.down_since_ms

    def pause(self) -> Pause | None:
        """The PFC window, or None while it covers no time."""
        sums = self.pfc.sums()
        covered_ms = sums[0]
        if covered_ms <= 0:
            return None
        n = len(PRIORITIES)
        best = max(range(2 * n), key=lambda i: sums[1 + i])
        share = sums[1 + best] / (covered_ms * 1000)
        direction = "rx" if best < n else "tx"
        return Pause(share, best % n, direction, sums[-2], sums[-1], covered_ms)

    def pause_share(self) -> float | None:
        pause = self.pause()
        return None if pause is None else pause.share
