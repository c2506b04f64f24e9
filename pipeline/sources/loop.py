"""The agent's producer loop: pace a source's ticks and hand them to the publisher.

Ticks are sent at ``start + tick.due_s`` on the monotonic clock (``paced=False`` sends
them as fast as they come: ``--speed max``). Limits are in source time (``duration_s``:
ticks due before it) or in ticks, so a run of 10 s at a 1 s interval is exactly 10
ticks however busy the machine is. A loop that falls behind its schedule says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pipeline.sources.base import OutMessage, Source

logger = logging.getLogger(__name__)

BEHIND_WARN_S = 2.0


class Sink(Protocol):
    def publish(self, messages: Iterable[OutMessage]) -> None: ...


@dataclass
class LoopStats:
    ticks: int = 0
    messages: int = 0
    bytes: int = 0
    expected_rejects: int = 0  # deliberately bad events sent (chaos)
    max_behind_s: float = 0.0


class AgentLoop:
    def __init__(
        self,
        source: Source,
        sink: Sink,
        *,
        paced: bool = True,
        duration_s: float | None = None,
        max_ticks: int | None = None,
        stop: threading.Event | None = None,
        report_every_s: float = 30.0,
    ) -> None:
        self.source, self.sink = source, sink
        self.paced = paced
        self.duration_s = duration_s
        self.max_ticks = max_ticks
        self.stop = stop or threading.Event()
        self.report_every_s = report_every_s
        self.stats = LoopStats()

    def _done(self, due_s: float) -> bool:
        if self.stop.is_set():
            return True
        if self.max_ticks is not None and self.stats.ticks >= self.max_ticks:
            return True
        return self.duration_s is not None and due_s >= self.duration_s

    def run(self) -> LoopStats:
        """Run until the source ends, a limit is reached or ``stop`` is set."""
        start = time.monotonic()
        next_report = start + self.report_every_s
        warned_behind = False
        for tick in self.source.ticks():
            if self._done(tick.due_s):
                break
            if self.paced:
                behind = time.monotonic() - (start + tick.due_s)
                if behind < 0 and self.stop.wait(-behind):
                    break
                self.stats.max_behind_s = max(self.stats.max_behind_s, behind)
                if behind > BEHIND_WARN_S and not warned_behind:
                    logger.warning(
                        "agent is %.1f s behind its schedule: the source is too big "
                        "for this machine (raise --interval or --gpu-every)",
                        behind,
                    )
                    warned_behind = True
            self.sink.publish(tick.messages)
            self._count(tick.messages)
            if time.monotonic() >= next_report:
                self.report()
                next_report += self.report_every_s
        return self.stats

    def _count(self, messages: list[OutMessage]) -> None:
        self.stats.ticks += 1
        self.stats.messages += len(messages)
        self.stats.bytes += sum(m.size for m in messages)
        self.stats.expected_rejects += sum(m.expected_rejects for m in messages)

    def report(self) -> None:
        s = self.stats
        logger.info(
            "agent: %d ticks, %d messages, %.1f MB produced", s.ticks, s.messages, s.bytes / 1e6
        )
