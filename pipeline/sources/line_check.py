"""JSON lines checked against the contract before ``megawatch publish`` sends them.

Each line (one event, or a batch ``{"events": [...]}``) is decoded by the worker's own
decoder (:class:`pipeline.core.decode.MessageDecoder`, with the worker's limits) as the
message it would be, so that what publish refuses is exactly what the worker would
dead-letter, with the same reason. What passes is sent; what does not is reported by
line (and event) with its reason, unless the user sends it on purpose.

The key is the site, or ``SITE/SHARD`` for a site spread over several partitions: the
part before the ``/`` must be the events' site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from pipeline.core.decode import Limits, MessageDecoder
from pipeline.errors import SourceError
from pipeline.events import (
    FacilityPower,
    GpuSample,
    LinkCounters,
    PowerWave,
    RackPower,
    WorkCounter,
)
from pipeline.kafka.topics import FACILITY, GPU, LINK, POWER_WAVE, RACK_POWER, WORK

#: telemetry topic -> the model the worker decodes its messages with
MODELS: dict[str, type[BaseModel]] = {
    RACK_POWER: RackPower,
    POWER_WAVE: PowerWave,
    GPU: GpuSample,
    LINK: LinkCounters,
    FACILITY: FacilityPower,
    WORK: WorkCounter,
}
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class Refusal:
    """One line, or one event of a batch line, that the worker would dead-letter."""

    line: int
    reason: str
    column: int | None = None  # where a line that is not JSON goes wrong
    index: int | None = None  # the event of a batch line

    def __str__(self) -> str:
        where = f"line {self.line}"
        if self.column is not None:
            where += f", column {self.column}"
        if self.index is not None:
            where += f", events[{self.index}]"
        return f"{where}: {self.reason}"


@dataclass
class Checked:
    """The values of some lines that pass (to send), and what was refused."""

    values: list[Any] = field(default_factory=list)
    events: int = 0  # events in ``values``
    refused: list[Refusal] = field(default_factory=list)
    refused_events: int = 0


def key_site(key: str) -> str:
    """The site of a message key ``SITE`` or ``SITE/SHARD``; SourceError when malformed."""
    site, slash, shard = key.partition("/")
    if not _ID.match(site) or (slash and not _ID.match(shard)):
        raise SourceError(
            f"--key {key!r}: expected a site id, or SITE/SHARD, each 1-64 characters of "
            "A-Z a-z 0-9 . _ : -"
        )
    return site


class LineChecker:
    """Checks the lines of one topic and key with the worker's decoder."""

    def __init__(self, topic: str, key: str, limits: Limits) -> None:
        model = MODELS.get(topic)
        self.decoder: MessageDecoder[Any] | None = None
        self.site = key.encode()
        if model is not None:
            self.decoder = MessageDecoder(model, limits)
            self.site = key_site(key).encode()

    def check(self, lines: list[tuple[int, str]], send_invalid: bool = False) -> Checked:
        """The values of ``lines`` ((number, text) pairs) to send, and the refusals; with
        ``send_invalid`` a refused line is sent too, as written (bytes), still reported."""
        out = Checked()
        now = datetime.now(UTC)
        for number, text in lines:
            value, refusals, bad = self._line(number, text, now)
            out.refused += refusals
            out.refused_events += bad
            if send_invalid and refusals:
                out.values.append(text.strip().encode())
                out.events += bad + (_count(value) if value is not None else 0)
            elif value is not None:
                out.values.append(value)
                out.events += _count(value)
        return out

    def _line(self, number: int, text: str, now: datetime) -> tuple[Any, list[Refusal], int]:
        """(what of the line passes, refusals, events refused)."""
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            # the worker's reason (decode's not_json) and where in the line it went wrong
            return None, [Refusal(number, f"not JSON: {exc.msg}", column=exc.colno)], 1
        if self.decoder is None:  # not a telemetry topic: one JSON object per message
            if isinstance(value, dict):
                return value, [], 0
            return None, [Refusal(number, "expected a JSON object")], 1
        decoded = self.decoder.decode(text.encode(), self.site, now)
        if not decoded.rejects:
            return value, [], 0
        refusals = [Refusal(number, r.reason, index=r.index) for r in decoded.rejects]
        if any(r.index is None for r in decoded.rejects) or "events" not in value:
            return None, refusals, _count(value)
        bad = {r.index for r in decoded.rejects}
        kept = [event for i, event in enumerate(value["events"]) if i not in bad]
        return ({**value, "events": kept} if kept else None), refusals, len(bad)


def _count(value: Any) -> int:
    if isinstance(value, dict) and isinstance(value.get("events"), list):
        return len(value["events"])
    return 1
