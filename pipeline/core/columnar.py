"""The columnar fast path of decoding: a message's events as columns, checked per column.

pydantic validates a batch at about 0.45 M readings/s; ``orjson.loads`` parses it at
2 M. Between the two is per-event work that a column does once: a type set, a min and a
max per number column, a set lookup per id column (each distinct id is matched against
the pattern once and remembered). This module does exactly that, and nothing else.

It only ever *accepts*. A message it is not sure about (a missing field, a value of an
unexpected type, out of bounds, an unknown field table) is handed back (``None``) to
the pydantic path, so every rejection and its reason still come from the models.
What it accepts, it accepts with the values pydantic would give (ints as floats in
float fields, strings of ``ts`` through the model's own ``ts`` validator, enums as
members): ``tests/unit/test_decode_differential.py`` proves it equal on the fault
suite's fuzz corpus and on generated valid data.

Pure: no I/O.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Generic, TypeVar, overload

import orjson
from pydantic import BaseModel, ValidationError, create_model

from pipeline.core.column_kinds import Check, flags, lanes, per_priority, tagged
from pipeline.core.column_kinds import Unsure as Unsure  # decode catches it from here
from pipeline.core.typed_json import TypedDecoder
from pipeline.events import (
    MAX_COUNTER,
    MAX_DBM,
    MAX_GPU_POWER_W,
    MAX_RACK_POWER_W,
    MIN_DBM,
    GpuSample,
    LinkClass,
    LinkCounters,
    RackPower,
)

E = TypeVar("E", bound=BaseModel)

#: pipeline.events.ID_PATTERN, matched whole (Python's ``$`` would allow a final newline)
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}").fullmatch
_MAX_TS = 2**53
_EXACT_FLOAT = 2**53  # ints beyond are left to pydantic (its big-int handling differs)
_CACHE_LIMIT = 65_536  # distinct ids (or ts strings) remembered; cleared when full
_NUMBER = {int, float}


class EventColumns(Sequence[E]):
    """Valid events of one message held as columns (field name -> list of values).

    It is a sequence of model instances too (built on access, without re-validation),
    for the rare paths that want events one by one; the hot path reads the columns.
    """

    __slots__ = ("_model", "_n", "columns")

    def __init__(self, model: type[E], columns: dict[str, list[Any]], n: int) -> None:
        self._model = model
        self.columns = columns
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> E: ...
    @overload
    def __getitem__(self, i: slice) -> list[E]: ...
    def __getitem__(self, i: int | slice) -> E | list[E]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self._model.model_construct(**{k: c[i] for k, c in self.columns.items()})

    def __iter__(self) -> Iterator[E]:
        return (self[i] for i in range(self._n))


def column(events: Sequence[Any], name: str) -> list[Any]:
    """One field of ``events`` as a list: the decoder's own column when it has one."""
    if isinstance(events, EventColumns):
        return events.columns[name]
    return [getattr(event, name) for event in events]


def or_empty(values: list[Any]) -> list[Any]:
    """An optional text column as stored: null as the empty string. A column nobody sent
    (all null, the common case for optional labels) costs a count in C, not a loop."""
    if None not in values:
        return values
    if values.count(None) == len(values):
        return [""] * len(values)
    return [v or "" for v in values]


# --- per-column checks: each returns the column as pydantic would give it, or raises ---
# (those of the link-health fields that are not scalars: pipeline.core.column_kinds)


class _Ids:
    """Id columns: every distinct value matched against the pattern once, remembered."""

    def __init__(self) -> None:
        self.known: set[str] = set()

    def check(self, values: list[Any], optional: bool) -> list[Any]:
        try:
            distinct = set(values)
        except TypeError:  # a list or object where an id belongs
            raise Unsure from None
        if optional:
            distinct.discard(None)
        new = distinct - self.known
        if new:
            for value in new:
                if type(value) is not str or not _ID(value):
                    raise Unsure
            if len(self.known) + len(new) > _CACHE_LIMIT:
                self.known.clear()
            # interned: the same object as the live state's key of a rack (power.py
            # interns it too), so remembering an id here costs no second copy of it
            self.known.update(map(sys.intern, new))
        return values


