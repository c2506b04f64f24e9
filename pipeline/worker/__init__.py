"""The Faust worker: ``create_app`` (:mod:`.app`) wires the handlers (decode, core,
publish: :mod:`.handlers`), the ClickHouse sink (:mod:`.sink`), the two tables
(:mod:`.tables`), the services beside the agents (:mod:`.services`) and the HTTP
endpoint (:mod:`.web`, :mod:`.live_state`, :mod:`.metrics`)."""
