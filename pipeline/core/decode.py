"""Decoding of one Kafka message into valid events and per-event rejections.

This is on the hot path of every reading, so the common case (a well-formed batch
``{"events": [...]}``) is validated in one pydantic call straight from the bytes. Only
when that fails does the slow path parse the JSON and validate event by event, so that
the good events of a batch still pass and each bad one gets its own one-line reason.

Pure: no Kafka, no I/O. The caller supplies topic/partition/offset when it turns a
:class:`Reject` into a dead-letter record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from pipeline.events import GpuSample, LinkCounters, RackPower, SiteSpec

E = TypeVar("E", bound=BaseModel)

#: Most events one message may carry; a site tick of a 1 GW campus is well below this.
MAX_BATCH_EVENTS = 100_000
_INPUT_SHOWN = 40


@dataclass(frozen=True, slots=True)
class Reject:
    """One message (index None) or one event of a batch that failed validation.

    ``code`` is a stable category for counting and grouping (metrics, the dead-letter
    table); ``reason`` is the one-line human explanation naming the field or setting.
    """

    code: str
    reason: str
    raw: bytes
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    events: list[E]
    rejects: list[Reject]


@dataclass(frozen=True, slots=True)
class Limits:
    """Guard rails from the settings (max_message_bytes, max_event_age_s, max_clock_skew_s)."""

    max_message_bytes: int = 1_048_576
    max_age: timedelta = timedelta(days=7)
    max_skew: timedelta = timedelta(minutes=5)


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """The first error of a pydantic error as one line: ``field: message (got value)``."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in err["loc"]) or "message"
    shown = repr(err.get("input"))
    if len(shown) > _INPUT_SHOWN:
        shown = shown[: _INPUT_SHOWN - 3] + "..."
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{prefix}{loc}: {err['msg']} (got {shown}){more}"


def time_problem(ts: datetime, now: datetime, limits: Limits) -> tuple[str, str] | None:
    """(code, reason) when ``ts`` is not plausible event time at ``now``, else None."""
    if ts > now + limits.max_skew:
        ahead = (ts - now).total_seconds()
        return "too_new", (
            f"ts: {ts.isoformat()} is {ahead:.0f} s in the future, beyond the accepted "
            f"clock skew of {limits.max_skew.total_seconds():.0f} s (MEGAWATCH_MAX_CLOCK_SKEW_S)"
        )
    if ts < now - limits.max_age:
        hint = " (epoch seconds sent? ts takes epoch milliseconds)" if ts.year < 1990 else ""
        return "too_old", (
            f"ts: {ts.isoformat()} is older than the accepted age of "
            f"{limits.max_age.total_seconds():.0f} s (MEGAWATCH_MAX_EVENT_AGE_S){hint}"
        )
    return None


