"""Prometheus remote_write 1.0: a snappy block-compressed protobuf ``WriteRequest``.

What Prometheus 2.42 sends (storage/remote/client.go): ``POST`` with
``Content-Encoding: snappy``, ``Content-Type: application/x-protobuf`` and
``X-Prometheus-Remote-Write-Version: 0.1.0``; the body is snappy's *block* format (not
the framed one), and the message is ``prometheus.WriteRequest`` of prompb/remote.proto:

    WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; ... }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }  // epoch ms

The schema is declared here in code (a descriptor), so no generated module and no
``protoc`` are needed; the protobuf runtime's C parser (upb) does the decoding.
Exemplars and native histograms (fields 3 and 4 of TimeSeries) are unknown fields
here: parsed over, never mapped, and the series' float samples are still read.
"""

from __future__ import annotations

from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from pipeline.gateway.series import BadRequest, Series

_F = descriptor_pb2.FieldDescriptorProto


def _message_classes() -> dict[str, Any]:
    """The three messages of prompb that megawatch reads, in a pool of their own."""
    file = descriptor_pb2.FileDescriptorProto(
        name="megawatch/prompb_remote.proto", package="prometheus", syntax="proto3"
    )

    def add(name: str, *fields: tuple[str, int, int, str | None, bool]) -> None:
        msg = file.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name

    add(
        "Label", ("name", 1, _F.TYPE_STRING, None, False), ("value", 2, _F.TYPE_STRING, None, False)
    )
    add(
        "Sample",
        ("value", 1, _F.TYPE_DOUBLE, None, False),
        ("timestamp", 2, _F.TYPE_INT64, None, False),
    )
    add(
        "TimeSeries",
        ("labels", 1, _F.TYPE_MESSAGE, ".prometheus.Label", True),
        ("samples", 2, _F.TYPE_MESSAGE, ".prometheus.Sample", True),
    )
    add("WriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, ".prometheus.TimeSeries", True))
    # The same messages read with each label left as its bytes: a series' labels are then
    # a tuple of bytes, the key under which its decoded labels are kept (RemoteWriteDecoder).
    add(
        "RawTimeSeries",
        ("labels", 1, _F.TYPE_BYTES, None, True),
        ("samples", 2, _F.TYPE_MESSAGE, ".prometheus.Sample", True),
    )
    add("RawWriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, ".prometheus.RawTimeSeries", True))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    names = ("Label", "Sample", "TimeSeries", "WriteRequest", "RawWriteRequest")
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in names
    }


MESSAGES = _message_classes()
WriteRequest = MESSAGES["WriteRequest"]
RawWriteRequest = MESSAGES["RawWriteRequest"]
Label = MESSAGES["Label"]
CONTENT_TYPE = "application/x-protobuf"


def decompressed_size(body: bytes) -> int:
    """The uncompressed length a snappy block announces (its leading varint)."""
    size = shift = 0
    for i, byte in enumerate(body[:10]):
        size |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return size
        shift += 7
        if i == 4:
            break
    raise BadRequest("not_snappy", "body is not snappy block-compressed (bad length header)")


def decompress(body: bytes, max_bytes: int) -> bytes:
    """The snappy block ``body`` uncompressed, refusing more than ``max_bytes`` (413)."""
    size = decompressed_size(body)
    if size > max_bytes:
        raise BadRequest(
            "too_large",
            f"body uncompresses to {size} bytes, over the limit of {max_bytes} "
            "(MEGAWATCH_GATEWAY_MAX_BODY_BYTES)",
            status=413,
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise BadRequest("not_snappy", f"body is not snappy block-compressed: {exc}") from None


class RemoteWriteDecoder:
    """Uncompressed WriteRequests -> series, keeping each distinct label set decoded.

    A writer sends the same series again every scrape; building a dict of labels from
    protobuf objects is most of the decoding time, so each label set is decoded once and
    kept under its raw bytes (``Series.key``, which the mapper caches placements under).
    At most ``max_series`` are kept; past that the cache starts over.
    """

    def __init__(self, max_series: int = 1_000_000) -> None:
        self.max_series = max_series
        self._labels: dict[tuple[bytes, ...], tuple[str, dict[str, str]]] = {}

    def parse(self, raw: bytes) -> list[Series]:
        request = RawWriteRequest()
        try:
            request.ParseFromString(raw)
            out: list[Series] = []
            for ts in request.timeseries:
                key = tuple(ts.labels)
                known = self._labels.get(key)
                if known is None:
                    known = self._decode(key)
                points = [(s.timestamp, s.value) for s in ts.samples]
                if points:
                    out.append(Series(known[0], known[1], points, key=key))
        except message.DecodeError as exc:
            raise BadRequest("bad_protobuf", f"not a remote_write WriteRequest: {exc}") from None
        return out

    def _decode(self, key: tuple[bytes, ...]) -> tuple[str, dict[str, str]]:
        labels = {}
        for blob in key:
            label = Label.FromString(blob)
            labels[label.name] = label.value
        name = labels.pop("__name__", "")
        if len(self._labels) >= self.max_series:
            self._labels.clear()
        self._labels[key] = (name, labels)
        return name, labels


def parse(raw: bytes) -> list[Series]:
    """The float series of an uncompressed WriteRequest (no cache kept)."""
    return RemoteWriteDecoder().parse(raw)


def compress(raw: bytes) -> bytes:
    """``raw`` snappy block-compressed, as remote_write bodies are."""
    return bytes(cramjam.snappy.compress_raw(raw))


def encode(series: list[Series]) -> bytes:
    """A snappy-compressed WriteRequest of ``series`` (tests and the benchmark send it)."""
    request = WriteRequest()
    for one in series:
        ts = request.timeseries.add()
        ts.labels.add(name="__name__", value=one.name)
        for name, text in sorted(one.labels.items()):
            ts.labels.add(name=name, value=text)
        for stamp, value in one.points:
            ts.samples.add(value=value, timestamp=stamp)
    return compress(request.SerializeToString())
