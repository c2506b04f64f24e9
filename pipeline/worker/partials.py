"""Shard partials between workers: sent to the partials topic, received for site stages.

A shard whose site stage is on another worker returns its partials
(:attr:`pipeline.core.processor.Outcome.partials`); :class:`PartialRelay` queues them on
the partials topic keyed by site, so each lands on the partition of its site stage. The
agent of that topic hands each partial it reads to :meth:`PartialRelay.receive`, which
gives it to the site stage and publishes the alerts of the site's rules.

Partials are soft state, superseded at the latest on the next tick: a partial that
cannot be sent is logged and dropped (to the site stage it is a late one), never retried
ahead of newer ones, and the partials topic is read with automatic acks. Counted in
``megawatch_partials_total`` by outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pipeline.core.partial import Partial, PartialError, decode, encode
from pipeline.core.processor import Processor
from pipeline.events import Alert
from pipeline.worker.metrics import Metrics

logger = logging.getLogger(__name__)


class PartialRelay:
    def __init__(
        self,
        processor: Processor,
        send: Callable[[bytes, bytes], Awaitable[Any]] | None,
        metrics: Metrics,
        publish_alerts: Callable[[list[Alert]], Awaitable[None]],
    ) -> None:
        self.processor = processor
        self.send = send  # queued on the partials topic: not waited for
        self.metrics = metrics
        self.publish_alerts = publish_alerts

    async def publish(self, partials: Sequence[Partial]) -> None:
        """Queue partials for site stages elsewhere, keyed by their site."""
        for partial in partials:
            if self.send is None:
                raise RuntimeError("a partial to send, and no partials topic to send it to")
            try:
                await self.send(partial.site.encode(), encode(partial))
            except Exception as exc:  # the broker away: the next tick sends it again
                logger.warning("partial of %s/%s not sent: %s", partial.site, partial.shard, exc)
                continue
            self.metrics.partials.labels("sent").inc()

    async def flush(self) -> None:
        """Send the partials held back by the interval whose time has come."""
        due = self.processor.due_partials(_now_ms())
        if due:
            await self.publish(due)

    async def receive(self, partition: int, value: bytes | None) -> None:
        """A partial from the partials topic, for the site stage on ``partition``."""
        try:
            partial = decode(value)
        except PartialError as exc:
            logger.warning("partials topic, partition %d: not a partial: %s", partition, exc)
            self.metrics.partials.labels("unreadable").inc()
            return
        outcome = self.processor.receive_partial(partial, partition, _now_ms())
        self.metrics.partials.labels("ignored" if outcome is None else "applied").inc()
        if outcome is not None:
            await self.publish_alerts(outcome.alerts)


def _now_ms() -> int:
    return int(time.time() * 1000)
