"""`journeys dlq replay` checks every record it sends back: when the broker refuses one,
the replay fails with a clear error and marks nothing replayed, so the next run (once the
cause is fixed) sends every one of them again. It used to commit after a flush whatever
the sends' results were, and a refused record was never replayed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from pipeline.errors import ReplayError
from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.replay import replay_dead_letters
from pipeline.kafka_admin import ensure_topics
from tests.support import consume_all, produce

pytestmark = pytest.mark.integration

LIMIT = 2000  # the source topic's max.message.bytes


def letter(source: str, offset: int, size: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    dead = DeadLetter(
        source_topic=source,
        source_partition=0,
        source_offset=offset,
        error_type="ValidationError",
        error_message="a test",
        failed_at=datetime(2026, 3, 1, tzinfo=UTC),
        replay_count=0,
        raw_key=b"k",
        raw_value=b"x" * size,
    )
    return dead.raw_key, dead.raw_value, dead.headers()


def test_a_refused_send_fails_the_replay_and_marks_nothing_replayed(
    kafka_bootstrap: str, unique: str
) -> None:
    source, dead_letters = f"t{unique}.touchpoints.raw.web", f"t{unique}.touchpoints.dead-letter"
    ensure_topics(
        kafka_bootstrap, [source, dead_letters], 1, 1,
        configs={source: {"max.message.bytes": str(LIMIT)}},
    )  # fmt: skip
    produce(kafka_bootstrap, dead_letters, [letter(source, 1, 10), letter(source, 2, 5 * LIMIT)])
    group = f"t{unique}.dlq-replay"

    with pytest.raises(ReplayError, match=r"1 of 2 dead letters could not be sent back"):
        replay_dead_letters(kafka_bootstrap, dead_letters, group)
    again = replay_dead_letters(kafka_bootstrap, dead_letters, group, dry_run=True)
    assert (again.read, again.replayed) == (2, 2), "nothing was marked replayed"

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        topic = ConfigResource(ConfigResourceType.TOPIC, source, {"max.message.bytes": "1000000"})
        admin.alter_configs([topic])
    finally:
        admin.close()
    fixed = replay_dead_letters(kafka_bootstrap, dead_letters, group)
    assert (fixed.read, fixed.replayed) == (2, 2)
    sizes = sorted(len(r.value) for r in consume_all(kafka_bootstrap, source, 3, settle=2))
    assert sizes == [10, 10, 5 * LIMIT], "the small one twice (applied once), the big one once"
    assert replay_dead_letters(kafka_bootstrap, dead_letters, group, dry_run=True).read == 0
