"""Decoding of one Kafka message into valid events and per-event rejections.

This is on the hot path of every reading. The common case (a well-formed message of
rack power, GPU or link events) takes the columnar fast path
(:mod:`pipeline.core.columnar`: ``orjson.loads``, then one check per column, 1.3-2x
pydantic's speed) and comes out as columns. Whatever that path is not sure of goes to
the models: the batch validated in one pydantic call straight from the bytes, and when
that fails, event by event, so that the good events of a batch still pass and each bad
one gets its own one-line reason. Rejections therefore always come from pydantic.

The message key is ``SITE`` or ``SITE/SHARD`` (:mod:`pipeline.core.site_key`): every event
must be of the key's site (the part before ``/``), else ``key_mismatch``; a malformed shard
rejects the message (``bad_key``), before any event is read.

Pure: no Kafka, no I/O. The caller supplies topic/partition/offset when it turns a
:class:`Reject` into a dead-letter record.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from pipeline.core.columnar import ColumnarDecoder, EventColumns, Unsure
from pipeline.core.site_key import shard_problem, site_of
from pipeline.events import ms_to_datetime

E = TypeVar("E", bound=BaseModel)

#: Most events one message may carry; a site tick of a 1 GW campus is well below this.
MAX_BATCH_EVENTS = 100_000
_INPUT_SHOWN = 40
_MS = timedelta(milliseconds=1)


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
    #: a list of models, or (from the columnar fast path) :class:`EventColumns`
    events: Sequence[E]
    rejects: list[Reject]
    #: position in the batch of each event (None: the message was one event); empty
    #: when not tracked
    positions: list[int | None] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limits:
    """Guard rails from the settings (max_message_bytes, max_event_age_s, max_clock_skew_s)."""

    max_message_bytes: int = 1_048_576
    max_age: timedelta = timedelta(days=7)
    max_skew: timedelta = timedelta(minutes=5)


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """The first problem of a pydantic error as one line: ``field: message (got value)``.

    A union (``ts``: epoch ms or RFC 3339) reports one error per branch, with the branch
    in the location; they are folded into one, keeping the branch that fits the input:
    the text one for a string, the number one otherwise.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = _field_path(first["loc"])
    same = [e for e in errors if _field_path(e["loc"]) == path]
    err = same[-1] if len(same) > 1 and isinstance(first.get("input"), str) else first
    problems = len({_field_path(e["loc"]) for e in errors})
    loc = ".".join(str(part) for part in path) or "message"
    shown = repr(err.get("input"))
    if len(shown) > _INPUT_SHOWN:
        shown = shown[: _INPUT_SHOWN - 3] + "..."
    more = f" (+{problems - 1} more)" if problems > 1 else ""
    return f"{prefix}{loc}: {err['msg']} (got {shown}){more}"


def _field_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The location without pydantic's union branch tags (``constrained-int``, ...)."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("-" in p or "[" in p)))


def time_problem(ts_ms: int, now_ms: int, limits: Limits) -> tuple[str, str] | None:
    """(code, reason) when ``ts_ms`` is not plausible event time at ``now_ms``, else None."""
    skew_ms, age_ms = limits.max_skew // _MS, limits.max_age // _MS
    stamp = _stamp(ts_ms)
    if ts_ms > now_ms + skew_ms:
        return "too_new", (
            f"ts: {stamp} is {(ts_ms - now_ms) / 1000:.0f} s in the future, beyond the accepted "
            f"clock skew of {skew_ms / 1000:.0f} s (MEGAWATCH_MAX_CLOCK_SKEW_S)"
        )
    if ts_ms < now_ms - age_ms:
        seconds_sent = ts_ms < 631_152_000_000  # before 1990: likely epoch seconds
        hint = " (epoch seconds sent? ts takes epoch milliseconds)" if seconds_sent else ""
        return "too_old", (
            f"ts: {stamp} is older than the accepted age of "
            f"{age_ms / 1000:.0f} s (MEGAWATCH_MAX_EVENT_AGE_S){hint}"
        )
    return None


def _stamp(ts_ms: int) -> str:
    """``ts_ms`` as RFC 3339, or as a number where no calendar date exists (year > 9999:
    the contract allows integers up to 2**53, datetime stops at year 9999)."""
    try:
        return ms_to_datetime(ts_ms).isoformat()
    except (ValueError, OverflowError, OSError):
        return f"{ts_ms} ms (past year 9999)"


