"""GPU load per rack: utilization, power, watts per utilization point, idle burn.

Fleets are heterogeneous, so every figure is kept per vendor/model as well. "Idle power"
is power burned for nothing: a rack whose GPUs stay under 5 % busy while drawing a large
share of their power limit (hung collectives, spinning kernels, a job that lost its data
loader). The share is judged against each GPU's power limit, from the reading when the
agent reports it (NVML does), else from the board power of known models.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from functools import lru_cache

IDLE_UTIL_PCT = 5.0

#: Board power (W) of common accelerators, for GPUs whose agent does not report a limit.
#: Keys are matched as case-insensitive substrings of the reported model name, first hit
#: wins, so the more specific names come first.
BOARD_POWER_W: tuple[tuple[str, float], ...] = (
    ("gb300", 1400.0),
    ("gb200", 1200.0),
    ("b300", 1100.0),
    ("b200", 1000.0),
    ("h200", 700.0),
    ("h100", 700.0),
    ("h800", 700.0),
    ("a100", 400.0),
    ("l40s", 350.0),
    ("mi355x", 1400.0),
    ("mi325x", 1000.0),
    ("mi300x", 750.0),
    ("mi250x", 560.0),
    ("gaudi3", 900.0),
    ("gaudi2", 600.0),
)


def board_power_w(model: str | None, reported_limit_w: float | None) -> float | None:
    """The power limit of a GPU: as reported, else the board power of its model."""
    if reported_limit_w:
        return reported_limit_w
    return _model_board_power(model) if model else None


@lru_cache(maxsize=1024)
def _model_board_power(model: str) -> float | None:
    name = model.lower().replace(" ", "").replace("-", "")
    for key, watts in BOARD_POWER_W:
        if key in name:
            return watts
    return None


@dataclass(frozen=True, slots=True)
class RackGpuStats:
    """A rack's GPUs over the recent window, from every sample in it."""

    samples: int
    mean_util_pct: float
    max_util_pct: float
    mean_power_w: float  # per GPU sample
    power_share: float | None  # of the power limit; None when a limit is unknown
    w_per_util_pt: float | None  # power per utilization point; None when nothing is busy

    @property
    def idle(self) -> bool:
        return self.samples > 0 and self.mean_util_pct < IDLE_UTIL_PCT


# Fields of one bucket in RackGpus._acc
_N, _UTIL, _MAX, _POWER, _LIMIT, _UNKNOWN = range(6)
_FIELDS = 6
BUCKETS = 4
_ZEROS = array("f", [0.0]) * _FIELDS  # one bucket, empty
_NEVER = (-1,) * BUCKETS  # bucket starts of a rack that never sent GPU samples


@lru_cache(maxsize=64)
def _bucket_ms(window_ms: int) -> int:
    """Bucket width: ceil, so BUCKETS-1 buckets span the window. Cached so every rack
    shares one int object (32 B a rack otherwise)."""
    return max(1, -(-window_ms // (BUCKETS - 1)))


@lru_cache(maxsize=4096)
def _shared_starts(starts: tuple[int, ...]) -> tuple[int, ...]:
    """One tuple object for equal bucket starts. Buckets are aligned to epoch time, so
    the racks of a site hold the same starts: shared, they cost a pointer a rack where
    an array of them cost 112 B. An evicted entry only means less sharing."""
    return starts


class RackGpus:
    """The GPU samples of one rack, aggregated in a few time buckets (soft state).

    There is no per-GPU state: a 1 GW campus has some 600,000 GPUs, and keeping each
    one's latest sample would cost ~270 B per GPU (20 KiB per 72-GPU rack). The live uses
    (mean/max utilization, power against the limit, idle detection) are rack aggregates,
    so a rack keeps ``BUCKETS`` buckets spanning the staleness window in one flat float32
    array, their starts in a tuple shared by the racks that report at the same instants
    (0.25 KiB a rack with its dict entry: benchmarks/rack_memory.py), and a stats call
    sums the buckets inside the window. A sample older than the buckets it would fall
    into is ignored, as late readings are for live state.
    """

    __slots__ = ("_acc", "_start", "bucket_ms")

    def __init__(self, window_ms: int) -> None:
        self.bucket_ms = _bucket_ms(window_ms)
        # float32: sums of a few thousand samples of watts and percent need no more.
        # Repeated, not built from bytes: an array built from bytes over-allocates.
        self._acc = _ZEROS * BUCKETS
        self._start = _NEVER

    def update(self, ts_ms: int, util: float, power: float, limit: float | None) -> bool:
        """Add one GPU sample."""
        return self.add(ts_ms, 1, util, util, power, limit or 0.0, 0 if limit else 1)

    def add(
        self,
        ts_ms: int,
        n: int,
        sum_util: float,
        max_util: float,
        sum_power: float,
        sum_limit: float,
        unknown_limits: int,
    ) -> bool:
        """Add ``n`` samples of one instant at once (a host's or rack's GPUs of one tick)."""
        begins = ts_ms - ts_ms % self.bucket_ms
        slot = (ts_ms // self.bucket_ms) % BUCKETS
        acc, base, starts = self._acc, slot * _FIELDS, self._start
        if starts[slot] != begins:
            if begins < starts[slot]:
                return False  # older than the window this slot now holds
            self._start = _shared_starts((*starts[:slot], begins, *starts[slot + 1 :]))
            acc[base : base + _FIELDS] = _ZEROS
        acc[base + _N] += n
        acc[base + _UTIL] += sum_util
        if max_util > acc[base + _MAX]:
            acc[base + _MAX] = max_util
        acc[base + _POWER] += sum_power
        acc[base + _LIMIT] += sum_limit
        acc[base + _UNKNOWN] += unknown_limits
        return True

    @property
    def last_ms(self) -> int:
        """Start of the newest bucket: when the rack last sent GPU samples (-1: never)."""
        return max(self._start)

    def stats(self, now_ms: int, window_ms: int) -> RackGpuStats:
        oldest = now_ms - window_ms - self.bucket_ms  # buckets overlapping the window
        n = util = power = limit = unknown = 0.0
        top = 0.0
        for slot in range(BUCKETS):
            if self._start[slot] < oldest:
                continue
            base = slot * _FIELDS
            n += self._acc[base + _N]
            util += self._acc[base + _UTIL]
            top = max(top, self._acc[base + _MAX])
            power += self._acc[base + _POWER]
            limit += self._acc[base + _LIMIT]
            unknown += self._acc[base + _UNKNOWN]
        if not n:
            return RackGpuStats(0, 0.0, 0.0, 0.0, None, None)
        return RackGpuStats(
            samples=int(n),
            mean_util_pct=util / n,
            max_util_pct=top,
            mean_power_w=power / n,
            power_share=power / limit if limit and not unknown else None,
            w_per_util_pt=power / util if util > 0 else None,
        )
