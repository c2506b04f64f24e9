"""Site-agent inputs (simulator, file replay, NVML, polled devices) and the producer loop.

``megawatch agent`` (:mod:`pipeline.cli.agent_cmd`) builds its command line from the
registry of source kinds; in-process use, as the demo does it::

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

or any kind by name: ``source_kind("netdev").build(LinkSourceOptions(...), settings)``.

* :mod:`.registry` the ``--source`` kinds, their typed options and builders; :mod:`.kind`
  what a kind declares; :mod:`.command_line` their options merged into one command line
* :mod:`.base` messages, ticks, batching; :mod:`.loop` the pacing loop; :mod:`.agent` a
  source, the publisher and the loop wired (and the simulator's builder)
* :mod:`.buffer` the bounded outbox; :mod:`.publisher` the buffering Kafka producer;
  :mod:`.line_check` ``megawatch publish``'s lines checked with the worker's decoder
* :mod:`.sim` the simulator; :mod:`.replay_read` and :mod:`.replay` recordings;
  :mod:`.nvml` this host's GPUs, :mod:`.nvml_wave` their buffered power samples as waves
* polled devices: :mod:`.polling` the shared tick loop, :mod:`.devices` their builders,
  :mod:`.mapping` ``--map`` files, :mod:`.dcgm`, :mod:`.redfish` and
  :mod:`.redfish_session`, :mod:`.netdev`, :mod:`.rdma`, :mod:`.http_devices` (TLS,
  timeouts)
"""

__all__ = [
    "agent",
    "base",
    "buffer",
    "command_line",
    "dcgm",
    "devices",
    "http_devices",
    "kind",
    "line_check",
    "loop",
    "mapping",
    "netdev",
    "nvml",
    "nvml_wave",
    "polling",
    "publisher",
    "rdma",
    "redfish",
    "redfish_session",
    "registry",
    "replay",
    "replay_read",
    "sim",
]
