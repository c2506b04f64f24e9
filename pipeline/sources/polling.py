"""Sources that poll what a site already runs: each tick, ask every reader, send what came.

dcgm-exporter, Redfish, netdev and RDMA counters all work the same way: every
``interval_s`` the source asks each of its readers (one exporter URL, one Redfish
service, this host's interfaces) for the readings of that moment and sends them as one
tick, batched per kind like every other source. A reader that fails says so in one line
(the first failure of a run of failures, then once more when it recovers), is counted in
:class:`ReadStats`, and never stops the others: the tick goes out with what did answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.errors import SourceError
from pipeline.sources.base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    OutMessage,
    Tick,
    encode_batches,
)

logger = logging.getLogger(__name__)


class ReadError(SourceError):
    """One reader could not read this tick; its message is one line naming what to fix."""


class Reader(Protocol):
    """One thing to poll: ``read`` returns events by kind, or raises :class:`ReadError`."""

    name: str

    def read(self, ts_ms: int) -> dict[str, list[dict[str, Any]]]: ...


@dataclass
class ReadStats:
    """What the readers did over a run (the agent logs it at the end)."""

    reads: int = 0
    failures: int = 0
    events: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.events.items())) or "none"
        return f"{self.reads} reads, {self.failures} failed; events: {counts}"


class PollingSource:
    """Polls ``readers`` every ``interval_s`` and yields one tick of their events."""

    def __init__(
        self,
        site: str,
        readers: Sequence[Reader],
        *,
        label: str,
        interval_s: float = 1.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if not readers:
            raise SourceError(f"{label}: nothing to read (give --url, --targets or a mapping)")
        self.site, self.readers, self.label = site, list(readers), label
        self.interval_s, self.batch_size, self.max_bytes = interval_s, batch_size, max_bytes
        self.stats = ReadStats()
        for reader in self.readers:  # readers of several devices report each one
            if hasattr(reader, "report"):
                reader.report = self.report

    def describe(self) -> str:
        names = ", ".join(r.name for r in self.readers[:3])
        more = f" and {len(self.readers) - 3} more" if len(self.readers) > 3 else ""
        return f"{self.label} for site {self.site}: {names}{more}, every {self.interval_s:g} s"

    def read_once(self, ts_ms: int) -> dict[str, list[dict[str, Any]]]:
        """Every reader's events of one moment, by kind; failures logged and counted."""
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for reader in self.readers:
            self.stats.reads += 1
            try:
                got = reader.read(ts_ms)
            except ReadError as exc:
                self._failed(reader.name, str(exc))
                continue
            self.report(reader.name, None)
            for kind, events in got.items():
                by_kind.setdefault(kind, []).extend(events)
                self.stats.events[kind] = self.stats.events.get(kind, 0) + len(events)
        return by_kind

    def report(self, name: str, reason: str | None) -> None:
        """A device of a reader failed (``reason``) or answered (None)."""
        if reason is not None:
            self._failed(name, reason)
        elif name in self.stats.failing:
            self.stats.failing.discard(name)
            logger.warning("%s: %s answers again", self.label, name)

    def _failed(self, name: str, reason: str) -> None:
        self.stats.failures += 1
        if name not in self.stats.failing:  # one line per run of failures, not per tick
            self.stats.failing.add(name)
            logger.warning("%s: %s failed: %s", self.label, name, reason)
        else:
            logger.debug("%s: %s still failing: %s", self.label, name, reason)

    def messages(self, by_kind: dict[str, list[dict[str, Any]]]) -> list[OutMessage]:
        out: list[OutMessage] = []
        for kind, events in by_kind.items():
            if events:
                out += encode_batches(kind, self.site, events, self.batch_size, self.max_bytes)
        return out

    def ticks(self) -> Iterator[Tick]:
        """Reads taken at their due time (the loop then sends them at once)."""
        k, start = 0, time.monotonic()
        try:
            while True:
                time.sleep(max(0.0, start + k * self.interval_s - time.monotonic()))
                by_kind = self.read_once(int(time.time() * 1000))
                yield Tick(k * self.interval_s, self.messages(by_kind))
                k += 1
        finally:
            logger.info("%s: %s", self.label, self.stats.summary())
            for reader in self.readers:
                close = getattr(reader, "close", None)
                if close is not None:
                    close()
