"""The job map on Kafka: publishing job specs to ``control.jobs``, reading it back, and
forgetting jobs that ended long ago (compaction keeps a key until a null value for it).

Keys are ``SITE/JOB``; a job published again replaces its earlier spec (a running job's
end is filled in when it ends). Reading takes every record up to the topic's end and keeps
the last per key, as compaction would (:mod:`pipeline.kafka.compacted`, which serves
``control.sites`` and ``control.dr`` too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.events import JobSpec
from pipeline.kafka.compacted import publish_latest, read_latest
from pipeline.kafka.topics import JOBS
from pipeline.settings import Settings


@dataclass(frozen=True)
class JobMap:
    """What control.jobs holds now: the spec of every job (last record per key)."""

    jobs: dict[str, JobSpec]
    invalid: int  # records that are no job spec (ignored by the workers too)


def publish_jobs(settings: Settings, jobs: Iterable[JobSpec | str]) -> int:
    """Publish job specs (a key alone: forget that job); returns once all are
    acknowledged, with how many were sent."""
    return publish_latest(
        settings, JOBS, ((job, None) if isinstance(job, str) else (job.key, job) for job in jobs)
    )


def read_jobs(settings: Settings) -> JobMap:
    """The job map as the workers see it."""
    jobs, invalid = read_latest(settings, JOBS, JobSpec)
    return JobMap(jobs, len(invalid))


def ended_before(job_map: JobMap, cutoff_ms: int, site: str | None = None) -> list[str]:
    """Keys of the jobs (of ``site``, or all) that ended before ``cutoff_ms``."""
    return sorted(
        key
        for key, job in job_map.jobs.items()
        if job.end_ts is not None and job.end_ts < cutoff_ms and (site is None or job.site == site)
    )
