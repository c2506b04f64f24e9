"""A bug that some input triggers costs that input only, never its batch or partition.

Shared by the telemetry handlers (:mod:`pipeline.worker.handlers`) and the power-wave
handlers (:mod:`pipeline.worker.waves`): a message whose decoding raises is one dead
letter; a batch whose processing raises is processed again event by event, and each
event that raises is a dead letter of its own (the ``internal_error`` reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from pipeline.core.decode import Decoded, MessageDecoder, Reject

logger = logging.getLogger(__name__)

Event = TypeVar("Event", bound=BaseModel)
Out = TypeVar("Out")


@dataclass(frozen=True, slots=True)
class Processed(Generic[Out]):
    outcome: Out | None  # None: no event to process, or none processed
    failed: list[Reject] = field(default_factory=list)  # events that broke processing


def decode_guarded(
    decoder: MessageDecoder[Event], value: bytes | None, key: bytes | None, what: str
) -> Decoded[Event]:
    """``value`` decoded; a decoder exception makes the whole message one dead letter.
    ``what`` names the message in the log."""
    try:
        return decoder.decode(value, key, datetime.now(UTC))
    except Exception as exc:  # a decoder bug some input triggers: that message only
        logger.exception("decoding %s failed", what)
        return Decoded([], [internal_error(exc, value or b"", None)])


def process_isolating(
    process: Callable[[Sequence[Event]], Out],
    merged: Callable[[Out, Out], Out],
    decoded: Decoded[Event],
    what: str,
) -> Processed[Out]:
    """The outcome of the message's events, and the events that broke processing.
    ``merged(a, b)`` joins two events' outcomes (into ``a``)."""
    if not decoded.events:
        return Processed(None)
    try:
        return Processed(process(decoded.events))
    except Exception:
        logger.exception("processing %s failed: event by event", what)
    positions = decoded.positions or [None] * len(decoded.events)
    outcome: Out | None = None
    failed: list[Reject] = []
    for event, position in zip(decoded.events, positions, strict=True):
        try:
            one = process([event])
        except Exception as exc:
            failed.append(internal_error(exc, event.model_dump_json().encode(), position))
            continue
        outcome = one if outcome is None else merged(outcome, one)
    return Processed(outcome, failed)


def internal_error(exc: Exception, raw: bytes, index: int | None) -> Reject:
    reason = f"internal error while processing: {type(exc).__name__}: {exc}"[:500]
    return Reject("internal_error", reason, raw, index)
