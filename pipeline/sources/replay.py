"""Replay of recorded readings (``megawatch agent --source replay FILE``).

Readings are sent at their recorded cadence divided by ``speed`` (None: as fast as
possible, ``--speed max``), grouped into ticks of ``tick_ms`` of recorded time, one
message per site, kind and tick. By default timestamps are shifted, keeping the spacing,
so that the recording ends at the moment its last reading is sent: "now" at the start
for ``--speed max``, and at ``--speed 1`` every reading is stamped with the time it goes
out. No reading is ever stamped in the future, so none trips the worker's clock-skew
check, and a shipped sample never ages out. ``keep_time`` sends the recorded times
unchanged (backfill within the accepted age).

A reading whose ``ts`` cannot be read (or has no UTC offset) is sent unchanged with the
tick before it, counted and logged, for the worker to dead-letter with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import SourceError
from pipeline.sources.base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    KINDS,
    OutMessage,
    Tick,
    encode_batches,
)
from pipeline.sources.kind import BuildContext
from pipeline.sources.registry import ReplaySourceOptions
from pipeline.sources.replay_read import read_recording

logger = logging.getLogger(__name__)

DEFAULT_TICK_MS = 100


def ts_to_ms(value: Any) -> int | None:
    """Epoch milliseconds of a contract timestamp, or None if it cannot be read."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None  # the contract wants an offset; do not guess the zone
        return int(parsed.timestamp() * 1000)
    return None


class ReplaySource:
    def __init__(
        self,
        path: Path,
        *,
        speed: float | None = 1.0,
        keep_time: bool = False,
        kind: str | None = None,
        sites: list[str] | None = None,
        tick_ms: int = DEFAULT_TICK_MS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        now_ms: int | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise SourceError(f"--speed {speed}: expected a number > 0 or 'max'")
        if tick_ms < 1:
            raise SourceError("--tick-ms must be >= 1")
        self.path, self.speed, self.keep_time = Path(path), speed, keep_time
        self.tick_ms, self.batch_size, self.max_bytes = tick_ms, batch_size, max_bytes
        self.recording = read_recording(self.path, kind)
        rows = self.recording.rows
        if sites:
            rows = [row for row in rows if row.get("site") in sites]
            if not rows:
                raise SourceError(f"replay file {path}: no readings of site {', '.join(sites)}")
        self.rows = rows
        self.unreadable_ts = 0
        self._timed = self._order()
        self.shift_ms = 0 if keep_time else self._shift(now_ms)

    def _order(self) -> list[tuple[int, dict[str, Any]]]:
        """(recorded ms, row) in time order; unreadable ts ride with the reading before."""
        timed: list[tuple[int, int, dict[str, Any]]] = []
        last = None
        for index, row in enumerate(self.rows):
            ms = ts_to_ms(row.get("ts"))
            if ms is None:
                self.unreadable_ts += 1
                row["_raw_ts"] = True
                ms = last
            last = ms if ms is not None else last
            timed.append((ms if ms is not None else -1, index, row))
        if self.unreadable_ts:
            logger.warning(
                "replay file %s: %d readings have a ts that cannot be read or has no "
                "UTC offset; sent unchanged (the worker dead-letters them)",
                self.path,
                self.unreadable_ts,
            )
        timed.sort(key=lambda item: (item[0], item[1]))
        first = next((ms for ms, _, _ in timed if ms >= 0), 0)
        return [(ms if ms >= 0 else first, row) for ms, _, row in timed]

    @property
    def first_ms(self) -> int:
        return self._timed[0][0]

    @property
    def last_ms(self) -> int:
        return self._timed[-1][0]

    def _shift(self, now_ms: int | None) -> int:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        span = self.last_ms - self.first_ms
        replay_ms = 0 if self.speed is None else span / max(self.speed, 1.0)
        return int(now_ms + replay_ms) - self.last_ms

    def describe(self) -> str:
        pace = "as fast as possible" if self.speed is None else f"at {self.speed:g}x"
        when = (
            "recorded times"
            if self.keep_time
            else f"times shifted by {self.shift_ms / 1000:+.0f} s"
        )
        return (
            f"replay of {self.path.name}: {len(self._timed)} readings over "
            f"{(self.last_ms - self.first_ms) / 1000:.1f} s, {pace}, {when}"
        )

    def _event(self, row: dict[str, Any], ms: int) -> dict[str, Any]:
        event = {k: v for k, v in row.items() if k not in ("kind", "_raw_ts")}
        if not self.keep_time and not row.get("_raw_ts"):
            event["ts"] = ms + self.shift_ms
        return event

    def _messages(self, group: list[tuple[int, dict[str, Any]]]) -> list[OutMessage]:
        buckets: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for ms, row in group:
            site = row.get("site")
            key = (row["kind"], site if isinstance(site, str) else "")
            buckets.setdefault(key, []).append(self._event(row, ms))
        out: list[OutMessage] = []
        for kind in KINDS:
            for (k, site), events in buckets.items():
                if k == kind:
                    out += encode_batches(kind, site, events, self.batch_size, self.max_bytes)
        return out

    def ticks(self) -> Iterator[Tick]:
        group: list[tuple[int, dict[str, Any]]] = []
        bucket = None
        for ms, row in self._timed:
            this = (ms - self.first_ms) // self.tick_ms
            if group and this != bucket:
                yield self._tick(group)
                group = []
            bucket = this
            group.append((ms, row))
        if group:
            yield self._tick(group)

    def _tick(self, group: list[tuple[int, dict[str, Any]]]) -> Tick:
        # due when the group's last reading is due: never sent before its own time
        due = 0.0 if self.speed is None else (group[-1][0] - self.first_ms) / 1000 / self.speed
        return Tick(due, self._messages(group))


def replay_source(options: ReplaySourceOptions, context: BuildContext) -> ReplaySource:
    """``--source replay FILE``."""
    return ReplaySource(
        options.file,
        speed=options.speed,
        keep_time=options.keep_time,
        kind=options.kind,
        sites=list(options.sites) or None,
        batch_size=options.batch_size,
        max_bytes=context.settings.max_message_bytes,
    )
