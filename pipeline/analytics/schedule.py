"""The worker's daily digest: at ``MEGAWATCH_DIGEST_SCHEDULE_UTC`` (e.g. ``08:00``), send the
last day's digest to the receivers (off while the setting is unset).

The worker's schedule loop (:func:`pipeline.worker.services.run_leader_digest`, on the
group's leader) sleeps until :func:`next_run_at`, then :func:`send_scheduled_digest`
reads the digest of the day before that time, sends it
(:func:`pipeline.analytics.digest_send.send_digest`) and records the attempts in
``alert_deliveries``. The window ends at the scheduled minute, not at the moment the
task woke, so a digest re-sent after a restart has the same id and receivers that dedupe
on ``Idempotency-Key`` drop the copy. A failure is logged and the next day tried again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pipeline.analytics.digest_data import current_specs, read_digest
from pipeline.analytics.digest_send import send_digest
from pipeline.errors import MegawatchError

if TYPE_CHECKING:
    from pipeline.notify.delivery_log import RecordSink
    from pipeline.settings import Settings
    from pipeline.store.client import Store

logger = logging.getLogger(__name__)

DAY_S = 86400


def next_run_at(now: datetime, schedule_utc: str) -> datetime:
    """The first ``HH:MM`` UTC strictly after ``now``."""
    hour, minute = (int(part) for part in schedule_utc.split(":"))
    now = now.astimezone(UTC)
    today = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if today > now else today + timedelta(days=1)


async def send_scheduled_digest(
    settings: Settings, store: Store, until: datetime, since_s: int, record_sink: RecordSink
) -> None:
    """One scheduled digest: read, send, record; errors are logged, never raised."""
    try:
        specs, note = await asyncio.to_thread(current_specs, settings)
        if note:
            logger.warning("scheduled digest: %s", note)
        digest = await asyncio.to_thread(read_digest, store, settings, since_s, until, specs=specs)
        outcomes, records = await send_digest(digest, settings)
        if records:
            await record_sink(records)
    except MegawatchError as exc:
        logger.error(
            "digest for %s failed: %s; next try at the next scheduled time", until.isoformat(), exc
        )
        return
    summary = ", ".join(f"{o.receiver}: {o.outcome}" for o in outcomes) or "no receivers"
    logger.info("digest %s (%d findings) sent: %s", digest.digest_id, len(digest.findings), summary)
