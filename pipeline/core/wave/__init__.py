"""Power that moves: waveforms of racks and meters aligned per site and power domain, and
what is read from them (ramps, swings, oscillation bands, load drops, demand response).

Pure numpy, table-tested against independent numpy truth. :mod:`.align` puts meters on
one event-time grid, :mod:`.combine` adds the blocks of shards (or of a region's sites),
:mod:`.window` keeps the recent series, :mod:`.features` and :mod:`.spectrum` read them,
:mod:`.reader` cuts them into strides, :mod:`.drops` and :mod:`.incidents` find load
drops and group them per region, :mod:`.dr`, :mod:`.baseline` and :mod:`.demand`
measure demand response. The worker's stages: :mod:`.processor` (keys, and the wire:
:mod:`.codec`), :mod:`.stage` (a site), :mod:`.region`; their rows: :mod:`.rows`.
:mod:`.site` is the one-key composition. docs/power-dynamics.md has the definitions.
"""

__all__ = [
    "align",
    "baseline",
    "codec",
    "combine",
    "demand",
    "dr",
    "drops",
    "features",
    "incidents",
    "processor",
    "reader",
    "region",
    "rows",
    "site",
    "spectrum",
    "stage",
    "window",
]
