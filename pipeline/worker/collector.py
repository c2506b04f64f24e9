"""Python's cyclic garbage collector, set for a worker that allocates by the million.

A worker builds a few objects per reading (floats, strings, row lists) and holds
hundreds of thousands of them in the sink's buffers until they are stored. With the
default thresholds (a young collection every 700 allocations) the collector ran ~1,700
times during a 1.5 M-reading drain and, walking those buffers, took ~0.8 s of its
~7 s of CPU. Nearly nothing a worker allocates is cyclic (rows are lists of scalars), so
the collector runs less often: a young collection every 100,000 allocations, an old one
rarely; and everything alive once the worker is set up (modules, Faust's app, the
settings) is frozen out of every collection. Measured (``benchmarks/peers.py --only
megawatch``): collector time 0.8 s -> 0.07 s, worker CPU 7.2 -> 6.0 s for the same drain.
"""

from __future__ import annotations

import gc

#: (young, middle, old): allocations before a young collection, then collections of
#: the generation below before one of the next
THRESHOLDS = (100_000, 50, 1_000)


def tune_for_throughput() -> None:
    """Freeze what exists now and raise the thresholds (call once, after setup)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
