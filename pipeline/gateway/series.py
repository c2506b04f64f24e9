"""What both ingest formats decode to, and how a request is refused.

A :class:`Series` is one metric's samples with one label set, in epoch milliseconds;
remote_write (:mod:`pipeline.gateway.remote_write`) and OTLP
(:mod:`pipeline.gateway.otlp`) turn their bodies into lists of them, and the mapper
(:mod:`pipeline.gateway.mapper`) turns those into contract events. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass(slots=True)  # not frozen: one is made per series of every request (cost)
class Series:
    """``name`` is the metric name (remote_write's ``__name__``); ``temporality`` is
    ``"delta"`` for an OTLP delta sum (not a cumulative counter), else ``""``. The
    labels dict may be shared between requests: never change it."""

    name: str
    labels: dict[str, str]
    points: list[tuple[int, float]]  # (epoch ms, value)
    temporality: str = ""
    #: the label set's identity where the decoder has one (remote_write: its raw bytes),
    #: so that where a series belongs is worked out once per series, not per request
    key: Hashable | None = field(default=None, compare=False)


class BadRequest(Exception):
    """A request refused for what it is: ``cause`` is the counted category (a metric
    label), ``status`` the HTTP answer (400 unless said: 413, 415, 401)."""

    def __init__(self, cause: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.cause = cause
        self.status = status
