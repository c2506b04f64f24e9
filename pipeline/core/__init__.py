"""The pure core: plain Python, table-tested, nothing of Faust, Kafka, ClickHouse or HTTP.

Decoding (:mod:`.decode`, with its fast path :mod:`.typed_json` and :mod:`.columnar`),
the live state of a site (:mod:`.power`, :mod:`.gpu`, :mod:`.links`, :mod:`.domains`,
:mod:`.forecast`, :mod:`.site`), the alert rules (:mod:`.rules`) and their states
(:mod:`.alert_state`, :mod:`.alert_book`), rule parameters (:mod:`.policy`), what the
worker does with a message (:mod:`.processor`), the rows it stores (:mod:`.rows`),
energy at ingest (:mod:`.energy`) and back-off (:mod:`.retry`).
"""

__all__ = [
    "alert_book",
    "alert_state",
    "columnar",
    "decode",
    "domains",
    "energy",
    "forecast",
    "gpu",
    "links",
    "policy",
    "power",
    "processor",
    "retry",
    "rows",
    "rules",
    "site",
    "typed_json",
    "wave",
]
