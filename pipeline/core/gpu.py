"""GPU load per rack: utilization, power, watts per utilization point, idle burn.

Fleets are heterogeneous, so every figure is kept per vendor/model as well. "Idle power"
is power burned for nothing: a rack whose GPUs stay under 5 % busy while drawing a large
share of their power limit (hung collectives, spinning kernels, a job that lost its data
loader). The share is judged against each GPU's power limit, from the reading when the
agent reports it (NVML does), else from the board power of known models.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    if reported_limit_w:
        return reported_limit_w
    if not model:
        return None
    name = model.lower().replace(" ", "").replace("-", "")
    for key, watts in BOARD_POWER_W:
        if key in name:
            return watts
    return None


@dataclass(frozen=True, slots=True)
class RackGpuStats:
    gpus: int
    mean_util_pct: float
    max_util_pct: float
    power_w: float
    limit_w: float | None  # sum of known limits; None when any GPU's limit is unknown
    w_per_util_pt: float | None  # power per utilization point; None when nothing is busy

    @property
    def idle(self) -> bool:
        return self.gpus > 0 and self.mean_util_pct < IDLE_UTIL_PCT

    @property
    def power_share(self) -> float | None:
        return self.power_w / self.limit_w if self.limit_w else None


class RackGpus:
    """Latest sample per GPU of one rack (soft state)."""

    __slots__ = ("_latest",)

    def __init__(self) -> None:
        # (host, gpu) -> (ts_ms, util_pct, power_w, limit_w or None)
        self._latest: dict[tuple[str, str], tuple[int, float, float, float | None]] = {}

    def __len__(self) -> int:
        return len(self._latest)

    def update(
        self, host: str, gpu: str, ts_ms: int, util: float, power: float, limit: float | None
    ) -> bool:
        key = (host, gpu)
        current = self._latest.get(key)
        if current is not None and ts_ms <= current[0]:
            return False
        self._latest[key] = (ts_ms, util, power, limit)
        return True

    def stats(self, now_ms: int, stale_after_ms: int) -> RackGpuStats:
        oldest = now_ms - stale_after_ms
        fresh = [v for v in self._latest.values() if v[0] >= oldest]
        if not fresh:
            return RackGpuStats(0, 0.0, 0.0, 0.0, None, None)
        utils = [v[1] for v in fresh]
        power = sum(v[2] for v in fresh)
        known = [v[3] for v in fresh if v[3] is not None]
        util_sum = sum(utils)
        return RackGpuStats(
            gpus=len(fresh),
            mean_util_pct=util_sum / len(fresh),
            max_util_pct=max(utils),
            power_w=power,
            limit_w=sum(known) if len(known) == len(fresh) else None,
            w_per_util_pt=power / util_sum if util_sum > 0 else None,
        )
