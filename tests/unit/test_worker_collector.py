"""The worker's collector settings: what exists after setup is frozen, thresholds raised."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pipeline.worker.collector import THRESHOLDS, tune_for_throughput


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_setup_objects_are_frozen_and_collections_are_rarer(restored_collector: None) -> None:
    setup = [[i] for i in range(1000)]  # tracked objects alive at setup time
    tune_for_throughput()
    assert gc.get_threshold() == THRESHOLDS
    assert THRESHOLDS[0] > 700  # the default young threshold, which cost ~10 % of CPU
    assert gc.get_freeze_count() >= len(setup)
