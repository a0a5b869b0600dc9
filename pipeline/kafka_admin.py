"""Creating the pipeline's topics before anything produces to or consumes from them.

Faust only creates its internal topics; a source topic that does not exist when the
worker subscribes is ignored until a metadata refresh minutes later, and a topic that a
producer auto-creates gets the broker's default partition count, which breaks
co-partitioning. So every topic is created here first, with the configured layout.

Usage:
    ensure_topics("127.0.0.1:9092", names.all(), partitions=8, replication_factor=1)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from pipeline.errors import ConfigError, LocalStackError

log = logging.getLogger(__name__)


def ensure_topics(
    bootstrap_servers: str,
    names: Iterable[str],
    partitions: int,
    replication_factor: int,
    *,
    overrides: Mapping[str, int] | None = None,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create the topics that are missing; returns those created.

    Every topic gets `partitions`, except those `overrides` gives a count of their own;
    `configs` gives topic configs by name (e.g. cleanup.policy of a changelog), set on
    topics that exist already too (so that a changed setting reaches them).

    A topic that exists with a different partition count is an error: keyed state
    would be split differently from its changelog.
    """
    wanted = sorted(set(names))
    layout = {name: (overrides or {}).get(name, partitions) for name in wanted}
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers.split(","), client_id="journeys-admin"
        )
    except KafkaError as error:
        raise LocalStackError(f"cannot reach Kafka at {bootstrap_servers}: {error}") from error
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            layout[name],
                            replication_factor,
                            topic_configs=dict((configs or {}).get(name, {})),
                        )
                        for name in missing
                    ]
                )
            _wait_for_leaders(admin, missing)
        present = [name for name in wanted if name in existing]
        if present:
            _check_partitions(admin, present, layout)
            _set_configs(admin, {name: (configs or {}).get(name, {}) for name in present})
        return missing
    finally:
        admin.close()


def _set_configs(admin: KafkaAdminClient, configs: Mapping[str, Mapping[str, str]]) -> None:
    """Set these configs on existing topics where they differ (each key given; others
    stay as they are). A broker that refuses (no ALTER_CONFIGS right) gets a warning
    naming what to set by hand, not a worker that cannot start."""
    wanted = {name: dict(config) for name, config in configs.items() if config}
    if not wanted:
        return
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
        )["topic"]
        changed = {
            name: config
            for name, config in wanted.items()
            if any(described.get(name, {}).get(k, {}).get("value") != v for k, v in config.items())
        }
        if changed:
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n, configs=c) for n, c in changed.items()]
            )
    except KafkaError as error:
        log.warning("could not set topic configs %s (%r): set them by hand", wanted, error)


def _wait_for_leaders(admin: KafkaAdminClient, names: list[str], timeout: float = 30.0) -> None:
    """Until every partition of `names` has a leader: a consumer that joins its group
    before that is assigned none of them until a metadata refresh minutes later."""
    leaderless: list[str] = Retrying(
        retry=retry_if_result(bool),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.1),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else names,
    )(_leaderless, admin, names)
    if leaderless:
        raise LocalStackError(
            f"Kafka gave no leader to {', '.join(leaderless)} within {timeout:.0f} s"
        )


def _leaderless(admin: KafkaAdminClient, names: list[str]) -> list[str]:
    return [
        description["name"]
        for description in admin.describe_topics(names)
        if not description["partitions"]
        or any(partition["leader_id"] < 0 for partition in description["partitions"])
    ]


def _check_partitions(admin: KafkaAdminClient, names: list[str], layout: Mapping[str, int]) -> None:
    wrong = []
    for description in admin.describe_topics(names):
        name, count = description["name"], len(description["partitions"])
        if count != layout[name]:
            wrong.append(f"{name} has {count} (wants {layout[name]})")
    if wrong:
        raise ConfigError(
            "topics exist with other partition counts than KAFKA_PARTITIONS gives: "
            + ", ".join(wrong)
            + ": set KAFKA_PARTITIONS to match, or recreate the topics"
        )
