"""Energy: who used the megawatts, reconciled with the meters (issue 23).

:mod:`.integrate` integrates power over event time per GPU, rack and meter, with gaps
as unknown energy; :mod:`.jobs` is the job map (job, tenant, priority of a GPU at a
time); :mod:`.work` turns work counters into deltas; :mod:`.book` is the state of a
message key (held by its site monitor), the fleet's job map and the columns they add to
stored rows, :mod:`.meters` the rows of
facility meters and work counters; :mod:`.capping` says what counts
as capped and which priority comes first; :mod:`.priorities` counts capped GPUs per
power domain and class (``priority_inversion`` reads it); :mod:`.headroom` is the
headroom advisor's math. The formulas are in docs/energy.md.
"""

__all__ = ["book", "capping", "headroom", "integrate", "jobs", "meters", "priorities", "work"]
