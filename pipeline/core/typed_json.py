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
    """Bytes -> (field -> column, batch?) for one model, or None when msgspec refuses."""

    def __init__(self, model: type[BaseModel], kinds: dict[str, str], max_events: int) -> None:
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
        event: Any = msgspec.defstruct(f"{model.__name__}Json", fields, kw_only=True, gc=False)
        batch: Any = msgspec.defstruct(f"{model.__name__}JsonBatch", [("events", list[event])])
        self._batch = msgspec.json.Decoder(batch)
        self._one = msgspec.json.Decoder(event)

    def decode(self, raw: bytes) -> tuple[dict[str, list[Any]], bool] | None:
        """The columns of a batch (``{"events": [...]}``) or of one event."""
        try:
            events, batch = self._batch.decode(raw).events, True
        except (msgspec.ValidationError, msgspec.DecodeError):
            if b'"events"' in raw:
                return None  # a batch with a bad event: the orjson path says which
            try:
                events, batch = [self._one.decode(raw)], False
            except (msgspec.ValidationError, msgspec.DecodeError):
                return None
        if not events or len(events) > self.max_events:
            return None
        columns = map(list, zip(*map(astuple, events), strict=True))
        return dict(zip(self.names, columns, strict=True)), batch
