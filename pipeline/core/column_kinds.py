"""What every column check of the fast path shares (:class:`Unsure`, :func:`tagged`), and
the checks of the fields that are not plain scalars: a flag, counters per PFC priority,
optical power per lane (the link-health fields of :class:`pipeline.events.LinkCounters`).

Like every check of :mod:`pipeline.core.columnar`, each one either returns the column
exactly as pydantic would give it or raises :class:`Unsure`, and the message goes to
pydantic: only the canonical spelling is taken here (``true``/``false``, priority keys
``"0"``..``"7"``, lanes as JSON numbers); anything else (``"03"``, ``1`` for a flag, an
empty object) is the models' to decide. ``tests/unit/test_decode_differential.py``
proves them equal.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.events import MAX_COUNTER, MAX_DBM, MAX_LANES, MAX_PRIORITY, MIN_DBM

Check = Callable[[list[Any]], list[Any]]

#: a priority key as JSON spells it -> the int the model holds
_PRIORITIES = {str(p): p for p in range(MAX_PRIORITY + 1)}
_EXACT_FLOAT = 2**53  # ints beyond are left to pydantic (its big-int handling differs)


class Unsure(Exception):
    """A column the fast path cannot vouch for: the message goes to pydantic."""


def tagged(check: Check, kind: str, typed: Check) -> Check:
    """A check with its JSON kind (for :mod:`pipeline.core.typed_json`) and the variant
    for columns whose JSON types msgspec already checked."""
    check.kind = kind  # type: ignore[attr-defined]
    check.typed = typed  # type: ignore[attr-defined]
    return check


def flags() -> Check:
    """An optional boolean: JSON ``true``/``false`` or null."""

    def check(values: list[Any]) -> list[Any]:
        if values.count(None) == len(values):  # not sent: the common case, in C
            return values
        for value in set(map(type, values)):
            if value is not bool and value is not type(None):
                raise Unsure
        return values

    return tagged(check, "flag", check)


def per_priority() -> Check:
    """Optional counters per priority: an object of ``"0"``..``"7"`` -> counter, as a
    dict of int -> int (the model's key type)."""

    def check(values: list[Any]) -> list[Any]:
        if values.count(None) == len(values):  # not sent: the common case, in C
            return values
        return [None if v is None else _priorities(v) for v in values]

    return tagged(check, "per_priority", check)


def _priorities(value: Any) -> dict[int, int]:
    if type(value) is not dict or not value:
        raise Unsure
    out: dict[int, int] = {}
    for key, count in value.items():
        priority = _PRIORITIES.get(key) if type(key) is str else None
        if priority is None or type(count) is not int or not 0 <= count <= MAX_COUNTER:
            raise Unsure
        out[priority] = count
    return out


def lanes() -> Check:
    """Optional dBm per lane: a list of 1..MAX_LANES numbers within the dBm bounds, as
    floats (ints converted, as pydantic does)."""

    def check(values: list[Any]) -> list[Any]:
        if values.count(None) == len(values):  # not sent: the common case, in C
            return values
        return [None if v is None else _lanes(v) for v in values]

    return tagged(check, "lanes", check)


def _lanes(value: Any) -> list[float]:
    if type(value) is not list or not 1 <= len(value) <= MAX_LANES:
        raise Unsure
    for lane in value:
        kind = type(lane)
        if kind is not float and (kind is not int or abs(lane) > _EXACT_FLOAT):
            raise Unsure
        if not MIN_DBM <= lane <= MAX_DBM:  # orjson and msgspec refuse NaN and infinity
            raise Unsure
    return [float(lane) for lane in value]
