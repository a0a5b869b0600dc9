"""Running the Faust worker: ClickHouse ready first, then the app.

Usage:
    run_worker(load_settings())     # blocks until SIGINT/SIGTERM
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

import faust
from clickhouse_connect.driver.client import Client

from pipeline.app import create_app
from pipeline.clickhouse.client import connect
from pipeline.clickhouse.migrations import apply_retention, migrate, publish_stage_model
from pipeline.errors import ClickHouseError
from pipeline.faust_drain import install_drain
from pipeline.faust_recovery import install_reseek_after_recovery
from pipeline.gc_tuning import tune_garbage_collector
from pipeline.ingest.channels import KNOWN_ACTIONS
from pipeline.journeys.stages import load_stage_model
from pipeline.kafka_admin import ensure_topics
from pipeline.settings import DEVELOPMENT_HASH_KEY, EmbeddedClickHouse, Settings
from pipeline.shutdown import StopBoundedWorker
from pipeline.topics import TopicNames

log = logging.getLogger(__name__)


#: Free space the embedded engine's disk needs at start (its tables, parts and merges).
MIN_FREE_BYTES = 64 * 2**20


def check_embedded_directory(path: Path, min_free: int = MIN_FREE_BYTES) -> None:
    """Fail at start, in one line, when the embedded engine could not keep its data in
    `path` (the engine itself would fail later with an obscure message, or half-create
    its files and refuse to start again)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path) as probe:
            probe.write(b"journeys")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise ClickHouseError(
            f"CLICKHOUSE_URL: cannot write to {path}: {error.strerror or error}"
        ) from error
    _check_not_in_use(path)
    free = shutil.disk_usage(path).free
    if free < min_free:
        raise ClickHouseError(
            f"CLICKHOUSE_URL: only {free / 2**20:.0f} MiB free on the disk of {path} (at "
            f"least {min_free / 2**20:.0f} MiB needed): free some space or point "
            "CLICKHOUSE_URL elsewhere"
        )


def _check_not_in_use(path: Path) -> None:
    """ClickHouse locks its directory's `status` file (flock) while it runs."""
    status = path / "status"
    if not status.exists():
        return
    with status.open("rb") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = next((line for line in held.read().decode(errors="replace").splitlines()
                          if line.startswith("PID:")), "PID unknown")  # fmt: skip
            raise ClickHouseError(
                f"CLICKHOUSE_URL: {path} is in use by another process ({owner}): the "
                "embedded engine serves one process; stop it, or give this worker a "
                "directory of its own"
            ) from None
        fcntl.flock(held, fcntl.LOCK_UN)


def prepare_clickhouse(settings: Settings) -> Client:
    """Connect to ClickHouse and apply pending migrations."""
    target = settings.clickhouse.target
    if isinstance(target, EmbeddedClickHouse):
        check_embedded_directory(target.path)
    client = connect(target)
    retention = settings.clickhouse.retention_days
    applied = migrate(client, retention_days=retention)
    log.info(
        "%s ready; migrations applied now: %s",
        target.describe(),
        ", ".join(m.name for m in applied) or "none",
    )
    changed = apply_retention(client, retention)
    if changed:
        log.warning(
            "CLICKHOUSE_RETENTION_DAYS is %d now: the TTL of %s changed to it (rows already "
            "dropped stay dropped)", retention, ", ".join(changed),
        )  # fmt: skip
    return client


def changelog_topics(app: faust.App) -> dict[str, tuple[int, dict[str, str]]]:
    """Faust's table changelogs: name -> (partitions, topic config), as Faust declares them.

    Created before the worker starts: when Faust creates them itself, the group's first
    assignment can run before the broker's metadata lists them; it then ignores them
    ("Ignoring missing topic"), their tables get no partitions, and the worker processes
    nothing until the next rebalance.
    """
    found = {}
    for table in app.tables.values():
        topic = table.changelog_topic
        policy = ",".join(
            flag for flag, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on
        )
        config = {"cleanup.policy": policy} if policy else {}
        if topic.retention:
            config["retention.ms"] = str(int(topic.retention * 1000))
        config.update({name: str(value) for name, value in (topic.config or {}).items()})
        found[topic.get_topic_name()] = (int(table.partitions), config)
    return found


def development_key_warning(settings: Settings) -> str | None:
    """A warning when personal data would be hashed with the public development key
    outside the local stack (a ClickHouse server)."""
    key = settings.privacy.hash_key.get_secret_value()
    if key != DEVELOPMENT_HASH_KEY or isinstance(settings.clickhouse.target, EmbeddedClickHouse):
        return None
    return (
        "JOURNEYS_PRIVACY_HASH_KEY is the public development key: emails and phone numbers "
        "hashed with it can be recovered by hashing a list of addresses. Set a secret key "
        "of your own before real customers' data arrives (changing it later splits every "
        "customer known by email or phone)."
    )


class RetriedLookups(logging.Filter):
    """aiokafka logs each failed lookup of the group coordinator as an error, also the
    ones it retries (every start against a new group or a broker just started): those
    become INFO lines; a lookup that cannot be retried stays an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and str(record.msg).startswith("Group Coordinator Request failed")
            and record.args
            and getattr(record.args[0], "retriable", False)  # type: ignore[index]  # (error,)
        ):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg += " (retrying)"
        return True


def run_worker(settings: Settings, summary_every: float | None = None) -> None:
    """Start the worker and block until it is told to stop; with `summary_every`, print
    a live summary that often (seconds)."""
    warning = development_key_warning(settings)
    if warning:
        log.warning(warning)
    install_reseek_after_recovery()
    logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(RetriedLookups())
    install_drain(fast=settings.worker.fast_drain)
    stage_model = load_stage_model(settings.stages.model_file, KNOWN_ACTIONS)
    client = prepare_clickhouse(settings)
    publish_stage_model(client, stage_model.name, stage_model.stages, stage_model.funnel_steps)
    app = create_app(settings, client, stage_model, summary_every)
    assert settings.kafka.bootstrap_servers is not None  # create_app checked
    names = TopicNames(settings.kafka.topic_prefix)
    changelogs = changelog_topics(app)
    created = ensure_topics(
        settings.kafka.bootstrap_servers,
        [*names.all(), *changelogs],
        settings.kafka.partitions,
        settings.kafka.replication_factor,
        overrides={
            **dict.fromkeys(names.single_partition(), 1),
            **{name: partitions for name, (partitions, _) in changelogs.items()},
        },
        configs={name: config for name, (_, config) in changelogs.items()},
    )
    if created:
        log.info("created topics: %s", ", ".join(created))
    worker = StopBoundedWorker(
        app,
        stop_timeout=settings.worker.stop_timeout,
        loglevel=settings.worker.log_level.upper(),
        quiet=True,
        redirect_stdouts=False,  # the live summary is printed, not logged as a warning
    )
    tune_garbage_collector(settings.worker.gc_threshold)
    # Faust's start-up spinner sets the root logger to DEBUG (it spins on every record)
    # when the level is WARNING or above: every debug call in aiokafka and Faust then
    # builds a log record, about a tenth of the worker's CPU in a profile.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    finally:
        client.close()
