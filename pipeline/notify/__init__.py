"""Alert delivery: the ``alerts`` topic (the outbox) to webhooks, Alertmanager and Slack.

Modelled on Alertmanager's notify pipeline, one stage per module:

* :mod:`.receivers`  where alerts go (settings, receivers file, per-receiver filters)
* :mod:`.grouping`   one notification per site and rule per group wait (storms)
* :mod:`.payloads`   versioned bodies per kind (:mod:`.signing`: HMAC; :mod:`.slack`)
* :mod:`.retry`      pure ``check(status)`` classification and back-off
* :mod:`.delivery`   the retry loop, with timeouts and redacted errors
* :mod:`.channel`    one independent queue and sender per receiver, reminders
* :mod:`.notifier`   fan-out and completion; :mod:`.delivery_log` delivery records
* :mod:`.offsets`    committable offsets; :mod:`.consumer` the Kafka reader
* :mod:`.service`    the component the worker embeds and ``megawatch notifier`` runs
"""

from pipeline.notify.delivery_log import DeliveryRecord, RecordSink, store_sink
from pipeline.notify.notifier import Notifier
from pipeline.notify.receivers import Receiver, ReceiverKind, receivers_from_settings
from pipeline.notify.service import NotifierService, firing_alerts

__all__ = [
    "DeliveryRecord",
    "Notifier",
    "NotifierService",
    "Receiver",
    "ReceiverKind",
    "RecordSink",
    "firing_alerts",
    "receivers_from_settings",
    "store_sink",
]
