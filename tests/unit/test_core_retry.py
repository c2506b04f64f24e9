"""The one back-off and retry loop (pipeline/core/retry.py)."""

from __future__ import annotations

import asyncio
import random

import pytest

from pipeline.core.retry import Backoff, retry


def test_delays_double_from_the_first_up_to_the_cap() -> None:
    backoff = Backoff(first_s=0.1, max_s=1.0)
    delays = [backoff.delay(failures) for failures in range(1, 8)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert Backoff(first_s=5.0, max_s=2.0).delay(1) == 2.0  # the cap holds from the first


def test_jitter_stays_in_the_upper_half_of_each_step() -> None:
    backoff = Backoff(first_s=0.5, max_s=4.0, jitter=True)
    rng = random.Random(3)
    for failures, step in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert step / 2 <= min(delays) and max(delays) <= step
        assert max(delays) - min(delays) > step / 10  # the jitter is real


class Flaky:
    """Fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "stored"


def test_a_failing_step_is_retried_and_each_failure_reported_with_its_delay() -> None:
    step = Flaky(3, OSError("store away"))
    seen: list[tuple[str, float]] = []
    backoff = Backoff(first_s=0.001, max_s=0.002)
    result = asyncio.run(retry(step, backoff, lambda exc, delay: seen.append((str(exc), delay))))
    assert result == "stored" and step.calls == 4
    assert seen == [("store away", 0.001), ("store away", 0.002), ("store away", 0.002)]


def test_other_errors_are_not_retried() -> None:
    step = Flaky(1, ValueError("a bug"))
    seen: list[float] = []
    backoff = Backoff(first_s=0.001, max_s=0.001)
    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(retry(step, backoff, lambda e, d: seen.append(d), retry_on=(OSError,)))
    assert step.calls == 1 and seen == []


def test_cancellation_is_never_retried() -> None:
    cancelled_step = Flaky(1, asyncio.CancelledError())
    seen: list[float] = []
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(retry(cancelled_step, Backoff(0.001, 0.001), lambda e, d: seen.append(d)))
    assert cancelled_step.calls == 1 and seen == []

    async def stop_while_waiting() -> int:
        step = Flaky(10**6, OSError("store away"))
        task = asyncio.create_task(retry(step, Backoff(60.0, 60.0), lambda e, d: None))
        while step.calls == 0:
            await asyncio.sleep(0.001)
        task.cancel()  # a stopping worker: the minute-long wait ends now
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        return step.calls

    assert asyncio.run(stop_while_waiting()) == 1
