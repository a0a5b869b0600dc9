"""Topic creation on the real broker."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient

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
