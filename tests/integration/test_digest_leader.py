"""The digest once per fleet: of several workers, only the Faust group's leader sends it
(real store with the fixed data set, real local HTTP receiver)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from test_queries import UNTIL, load_fixed_data
from webhook_receiver import WebhookReceiver

from pipeline.notify.delivery_log import DeliveryRecord
from pipeline.settings import Settings
from pipeline.store import Store
from pipeline.worker.services import LEADER_WAIT_S, run_leader_digest

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def _workers_send(store: Store, settings: Settings, leaders: list[list[bool]]) -> list[float]:
    """Run one digest day in a worker per entry; entry i lists what is_leader() answers."""
    slept: list[float] = []
    kept: list[DeliveryRecord] = []

    async def sleep(seconds: float) -> None:  # time passes at once
        slept.append(seconds)

    async def sink(records: list[DeliveryRecord]) -> None:
        kept.extend(records)

    async def fleet() -> None:
        for answers in leaders:
            replies = iter(answers)
            await run_leader_digest(
                settings,
                store,
                lambda replies=replies: next(replies, False),
                record_sink=sink,
                clock=lambda: UNTIL - timedelta(minutes=5),
                sleep=sleep,
                runs=1,
            )

    asyncio.run(fleet())
    return slept


def test_only_the_leader_of_three_workers_sends(
    store: Store, store_settings: Settings, receiver: WebhookReceiver
) -> None:
    load_fixed_data(store)
    settings = store_settings.model_copy(
        update={
            "digest_schedule_utc": "10:10",
            "webhook_urls": [receiver.url("/daily")],
            "webhook_secret": SecretStr("s3cret-digest"),
        }
    )
    # worker 1 leads; worker 2 is not the leader at all; worker 3 becomes the leader
    # two seconds after the scheduled minute (a rebalance was under way)
    slept = _workers_send(store, settings, [[True], [], [False, False, True]])
    assert len(receiver.requests) == 2  # workers 1 and 3: never worker 2
    assert slept.count(1.0) == int(LEADER_WAIT_S) + 2
    ids = {key for request in receiver.requests for key in request.keys}
    assert len(ids) == 1  # the same digest: a receiver dedupes the second on its key


def test_no_leader_no_digest(
    store: Store, store_settings: Settings, receiver: WebhookReceiver
) -> None:
    settings = store_settings.model_copy(
        update={"digest_schedule_utc": "10:10", "webhook_urls": [receiver.url("/d")]}
    )
    _workers_send(store, settings, [[], []])
    assert receiver.requests == []
