"""The worker's daily digest: at ``MEGAWATCH_DIGEST_SCHEDULE_UTC`` (e.g. ``08:00``), send the
last day's digest to the receivers (off while the setting is unset).

The worker registers :func:`run_digest_schedule` as a background task on its own store;
it sleeps until the next scheduled time, reads the digest of the day before that time,
sends it (:func:`pipeline.analytics.digest_send.send_digest`) and records the attempts
in ``alert_deliveries``. The window ends at the scheduled minute, not at the moment the
task woke, so a digest re-sent after a restart has the same id and receivers that dedupe
on ``Idempotency-Key`` drop the copy. A failure is logged and the next day tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pipeline.analytics.digest_data import read_digest
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


async def run_digest_schedule(
    settings: Settings,
    store: Store,
    *,
    since_s: int = DAY_S,
    record_sink: RecordSink | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    runs: int | None = None,
) -> None:
    """Send the digest daily at ``settings.digest_schedule_utc`` until cancelled.

    Returns at once when the setting is unset. ``record_sink`` receives the delivery
    records (default: written to ``alert_deliveries`` through ``store``); ``clock``,
    ``sleep`` and ``runs`` (stop after that many digests) exist for tests.
    """
    schedule = settings.digest_schedule_utc
    if not schedule:
        logger.debug("digest schedule off (MEGAWATCH_DIGEST_SCHEDULE_UTC unset)")
        return
    if record_sink is None:
        from pipeline.notify.delivery_log import store_sink

        record_sink = store_sink(store)
    logger.info("digest: sending the last %s h daily at %s UTC", since_s // 3600, schedule)
    done = 0
    while runs is None or done < runs:
        due = next_run_at(clock(), schedule)
        await sleep(max(0.0, (due - clock()).total_seconds()))
        await send_scheduled_digest(settings, store, due, since_s, record_sink)
        done += 1


async def send_scheduled_digest(
    settings: Settings, store: Store, until: datetime, since_s: int, record_sink: RecordSink
) -> None:
    """One scheduled digest: read, send, record; errors are logged, never raised."""
    try:
        digest = await asyncio.to_thread(read_digest, store, settings, since_s, until)
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
