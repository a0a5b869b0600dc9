"""The Faust application: topics, agents and web views wired from settings.

Usage:
    app = create_app(settings, clickhouse_client, stage_model)
    faust.Worker(app).execute_from_commandline()      # see pipeline.worker
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import faust
from clickhouse_connect.driver.client import Client

from pipeline.errors import ConfigError
from pipeline.ingest import deadletters
from pipeline.ingest.agents import register_normalizers
from pipeline.ingest.normalize import Limits, Normalizer
from pipeline.ingest.pii import PiiHasher
from pipeline.journeys.agents import JourneyTopics, register_journey_agents
from pipeline.journeys.engine import EngineConfig
from pipeline.journeys.stages import StageModel
from pipeline.settings import Settings
from pipeline.sink import rows
from pipeline.sink.agents import RowOf, register_sink
from pipeline.sink.clickhouse import TableWriter
from pipeline.topics import TopicNames
from pipeline.web import register_query_view
from schemas.outputs import EnrichedTouchpoint, JourneySnapshot, SessionRecord, StageTransition


def create_app(settings: Settings, clickhouse: Client, stage_model: StageModel) -> faust.App:
    """A Faust app with every agent of the pipeline registered."""
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
    lock = threading.Lock()  # one clickhouse-connect client, shared by sinks and queries

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            name, key_type=bytes, value_type=bytes, partitions=settings.kafka.partitions
        )

    dead_letter_topic = topic(names.dead_letter)
    canonical_topic = topic(names.canonical)
    register_normalizers(
        app,
        names,
        Normalizer(
            PiiHasher(
                settings.privacy.hash_key.get_secret_value().encode(),
                settings.ingest.phone_region,
            ),
            Limits(
                max_payload_bytes=settings.ingest.max_payload_bytes,
                max_clock_skew=settings.ingest.max_clock_skew,
                max_event_age=settings.ingest.max_event_age,
            ),
        ),
        canonical=canonical_topic,
        dead_letters=dead_letter_topic,
        partitions=settings.kafka.partitions,
    )

    def sink(source: faust.TopicT, table: str, columns: Sequence[str], row_of: RowOf) -> None:
        writer = TableWriter(clickhouse, table, columns, lock, settings.sink.retry_max_seconds)
        register_sink(
            app,
            source,
            writer=writer,
            row_of=row_of,
            batch_size=settings.sink.batch_size,
            batch_seconds=settings.sink.batch_seconds,
            # The dead-letter sink must not feed its own input.
            dead_letters=None if source is dead_letter_topic else dead_letter_topic,
        )

    # raw bytes + reason headers -> dead_letters row
    sink(
        dead_letter_topic,
        "dead_letters",
        deadletters.COLUMNS,
        lambda event: deadletters.parse_dead_letter(event.key, event.value, event.headers).row(),
    )
    sessions = settings.sessions
    outputs = JourneyTopics(
        canonical=canonical_topic,
        by_customer=topic(names.by_customer),
        ticks=topic(names.ticks),
        touchpoints=topic(names.journey_touchpoints),
        sessions=topic(names.sessions),
        transitions=topic(names.transitions),
        customers=topic(names.customers),
    )
    register_journey_agents(
        app,
        outputs,
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
    )
    # output record (JSON) -> its table's row
    sink(
        outputs.touchpoints,
        "touchpoints",
        rows.TOUCHPOINT_COLUMNS,
        lambda event: rows.touchpoint_row(EnrichedTouchpoint.model_validate_json(event.value)),
    )
    sink(
        outputs.sessions,
        "sessions",
        rows.SESSION_COLUMNS,
        lambda event: rows.session_row(SessionRecord.model_validate_json(event.value)),
    )
    sink(
        outputs.transitions,
        "stage_transitions",
        rows.TRANSITION_COLUMNS,
        lambda event: rows.transition_row(StageTransition.model_validate_json(event.value)),
    )
    sink(
        outputs.customers,
        "journeys",
        rows.JOURNEY_COLUMNS,
        lambda event: rows.journey_row(JourneySnapshot.model_validate_json(event.value)),
    )
    register_query_view(app, clickhouse, lock)
    return app
