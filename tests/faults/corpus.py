"""A fuzz corpus for telemetry.rack_power: valid, malformed and hostile messages, each
with the outcome the contract promises for it.

:func:`corpus` yields :class:`Item` (key, value, expected valid events, expected dead
letters); the fault suite and ``benchmarks/faults.py`` replay it through a real worker and
compare what was stored. Valid events get distinct timestamps (per site and rack), so
every stored row can be told apart and a duplicate or a loss shows in a count.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

#: The worker's message size limit (MEGAWATCH_MAX_MESSAGE_BYTES default).
MESSAGE_LIMIT = 1_048_576
SITES = ("fz-a", "fz-b", "fz-c", "fz-d", "fz-e", "fz-f", "fz-g", "fz-h")


class Item(NamedTuple):
    key: bytes | None
    value: bytes | None
    valid: int  # events that must be stored
    dead: int  # dead letters that must be stored
    shape: str


@dataclass
class _Clock:
    """Distinct, plausible event times: a minute ago, one millisecond apart."""

    next_ms: int

    def take(self) -> int:
        self.next_ms += 1
        return self.next_ms


def event(site: str, ts: int, rack: str = "r0", power_w: Any = 1000.0) -> dict[str, Any]:
    return {"site": site, "rack": rack, "ts": ts, "power_w": power_w}


def _good(site: str, clock: _Clock, n: int) -> list[dict[str, Any]]:
    return [event(site, clock.take(), f"r{i}") for i in range(n)]


def _batch(events: list[Any]) -> bytes:
    return orjson.dumps({"events": events})


Shape = Callable[[str, _Clock, random.Random], tuple[bytes | None, bytes | None, int, int]]


def _shapes() -> dict[str, Shape]:
    """shape name -> (site, clock, rng) -> (key, value, valid, dead)."""
    nested = b"[" * 5000 + b"]" * 5000
    return {
        "valid_single": lambda s, c, r: (s.encode(), orjson.dumps(event(s, c.take())), 1, 0),
        "valid_batch": lambda s, c, r: (s.encode(), _batch(_good(s, c, 5)), 5, 0),
        "valid_extra_fields": lambda s, c, r: (
            s.encode(),
            orjson.dumps({**event(s, c.take()), "firmware": "9.1", "x": [1, 2]}),
            1,
            0,
        ),
        "not_json": lambda s, c, r: (s.encode(), b"site=fz power=12kW", 0, 1),
        "truncated": lambda s, c, r: (s.encode(), _batch(_good(s, _Clock(0), 4))[:-7], 0, 1),
        "binary": lambda s, c, r: (s.encode(), r.randbytes(64) + b"\xff\xfe", 0, 1),
        "empty": lambda s, c, r: (s.encode(), b"", 0, 1),
        "tombstone": lambda s, c, r: (s.encode(), None, 0, 1),
        "control_chars": lambda s, c, r: (s.encode(), bytes(range(32)) * 4, 0, 1),
        "top_array": lambda s, c, r: (s.encode(), orjson.dumps([event(s, c.take())]), 0, 1),
        "top_string": lambda s, c, r: (s.encode(), b'"power"', 0, 1),
        "top_number": lambda s, c, r: (s.encode(), b"12345", 0, 1),
        "top_null": lambda s, c, r: (s.encode(), b"null", 0, 1),
        "top_bool": lambda s, c, r: (s.encode(), b"true", 0, 1),
        "nan": lambda s, c, r: (
            s.encode(),
            f'{{"site":"{s}","rack":"r0","ts":{c.take()},"power_w":NaN}}'.encode(),
            0,
            1,
        ),
        "infinity": lambda s, c, r: (
            s.encode(),
            f'{{"site":"{s}","rack":"r0","ts":{c.take()},"power_w":Infinity}}'.encode(),
            0,
            1,
        ),
        "1e308": lambda s, c, r: (
            s.encode(),
            orjson.dumps(event(s, c.take(), power_w=1e308)),
            0,
            1,
        ),
        "deep_nesting": lambda s, c, r: (s.encode(), nested, 0, 1),
        "deep_in_field": lambda s, c, r: (
            s.encode(),
            b'{"events":[{"site":"'
            + s.encode()
            + b'","rack":"r0","ts":1,"power_w":'
            + b"[" * 300
            + b"]" * 300
            + b"}]}",
            0,
            1,
        ),
        "huge_id_in_batch": lambda s, c, r: (
            s.encode(),
            _batch([*_good(s, c, 2), event(s, c.take(), "x" * 1_000_000)]),
            2,
            1,
        ),
        "oversize": lambda s, c, r: (
            s.encode(),
            _batch(_good(s, _Clock(0), 1)) + b" " * (MESSAGE_LIMIT + 10_000),
            0,
            1,
        ),
        "ts_2_53": lambda s, c, r: (s.encode(), orjson.dumps(event(s, 2**53)), 0, 1),
        "ts_year_287k_in_batch": lambda s, c, r: (
            s.encode(),
            _batch([*_good(s, c, 2), event(s, 9 * 10**15, "r9")]),
            2,
            1,
        ),
        "ts_negative": lambda s, c, r: (s.encode(), orjson.dumps(event(s, -5)), 0, 1),
        "ts_epoch_seconds": lambda s, c, r: (
            s.encode(),
            orjson.dumps(event(s, int(time.time()))),
            0,
            1,
        ),
        "ts_not_a_date": lambda s, c, r: (s.encode(), orjson.dumps(event(s, "yesterday")), 0, 1),
        "missing_site": lambda s, c, r: (
            s.encode(),
            orjson.dumps({"rack": "r0", "ts": c.take(), "power_w": 1.0}),
            0,
            1,
        ),
        "missing_power": lambda s, c, r: (
            s.encode(),
            orjson.dumps({"site": s, "rack": "r0", "ts": c.take()}),
            0,
            1,
        ),
        "wrong_type": lambda s, c, r: (
            s.encode(),
            orjson.dumps(event(s, c.take(), power_w="12kW")),
            0,
            1,
        ),
        "key_mismatch": lambda s, c, r: (b"fz-other", orjson.dumps(event(s, c.take())), 0, 1),
        "no_key": lambda s, c, r: (None, orjson.dumps(event(s, c.take())), 0, 1),
        "non_utf8_in_json": lambda s, c, r: (
            s.encode(),
            b'{"site":"\xff\xfe","rack":"r0","ts":1,"power_w":1}',
            0,
            1,
        ),
        "unicode_id": lambda s, c, r: (
            s.encode(),
            _batch([event(s, c.take(), "r\u00e9\u00e9"), *_good(s, c, 1)]),
            1,
            1,
        ),
        "events_not_list": lambda s, c, r: (s.encode(), b'{"events": 5}', 0, 1),
        "events_empty": lambda s, c, r: (s.encode(), b'{"events": []}', 0, 0),
        "events_of_scalars": lambda s, c, r: (s.encode(), b'{"events": [1, "x", null]}', 0, 3),
        "mixed_batch": lambda s, c, r: (
            s.encode(),
            _batch(
                [
                    *_good(s, c, 3),
                    event(s, c.take(), power_w=-1),
                    event(s, c.take(), "bad rack id"),
                ]
            ),
            3,
            2,
        ),
    }


SHAPES = tuple(_shapes())


def corpus(n: int, seed: int = 10, *, heavy_every: int = 200) -> Iterator[Item]:
    """``n`` messages of every shape in turn, over :data:`SITES` (their keys).

    The megabyte shapes (oversize, huge ids) come once every ``heavy_every`` messages, so
    a long corpus stays quick to send; everything else cycles evenly.
    """
    rng = random.Random(seed)
    shapes = _shapes()
    light = [name for name in shapes if name not in ("oversize", "huge_id_in_batch")]
    start = int(time.time() * 1000) - 120_000
    clocks = {site: _Clock(start) for site in SITES}
    for i in range(n):
        if heavy_every and i % heavy_every == heavy_every - 1:
            name = ("oversize", "huge_id_in_batch")[(i // heavy_every) % 2]
        else:
            name = light[i % len(light)]
        site = SITES[i % len(SITES)]
        key, value, valid, dead = shapes[name](site, clocks[site], rng)
        yield Item(key, value, valid, dead, name)


def interleaved(n: int, batch_events: int = 10) -> Iterator[Item]:
    """The pattern that lost data (issue 10 #1): valid batches, each followed by a
    message that yields only a dead letter."""
    start = int(time.time() * 1000) - 120_000
    clocks = {site: _Clock(start) for site in SITES}
    for i in range(n):
        site = SITES[(i // 2) % len(SITES)]  # each site: a valid batch, then a dead letter
        if i % 2 == 0:
            events = _good(site, clocks[site], batch_events)
            yield Item(site.encode(), _batch(events), batch_events, 0, "valid")
        else:
            yield Item(site.encode(), b"not json " + os.urandom(4).hex().encode(), 0, 1, "not_json")
