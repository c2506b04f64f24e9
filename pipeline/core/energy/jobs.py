"""The job map: which job, tenant and priority a GPU of a host works for at a time.

Fed by the compacted topic ``control.jobs`` (key ``SITE/JOB``, a :class:`JobSpec`, or a
null value that forgets the job): ``megawatch jobs import`` publishes Slurm's jobs there,
and any scheduler can. :meth:`JobBook.apply` takes each record as the worker's table
reads it; :meth:`JobBook.label` fills the job, tenant and priority of the GPU samples
that do not carry their own (a label from the exporter, dcgm-exporter's ``pod`` or
``hpc_job``, wins over the map).

A job holds its hosts from ``start_ts`` to ``end_ts`` (still running: open-ended), all
their GPUs unless it lists some. Where two jobs claim one GPU at one time, the one that
started last wins (a node reused before the old job's end was recorded). A job stays
until control.jobs forgets it (a null value: ``megawatch jobs forget`` sends them for
jobs that ended long ago). Pure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from pipeline.core.decode import describe_validation_error
from pipeline.events import JobSpec

logger = logging.getLogger(__name__)

_OPEN = 2**62  # the end of a job still running


@dataclass(frozen=True, slots=True)
class Placement:
    """One job on one host."""

    start_ms: int
    end_ms: int
    gpus: frozenset[str] | None
    job: str
    tenant: str | None
    priority: str | None


Labels = tuple[list[str | None], list[str | None], list[str | None]]


class JobBook:
    """site -> host -> the placements of the jobs that ran or run there."""

    def __init__(self) -> None:
        self._hosts: dict[str, dict[str, list[Placement]]] = {}
        self._jobs: dict[str, JobSpec] = {}  # key -> its spec

    def __len__(self) -> int:
        return len(self._jobs)

    def has_site(self, site: str) -> bool:
        return site in self._hosts

    def apply(self, key: str, value: bytes | None) -> None:
        """One record of control.jobs: a job's spec, or None to forget it."""
        self._drop(key)
        if not value:
            return
        try:
            spec = JobSpec.model_validate_json(value)
        except ValidationError as exc:
            logger.error(
                "invalid job %s on control.jobs ignored: %s", key, describe_validation_error(exc)
            )
            return
        if spec.key != key:
            logger.error("job keyed %s names %s: ignored (key it SITE/JOB)", key, spec.key)
            return
        self._jobs[key] = spec
        gpus = frozenset(spec.gpus) if spec.gpus else None
        end = spec.end_ts if spec.end_ts is not None else _OPEN
        placed = Placement(spec.start_ts, end, gpus, spec.job, spec.tenant, spec.priority)
        hosts = self._hosts.setdefault(spec.site, {})
        for host in spec.hosts:
            entries = hosts.setdefault(host, [])
            entries.append(placed)
            entries.sort(key=lambda p: p.start_ms, reverse=True)  # the latest start first

    def _drop(self, key: str) -> None:
        old = self._jobs.pop(key, None)
        if old is None:
            return
        hosts = self._hosts.get(old.site, {})
        for host in old.hosts:
            kept = [p for p in hosts.get(host, ()) if p.job != old.job]
            if kept:
                hosts[host] = kept
            else:
                hosts.pop(host, None)
        if not hosts:
            self._hosts.pop(old.site, None)

    def label(
        self,
        site: str,
        hosts: Sequence[str],
        gpus: Sequence[str],
        stamps: Sequence[int],
        labels: Labels,
    ) -> Labels:
        """``labels`` (job, tenant, priority columns) with the gaps filled from the map:
        only samples without a job are looked up; new lists where anything changed."""
        by_host = self._hosts.get(site)
        jobs, tenants, priorities = labels
        if by_host is None or None not in jobs:
            return labels
        jobs, tenants, priorities = list(jobs), list(tenants), list(priorities)
        for i, job in enumerate(jobs):
            if job is not None:
                continue
            entries = by_host.get(hosts[i])
            if entries is None:
                continue
            placed = _placement(entries, gpus[i], stamps[i])
            if placed is not None:
                jobs[i] = placed.job
                tenants[i] = tenants[i] or placed.tenant
                priorities[i] = priorities[i] or placed.priority
        return jobs, tenants, priorities


def _placement(entries: list[Placement], gpu: str, ts_ms: int) -> Placement | None:
    for placed in entries:
        if placed.start_ms <= ts_ms < placed.end_ms and (placed.gpus is None or gpu in placed.gpus):
            return placed
    return None
