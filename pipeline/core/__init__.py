"""The pure core: plain Python, table-tested, nothing of Faust, Kafka, ClickHouse or HTTP.

Decoding (:mod:`.decode`, with its fast path :mod:`.typed_json`, :mod:`.columnar` and
:mod:`.column_kinds`; message keys ``SITE`` or ``SITE/SHARD``: :mod:`.site_key`), the
live state of a key (:mod:`.power`, :mod:`.gpu`, :mod:`.links`, the link health beyond
loss: :mod:`.link_health`, :mod:`.link_window`, :mod:`.optics`; :mod:`.domains`,
:mod:`.site`), a shard's sums for its site (:mod:`.partial`), the site stage combining
them (:mod:`.site_stage`, :mod:`.forecast`), the alert rules (:mod:`.rules`) and their
states (:mod:`.alert_state`, :mod:`.alert_book`), rule parameters (:mod:`.policy`), what
the worker does with a message (:mod:`.processor`, :mod:`.readings`), the rows it stores
(:mod:`.rows`), energy at ingest (:mod:`.energy`), back-off (:mod:`.retry`) and power
waves (:mod:`.wave`).
"""

__all__ = [
    "alert_book",
    "alert_state",
    "column_kinds",
    "columnar",
    "decode",
    "domains",
    "energy",
    "forecast",
    "gpu",
    "link_health",
    "link_window",
    "links",
    "optics",
    "partial",
    "policy",
    "power",
    "processor",
    "readings",
    "retry",
    "rows",
    "rules",
    "site",
    "site_key",
    "site_stage",
    "typed_json",
    "wave",
]
