"""The pure core: plain Python, table-tested, nothing of Faust, Kafka, ClickHouse or HTTP.

Decoding (:mod:`.decode`, with its fast path :mod:`.typed_json`, :mod:`.columnar` and
:mod:`.column_kinds`), the live state of a site (:mod:`.power`, :mod:`.gpu`,
:mod:`.links`, the link health beyond loss: :mod:`.link_health`, :mod:`.link_window`,
:mod:`.optics`; :mod:`.domains`, :mod:`.forecast`, :mod:`.site`), the alert rules
(:mod:`.rules`) and their states (:mod:`.alert_state`, :mod:`.alert_book`), rule
parameters (:mod:`.policy`), what the worker does with a message (:mod:`.processor`),
the rows it stores (:mod:`.rows`) and back-off (:mod:`.retry`).
"""

__all__ = [
    "alert_book",
    "alert_state",
    "column_kinds",
    "columnar",
    "decode",
    "domains",
    "forecast",
    "gpu",
    "link_health",
    "link_window",
    "links",
    "optics",
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
