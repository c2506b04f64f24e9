"""The job map on Kafka: publishing job specs to ``control.jobs``, reading it back, and
forgetting jobs that ended long ago (compaction keeps a key until a null value for it).

Keys are ``SITE/JOB``; a job published again replaces its earlier spec (a running job's
end is filled in when it ends). Reading takes every record up to the topic's end and keeps
the last per key, as compaction would
(:func:`pipeline.kafka.site_specs.latest_per_key`, which reads ``control.sites`` too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from pipeline.errors import BrokerError
from pipeline.events import JobSpec
from pipeline.kafka.endpoint import kafka_python_options, resolve_kafka
from pipeline.kafka.site_specs import latest_per_key
from pipeline.kafka.topics import JOBS, ensure_topics
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobMap:
    """What control.jobs holds now: the spec of every job (last record per key)."""

    jobs: dict[str, JobSpec]
    invalid: int  # records that are no job spec (ignored by the workers too)


def publish_jobs(settings: Settings, jobs: Iterable[JobSpec | str]) -> int:
    """Publish job specs (a key alone: forget that job); returns once all are
    acknowledged, with how many were sent."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    ensure_topics(settings, endpoint)
    try:
        producer = KafkaProducer(**kafka_python_options(settings, endpoint, "producer"))
        try:
            futures = [
                producer.send(JOBS, key=job.encode(), value=None)
                if isinstance(job, str)
                else producer.send(
                    JOBS,
                    key=job.key.encode(),
                    value=job.model_dump_json(exclude_none=True).encode(),
                )
                for job in jobs
            ]
            for future in futures:
                future.get(timeout=15)
        finally:
            producer.close(timeout=5)
    except KafkaError as exc:
        raise BrokerError(f"cannot publish to {JOBS} on {endpoint.bootstrap}: {exc}") from exc
    return len(futures)


def read_jobs(settings: Settings) -> JobMap:
    """The job map as the workers see it."""
    jobs, invalid = {}, 0
    for key, raw in latest_per_key(settings, JOBS).items():
        if not raw:
            continue  # forgotten
        try:
            jobs[key] = JobSpec.model_validate_json(raw)
        except ValidationError:
            invalid += 1
    return JobMap(jobs, invalid)


def ended_before(job_map: JobMap, cutoff_ms: int, site: str | None = None) -> list[str]:
    """Keys of the jobs (of ``site``, or all) that ended before ``cutoff_ms``."""
    return sorted(
        key
        for key, job in job_map.jobs.items()
        if job.end_ts is not None and job.end_ts < cutoff_ms and (site is None or job.site == site)
    )
