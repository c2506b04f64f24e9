"""The first stage of the fast path: a message's bytes straight to typed columns.

``orjson.loads`` builds one dict per event (a dozen keys each) that the columnar checks
then take apart again; on the GPU topic that was two thirds of the decoding time.
msgspec decodes the same bytes into typed structs in C (JSON types checked there:
numbers where numbers go, strings where strings go, ints converted to floats in float
fields as pydantic does), and the columns are a transpose of those. What msgspec checks
is only the JSON type; bounds, id patterns, lengths and event time are still the
columnar checks of :mod:`pipeline.core.columnar`, and anything msgspec refuses (a bool
for a number, a float counter, a missing field, bad JSON) goes the orjson way, and from
there to pydantic, as before: msgspec never decides a rejection.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import astuple
from pydantic import BaseModel

#: how a field is checked (pipeline.core.columnar.FIELDS) -> the JSON type msgspec accepts
JSON_TYPES: dict[str, Any] = {
    "ids": str,
    "ts": int | str,  # epoch ms, or an RFC 3339 string for the model's own validator
    "float": float,
    "counter": int,
    "text": str,
    "enum": str,
    "flag": bool,
    "per_priority": dict[str, int],
    "lanes": list[float],
}


class TypedDecoder:
    """Bytes -> (field -> column, batch?) for one model, or None when msgspec refuses.

    ``lean`` names the fields most messages are made of (a link's packet counters, not
    its optional link-health fields): a message of those alone is decoded by a struct
    of just them, which refuses any other field (then the whole struct decodes it), and
    the other columns are all None. Every column costs a field per event to transpose,
    and a link event has 30 fields where agents send 9."""

    def __init__(
        self,
        model: type[BaseModel],
        kinds: dict[str, str],
        max_events: int,
        lean: frozenset[str] = frozenset(),
    ) -> None:
        self.names = tuple(kinds)
        self.max_events = max_events
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for name, kind in kinds.items():
            json_type = JSON_TYPES[kind]
            if model.model_fields[name].is_required():
                fields.append((name, json_type))
            else:  # absent and null alike: None, as the models default them
                fields.append((name, json_type | None, None))
        # Unknown fields are ignored, as the models ignore them (extra="ignore").
        self._full = _Decoders(f"{model.__name__}Json", fields, forbid_unknown_fields=False)
        self._lean: _Decoders | None = None
        self._absent = tuple(name for name in self.names if name not in lean)
        if lean and self._absent:
            mine = [field for field in fields if field[0] in lean]
            self._lean = _Decoders(f"{model.__name__}Lean", mine, forbid_unknown_fields=True)

    def decode(self, raw: bytes) -> tuple[dict[str, list[Any]], bool] | None:
        """The columns of a batch (``{"events": [...]}``) or of one event."""
        if self._lean is not None:
            lean = self._columns(self._lean, raw)
            if lean is not None:
                columns, batch = lean
                n = len(columns[self.names[0]])
                for name in self._absent:
                    columns[name] = [None] * n
                return columns, batch
        return self._columns(self._full, raw)

    def _columns(self, decoders: _Decoders, raw: bytes) -> tuple[dict[str, list[Any]], bool] | None:
        try:
            events, batch = decoders.batch.decode(raw).events, True
        except (msgspec.ValidationError, msgspec.DecodeError):
            if b'"events"' in raw:
                return None  # a batch with a bad event: the orjson path says which
            try:
                events, batch = [decoders.one.decode(raw)], False
            except (msgspec.ValidationError, msgspec.DecodeError):
                return None
        if not events or len(events) > self.max_events:
            return None
        columns = map(list, zip(*map(astuple, events), strict=True))
        return dict(zip(decoders.names, columns, strict=True)), batch


class _Decoders:
    """msgspec's decoders of a batch and of one event of ``fields``."""

    def __init__(self, name: str, fields: list[Any], forbid_unknown_fields: bool) -> None:
        self.names = tuple(field[0] for field in fields)
        event: Any = msgspec.defstruct(
            name, fields, kw_only=True, gc=False, forbid_unknown_fields=forbid_unknown_fields
        )
        batch: Any = msgspec.defstruct(f"{name}Batch", [("events", list[event])])
        self.batch = msgspec.json.Decoder(batch)
        self.one = msgspec.json.Decoder(event)
