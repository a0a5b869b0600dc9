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
    names = TopicNames(kafka.topic_prefix)
    lock = threading.Lock()  # one embedded engine call at a time: writers and queries
    failures = WriteFailures()  # every writer's, for /readyz and the live summary
    telemetry = Telemetry()  # GET /metrics

    def topic(name: str) -> faust.TopicT:
        partitions = 1 if name in names.single_partition() else kafka.partitions
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions)

    def stopping() -> bool:
        """Whether the worker is stopping: a failed write is then not retried."""
        return bool(app.should_stop)

    retry = RetryPolicy(sink.retry_max_seconds, stopping, failures)  # every ClickHouse write's

    # raw records -> normalise -> resolve -> engine -> rows + state, a flush every 0.5 s
    runner = PipelineRunner(
        app,
        names,
        PipelineConfig.from_settings(settings, stage_model),
        {
            table: RowWriter(clickhouse, table, columns, lock, retry, telemetry=telemetry)
            for table, columns in rows.TABLES.items()
        },
        sink,
        eraser=RowEraser(clickhouse, lock, retry),
        erase_within=settings.privacy.erase_within,
        telemetry=telemetry,
    )
    runner.register()
    telemetry.watch(runner)
    register_metrics_view(app, telemetry)
    limits = Limits(settings.worker.ready_flush_age, settings.worker.ready_max_lag)

    def health() -> Readiness:
        return readiness(runner, limits, time.monotonic(), failures)

    register_health_views(app, health)
    # The worker's own reads (alerts, Markov, the summary) and the analysts' (/query/,
    # /clickhouse, the journey map, stopped at CLICKHOUSE_QUERY_TIMEOUT), on connections
    # of their own: with the embedded engine under the writers' lock (one engine call at
    # a time), beside the inserts with a server.
    target = settings.clickhouse.target
    embedded = isinstance(target, EmbeddedClickHouse)
    queries = ReadOnlyQueries(target, lock if embedded else threading.Lock())
    analysts = ReadOnlyQueries(
        target, lock if embedded else threading.Lock(), settings.clickhouse.query_timeout
    )

    # window reports -> final windows -> drop-off alerts (-> webhook)
    dead_letter_topic, alerts_topic = topic(names.dead_letter), topic(names.alerts)
    step_windows_topic = topic(names.step_windows)
    alerts = settings.alerts

    async def firing() -> list[DropoffAlert]:
        """Episodes still firing, as ClickHouse has them (for a new webhook owner)."""
        result = await asyncio.to_thread(queries.query, rows.FIRING_ALERTS_SQL)
        return [rows.alert_of_row(row) for row in result.result_rows]

    def owns_alerts() -> bool:
        return TP(names.alerts, 0) in app.consumer.assignment()

    register_metrics_agents(
        app,
        topic(names.window_reports),
        alerts_topic,
        step_windows_topic,
        partitions=kafka.partitions,
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
                owns=owns_alerts,
                telemetry=telemetry,
            )
            if alerts.webhook_url is not None
            else None
        ),
        telemetry=telemetry,
    )

    # dead letters and alerts (low volume, read back from their topics) -> ClickHouse
    def sink_topic(
        source: faust.TopicT, table: str, columns: tuple[str, ...], rows_of: RowsOf
    ) -> None:
        register_sink(
            app,
            source,
            writer=TableWriter(clickhouse, table, columns, lock, retry, telemetry=telemetry),
            rows_of=rows_of,
            batch_size=sink.take_max,
            batch_seconds=sink.batch_seconds,
            # The dead-letter sink must not feed its own input.
            dead_letters=None if source is dead_letter_topic else dead_letter_topic,
            telemetry=telemetry,
        )

    sink_topic(
        dead_letter_topic,
        deadletters.TABLE,
        deadletters.COLUMNS,
        lambda e: deadletters.table_rows(e.key, e.value, e.headers),
    )
    sink_topic(
        alerts_topic,
        rows.ALERTS,
        rows.ALERT_COLUMNS,
        one_row(lambda e: rows.alert_row(DropoffAlert.model_validate_json(e.value))),
    )
    sink_topic(
        step_windows_topic,
        rows.STEP_WINDOWS,
        rows.STEP_WINDOW_COLUMNS,
        one_row(lambda e: rows.step_window_row(StepWindow.model_validate_json(e.value))),
    )

    attribution = settings.attribution
    if attribution.enabled and attribution.markov_every > 0:
        _compute_markov(
            app,
            queries=queries,
            writer=RowWriter(clickhouse, rows.MARKOV, rows.MARKOV_COLUMNS, lock, retry),
            owns=owns_alerts,
            lookback=attribution.lookback,
            every=attribution.markov_every,
        )
    register_query_view(app, analysts)
    register_journey_map(app, analysts)
    if embedded:
        # No server for BI tools to reach: the worker answers for it. (With a server,
        # tools connect to it, as its analyst user.)
        register_clickhouse_http(app, analysts)
    if summary_every:
        smallest = int(min(settings.windows.sizes).total_seconds())
        _print_summaries(
            app,
            queries=queries,
            every=summary_every,
            stages=stage_model.stages,
            window_size=smallest,
            health=health,
            map_url=f"{settings.worker.web_url}/map/",
        )
    return app


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
