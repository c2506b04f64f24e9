"""Retry a step a message needs until it works: :func:`until_done`.

A message is acked only when everything it produced is written (rows, dead letters,
alerts, the ledger it is checked against). A step that fails because the broker or the
store is away must not drop the message (data loss) nor crash the agent (the partition
would then wait for it forever, and Faust's stop and rebalance with it): it is retried
with capped exponential back-off (:data:`STEP_BACKOFF`, the sink's too), logged at every
attempt, for as long as it takes. The in-order acks and the stall watchdog
(``megawatch_oldest_pending_seconds``) make the wait visible.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pipeline.core.retry import Backoff, retry

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How the worker waits for the broker or the store: 0.1 s, doubling, at most 10 s.
STEP_BACKOFF = Backoff(first_s=0.1, max_s=10.0)


async def until_done(what: str, step: Callable[[], Awaitable[T]]) -> T:
    """``await step()`` until it returns; ``what`` names it in the log ("dead letter of
    telemetry.gpu[3]@120"). Cancellation (a stopping worker) is not retried."""

    def failed(exc: Exception, delay: float) -> None:  # the broker or the store: keep trying
        logger.warning(
            "%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay
        )

    return await retry(step, STEP_BACKOFF, failed)
