"""Clock-event reasons and priority classes: what "capped" means and who comes first.

The reasons are NVML's clocks event reasons bitmask (``nvmlClocksEventReason*``, the
same bits as DCGM's ``DCGM_FI_DEV_CLOCKS_EVENT_REASONS``). A GPU counts as *capped* while
one of the power reasons holds: the software power cap (the board's power limit, or a
limit a power manager set), the hardware slowdown (NVML: power draw too high for the
fast trigger, an external power brake, or temperature) or the power brake (an external
signal to cut power). The thermal reasons stay in the stored bitmask but are not counted
as capping.

Priority classes are ordered highest first: ``inference, training, batch`` unless a
site spec lists its own (``priorities``). A class not in the list ranks below all listed
ones; GPUs without a class take no part in priority comparisons. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

#: NVML's documented bit values (nvml.h, nvmlClocksEventReasons)
GPU_IDLE = 0x1
APPLICATIONS_CLOCKS_SETTING = 0x2
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SYNC_BOOST = 0x10
SW_THERMAL_SLOWDOWN = 0x20
HW_THERMAL_SLOWDOWN = 0x40
HW_POWER_BRAKE_SLOWDOWN = 0x80
DISPLAY_CLOCK_SETTING = 0x100

#: the reasons that hold a GPU down for power: what "capped" counts
CAPPED = SW_POWER_CAP | HW_SLOWDOWN | HW_POWER_BRAKE_SLOWDOWN

DEFAULT_PRIORITIES: tuple[str, ...] = ("inference", "training", "batch")


def capped(reasons: int) -> bool:
    return bool(reasons & CAPPED)


def reason_names(reasons: int) -> list[str]:
    """The names of the power reasons set in ``reasons``, for alert texts."""
    names = {
        SW_POWER_CAP: "software power cap",
        HW_SLOWDOWN: "hardware slowdown",
        HW_POWER_BRAKE_SLOWDOWN: "power brake",
    }
    return [name for bit, name in names.items() if reasons & bit]


def rank_of(priorities: Sequence[str]) -> dict[str, int]:
    """class -> rank, 0 the highest."""
    return {name: index for index, name in enumerate(priorities)}