class MessageDecoder(Generic[E]):
    """Decodes messages of one event kind: one event, or a batch ``{"events": [...]}``."""

    def __init__(
        self,
        model: type[E],
        limits: Limits | None = None,
        *,
        keyed_by_site: bool = True,
        fast: bool = True,
    ):
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
        self._columnar = ColumnarDecoder.of(model, MAX_BATCH_EVENTS) if fast else None

    def decode(self, raw: bytes | None, key: bytes | None, now: datetime) -> Decoded[E]:
        """Split one message into valid events and rejects; never raises on bad input."""
        problem = self._message_problem(raw, key)
        if problem is not None:
            return Decoded([], [Reject(*problem, raw or b"")])
        assert raw is not None  # _message_problem rejects a missing value
        if self._columnar is not None:
            fast = self._decode_fast(self._columnar, raw, key, now)
            if fast is not None:
                return fast
        return self._decode_pydantic(raw, key, now)

    def _decode_fast(
        self, columnar: ColumnarDecoder[E], raw: bytes, key: bytes | None, now: datetime
    ) -> Decoded[E] | None:
        """The columnar fast path, or None when it is not sure (then pydantic decides).

        First msgspec straight to typed columns; for a message it refuses, or whose
        events are not all in time and of the key's site, orjson and the same checks
        (the per-event context checks need the parsed document)."""
        typed = columnar.from_bytes(raw)
        if typed is not None and self._in_context(typed[0], key, now):
            columns, batch = typed
            return Decoded(columns, [], list(range(len(columns))) if batch else [None])
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if type(doc) is not dict:
            return None
        batch = "events" in doc
        items = doc["events"] if batch else [doc]
        if type(items) is not list or not items or len(items) > MAX_BATCH_EVENTS:
            return None
        try:
            columns = columnar.columns(items, as_json=batch)
        except Unsure:
            return None
        positions: list[int | None] = list(range(len(items))) if batch else [None]
        if self._in_context(columns, key, now):
            return Decoded(columns, [], positions)
        return self._check_context(list(columns), positions, raw, key, now, doc)

    def _context(self, key: bytes | None, now: datetime) -> tuple[str | None, int, int, int]:
        """The site the key asks for (None: any; of a ``SITE/SHARD`` key, its part before
        the ``/``), now and the plausible event-time window, in epoch ms."""
        want_site = site_of(_key_text(key)) if key and self.keyed_by_site else None
        now_ms = int(now.timestamp() * 1000)
        lo, hi = now_ms - self.limits.max_age // _MS, now_ms + self.limits.max_skew // _MS
        return want_site, now_ms, lo, hi

    def _in_context(self, columns: EventColumns[E], key: bytes | None, now: datetime) -> bool:
        """Every event in time and of the key's site (column-wise, the common case)."""
        want_site, _, lo, hi = self._context(key, now)
        stamps = columns.columns["ts"]
        in_time = min(stamps) >= lo and max(stamps) <= hi
        return in_time and (want_site is None or set(columns.columns["site"]) == {want_site})

    def _decode_pydantic(self, raw: bytes, key: bytes | None, now: datetime) -> Decoded[E]:
        """The models' own path: the batch in one call, else event by event."""
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
        if key and self.keyed_by_site:
            problem = shard_problem(_key_text(key))
            if problem is not None:
                return "bad_key", problem
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
                rejects.append(Reject("invalid", reason, _item_bytes(item), i))
        checked = self._check_context(good, positions, raw, key, now, doc)
        return Decoded(checked.events, rejects + checked.rejects, checked.positions)

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
        want_site, now_ms, lo, hi = self._context(key, now)
        if _all_plausible(events, lo, hi, want_site):
            return Decoded(events, [], positions)  # the common case, checked column-wise
        keep: list[E] = []
        kept_at: list[int | None] = []
        rejects: list[Reject] = []
        for event, position in zip(events, positions, strict=True):
            problem: tuple[str, str] | None = None
            ts = getattr(event, "ts", None)
            site = getattr(event, "site", None)
            if ts is not None and not lo <= ts <= hi:
                problem = time_problem(ts, now_ms, self.limits)
            elif want_site is not None and site != want_site:
                problem = ("key_mismatch", _mismatch(site, want_site, key))
            if problem is None:
                keep.append(event)
                kept_at.append(position)
                continue
            if position is None:
                rejects.append(Reject(*problem, raw))
            else:
                doc = orjson.loads(raw) if doc is None else doc
                item_raw = orjson.dumps(doc["events"][position])
                rejects.append(Reject(*problem, item_raw, position))
        return Decoded(keep, rejects, kept_at)


def _key_text(key: bytes | None) -> str:
    return key.decode("utf-8", errors="replace") if key else ""


def _mismatch(site: object, want_site: str, key: bytes | None) -> str:
    text = _key_text(key)
    sharded = f" (site {want_site!r})" if text != want_site else ""
    return (
        f"site {site!r} does not match the message key {text!r}{sharded}: key every "
        "message by its site id, or SITE/SHARD"
    )


def _item_bytes(item: Any) -> bytes:
    """One event of a batch as bytes for its dead letter; orjson refuses nesting deeper
    than 254 levels (which the message's own parser took), so such an item is shown
    abridged rather than failing the whole message."""
    try:
        return orjson.dumps(item)
    except (TypeError, orjson.JSONEncodeError):
        return reprlib.repr(item).encode()


def _all_plausible(events: list[Any], lo: int, hi: int, site: str | None) -> bool:
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
