"""Talking to Kafka: where it is and the client options (:mod:`.endpoint`), the contract's
topics (:mod:`.topics`), fixes to Faust (:mod:`.faust_fixes`) and to its use of the
embedded Tansu broker (:mod:`.tansu`), compacted control topics (:mod:`.compacted`) and
site-spec publishing (:mod:`.site_specs`)."""

__all__ = ["compacted", "endpoint", "faust_fixes", "site_specs", "tansu", "topics"]
