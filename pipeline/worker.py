"""Running the Faust worker: ClickHouse ready first, then the app.

Usage:
    run_worker(load_settings())     # blocks until SIGINT/SIGTERM
"""

from __future__ import annotations

import logging

import faust
from clickhouse_connect.driver.client import Client

from pipeline.app import create_app
from pipeline.clickhouse.client import connect
from pipeline.clickhouse.migrations import migrate, publish_stage_model
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.journeys.stages import load_stage_model
from pipeline.kafka_admin import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import TopicNames

log = logging.getLogger(__name__)


def prepare_clickhouse(settings: Settings) -> Client:
    """Connect to ClickHouse and apply pending migrations."""
    target = settings.clickhouse.target
    client = connect(target)
    applied = migrate(client, retention_days=settings.clickhouse.retention_days)
    log.info(
        "%s ready; migrations applied now: %s",
        target.describe(),
        ", ".join(m.name for m in applied) or "none",
    )
    return client


def run_worker(settings: Settings) -> None:
    """Start the worker and block until it is told to stop."""
    stage_model = load_stage_model(settings.stages.model_file, KNOWN_ACTIONS)
    client = prepare_clickhouse(settings)
    publish_stage_model(client, stage_model.name, stage_model.stages)
    app = create_app(settings, client, stage_model)
    assert settings.kafka.bootstrap_servers is not None  # create_app checked
    names = TopicNames(settings.kafka.topic_prefix)
    # Table changelogs too: Faust would create them at start-up, but a table written by the
    # first event after that can find the changelog without partitions in the consumer's
    # metadata (PartitionsMismatch, and the agent restarts without that event).
    changelogs = {
        table.changelog_topic.get_topic_name(): table.partitions or settings.kafka.partitions
        for table in app.tables.values()
    }
    created = ensure_topics(
        settings.kafka.bootstrap_servers,
        [*names.all(), *changelogs],
        settings.kafka.partitions,
        settings.kafka.replication_factor,
        overrides={**dict.fromkeys(names.single_partition(), 1), **changelogs},
        configs={name: {"cleanup.policy": "compact"} for name in changelogs},
    )
    if created:
        log.info("created topics: %s", ", ".join(created))
    worker = faust.Worker(app, loglevel=settings.worker.log_level.upper(), quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    finally:
        client.close()
