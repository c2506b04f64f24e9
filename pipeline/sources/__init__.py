"""Site-agent inputs (simulator, file replay, NVML) and the producer loop.

``megawatch agent`` (:mod:`pipeline.cli.agent_cmd`) wires them; in-process use, as the
demo does it::

    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.sources.agent import AgentRun, kafka_publisher, simulated_fleet
    from pipeline.sources.sim.fleet_gen import generate_fleet

    fleet = generate_fleet(12)                 # or fleet.load_fleet(path)
    specs = fleet.site_specs()                 # SiteSpec list for control.sites
    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    source = simulated_fleet(fleet, ["cap-breach", "wan-loss"], seed=1, gpu_every=10)
    agent = AgentRun(source, kafka_publisher(settings, endpoint)).start()   # a thread
    ...
    result = agent.stop()                      # flushes, joins; result.summary()

Modules: ``base`` (messages, ticks, batching), ``hardware`` (accelerators, calibration),
``fleet``/``fleet_gen`` (fleet files, built-in fleets), ``scenarios``, ``sim_*`` and
``simulator`` (the simulator), ``chaos`` (bad events), ``replay_read``/``replay``,
``nvml``, ``outbox``/``publisher`` (buffering Kafka producer), ``loop`` and ``agent``;
polled devices: ``polling`` (the shared tick loop), ``devices`` (the factory), ``mapping``
(``--map`` files), ``dcgm``, ``redfish``/``redfish_session``, ``netdev``, ``rdma``, and
``http_devices`` (TLS, timeouts).
"""
