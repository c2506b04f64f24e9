"""Jobs from schedulers onto the job map (the compacted topic ``control.jobs``).

:mod:`.hostlist` expands Slurm hostlist expressions, :mod:`.slurm` reads ``sacct -P`` and
``squeue -o`` output into job specs, :mod:`.publish` publishes them (and forgets old ones);
``megawatch jobs`` (:mod:`pipeline.cli.jobs_cmd`) is the command. The worker reads the
topic into :class:`pipeline.core.energy.jobs.JobBook`.
"""

__all__ = ["hostlist", "publish", "slurm"]
