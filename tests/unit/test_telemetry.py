"""The worker's Prometheus metrics: every one documented for operators, and the
scrape-time gauges read from what the pipeline owns."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.telemetry import Telemetry

pytestmark = pytest.mark.unit

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@dataclass
class Figures:
    partition: int
    watermark_seconds: float | None
    sessions_open: int


@dataclass
class Observed:
    lags: dict[tuple[str, int], int]
    partitions: list[Figures]
    state: tuple[int, int]

    def input_lag(self) -> Mapping[tuple[str, int], int]:
        return self.lags

    def partition_figures(self) -> Iterable[Figures]:
        return self.partitions

    def state_size(self) -> tuple[int, int]:
        return self.state


def scrape(telemetry: Telemetry) -> dict[str, float]:
    """Each sample's value by its name and labels, as Prometheus writes them."""
    text = telemetry.exposition().decode()
    return {
        sample.name + "".join(f",{k}={v}" for k, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_metric_is_documented_with_its_type_in_operations_md() -> None:
    telemetry = Telemetry()
    telemetry.watch(Observed({}, [], (0, 0)))
    text = telemetry.exposition().decode()
    served = {
        (family.name + ("_total" if family.type == "counter" else ""), family.type)
        for family in text_string_to_metric_families(text)
        if family.name.startswith("journeys_")
    }
    table = OPERATIONS.read_text()
    documented = set(re.findall(r"^\| `(journeys_[a-z_]+)` \| (\w+) \|", table, re.MULTILINE))
    assert len(served) == 14
    assert "process_resident_memory_bytes" in text
    assert documented == served


def test_gauges_are_read_from_the_pipeline_at_each_scrape() -> None:
    telemetry = Telemetry()
    now = time.time()
    observed = Observed(
        lags={("t.touchpoints.raw.web", 0): 5, ("t.journeys.internal", 1): 0},
        partitions=[Figures(1, now - 300, 2), Figures(0, None, 0)],
        state=(3, 120),
    )
    telemetry.watch(observed)
    first = scrape(telemetry)
    assert first["journeys_consumer_lag,partition=0,topic=t.touchpoints.raw.web"] == 5
    assert first["journeys_consumer_lag,partition=1,topic=t.journeys.internal"] == 0
    assert first["journeys_watermark_seconds,partition=1"] == now - 300
    assert 300 <= first["journeys_watermark_delay_seconds,partition=1"] < 360
    # A partition without a watermark yet has no watermark samples, but its sessions.
    assert "journeys_watermark_seconds,partition=0" not in first
    assert first["journeys_sessions_open,partition=0"] == 0
    assert first["journeys_sessions_open,partition=1"] == 2
    assert (first["journeys_state_records"], first["journeys_state_bytes"]) == (3, 120)
    observed.lags[("t.touchpoints.raw.web", 0)] = 0
    observed.state = (4, 160)
    second = scrape(telemetry)
    assert second["journeys_consumer_lag,partition=0,topic=t.touchpoints.raw.web"] == 0
    assert second["journeys_state_records"] == 4


def test_counters_and_the_flush_histogram_add_up() -> None:
    telemetry = Telemetry()
    telemetry.records_in.labels("t.touchpoints.raw.web").inc(7)
    telemetry.dead_letters.labels("ValidationError").inc(2)
    telemetry.flush_seconds.observe(0.2)
    telemetry.flush_seconds.observe(3)
    scraped = scrape(telemetry)
    assert scraped["journeys_records_in_total,topic=t.touchpoints.raw.web"] == 7
    assert scraped["journeys_dead_letters_total,reason=ValidationError"] == 2
    assert scraped["journeys_flush_seconds_count"] == 2
    assert scraped["journeys_flush_seconds_bucket,le=0.25"] == 1
    assert scraped["journeys_flush_seconds_bucket,le=5.0"] == 2
