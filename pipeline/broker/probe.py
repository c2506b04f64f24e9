"""A minimal Kafka wire-protocol probe: one Metadata (v2) request on a plain socket.

The embedded broker's readiness check and :func:`pipeline.broker.process.discover` must know that
a real Kafka broker answers on a port, and that it is *ours*: each start gets a fresh
cluster id, and the Metadata response carries it. A TCP connect alone would accept any
listener (another broker left on the port, an HTTP server). This module is standard
library only, so the CLI's broker command stays light; Kafka clients with TLS/SASL
(real clusters) go through kafka-python instead (:mod:`pipeline.kafka.endpoint`).
"""

from __future__ import annotations

import itertools
import socket
import struct

_METADATA_API_KEY = 3
_METADATA_VERSION = 2  # the first version whose response carries the cluster id
_CLIENT_ID = b"megawatch-probe"
_MAX_RESPONSE_BYTES = 1 << 20
_correlation_ids = itertools.count(1)


class _Reader:
    """Big-endian reader over one response payload (raises ValueError when short)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, size: int) -> bytes:
        if self._pos + size > len(self._data):
            raise ValueError("truncated Kafka response")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def int32(self) -> int:
        value: int = struct.unpack(">i", self._take(4))[0]
        return value

    def nullable_string(self) -> str | None:
        (size,) = struct.unpack(">h", self._take(2))
        return None if size < 0 else self._take(size).decode("utf-8", "replace")


def _metadata_request(correlation_id: int) -> bytes:
    header = struct.pack(
        ">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID)
    )
    body = struct.pack(">i", 0)  # an empty topic list: broker and cluster facts only
    message = header + _CLIENT_ID + body
    return struct.pack(">i", len(message)) + message


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks.extend(chunk)
    return bytes(chunks)


def _parse_cluster_id(payload: bytes, correlation_id: int) -> str | None:
    reader = _Reader(payload)
    if reader.int32() != correlation_id:
        raise ValueError("Kafka response for another request")
    for _ in range(reader.int32()):  # brokers: node_id, host, port, rack
        reader.int32()
        reader.nullable_string()
        reader.int32()
        reader.nullable_string()
    return reader.nullable_string()


def kafka_cluster_id(host: str, port: int, timeout: float = 1.0) -> str | None:
    """The cluster id a Kafka broker at ``host:port`` reports, or None if none answers.

    None covers "nothing listens", "something that does not speak Kafka listens" and
    "no answer within ``timeout`` seconds"; a Kafka broker that reports no cluster id
    gives the empty string.
    """
    correlation_id = next(_correlation_ids) & 0x7FFFFFFF
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_metadata_request(correlation_id))
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if not 4 <= size <= _MAX_RESPONSE_BYTES:
                return None
            cluster_id = _parse_cluster_id(_recv_exactly(sock, size), correlation_id)
    except (OSError, ValueError, struct.error):
        return None
    return cluster_id or ""
