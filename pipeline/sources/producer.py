"""The kafka-python producer of the site agents: its settings and what it reports.

lz4 compression: kafka-python supports it through the ``lz4`` package (a dependency) and
Tansu and Kafka alike accept it; zstd would need the extra ``zstandard`` package in
kafka-python. Retries are bounded by ``delivery_timeout_ms``, after which the publisher
gives the message back to its outbox (:mod:`pipeline.sources.publisher`).
"""

from __future__ import annotations

from typing import Any

COMPRESSION = "lz4"

#: kafka-python producer settings of the agent (see the module doc for why).
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "compression_type": COMPRESSION,
    "linger_ms": 20,
    "retries": 2**31 - 1,  # bounded by delivery_timeout_ms instead
    "retry_backoff_ms": 200,
    "delivery_timeout_ms": 30_000,
    "request_timeout_ms": 10_000,
    "max_block_ms": 5_000,
    "reconnect_backoff_max_ms": 5_000,
    "client_id": "megawatch-agent",
    # Topics are created by `prepare` with the configured partition count; a broker that
    # auto-created them on a metadata request would pick its own count (Tansu: 4).
    "allow_auto_create_topics": False,
}


def compression_ratio(producer: Any) -> float | None:
    """kafka-python's average compressed/uncompressed size of the batches it sent."""
    try:
        value = producer.metrics().get("producer-metrics", {}).get("compression-rate-avg")
    except Exception:  # metrics are informative only
        return None
    return float(value) if isinstance(value, int | float) and value == value else None
