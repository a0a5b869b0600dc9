"""The Faust application: topics, agents and web views wired from settings.

Usage:
    app = create_app(settings, clickhouse_client, stage_model)
    faust.Worker(app).execute_from_commandline()      # see pipeline.worker
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import faust
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from faust.types import TP
from rich.console import Console

from pipeline.attribution.markov_job import days_due, markov_rows
from pipeline.clickhouse.client import ReadOnlyQueries
from pipeline.errors import ConfigError
from pipeline.health import Limits, Readiness, WriteFailures, readiness
from pipeline.ingest import deadletters
from pipeline.journeys.agent import PipelineRunner
from pipeline.journeys.pipeline import PipelineConfig
from pipeline.journeys.stages import StageModel
from pipeline.metrics.agents import register_metrics_agents
from pipeline.metrics.dropoff import DetectorConfig
from pipeline.metrics.webhook import AlertLinks, WebhookSender
from pipeline.settings import EmbeddedClickHouse, Settings
from pipeline.shutdown import StopBoundedApp
from pipeline.sink import rows
from pipeline.sink.agents import RowsOf, one_row, register_sink
from pipeline.sink.clickhouse import RetryPolicy, RowWriter, TableWriter
from pipeline.sink.forget import RowEraser
from pipeline.summary import Summary, SummaryDisplay, collect, render, render_health
from pipeline.telemetry import Telemetry
from pipeline.topics import TopicNames
from pipeline.web import (
    register_clickhouse_http,
    register_health_views,
    register_journey_map,
    register_metrics_view,
    register_query_view,
)
from schemas.outputs import DropoffAlert, StepWindow

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    clickhouse: Client,
    stage_model: StageModel,
    summary_every: float | None = None,
) -> faust.App:
    """A Faust app with every agent of the pipeline registered; with `summary_every`,
    it also prints a live summary that often (seconds)."""
    app = _faust_app(settings)
    wiring = Wiring(app, settings, clickhouse)

    # raw records -> normalise -> resolve -> engine -> rows + state, a flush every 0.5 s
    runner = PipelineRunner(
        app,
        wiring.names,
        PipelineConfig.from_settings(settings, stage_model),
        {table: wiring.row_writer(table, columns) for table, columns in rows.TABLES.items()},
        settings.sink,
        eraser=RowEraser(clickhouse, wiring.lock, wiring.retry),
        erase_within=settings.privacy.erase_within,
        telemetry=wiring.telemetry,
    )
    runner.register()

    # GET /healthz, /readyz (flushes keep up, writes succeed) and /metrics
    limits = Limits(settings.worker.ready_flush_age, settings.worker.ready_max_lag)

    def health() -> Readiness:
        return readiness(runner, limits, time.monotonic(), wiring.failures)

    register_health_views(app, health)
    wiring.telemetry.watch(runner)
    register_metrics_view(app, wiring.telemetry)

    # window reports -> final windows -> drop-off alerts (-> webhook), step windows
    _drop_off_detector(wiring, stage_model)

    # dead letters, alerts and step windows (low volume, read back from their topics)
    # -> ClickHouse
    _low_volume_sinks(wiring)

    # each day that became final -> its Markov attribution, on the alerts' owner
    attribution = settings.attribution
    if attribution.enabled and attribution.markov_every > 0:
        _compute_markov(
            app,
            queries=wiring.queries,
            writer=wiring.row_writer(rows.MARKOV, rows.MARKOV_COLUMNS),
            owns=wiring.owns_alerts,
            lookback=attribution.lookback,
            every=attribution.markov_every,
        )

    # analysts' reads: POST /query/, the journey map at /map/, and, with no server for
    # BI tools to reach, ClickHouse's HTTP interface at /clickhouse
    register_query_view(app, wiring.analysts)
    register_journey_map(app, wiring.analysts)
    if wiring.embedded:
        register_clickhouse_http(app, wiring.analysts)
    if summary_every:
        _print_summaries(
            app,
            queries=wiring.queries,
            every=summary_every,
            stages=stage_model.stages,
            window_size=int(min(settings.windows.sizes).total_seconds()),
            health=health,
            map_url=f"{settings.worker.web_url}/map/",
        )
    return app


def _faust_app(settings: Settings) -> faust.App:
    """The worker's Faust app, configured from `settings` (no agent registered yet)."""
    if settings.kafka.bootstrap_servers is None:
        raise ConfigError(
            "KAFKA_BOOTSTRAP_SERVERS is not set: the worker needs a broker "
            "(`journeys up` starts a local one and sets it)"
        )
    kafka, sink = settings.kafka, settings.sink
    servers = settings.kafka.bootstrap_servers.split(",")
    app = StopBoundedApp(
        kafka.consumer_group,
        broker=[f"kafka://{server}" for server in servers],
        store="memory://",
        datadir=str(settings.worker.data_dir),
        autodiscover=False,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=kafka.session_timeout,
        broker_heartbeat_interval=min(3.0, kafka.session_timeout / 4),
        broker_max_poll_records=sink.take_max,
        broker_commit_interval=1.0,  # acks come once a flush; commit them soon after
        producer_acks=-1,
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
        # A dead letter carries its source record (up to Kafka's default 1 MiB, cut to
        # deadletters.MAX_RAW_VALUE) and its reason: larger than Faust's 1,000,000 bytes.
        producer_max_request_size=1024 * 1024,
        web_enabled=True,
        web_host=settings.worker.web_host,
        web_bind=settings.worker.web_host,
        web_port=settings.worker.web_port,
        # Faust's own views would serve the state table (identity records included) and
        # its internals to anyone who can reach the port: only /query/ is served.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    app.stream_wait_limit = settings.worker.stop_timeout / 2
    return app


class Wiring:
    """What the parts of one worker share: its topics, the ClickHouse writers' lock and
    retry policy, the telemetry, and the two read-only connections (the worker's own reads:
    alerts, Markov, the summary; the analysts': /query/, /clickhouse, the journey map,
    stopped at CLICKHOUSE_QUERY_TIMEOUT). With the embedded engine every call takes the
    one lock (one engine call at a time); a server runs reads beside the inserts."""

    def __init__(self, app: faust.App, settings: Settings, clickhouse: Client) -> None:
        self.app, self.settings, self.clickhouse = app, settings, clickhouse
        self.names = TopicNames(settings.kafka.topic_prefix)
        self.lock = threading.Lock()
        self.failures = WriteFailures()  # every writer's, for /readyz and the live summary
        self.telemetry = Telemetry()  # GET /metrics
        # every ClickHouse write's; a failed write is not retried once the worker stops
        self.retry = RetryPolicy(
            settings.sink.retry_max_seconds, lambda: bool(app.should_stop), self.failures
        )
        target = settings.clickhouse.target
        self.embedded = isinstance(target, EmbeddedClickHouse)
        self.queries = ReadOnlyQueries(target, self._read_lock())
        self.analysts = ReadOnlyQueries(
            target, self._read_lock(), settings.clickhouse.query_timeout
        )
        self._topics: dict[str, faust.TopicT] = {}
        self.dead_letters = self.topic(self.names.dead_letter)

    def _read_lock(self) -> threading.Lock:
        return self.lock if self.embedded else threading.Lock()

    def topic(self, name: str) -> faust.TopicT:
        """The topic `name` (one object per name), raw bytes, with its partition count."""
        if name not in self._topics:
            single = name in self.names.single_partition()
            partitions = 1 if single else self.settings.kafka.partitions
            self._topics[name] = self.app.topic(
                name, key_type=bytes, value_type=bytes, partitions=partitions
            )
        return self._topics[name]

    def row_writer(self, table: str, columns: tuple[str, ...]) -> RowWriter:
        return RowWriter(
            self.clickhouse, table, columns, self.lock, self.retry, telemetry=self.telemetry
        )

    def sink_topic(
        self, source: faust.TopicT, table: str, columns: tuple[str, ...], rows_of: RowsOf
    ) -> None:
        """Records of `source` -> rows of `table`, in batches; rows ClickHouse refuses go
        to the dead letters (except the dead letters' own)."""
        sink = self.settings.sink
        register_sink(
            self.app,
            source,
            writer=TableWriter(
                self.clickhouse, table, columns, self.lock, self.retry, telemetry=self.telemetry
            ),
            rows_of=rows_of,
            batch_size=sink.take_max,
            batch_seconds=sink.batch_seconds,
            dead_letters=None if source is self.dead_letters else self.dead_letters,
            telemetry=self.telemetry,
        )

    def owns_alerts(self) -> bool:
        """Whether this worker owns the alerts' topic: it sends webhooks and runs Markov."""
        return TP(self.names.alerts, 0) in self.app.consumer.assignment()


def _low_volume_sinks(wiring: Wiring) -> None:
    """Dead letters, alerts and step windows, read back from their topics -> ClickHouse."""
    wiring.sink_topic(
        wiring.dead_letters,
        deadletters.TABLE,
        deadletters.COLUMNS,
        lambda e: deadletters.table_rows(e.key, e.value, e.headers),
    )
    wiring.sink_topic(
        wiring.topic(wiring.names.alerts),
        rows.ALERTS,
        rows.ALERT_COLUMNS,
        one_row(lambda e: rows.alert_row(DropoffAlert.model_validate_json(e.value))),
    )
    wiring.sink_topic(
        wiring.topic(wiring.names.step_windows),
        rows.STEP_WINDOWS,
        rows.STEP_WINDOW_COLUMNS,
        one_row(lambda e: rows.step_window_row(StepWindow.model_validate_json(e.value))),
    )


def _drop_off_detector(wiring: Wiring, stage_model: StageModel) -> None:
    """Window reports -> final windows -> drop-off alerts and step windows (-> webhook)."""
    settings, names, alerts = wiring.settings, wiring.names, wiring.settings.alerts

    async def firing() -> list[DropoffAlert]:
        """Episodes still firing, as ClickHouse has them (for a new webhook owner)."""
        result = await asyncio.to_thread(wiring.queries.query, rows.FIRING_ALERTS_SQL)
        return [rows.alert_of_row(row) for row in result.result_rows]

    register_metrics_agents(
        wiring.app,
        wiring.topic(names.window_reports),
        wiring.topic(names.alerts),
        wiring.topic(names.step_windows),
        partitions=settings.kafka.partitions,
        stages=stage_model.stages,
        funnel=stage_model.funnel_steps,
        sizes=[int(size.total_seconds()) for size in settings.windows.sizes],
        config=DetectorConfig(
            min_volume=alerts.min_volume,
            significance=alerts.significance,
            min_rise=alerts.min_rise,
            resolve_after=alerts.resolve_after,
            cooldown=alerts.cooldown,
            evidence_threshold=alerts.evidence_threshold,
            evidence_shift=alerts.evidence_shift,
        ),
        webhook=(
            WebhookSender(
                alerts.webhook_url.get_secret_value(),
                alerts.webhook_format,
                alerts.webhook_timeout,
                links=AlertLinks(alerts.generator_url, alerts.runbook_url),
                resend_interval=alerts.resend_interval,
                firing=firing,
                owns=wiring.owns_alerts,
                telemetry=wiring.telemetry,
            )
            if alerts.webhook_url is not None
            else None
        ),
        telemetry=wiring.telemetry,
    )


def _compute_markov(
    app: faust.App,
    *,
    queries: ReadOnlyQueries,
    writer: RowWriter,
    owns: Callable[[], bool],
    lookback: timedelta,
    every: float,
) -> None:
    """Every `every` seconds, on the worker that owns the alerts, the Markov attribution
    of each day that became final (pipeline.attribution.markov_job)."""

    def ask(sql: str) -> Sequence[Sequence[Any]]:
        return queries.query(sql).result_rows

    async def compute() -> None:
        if not owns():
            return
        try:
            for day in await asyncio.to_thread(days_due, ask, lookback):
                made = await asyncio.to_thread(markov_rows, ask, day, lookback)
                computed_at = made[0][-1] if made else None
                await writer.write(made, token=f"markov:{day}:{lookback.days}:{computed_at}")
        except DriverError as error:
            log.warning("Markov attribution skipped this time: %s", error)

    app.timer(interval=every)(compute)


def _print_summaries(
    app: faust.App,
    *,
    queries: ReadOnlyQueries,
    every: float,
    stages: Sequence[str],
    window_size: int,
    health: Callable[[], Readiness],
    map_url: str,
) -> None:
    """Print what ClickHouse holds, and whether the worker keeps up, every `every`
    seconds (see pipeline.summary)."""
    display = SummaryDisplay(Console(highlight=False))
    last: list[Summary] = []

    def ask(sql: str) -> Sequence[Sequence[Any]]:
        return queries.query(sql).result_rows

    async def print_summary() -> None:
        previous = last[-1] if last else None
        try:
            summary = await asyncio.to_thread(
                collect, ask, time.time(), stages, window_size, previous
            )
        except DriverError as error:
            log.warning("summary skipped: %s", error)
            display.show(render_health(health()))
            return
        last[:] = [summary]
        display.show(render(summary, stages, health(), map_url))

    app.timer(interval=every)(print_summary)
