"""The job map: labels by host, GPU and time; a sample's own label wins; forgetting."""

from __future__ import annotations

import orjson

from pipeline.core.energy.jobs import JobBook
from pipeline.core.energy.work import WorkCounters


def spec(job: str, hosts: list[str], start: int, end: int | None, **extra: object) -> bytes:
    doc = {"site": "s1", "job": job, "hosts": hosts, "start_ts": start, "end_ts": end, **extra}
    return orjson.dumps(doc)


def label(book: JobBook, hosts: list[str], gpus: list[str], ts: list[int]):  # type: ignore[no-untyped-def]
    none: list[str | None] = [None] * len(hosts)
    return book.label("s1", hosts, gpus, ts, (list(none), list(none), list(none)))


def test_samples_take_the_job_running_on_their_host_at_their_time() -> None:
    book = JobBook()
    book.apply("s1/j1", spec("j1", ["h1", "h2"], 1000, 5000, tenant="t1", priority="training"))
    book.apply("s1/j2", spec("j2", ["h1"], 5000, None, tenant="t2", priority="inference"))
    jobs, tenants, classes = label(
        book, ["h1", "h1", "h2", "h2", "h3"], ["0"] * 5, [2000, 6000, 4999, 5000, 2000]
    )
    assert jobs == ["j1", "j2", "j1", None, None]
    assert tenants == ["t1", "t2", "t1", None, None]
    assert classes == ["training", "inference", "training", None, None]


def test_a_job_on_some_gpus_labels_only_those() -> None:
    book = JobBook()
    book.apply("s1/j1", spec("j1", ["h1"], 0, None, gpus=["0", "1"]))
    jobs, _, _ = label(book, ["h1"] * 3, ["0", "1", "2"], [10, 10, 10])
    assert jobs == ["j1", "j1", None]


def test_the_samples_own_labels_win_and_a_later_start_wins_an_overlap() -> None:
    book = JobBook()
    book.apply("s1/old", spec("old", ["h1"], 0, None, priority="batch"))
    book.apply("s1/new", spec("new", ["h1"], 100, None, priority="training"))
    jobs, _, classes = book.label(
        "s1", ["h1", "h1"], ["0", "0"], [200, 200], (["pod-a", None], [None, None], [None, None])
    )
    assert jobs == ["pod-a", "new"] and classes == [None, "training"]


def test_tombstones_forget_jobs_and_invalid_records_are_ignored() -> None:
    book = JobBook()
    book.apply("s1/j1", spec("j1", ["h1"], 0, 100))
    book.apply("s1/j2", spec("j2", ["h2"], 0, None))
    book.apply("s1/bad", b'{"site": "s1"}')  # logged and ignored
    book.apply("s1/other", spec("j3", ["h3"], 0, None))  # key names another job: ignored
    assert len(book) == 2
    book.apply("s1/j2", None)
    assert label(book, ["h2"], ["0"], [50])[0] == [None]
    book.apply("s1/j1", None)
    assert len(book) == 0 and not book.has_site("s1")


def test_work_counters_count_deltas_restarts_and_ignore_repeats() -> None:
    counters = WorkCounters()
    key = ("h1", "", "generation_tokens", "llama")
    first = counters.step([key, key], [1000, 2000], [100.0, 160.0])
    assert (first.delta, first.baseline, first.reset) == ([0.0, 60.0], [1, 0], [0, 0])
    again = counters.step([key, key, key], [2000, 3000, 4000], [160.0, 30.0, 50.0])
    assert (again.delta, again.reset) == ([0.0, 30.0, 20.0], [0, 1, 0])  # restart: from zero
    assert counters.forget_older_than(5000) == 1 and len(counters) == 0
