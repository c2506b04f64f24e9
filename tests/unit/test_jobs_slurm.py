"""Slurm hostlists and sacct/squeue listings into job specs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline.jobs.hostlist import HostlistError, expand
from pipeline.jobs.slurm import ReadOptions, SlurmFormatError, parse_jobs


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        ("gpu[001-004,010]", ["gpu001", "gpu002", "gpu003", "gpu004", "gpu010"]),
        ("tux[1,3-5],login1", ["tux1", "tux3", "tux4", "tux5", "login1"]),
        ("n[8-10]", ["n8", "n9", "n10"]),  # the first bound's width: no padding
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("rack[1-2]-n[01-02]", ["rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"]),
        ("c420-[024,073],c421-[051-052]", ["c420-024", "c420-073", "c421-051", "c421-052"]),
        ("single", ["single"]),
        ("a[1-2],a2", ["a1", "a2"]),  # listed twice: once
    ],
)
def test_hostlists_expand_as_slurm_writes_them(expression: str, hosts: list[str]) -> None:
    assert expand(expression) == hosts


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("gpu[1-4", "'\\[' without '\\]'"),
        ("gpu1-4]", "'\\]' without '\\['"),
        ("gpu[4-1]", "runs backwards"),
        ("gpu[a-b]", "is not a number or a range"),
        ("gpu[[1]]", "nested brackets"),
        ("gpu[0-999999]", "over 100000 hosts"),
    ],
)
def test_bad_hostlists_say_what_is_wrong(expression: str, why: str) -> None:
    with pytest.raises(HostlistError, match=why):
        expand(expression)


SACCT = """\
JobID|User|Account|Partition|QOS|NodeList|Start|End|State
4471203|alice|llm-research|gpu|training|gpu[001-004,010]|2026-11-20T08:00:00|Unknown|RUNNING
4471203.batch||llm-research||gpu|gpu001|2026-11-20T08:00:00|Unknown|RUNNING
4471203.0||llm-research||gpu|gpu[001-004,010]|2026-11-20T08:00:05|Unknown|RUNNING
4471150|bob|search|gpu|interactive|gpu[020-021]|2026-11-20T06:00:00|2026-11-20T07:30:00|COMPLETED
4471151_7|carol|ads|gpu|batch|gpu030|2026-11-20T07:00:00|2026-11-20T07:10:00|CANCELLED by 1234
4471152|dave|ads|gpu|batch|None assigned|Unknown|Unknown|PENDING
4471153+0|erin||gpu|normal|gpu040|2026-11-20T07:00:00|2026-11-20T09:00:00|TIMEOUT
"""


def ms(text: str, zone: str = "UTC") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def test_sacct_parsable_output_gives_one_spec_per_allocation() -> None:
    options = ReadOptions("dfw-1", priority_map={"interactive": "inference"})
    parsed = parse_jobs(SACCT, options)
    jobs = {job.job: job for job in parsed.jobs}
    assert sorted(jobs) == ["4471150", "4471151_7", "4471153-0", "4471203"]
    running = jobs["4471203"]
    assert running.hosts == ["gpu001", "gpu002", "gpu003", "gpu004", "gpu010"]
    assert (running.start_ts, running.end_ts) == (ms("2026-11-20T08:00:00"), None)
    assert (running.tenant, running.user, running.priority, running.site) == (
        "llm-research",
        "alice",
        "training",
        "dfw-1",
    )
    assert jobs["4471150"].priority == "inference"  # renamed by --priority-map
    assert jobs["4471150"].end_ts == ms("2026-11-20T07:30:00")
    assert jobs["4471151_7"].end_ts == ms("2026-11-20T07:10:00")  # "CANCELLED by": ended
    assert jobs["4471153-0"].tenant == "erin"  # no account: the user
    assert parsed.skipped == {"job steps": 2, "no nodes yet": 1}


def test_squeue_output_and_its_projected_end() -> None:
    text = (
        "JOBID|USER|ACCOUNT|PARTITION|QOS|NODELIST|START_TIME|END_TIME|STATE\n"
        "9001|alice|lab|gpu|high|n[01-02]|2026-11-20T08:00:00|2026-11-21T08:00:00|RUNNING\n"
    )
    options = ReadOptions("s1", tz="Europe/Berlin", priority_from="partition")
    (job,) = parse_jobs(text, options).jobs
    assert job.end_ts is None  # a running job's END_TIME is its time limit
    assert job.start_ts == ms("2026-11-20T08:00:00", "Europe/Berlin")
    assert (job.hosts, job.priority) == (["n01", "n02"], "gpu")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no lines"),
        ("JobID|User\n1|a\n", "the header has no nodes, start column"),
        ("JobID|NodeList|Start\n1|n1\n", "line 2: 2 fields where the header has 3"),
        ("JobID|NodeList|Start\n1|n[1-|2026-11-20T08:00:00\n", "line 2: NodeList"),
        ("JobID|NodeList|Start\n1|n1|11/20-08:00\n", "line 2: start time '11/20-08:00'"),
        ("JobID|NodeList|Start\n|n1|2026-11-20T08:00:00\n", "line 2: the JobID is empty"),
    ],
)
def test_unreadable_listings_name_the_line(text: str, why: str) -> None:
    with pytest.raises(SlurmFormatError, match=why):
        parse_jobs(text, ReadOptions("s1"))


def test_an_unknown_time_zone_is_one_line() -> None:
    with pytest.raises(SlurmFormatError, match="--tz Mars/Base: not a time zone"):
        parse_jobs(SACCT, ReadOptions("s1", tz="Mars/Base"))
