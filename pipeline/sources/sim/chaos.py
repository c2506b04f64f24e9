"""Deliberately bad messages of the ``chaos`` scenario, as producers in the wild send them.

Each is its own message, marked with how many events a worker must dead-letter
(:attr:`OutMessage.expected_rejects`), so tests can check the worker's accounting. The
kinds: values out of range, a message that is not JSON, a batch keyed by the wrong site,
a message without key, a timestamp a day ahead, epoch seconds sent as milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from pipeline.sources.base import TOPICS, OutMessage
from pipeline.sources.sim.site_model import SiteReadings

_DAY_MS = 86_400_000


def _invalid_values(readings: SiteReadings, ts_ms: int) -> OutMessage | None:
    if not readings.gpu:
        return None
    bad = [
        {**readings.gpu[0], "util_pct": 180.0},
        {**readings.gpu[-1], "power_w": -35.0},
        {**readings.gpu[0], "temp_c": "hot"},
    ]
    return _batch("gpu", readings.site, bad, rejects=len(bad))


def _not_json(readings: SiteReadings, ts_ms: int) -> OutMessage:
    raw = b'{"events": [{"site": "' + readings.site.encode() + b'", "power_w": 4\x00\xff'
    return OutMessage(TOPICS["rack_power"], readings.site.encode(), raw, expected_rejects=1)


def _wrong_key(readings: SiteReadings, ts_ms: int) -> OutMessage | None:
    if not readings.rack_power:
        return None
    event = readings.rack_power[0]
    return OutMessage(
        TOPICS["rack_power"],
        b"not-" + readings.site.encode()[:60],
        orjson.dumps({"events": [event]}),
        expected_rejects=1,
    )


def _no_key(readings: SiteReadings, ts_ms: int) -> OutMessage | None:
    if not readings.link:
        return None
    return OutMessage(TOPICS["link"], b"", orjson.dumps({"events": readings.link[:1]}), 1)


def _future_ts(readings: SiteReadings, ts_ms: int) -> OutMessage | None:
    if not readings.rack_power:
        return None
    event = {**readings.rack_power[-1], "ts": ts_ms + _DAY_MS}
    return _batch("rack_power", readings.site, [event], rejects=1)


def _epoch_seconds(readings: SiteReadings, ts_ms: int) -> OutMessage | None:
    if not readings.rack_power:
        return None
    event = {**readings.rack_power[0], "ts": ts_ms // 1000}
    return _batch("rack_power", readings.site, [event], rejects=1)


def _batch(kind: str, site: str, events: list[dict[str, Any]], rejects: int) -> OutMessage:
    return OutMessage(TOPICS[kind], site.encode(), orjson.dumps({"events": events}), rejects)


BAD_KINDS: dict[str, Callable[[SiteReadings, int], OutMessage | None]] = {
    "invalid-values": _invalid_values,
    "not-json": _not_json,
    "wrong-key": _wrong_key,
    "no-key": _no_key,
    "future-ts": _future_ts,
    "epoch-seconds": _epoch_seconds,
}


class ChaosInjector:
    """Draws bad messages for a site tick from the site's own random stream."""

    def __init__(self, probability: float, rng: np.random.Generator) -> None:
        self.probability = probability
        self.rng = rng
        self.injected: dict[str, int] = dict.fromkeys(BAD_KINDS, 0)

    def messages(self, readings: SiteReadings, ts_ms: int) -> list[OutMessage]:
        if self.probability <= 0 or self.rng.random() >= self.probability:
            return []
        name = list(BAD_KINDS)[int(self.rng.integers(len(BAD_KINDS)))]
        message = BAD_KINDS[name](readings, ts_ms)
        if message is None:
            return []
        self.injected[name] += 1
        return [message]
