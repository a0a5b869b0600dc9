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
from typing import Any, TypeVar

import faust
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError
from pydantic import BaseModel
from rich.console import Console

from pipeline.clickhouse.client import READ_ONLY
from pipeline.errors import ConfigError
from pipeline.ingest import deadletters
from pipeline.ingest.agents import register_normalizers
from pipeline.ingest.normalize import normalizer_for
from pipeline.journeys.agents import JourneyTopics, register_journey_agents
from pipeline.journeys.engine import EngineConfig
from pipeline.journeys.resolution import IdentityLimits
from pipeline.journeys.resolver_agent import IdentityTopics, register_resolver
from pipeline.journeys.stages import StageModel
from pipeline.metrics.agents import register_metrics_agents
from pipeline.metrics.dropoff import DetectorConfig
from pipeline.metrics.webhook import WebhookSender
from pipeline.metrics.windows import WindowReport
from pipeline.settings import Settings
from pipeline.sink import rows
from pipeline.sink.agents import RowsOf, one_row, register_sink
from pipeline.sink.clickhouse import TableWriter
from pipeline.summary import Summary, collect, render
from pipeline.topics import TopicNames
from pipeline.web import register_query_view
from schemas.outputs import (
    CustomerMerge,
    DropoffAlert,
    EnrichedTouchpoint,
    IdentityLink,
    IdentityViolation,
    JourneySnapshot,
    SessionRecord,
    StageTransition,
)

