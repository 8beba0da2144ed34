"""A node's serving process tunes its garbage collector once the hub has started (``hub/app.py`` ``serving_gc``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hub.app import serving_gc
from hub.settings import Settings


@pytest.fixture
def collector() -> Iterator[None]:
    """The process's collector as it was, afterwards (nothing else in the test process is tuned)."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def test_a_serving_node_collects_young_objects_less_often_and_leaves_start_up_alone(collector: None) -> None:
    _, middle, old = gc.get_threshold()
    started_with = [object() for _ in range(10)]  # what start-up left alive
    serving_gc(Settings.from_env({}).gc_young_threshold)
    assert gc.get_threshold() == (3_000, middle, old)
    assert gc.get_freeze_count() >= len(started_with)  # out of the collector's reach from now on
    assert Settings.from_env({"HUB_GC_YOUNG_THRESHOLD": "2500"}).gc_young_threshold == 2500


def test_a_young_threshold_of_zero_keeps_pythons_own(collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    serving_gc(Settings.from_env({"HUB_GC_YOUNG_THRESHOLD": "0"}).gc_young_threshold)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() > 0
