"""Retry a step a message needs until it works: :func:`until_done`.

A message is acked only when everything it produced is written (rows, dead letters,
alerts, the ledger it is checked against). A step that fails because the broker or the
store is away must not drop the message (data loss) nor crash the agent (the partition
would then wait for it forever, and Faust's stop and rebalance with it): it is retried
with capped exponential back-off, logged at every attempt, for as long as it takes. The
in-order acks and the stall watchdog (``megawatch_oldest_pending_seconds``) make the
wait visible.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 10.0


async def until_done(what: str, step: Callable[[], Awaitable[T]]) -> T:
    """``await step()`` until it returns; ``what`` names it in the log ("dead letter of
    telemetry.gpu[3]@120"). Cancellation (a stopping worker) is not retried."""
    delay = FIRST_DELAY_S
    while True:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker or the store: keep the message until it works
            logger.warning(
                "%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