_NONE = type(None)


def _min_max(values: list[Any]) -> tuple[Any, Any]:
    """Min and max of numbers that may include None (None, None: no number at all).

    Tried on the whole column first: a None in it makes the comparison fail, which is
    cheaper to catch than to look for in every column."""
    if not values:
        return None, None
    try:
        return min(values), max(values)
    except TypeError:
        if values.count(None) == len(values):  # an optional field nobody sent: in C
            return None, None
        present = [v for v in values if v is not None]
        return (min(present), max(present)) if present else (None, None)


def _encodable(text: str) -> bool:
    """False for a string holding a lone surrogate (a JSON escape such as \\ud800),
    which the parsers treat differently: pydantic decides those."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _present(values: list[Any], optional: bool, allowed: set[type]) -> tuple[list[Any], set[type]]:
    """The non-null values and their types, after checking those are in ``allowed``."""
    types = set(map(type, values))
    if _NONE in types:
        if not optional:
            raise Unsure
        types.discard(_NONE)
        values = [v for v in values if v is not None]
    if not types <= allowed:
        raise Unsure
    return values, types


def floats(lo: float, hi: float, *, lo_open: bool = False, optional: bool = False) -> Check:
    """A float field bounded by [lo, hi] (``lo_open``: lo excluded). orjson never yields
    NaN or infinity (it refuses them), so min and max bound every value."""

    def check(values: list[Any]) -> list[Any]:
        present, types = _present(values, optional, _NUMBER)
        if not present:
            return values
        low, high = min(present), max(present)
        if outside(low, high):
            raise Unsure
        if int not in types:
            return values
        if low < -_EXACT_FLOAT or high > _EXACT_FLOAT:
            raise Unsure
        return [v if v is None else float(v) for v in values]

    def typed(values: list[Any]) -> list[Any]:  # floats (and None) already: bounds only
        low, high = _min_max(values)
        if low is not None and outside(low, high):
            raise Unsure
        return values

    def outside(low: float, high: float) -> bool:
        return (low <= lo if lo_open else low < lo) or high > hi

    return tagged(check, "float", typed)


def counters(*, optional: bool = False) -> Check:
    def check(values: list[Any]) -> list[Any]:
        typed(_present(values, optional, {int})[0])
        return values

    def typed(values: list[Any]) -> list[Any]:  # ints (and None) already: bounds only
        low, high = _min_max(values)
        if low is not None and (low < 0 or high > MAX_COUNTER):
            raise Unsure
        return values

    return tagged(check, "counter", typed)


def texts(lo: int, hi: int) -> Check:
    """An optional free-text field of lo..hi characters (GPU model names)."""

    def check(values: list[Any]) -> list[Any]:
        typed(_present(values, True, {str})[0])
        return values

    def typed(values: list[Any]) -> list[Any]:  # strings (and None) already
        distinct = set(values)
        distinct.discard(None)
        for value in distinct:
            if not lo <= len(value) <= hi or not _encodable(value):
                raise Unsure
        return values

    return tagged(check, "text", typed)


def enum(members: dict[str, Any]) -> Check:
    def check(values: list[Any]) -> list[Any]:
        try:
            return [members[v] for v in values]
        except (KeyError, TypeError):
            raise Unsure from None

    return tagged(check, "enum", check)


class _Stamps:
    """``ts``: epoch ms ints checked by bounds; strings validated by the model's own
    ``ts`` field (in JSON mode for batches, Python mode for single events, as the
    pydantic path does), each distinct string once."""

    def __init__(self, model: type[BaseModel]) -> None:
        info = model.model_fields["ts"]
        annotation: Any = info.annotation
        self._field: type[BaseModel] = create_model(
            f"{model.__name__}Ts", __config__=model.model_config, ts=(annotation, info)
        )
        self._known: dict[tuple[bool, str], int] = {}

    def check_typed(self, values: list[Any], as_json: bool) -> list[Any]:
        """:meth:`check` for ints and strings only (msgspec's columns): all ints is the
        common case, told by one comparison pass instead of a type scan."""
        if type(values[0]) is int:
            try:
                low, high = min(values), max(values)
            except TypeError:  # a string among the ints
                return self.check(values, as_json)
            if low < 0 or high > _MAX_TS:
                raise Unsure
            return values
        return self.check(values, as_json)

    def check(self, values: list[Any], as_json: bool) -> list[Any]:
        types = set(map(type, values))
        if types == {int}:
            if min(values) < 0 or max(values) > _MAX_TS:
                raise Unsure
            return values
        if not types <= {int, str}:
            raise Unsure
        ints = [v for v in values if type(v) is int]
        if ints and (min(ints) < 0 or max(ints) > _MAX_TS):
            raise Unsure
        return [v if type(v) is int else self._parse(v, as_json) for v in values]

    def _parse(self, text: str, as_json: bool) -> int:
        known = self._known.get((as_json, text))
        if known is not None:
            return known
        try:
            if as_json:
                doc = b'{"ts":' + orjson.dumps(text) + b"}"
                ms: int = self._field.model_validate_json(doc).__dict__["ts"]
            else:
                ms = self._field.model_validate({"ts": text}).__dict__["ts"]
        except (ValidationError, orjson.JSONEncodeError):
            raise Unsure from None
        if len(self._known) >= _CACHE_LIMIT:
            self._known.clear()
        self._known[(as_json, text)] = ms
        return ms


_IDS, _OPTIONAL_IDS = "ids", "optional ids"

#: model -> field -> how its column is checked; a model (or a model whose fields
#: differ from this table) not listed here always takes the pydantic path.
FIELDS: dict[type[BaseModel], dict[str, str | Check]] = {
    RackPower: {
        "site": _IDS,
        "rack": _IDS,
        "ts": "ts",
        "power_w": floats(0, MAX_RACK_POWER_W),
        "pdu": _OPTIONAL_IDS,
        "source": _OPTIONAL_IDS,
    },
    GpuSample: {
        "site": _IDS,
        "rack": _IDS,
        "host": _IDS,
        "gpu": _IDS,
        "ts": "ts",
        "util_pct": floats(0, 100),
        "power_w": floats(0, MAX_GPU_POWER_W),
        "vendor": _OPTIONAL_IDS,
        "model": texts(1, 64),
        "mem_used_pct": floats(0, 100, optional=True),
        "temp_c": floats(-40, 150, optional=True),
        "power_limit_w": floats(0, MAX_GPU_POWER_W, lo_open=True, optional=True),
        "job": _OPTIONAL_IDS,
        "tenant": _OPTIONAL_IDS,
        "priority": _OPTIONAL_IDS,
        "clock_reasons": counters(optional=True),
    },
    LinkCounters: {
        "site": _IDS,
        "link": _IDS,
        "link_class": enum({m.value: m for m in LinkClass}),
        "ts": "ts",
        "tx_packets": counters(),
        "rx_packets": counters(),
        "dropped_packets": counters(),
        "peer_site": _OPTIONAL_IDS,
        "error_packets": counters(optional=True),
        "fec_corrected_codewords": counters(optional=True),
        "fec_uncorrectable_codewords": counters(optional=True),
        "symbol_errors": counters(optional=True),
        "rx_bits": counters(optional=True),
        "effective_ber": floats(0, 1, optional=True),
        "carrier_transitions": counters(optional=True),
        "link_down_events": counters(optional=True),
        "carrier_up": flags(),
        "rx_discarded_packets": counters(optional=True),
        "pause_storm_warnings": counters(optional=True),
        "pause_storm_errors": counters(optional=True),
        "rx_pause_frames": per_priority(),
        "tx_pause_frames": per_priority(),
        "rx_pause_us": per_priority(),
        "tx_pause_us": per_priority(),
        "rx_power_dbm": lanes(),
        "tx_power_dbm": lanes(),
        "rx_power_low_warn_dbm": floats(MIN_DBM, MAX_DBM, optional=True),
        "rx_power_low_alarm_dbm": floats(MIN_DBM, MAX_DBM, optional=True),
        "rx_power_high_warn_dbm": floats(MIN_DBM, MAX_DBM, optional=True),
        "rx_power_high_alarm_dbm": floats(MIN_DBM, MAX_DBM, optional=True),
    },
}


#: model -> the fields most of its messages are made of (agents' link counters carry no
#: link-health field): msgspec decodes those with a struct of them alone (TypedDecoder)
LEAN: dict[type[BaseModel], frozenset[str]] = {
    LinkCounters: frozenset(
        (
            "site",
            "link",
            "link_class",
            "ts",
            "tx_packets",
            "rx_packets",
            "dropped_packets",
            "peer_site",
            "error_packets",
        )
    ),
}


class ColumnarDecoder(Generic[E]):
    """Turns a parsed message's event dicts into :class:`EventColumns`, or says Unsure."""

    def __init__(self, model: type[E], fields: dict[str, str | Check], max_events: int) -> None:
        self.model = model
        self.fields = fields
        required = [n for n in fields if model.model_fields[n].is_required()]
        self._optional = [n for n in fields if n not in required]
        self._required = required
        self._take_required = itemgetter(*required)  # one C call per event
        self._take_all = itemgetter(*fields)  # agents that send every field
        self._ids = _Ids()
        self._stamps = _Stamps(model)
        kinds = {
            name: "ids" if how in (_IDS, _OPTIONAL_IDS) else "ts" if how == "ts" else how.kind  # type: ignore[union-attr]
            for name, how in fields.items()
        }
        self._typed = TypedDecoder(model, kinds, max_events, LEAN.get(model, frozenset()))

    @classmethod
    def of(cls, model: type[E], max_events: int) -> ColumnarDecoder[E] | None:
        fields = FIELDS.get(model)
        if fields is None or set(fields) != set(model.model_fields):
            return None  # a field this table does not know: never guess
        return cls(model, fields, max_events)

    def from_bytes(self, raw: bytes) -> tuple[EventColumns[E], bool] | None:
        """A message's events as checked columns straight from its bytes, and whether it
        was a batch; None when not sure (then the orjson path, then pydantic, decide)."""
        typed = self._typed.decode(raw)
        if typed is None:
            return None
        columns, batch = typed
        try:
            return self._checked(columns, batch, typed=True), batch
        except Unsure:
            return None

    def columns(self, items: list[Any], as_json: bool) -> EventColumns[E]:
        """The items (dicts parsed by orjson) as checked columns; raises Unsure."""
        if set(map(type, items)) != {dict}:
            raise Unsure
        try:
            rows = list(map(self._take_all, items))
            raw = dict(zip(self.fields, map(list, zip(*rows, strict=True)), strict=True))
        except KeyError:  # some optional field absent somewhere (or a required one)
            raw = self._gather(items)
        return self._checked(raw, as_json, typed=False)

    def _checked(self, raw: dict[str, list[Any]], as_json: bool, typed: bool) -> EventColumns[E]:
        """Every column through its check (``typed``: JSON types already checked)."""
        out: dict[str, list[Any]] = {}
        for name, how in self.fields.items():
            values = raw[name]
            if how in (_IDS, _OPTIONAL_IDS):
                out[name] = self._ids.check(values, how == _OPTIONAL_IDS)
            elif how == "ts":
                stamps = self._stamps
                out[name] = (stamps.check_typed if typed else stamps.check)(values, as_json)
            else:
                assert callable(how)
                out[name] = how.typed(values) if typed else how(values)  # type: ignore[attr-defined]
        return EventColumns(self.model, out, len(values))

    def _gather(self, items: list[Any]) -> dict[str, list[Any]]:
        try:
            rows = list(map(self._take_required, items))
        except KeyError:  # a required field is missing
            raise Unsure from None
        raw = dict(zip(self._required, map(list, zip(*rows, strict=True)), strict=True))
        for name in self._optional:
            raw[name] = list(map(dict.get, items, repeat(name)))  # absent, null: None
        return raw
