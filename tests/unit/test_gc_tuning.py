"""The worker's garbage-collector pace: the young generation's threshold as set, start-up
objects frozen; 0 leaves Python's defaults."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pipeline.gc_tuning import tune_garbage_collector
from pipeline.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def restored() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_threshold_is_set_and_start_up_objects_are_frozen(
    restored: tuple[int, int, int],
) -> None:
    tune_garbage_collector(12_345)
    assert gc.get_threshold() == (12_345, *restored[1:])
    assert gc.get_freeze_count() > 0


def test_zero_keeps_the_defaults(restored: tuple[int, int, int]) -> None:
    tune_garbage_collector(0)
    assert gc.get_threshold() == restored


def test_the_default_setting_collects_less_often_than_python() -> None:
    assert load_settings().worker.gc_threshold > gc.get_threshold()[0]