class MessageDecoder(Generic[E]):
    """Decodes messages of one event kind: one event, or a batch ``{"events": [...]}``."""

    def __init__(self, model: type[E], limits: Limits | None = None, *, keyed_by_site: bool = True):
        self.model = model
        self.limits = limits or Limits()
        self.keyed_by_site = keyed_by_site
        batch_model = type(
            f"{model.__name__}Batch",
            (BaseModel,),
            {
                "__annotations__": {"events": list[model]},  # type: ignore[valid-type]
                "events": Field(max_length=MAX_BATCH_EVENTS),
            },
        )
        self._batch: TypeAdapter[Any] = TypeAdapter(batch_model)
        self._one: TypeAdapter[E] = TypeAdapter(model)

    def decode(self, raw: bytes | None, key: bytes | None, now: datetime) -> Decoded[E]:
        """Split one message into valid events and rejects; never raises on bad input."""
        problem = self._message_problem(raw, key)
        if problem is not None:
            return Decoded([], [Reject(*problem, raw or b"")])
        assert raw is not None  # _message_problem rejects a missing value
        try:
            events: list[E] = self._batch.validate_json(raw).events
        except ValidationError:
            return self._decode_slowly(raw, key, now)
        return self._check_context(events, list(range(len(events))), raw, key, now)

    def _message_problem(self, raw: bytes | None, key: bytes | None) -> tuple[str, str] | None:
        if raw is None:
            return "no_value", "message has no value (tombstone)"
        if len(raw) > self.limits.max_message_bytes:
            return "too_large", (
                f"message of {len(raw)} bytes exceeds the limit of "
                f"{self.limits.max_message_bytes} bytes (MEGAWATCH_MAX_MESSAGE_BYTES)"
            )
        if not key and self.keyed_by_site:
            # Without a key the message lands on an arbitrary partition, so the site's
            # streams would not meet in one worker and its totals would silently be partial.
            return "no_key", "message has no key: key every message by its site id (kcat -K)"
        return None

    def _decode_slowly(self, raw: bytes, key: bytes | None, now: datetime) -> Decoded[E]:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return Decoded([], [Reject("not_json", f"not JSON: {exc}", raw)])
        if not isinstance(doc, dict):
            reason = 'expected a JSON object: one event or {"events": [...]}'
            return Decoded([], [Reject("not_object", reason, raw)])
        if "events" not in doc:
            try:
                event = self._one.validate_python(doc)
            except ValidationError as exc:
                return Decoded([], [Reject("invalid", describe_validation_error(exc), raw)])
            return self._check_context([event], [None], raw, key, now)
        items = doc["events"]
        if not isinstance(items, list) or len(items) > MAX_BATCH_EVENTS:
            reason = f'"events" must be a list of at most {MAX_BATCH_EVENTS} events'
            return Decoded([], [Reject("bad_batch", reason, raw)])
        good: list[E] = []
        positions: list[int | None] = []
        rejects: list[Reject] = []
        for i, item in enumerate(items):
            try:
                good.append(self._one.validate_python(item))
                positions.append(i)
            except ValidationError as exc:
                reason = describe_validation_error(exc, f"events[{i}].")
                rejects.append(Reject("invalid", reason, orjson.dumps(item), i))
        checked = self._check_context(good, positions, raw, key, now, doc)
        return Decoded(checked.events, rejects + checked.rejects)

    def _check_context(
        self,
        events: list[E],
        positions: list[int | None],
        raw: bytes,
        key: bytes | None,
        now: datetime,
        doc: Any = None,
    ) -> Decoded[E]:
        """Event-time plausibility and key == site: what pydantic alone cannot know."""
        want_site = key.decode("utf-8", errors="replace") if key and self.keyed_by_site else None
        lo, hi = now - self.limits.max_age, now + self.limits.max_skew
        if _all_plausible(events, lo, hi, want_site):
            return Decoded(events, [])  # the common case, checked column-wise
        keep: list[E] = []
        rejects: list[Reject] = []
        for event, position in zip(events, positions, strict=True):
            problem: tuple[str, str] | None = None
            ts = getattr(event, "ts", None)
            site = getattr(event, "site", None)
            if ts is not None and not lo <= ts <= hi:
                problem = time_problem(ts, now, self.limits)
            elif want_site is not None and site != want_site:
                problem = "key_mismatch", (
                    f"site {site!r} does not match the message key {want_site!r}: "
                    "key every message by its site id"
                )
            if problem is None:
                keep.append(event)
                continue
            if position is None:
                rejects.append(Reject(*problem, raw))
            else:
                doc = orjson.loads(raw) if doc is None else doc
                item_raw = orjson.dumps(doc["events"][position])
                rejects.append(Reject(*problem, item_raw, position))
        return Decoded(keep, rejects)


#: Decoder per topic kind; site specs are keyed by site too.
DECODED_MODELS: dict[str, type[BaseModel]] = {
    "rack_power": RackPower,
    "gpu": GpuSample,
    "link": LinkCounters,
    "site_spec": SiteSpec,
}


def _all_plausible(events: list[Any], lo: datetime, hi: datetime, site: str | None) -> bool:
    """True when every event is inside [lo, hi] and (if given) of ``site``.

    Whole-column min/max and a set run in C; per-event branching in Python costs about
    six times more, so it only runs when this says something is off.
    """
    if not events or not hasattr(events[0], "ts"):
        return not events
    stamps = [event.ts for event in events]
    if min(stamps) < lo or max(stamps) > hi:
        return False
    return site is None or {event.site for event in events} == {site}
