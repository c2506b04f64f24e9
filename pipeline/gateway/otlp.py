"""OTLP/HTTP metrics: ``POST /v1/metrics`` with an ``ExportMetricsServiceRequest``.

Bodies are binary protobuf (``Content-Type: application/x-protobuf``, what the
OpenTelemetry SDKs' HTTP exporters send) or the OTLP JSON encoding
(``application/json``: lowerCamelCase keys, 64-bit integers as strings, enums as
numbers, which protobuf's own JSON parser reads), optionally gzip-compressed
(``Content-Encoding: gzip``, the collector's default).

Gauges and sums of numbers become :class:`~pipeline.gateway.series.Series`: a data
point's attributes over its resource's attributes (``host.name``, ``site``, ...), its
time in epoch ms. A delta sum is marked (``temporality="delta"``): megawatch's counters
are cumulative, so the mapper does not take it for one. Histograms, exponential
histograms and summaries come out as series without points, so that they are counted
as unmapped under their name rather than vanishing.
"""

from __future__ import annotations

import zlib
from typing import Any

from google.protobuf import json_format, message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from pipeline.gateway.series import BadRequest, Series

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA


def gunzip(body: bytes, max_bytes: int) -> bytes:
    """``body`` gunzipped, refusing more than ``max_bytes`` of output (413)."""
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest("not_gzip", f"body is not gzip: {exc}") from None
    if len(out) > max_bytes:
        raise BadRequest(
            "too_large",
            f"body uncompresses to over {max_bytes} bytes (MEGAWATCH_GATEWAY_MAX_BODY_BYTES)",
            status=413,
        )
    return out


def parse(raw: bytes, content_type: str) -> list[Series]:
    """The number series of an export request in ``content_type`` (protobuf or JSON)."""
    request = ExportMetricsServiceRequest()
    try:
        if content_type == JSON:
            json_format.Parse(raw, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(raw)
    except (message.DecodeError, json_format.ParseError) as exc:
        cause = "bad_json" if content_type == JSON else "bad_protobuf"
        raise BadRequest(cause, f"not an OTLP ExportMetricsServiceRequest: {exc}") from None
    out: list[Series] = []
    for resource_metrics in request.resource_metrics:
        base = _attributes(resource_metrics.resource.attributes)
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                out.extend(_series(metric, base))
    return out


def response(content_type: str) -> bytes:
    """The (empty, full-success) answer in the request's encoding."""
    if content_type == JSON:
        return b"{}"
    return bytes(ExportMetricsServiceResponse().SerializeToString())


def _series(metric: Any, base: dict[str, str]) -> list[Series]:
    kind = metric.WhichOneof("data")
    if kind not in ("gauge", "sum"):
        return [Series(metric.name, dict(base), [])]  # counted as unmapped, by name
    data = getattr(metric, kind)
    delta = kind == "sum" and data.aggregation_temporality == _DELTA
    out = []
    for point in data.data_points:
        which = point.WhichOneof("value")
        if which is None:
            continue
        labels = {**base, **_attributes(point.attributes)}
        value = float(getattr(point, which))
        out.append(
            Series(
                metric.name,
                labels,
                [(point.time_unix_nano // 1_000_000, value)],
                "delta" if delta else "",
            )
        )
    return out or [Series(metric.name, dict(base), [])]


def _attributes(attributes: Any) -> dict[str, str]:
    """Key-values as strings (strings, numbers and booleans; lists and maps skipped)."""
    out = {}
    for kv in attributes:
        which = kv.value.WhichOneof("value")
        if which in ("string_value", "int_value", "double_value"):
            out[kv.key] = str(getattr(kv.value, which))
        elif which == "bool_value":
            out[kv.key] = "true" if kv.value.bool_value else "false"
    return out