M = TypeVar("M", bound=BaseModel)
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
    app = faust.App(
        settings.kafka.consumer_group,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        store="memory://",
        datadir=str(settings.worker.data_dir),
        autodiscover=False,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.kafka.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.kafka.session_timeout / 4),
        producer_acks=-1,
        web_enabled=True,
        web_host=settings.worker.web_host,
        web_bind=settings.worker.web_host,
        web_port=settings.worker.web_port,
        key_serializer="raw",
        value_serializer="raw",
    )
    names = TopicNames(settings.kafka.topic_prefix)
    single = names.single_partition()

    def topic(name: str) -> faust.TopicT:
        partitions = 1 if name in single else settings.kafka.partitions
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions)

    dead_letter_topic = topic(names.dead_letter)
    journey_topics = JourneyTopics(
        by_customer=topic(names.by_customer),
        moves=topic(names.moves),
        identity_messages=topic(names.identity_messages),
        ticks=topic(names.ticks),
        touchpoints=topic(names.journey_touchpoints),
        sessions=topic(names.sessions),
        transitions=topic(names.transitions),
        customers=topic(names.customers),
        window_reports=topic(names.window_reports),
    )
    alerts_topic = topic(names.alerts)
    identity_topics = IdentityTopics(
        canonical=topic(names.canonical),
        messages=journey_topics.identity_messages,
        by_customer=journey_topics.by_customer,
        moves=journey_topics.moves,
        touchpoints=journey_topics.touchpoints,
        links=topic(names.identity_links),
        merges=topic(names.identity_merges),
        violations=topic(names.identity_violations),
    )

    # raw channel events -> canonical touchpoints | dead letters
    register_normalizers(
        app,
        names,
        normalizer_for(settings),
        canonical=identity_topics.canonical,
        dead_letters=dead_letter_topic,
        partitions=settings.kafka.partitions,
    )

    # canonical touchpoints (by anchor) -> touchpoints by customer, links, merges
    register_resolver(
        app,
        identity_topics,
        IdentityLimits(settings.identity.limits()),
        partitions=settings.kafka.partitions,
    )

    # touchpoints by customer -> sessions, stages, journeys, window counts
    sessions = settings.sessions
    register_journey_agents(
        app,
        journey_topics,
        EngineConfig(
            stage_model=stage_model,
            inactivity_gap=sessions.inactivity_gap,
            max_length=sessions.max_length,
            allowed_lateness=sessions.allowed_lateness,
            retention=sessions.customer_retention,
        ),
        partitions=settings.kafka.partitions,
        idle_after=sessions.idle_after,
        idle_rate=sessions.idle_rate,
        window_sizes=settings.windows.sizes,
    )

    # window reports -> final windows -> drop-off alerts (-> webhook)
    alerts = settings.alerts
    register_metrics_agents(
        app,
        journey_topics.window_reports,
        alerts_topic,
        partitions=settings.kafka.partitions,
        stages=stage_model.stages,
        sizes=[int(size.total_seconds()) for size in settings.windows.sizes],
        config=DetectorConfig(
            min_volume=alerts.min_volume,
            significance=alerts.significance,
            min_rise=alerts.min_rise,
            resolve_after=alerts.resolve_after,
            cooldown=alerts.cooldown,
        ),
        webhook=(
            WebhookSender(
                alerts.webhook_url.get_secret_value(),
                alerts.webhook_format,
                alerts.webhook_timeout,
            )
            if alerts.webhook_url is not None
            else None
        ),
    )

    # every output topic -> its ClickHouse table
    lock = threading.Lock()  # one clickhouse-connect client, shared by sinks and queries

    def sink(source: faust.TopicT, table: str, columns: tuple[str, ...], rows_of: RowsOf) -> None:
        register_sink(
            app,
            source,
            writer=TableWriter(clickhouse, table, columns, lock, settings.sink.retry_max_seconds),
            rows_of=rows_of,
            batch_size=settings.sink.batch_size,
            batch_seconds=settings.sink.batch_seconds,
            # The dead-letter sink must not feed its own input.
            dead_letters=None if source is dead_letter_topic else dead_letter_topic,
        )

    sink(
        dead_letter_topic,
        "dead_letters",
        deadletters.COLUMNS,
        one_row(lambda e: deadletters.parse_dead_letter(e.key, e.value, e.headers).row()),
    )
    outputs: list[tuple[faust.TopicT, str, tuple[str, ...], RowsOf]] = [
        (
            journey_topics.touchpoints,
            "touchpoints",
            rows.TOUCHPOINT_COLUMNS,
            _decoded(EnrichedTouchpoint, rows.touchpoint_row),
        ),
        (
            journey_topics.sessions,
            "sessions",
            rows.SESSION_COLUMNS,
            _decoded(SessionRecord, rows.session_row),
        ),
        (
            journey_topics.transitions,
            "stage_transitions",
            rows.TRANSITION_COLUMNS,
            _decoded(StageTransition, rows.transition_row),
        ),
        (
            journey_topics.customers,
            "journeys",
            rows.JOURNEY_COLUMNS,
            _decoded(JourneySnapshot, rows.journey_row),
        ),
        (
            journey_topics.window_reports,
            "conversion_partials",
            rows.PARTIAL_COLUMNS,
            lambda e: rows.partial_rows(WindowReport.model_validate_json(e.value)),
        ),
        (alerts_topic, "alerts", rows.ALERT_COLUMNS, _decoded(DropoffAlert, rows.alert_row)),
        (
            identity_topics.links,
            "identity_links",
            rows.LINK_COLUMNS,
            _decoded(IdentityLink, rows.link_row),
        ),
        (
            identity_topics.merges,
            "customer_merges",
            rows.MERGE_COLUMNS,
            _decoded(CustomerMerge, rows.merge_row),
        ),
        (
            identity_topics.violations,
            "identity_violations",
            rows.VIOLATION_COLUMNS,
            _decoded(IdentityViolation, rows.violation_row),
        ),
    ]
    for source, table, columns, rows_of in outputs:
        sink(source, table, columns, rows_of)

    register_query_view(app, clickhouse, lock)
    if summary_every:
        smallest = int(min(settings.windows.sizes).total_seconds())
        _print_summaries(
            app,
            clickhouse=clickhouse,
            lock=lock,
            every=summary_every,
            stages=stage_model.stages,
            window_size=smallest,
        )
    return app


def _print_summaries(
    app: faust.App,
    *,
    clickhouse: Client,
    lock: threading.Lock,
    every: float,
    stages: Sequence[str],
    window_size: int,
) -> None:
    """Print what ClickHouse holds every `every` seconds (see pipeline.summary)."""
    console = Console(highlight=False)
    last: list[Summary] = []

    def ask(sql: str) -> Sequence[Sequence[Any]]:
        with lock:
            return clickhouse.query(sql, settings=READ_ONLY).result_rows

    async def print_summary() -> None:
        previous = last[-1] if last else None
        try:
            summary = await asyncio.to_thread(
                collect, ask, time.time(), stages, window_size, previous
            )
        except DriverError as error:
            log.warning("summary skipped: %s", error)
            return
        last[:] = [summary]
        console.print(render(summary, stages))

    app.timer(interval=every)(print_summary)


def _decoded(model: type[M], row_of: Callable[[M], tuple[object, ...]]) -> RowsOf:
    """Rows from a record holding one JSON-encoded `model`."""

    def rows_of(event: Any) -> list[tuple[object, ...]]:
        return [row_of(model.model_validate_json(event.value))]

    return rows_of
