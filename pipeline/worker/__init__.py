"""The Faust worker: ``create_app`` (:mod:`.app`) wires the handlers (decode, core,
publish: :mod:`.handlers`; a bug some input triggers costs that input only:
:mod:`.isolation`), shard partials between workers (:mod:`.partials`), the
ClickHouse sink (:mod:`.sink`), the two tables (:mod:`.tables`), the offset ledger and
ordered acks (:mod:`.ledger`, :mod:`.positions`), the services beside the agents
(:mod:`.services`) and the HTTP endpoint (:mod:`.web`, :mod:`.live_state`,
:mod:`.metrics`); the power-wave stream beside them (:mod:`.wave_app` wires
:mod:`.waves`, :mod:`.wave_metrics`, DR baselines from the store: :mod:`.dr_baseline`,
and ``/api/dr``: :mod:`.dr_api`)."""

__all__ = [
    "ack_order",
    "app",
    "collector",
    "dead_letters",
    "dr_api",
    "dr_baseline",
    "handlers",
    "identity",
    "isolation",
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
    "wave_app",
    "wave_metrics",
    "waves",
    "web",
]
