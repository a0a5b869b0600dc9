"""Topic creation on the real broker."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from pipeline.errors import ConfigError
from pipeline.kafka_admin import ensure_topics

pytestmark = pytest.mark.integration


def test_missing_topics_are_created_with_the_layout_and_mismatches_refused(
    kafka_bootstrap: str, unique: str
) -> None:
    names = [f"t{unique}.a", f"t{unique}.b"]
    assert ensure_topics(kafka_bootstrap, names, partitions=3, replication_factor=1) == names
    assert ensure_topics(kafka_bootstrap, names, partitions=3, replication_factor=1) == []
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(names)}
    finally:
        admin.close()
    assert described == {names[0]: 3, names[1]: 3}
    with pytest.raises(ConfigError, match=r"\.a has 3 \(wants 5\).*set KAFKA_PARTITIONS"):
        ensure_topics(kafka_bootstrap, names, partitions=5, replication_factor=1)


def test_the_workers_table_changelogs_are_created_up_front_as_faust_declares_them(
    kafka_bootstrap: str, unique: str
) -> None:
    from pipeline.app import create_app
    from pipeline.settings import load_settings
    from pipeline.worker import changelog_topics
    from tests.factories import five_stage_model

    settings = load_settings(
        kafka={
            "bootstrap_servers": kafka_bootstrap,
            "consumer_group": f"g{unique}",
            "partitions": 2,
        }
    )
    changelogs = changelog_topics(create_app(settings, None, five_stage_model()))  # type: ignore[arg-type]
    day = str(24 * 3600 * 1000)  # JOURNEYS_PRIVACY_ERASE_WITHIN's default, for personal state
    erasure = {"segment.ms": day, "max.compaction.lag.ms": day}
    assert changelogs == {
        f"g{unique}-state-changelog": (2, {"cleanup.policy": "compact", **erasure}),
        f"g{unique}-window_merge-changelog": (1, {"cleanup.policy": "compact"}),
    }
    created = ensure_topics(
        kafka_bootstrap,
        list(changelogs),
        partitions=2,
        replication_factor=1,
        overrides={name: count for name, (count, _) in changelogs.items()},
        configs={name: config for name, (_, config) in changelogs.items()},
    )
    assert sorted(created) == sorted(changelogs)

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        responses = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in changelogs]
        )
    finally:
        admin.close()
    stored = {
        name: {key: entry[key]["value"] for key in ("cleanup.policy", *erasure) if key in entry}
        for name, entry in responses["topic"].items()
    }
    assert stored == {name: config for name, (_, config) in changelogs.items()}

    # A changed setting reaches the existing changelog at the next start.
    hour = {"segment.ms": "3600000", "max.compaction.lag.ms": "3600000"}
    state = f"g{unique}-state-changelog"
    again = ensure_topics(
        kafka_bootstrap, [state], partitions=2, replication_factor=1,
        configs={state: {"cleanup.policy": "compact", **hour}},
    )  # fmt: skip
    assert again == []
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        entry = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, state)])
    finally:
        admin.close()
    changed = entry["topic"][state]
    assert {key: changed[key]["value"] for key in hour} == hour
    assert changed["cleanup.policy"]["value"] == "compact"
