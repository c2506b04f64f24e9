"""Capped exponential back-off, and the one retry loop built on it.

Every retry in megawatch waits by a :class:`Backoff`: the first delay, doubling after each
failure in a row, never above the cap; optionally jittered. Its users:

* :func:`retry` (async): a step retried until it works, each failure handed to the
  caller's ``on_retry`` (its log line in its own words, its metrics) with the delay that
  follows. The worker's sink (an insert into the store) and
  :func:`pipeline.worker.persist.until_done` (a step a Kafka message needs) retry this
  way, and so does the notifier reading the alerts topic.
* The delivery loop of :mod:`pipeline.notify.delivery`, whose schedule
  (:meth:`pipeline.notify.retry.RetryPolicy.backoff`) is a jittered :class:`Backoff`;
  a receiver's ``Retry-After`` and the give-up time stay the loop's own.
* The site agent's sender thread (:mod:`pipeline.sources.publisher`), which blocks on
  ``Backoff.delay`` between tries while the broker is away.

Cancellation is never retried: a stopping worker must stop, not wait for the store.
Plain Python, no infrastructure (the pure core).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Backoff", "OnRetry", "retry"]

T = TypeVar("T")

#: (the failure, seconds until the next attempt): the caller logs and counts it
OnRetry = Callable[[Exception, float], object]


@dataclass(frozen=True)
class Backoff:
    """Delays of ``first_s``, doubling after each failure in a row, at most ``max_s``.

    With ``jitter`` each delay is drawn from the upper half of its step ("equal
    jitter"): many senders recovering from one outage do not all come back at once,
    and the delay never collapses to zero.
    """

    first_s: float
    max_s: float
    jitter: bool = False

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after ``failures`` failed attempts in a row (1 after the first)."""
        step = min(self.max_s, self.first_s * 2 ** max(0, failures - 1))
        if not self.jitter:
            return float(step)
        return float(step * (0.5 + 0.5 * (rng or random).random()))


async def retry(
    step: Callable[[], Awaitable[T]],
    backoff: Backoff,
    on_retry: OnRetry,
    *,
    retry_on: tuple[type[Exception], ...] = (Exception,),
) -> T:
    """``await step()`` until it returns, waiting by ``backoff`` after each failure of a
    ``retry_on`` kind (others propagate at once, and so does cancellation)."""
    failures = 0
    while True:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except retry_on as exc:
            failures += 1
            delay = backoff.delay(failures)
            on_retry(exc, delay)
        await asyncio.sleep(delay)
