"""``megawatch gateway``: Prometheus remote_write and OTLP/HTTP metrics in, contract
events out, on the same telemetry topics as the agents (docs/gateway.md).

remote_write, otlp   the two wire formats -> :class:`~pipeline.gateway.series.Series`
table, mapper        series -> parts of events (dcgm-exporter, node_exporter, NIC and
                     OpenConfig names, --map); link_event: a link's parts -> its fields
joins, partial_log   parts of one event from several requests, joined; the join log
sender               checked, batched messages to Kafka, acknowledged
server, stats        the HTTP side (aiohttp) and its figures; service: the wiring
"""

__all__ = [
    "joins",
    "link_event",
    "mapper",
    "otlp",
    "partial_log",
    "remote_write",
    "sender",
    "series",
    "server",
    "service",
    "stats",
    "table",
]
