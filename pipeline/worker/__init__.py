"""The Faust worker: ``create_app`` (:mod:`.app`) wires the handlers (decode, core,
publish: :mod:`.handlers`), shard partials between workers (:mod:`.partials`), the
ClickHouse sink (:mod:`.sink`), the two tables (:mod:`.tables`), the offset ledger and
ordered acks (:mod:`.ledger`, :mod:`.positions`), the services beside the agents
(:mod:`.services`) and the HTTP endpoint (:mod:`.web`, :mod:`.live_state`,
:mod:`.metrics`)."""

__all__ = [
    "ack_order",
    "app",
    "collector",
    "dead_letters",
    "handlers",
    "identity",
    "ledger",
    "live_state",
    "metrics",
    "parameters",
    "partials",
    "persist",
    "positions",
    "resources",
    "services",
    "sink",
    "skew",
    "tables",
    "topic_rows",
    "web",
]
