"""The demo's options and their defaults, in one place: the command line, `make demo`
and the README read them from here (light: the CLI imports it to show its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

DEMO_SCENARIOS = ("cap-breach", "wan-loss", "stale-racks")
#: How long the demo runs unless told otherwise: time for every scripted effect to show
#: (the breach at 20 s, the WAN loss, stale racks 10 s later) and the alerts to arrive.
#: The README, its excerpt and `make demo` say this number (tests/unit/test_demo_words.py).
DEMO_DURATION_S = 90.0


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = DEMO_DURATION_S  # None: until Ctrl-C
    sites: int = 12
    seed: int = 7
    breach_after_s: float = 20.0  # the scripted effects start then (after the warm-up)
    gpu_every: int = 5  # GPU samples every Nth tick keep the in-memory broker small
    live: bool | None = None  # None: a live view when stdout is a terminal
