"""Power that moves: waveforms of racks and meters aligned per site and power domain, and
what is read from them (ramps, swings, oscillation bands, load drops, demand response).

Pure numpy, table-tested against independent numpy truth (the worker does not call it yet).
:mod:`.align` puts meters on one event-time grid, :mod:`.window` keeps the recent
series, :mod:`.features` and :mod:`.spectrum` read them, :mod:`.drops` and
:mod:`.incidents` find load drops and group them per region, :mod:`.dr` and
:mod:`.baseline` measure demand response; :mod:`.site` is one site's state as the
worker's site stage holds it. docs/power-dynamics.md has the definitions.
"""

__all__ = [
    "align",
    "baseline",
    "dr",
    "drops",
    "features",
    "incidents",
    "site",
    "spectrum",
    "window",
]
