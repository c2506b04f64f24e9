"""Slurm's job listings as job specs: ``sacct -P`` and ``squeue -o`` output with a header.

The documented ways to ask for them (docs/energy.md)::

    sacct -P -X -a -S now-1days \\
          --format=JobID,User,Account,Partition,QOS,NodeList,Start,End,State
    squeue -a -t RUNNING -o '%i|%u|%a|%P|%q|%N|%S|%e|%T'

Both are ``|``-separated with a header line (``-P`` is sacct's ``--parsable2``; squeue's
header names its fields: JOBID, USER, ACCOUNT, PARTITION, QOS, NODELIST, START_TIME,
END_TIME, STATE). Columns are found by header name, in any order (others are ignored);
JobID, NodeList and Start are needed. A job holds every GPU of its nodes: neither listing
says which GPUs of a shared node a job got, so on shared nodes per-GPU labels (the
exporter's ``hpc_job``, ``--job-dir``) are what attributes them. Read per row:

* job steps (``1234.batch``, ``1234.0``, ``1234.extern``) are left out: the allocation's
  row covers them; array job ids (``1234_7``) stay as they are, heterogeneous ones
  (``1234+0``) become ``1234-0`` (contract ids have no ``+``);
* jobs without nodes (``None assigned``, pending) or not started (``Unknown``, ``None``)
  are left out; an end of ``Unknown`` (sacct, still running) and squeue's END_TIME of a
  job not finished (the time limit, not an end) are open ends;
* times are the controller's local time without a zone (``2026-11-20T08:00:00``), read in
  ``tz`` (default UTC);
* the tenant is the account (else the user); the priority class is the QOS (or the
  partition, ``priority_from``), renamed by ``priority_map`` where it names it.

Errors name the line and column. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from pipeline.core.decode import describe_validation_error
from pipeline.events import JobSpec
from pipeline.jobs.hostlist import HostlistError, expand
from pipeline.sources.mapping import as_id

#: header name (lower case) -> the column it is
COLUMNS = {
    "jobid": "job",
    "job_id": "job",
    "jobidraw": "job_raw",
    "user": "user",
    "username": "user",
    "account": "account",
    "partition": "partition",
    "qos": "qos",
    "nodelist": "nodes",
    "start": "start",
    "start_time": "start",
    "end": "end",
    "end_time": "end",
    "state": "state",
}
NEEDED = ("job", "nodes", "start")
NO_TIME = {"", "unknown", "none", "n/a"}
NO_NODES = {"", "none assigned", "(null)", "none"}
#: states of a job that ended (its End is an end); "CANCELLED by 1234" starts with one
FINISHED = (
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
)


class SlurmFormatError(ValueError):
    """Output megawatch cannot read, naming the line and what is wrong."""


@dataclass
class Parsed:
    """The job specs read, and how many rows were left out and why."""

    jobs: list[JobSpec] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


@dataclass(frozen=True)
class ReadOptions:
    site: str
    tz: str = "UTC"
    priority_from: str = "qos"  # qos, partition or none
    priority_map: Mapping[str, str] = field(default_factory=dict)


def parse_jobs(text: str, options: ReadOptions) -> Parsed:
    """The jobs of a ``sacct -P`` or ``squeue -o '...|...'`` listing."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SlurmFormatError("no lines: expected a header line and job rows")
    header = [name.strip().lower() for name in lines[0].split("|")]
    at = {COLUMNS[name]: i for i, name in enumerate(header) if name in COLUMNS}
    missing = [name for name in NEEDED if name not in at]
    if missing:
        raise SlurmFormatError(
            f"line 1: the header has no {', '.join(missing)} column (got {lines[0][:120]!r}); "
            "run sacct -P --format=JobID,...,NodeList,...,Start,End or squeue -o with %i %N %S"
        )
    try:
        zone = ZoneInfo(options.tz)
    except (KeyError, ValueError):
        raise SlurmFormatError(
            f"--tz {options.tz}: not a time zone name (e.g. UTC, Europe/Berlin)"
        ) from None
    out = Parsed()
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("|")
        if len(cells) != len(header):
            raise SlurmFormatError(
                f"line {number}: {len(cells)} fields where the header has {len(header)} "
                "(a '|' inside a value? use sacct -P, squeue -o with '|' between fields)"
            )
        row = {name: cells[i].strip() for name, i in at.items()}
        spec = _job(row, number, zone, options, out)
        if spec is not None:
            out.jobs.append(spec)
    return out


def _job(
    row: dict[str, str], number: int, zone: ZoneInfo, options: ReadOptions, out: Parsed
) -> JobSpec | None:
    job = row["job"]
    if not job:
        raise SlurmFormatError(f"line {number}: the JobID is empty")
    if "." in job:
        out.skip("job steps")
        return None
    if row["nodes"].lower() in NO_NODES:
        out.skip("no nodes yet")
        return None
    start = _time(row["start"], zone, number, "start")
    if start is None:
        out.skip("not started")
        return None
    state = row.get("state", "").split(" ")[0].upper()
    end = _time(row.get("end", ""), zone, number, "end")
    if end is not None and "state" in row and not state.startswith(FINISHED):
        end = None  # squeue's END_TIME of a running job is its time limit, not an end
    try:
        hosts = expand(row["nodes"])
    except HostlistError as exc:
        raise SlurmFormatError(f"line {number}: NodeList {exc}") from None
    account, user = row.get("account", ""), row.get("user", "")
    try:
        return JobSpec(
            site=options.site,
            job=as_id(job),
            hosts=[as_id(host) for host in hosts],
            start_ts=start,
            end_ts=end,
            tenant=as_id(account or user) if (account or user) else None,
            user=as_id(user) if user else None,
            priority=_priority(row, options),
        )
    except ValidationError as exc:
        raise SlurmFormatError(f"line {number}: {describe_validation_error(exc)}") from None


def _time(text: str, zone: ZoneInfo, number: int, what: str) -> int | None:
    if text.strip().lower() in NO_TIME:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SlurmFormatError(
            f"line {number}: {what} time {text!r} is not Slurm's YYYY-MM-DDTHH:MM:SS "
            "(unset SLURM_TIME_FORMAT, or set it to standard)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return int(when.timestamp() * 1000)


def _priority(row: dict[str, str], options: ReadOptions) -> str | None:
    if options.priority_from == "none":
        return None
    value = row.get(options.priority_from, "")
    if not value:
        return None
    return as_id(options.priority_map.get(value, value))
