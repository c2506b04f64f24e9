"""Power that moves: waveforms of racks and meters aligned per site and power domain, and
what is read from them (ramps, swings, oscillation bands, load drops, demand response).

Pure numpy, table-tested against independent numpy truth; the worker wires it in.
:mod:`.align` puts meters on one event-time grid, :mod:`.window` keeps the recent
series, :mod:`.features` and :mod:`.spectrum` read them, :mod:`.drops` and
:mod:`.incidents` find load drops and group them per region, :mod:`.dr` and
:mod:`.baseline` measure demand response. docs/power-dynamics.md has the definitions.
"""
