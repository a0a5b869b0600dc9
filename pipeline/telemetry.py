"""The worker's Prometheus metrics, served at GET /metrics (docs/operations.md).

Every metric is declared here, once. Counters and the flush histogram are updated where
things happen, at most once per flush or per insert (never per event); gauges are read
when Prometheus scrapes, from the objects that own the figures (the partition pipelines,
Faust's consumer), so keeping them costs the hot path nothing.

    telemetry = Telemetry()
    telemetry.watch(runner)                 # the scrape-time gauges of the pipeline
    telemetry.rows_inserted.labels("sessions").inc(120)
    body = telemetry.exposition()           # text format 0.0.4
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# No `*_created` series: rates do not need them, and the process's start time is served.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated

#: The content type of `Telemetry.exposition()`.
CONTENT_TYPE = "text/plain; version=0.0.4"  # UTF-8 (aiohttp refuses a charset here)


class Observed(Protocol):
    """What the scrape-time gauges read (pipeline.journeys.agent.PipelineRunner)."""

    def input_lag(self) -> Mapping[tuple[str, int], int]: ...

    def partition_figures(self) -> Iterable[PartitionFigures]: ...

    def state_size(self) -> tuple[int, int]: ...


class PartitionFigures(Protocol):
    """One partition pipeline's figures (pipeline.journeys.pipeline.PartitionPipeline)."""

    partition: int

    @property
    def watermark_seconds(self) -> float | None: ...

    @property
    def sessions_open(self) -> int: ...


class Telemetry:
    """The metrics of one worker, in a registry of their own (with the standard
    `process_*` ones: CPU, resident memory, open files, start time)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        self.records_in = Counter(
            "journeys_records_in",
            "Raw records read whose effects are durable (acknowledged), per raw topic.",
            ["topic"],
            registry=registry,
        )
        self.touchpoints = Counter(
            "journeys_touchpoints",
            "Raw records normalised into touchpoints (the rest are dead letters).",
            registry=registry,
        )
        self.dead_letters = Counter(
            "journeys_dead_letters",
            "Records sent to the dead-letter topic, per reason (a short error type).",
            ["reason"],
            registry=registry,
        )
        self.rows_inserted = Counter(
            "journeys_rows_inserted",
            "Rows ClickHouse accepted, per table (a row re-versioned counts again).",
            ["table"],
            registry=registry,
        )
        self.insert_errors = Counter(
            "journeys_insert_errors",
            "Failed ClickHouse inserts, per table (each is retried until it succeeds).",
            ["table"],
            registry=registry,
        )
        self.flush_seconds = Histogram(
            "journeys_flush_seconds",
            "Duration of a flush: ClickHouse rows, Kafka outputs and state, acknowledgements.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.alerts = Counter(
            "journeys_alerts",
            "Drop-off alerts raised (status firing) or resolved, per stage.",
            ["stage", "status"],
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "journeys_webhook_deliveries",
            "Alert webhook deliveries, per outcome (delivered, failed, dropped).",
            ["outcome"],
            registry=registry,
        )

    def watch(self, observed: Observed) -> None:
        """Serve `observed`'s gauges (lag, watermark, sessions, state) from now on."""
        self.registry.register(_Gauges(observed))

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)


class _Gauges(Collector):
    """Gauges read at scrape time."""

    def __init__(self, observed: Observed) -> None:
        self.observed = observed

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "journeys_consumer_lag",
            "Records of an assigned input partition not yet read and made durable.",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted(self.observed.input_lag().items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag
        watermark = GaugeMetricFamily(
            "journeys_watermark_seconds",
            "Event-time watermark of a partition (Unix seconds): what is before it is final.",
            labels=["partition"],
        )
        delay = GaugeMetricFamily(
            "journeys_watermark_delay_seconds",
            "Wall clock minus the watermark: how far final results trail real time.",
            labels=["partition"],
        )
        sessions = GaugeMetricFamily(
            "journeys_sessions_open",
            "Sessions open (not yet closed by inactivity or length), per partition.",
            labels=["partition"],
        )
        now = time.time()
        for figures in sorted(self.observed.partition_figures(), key=lambda f: f.partition):
            label = [str(figures.partition)]
            sessions.add_metric(label, figures.sessions_open)
            mark = figures.watermark_seconds
            if mark is not None:
                watermark.add_metric(label, mark)
                delay.add_metric(label, now - mark)
        yield from (watermark, delay, sessions)
        records, size = self.observed.state_size()
        yield GaugeMetricFamily(
            "journeys_state_records",
            "State records (identities, customers, window counts) this worker holds.",
            value=records,
        )
        yield GaugeMetricFamily(
            "journeys_state_bytes",
            "Encoded size of those records (what the state changelog holds of them).",
            value=size,
        )
