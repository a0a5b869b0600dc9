"""The same generated month, fed once as one backlog and once paced (a day of deliveries
at a time, each taken in full before the next is sent, as live traffic arrives), gives
identical sessions, stage transitions, touchpoint placements, window counts and alerts.

Both runs use the same settings: sources never count as idle while the month is fed (the
wall clock plays no part), then each worker is restarted with a fast idle clock, which
closes every session and window the same way in both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.bench.traffic import raw_topics
from pipeline.generator.incidents import Incident
from pipeline.generator.output import KafkaOutput
from pipeline.generator.traffic import GeneratedEvent, Traffic, TrafficConfig
from pipeline.topics import TopicNames
from tests.support import WorkerProcess, metrics, wait_until

pytestmark = pytest.mark.e2e

MONTH = datetime(2026, 3, 2, tzinfo=UTC)
#: Late deliveries stay within the allowed lateness: a record delivered after it is late
#: live, and in a backlog only if every source has been read past it (docs/replay.md).
TRAFFIC = TrafficConfig(
    start=MONTH,
    end=MONTH + timedelta(days=30),
    seed=11,
    customers_per_day=12,
    very_late=0,
    incidents=(Incident.parse("awareness@2026-03-20T00:00Z+72h=0.95"),),
)
#: Daily windows, and a detector that fires on this small a month.
COUNTING = {
    "JOURNEYS_WINDOWS_SIZES": "[86400]",
    "JOURNEYS_ALERTS_MIN_VOLUME": "5",
    "JOURNEYS_ALERTS_SIGNIFICANCE": "0.05",
}
#: The partitions of the tests' workers (tests/conftest.py's worker_factory).
PARTITIONS = 4
#: How much delivery time the paced run sends at once.
SLICE = timedelta(days=2)
FEEDING = {**COUNTING, "JOURNEYS_SESSIONS_IDLE_AFTER": "1000000"}
DRAINING = {
    **COUNTING,
    "JOURNEYS_SESSIONS_IDLE_AFTER": "2",
    "JOURNEYS_SESSIONS_IDLE_RATE": "86400",
}

#: What analysts read, through the views that follow identity merges. Ids minted from a
#: customer id (session and transition ids) are left out: a fact keeps the id of the
#: customer it was first written for, which can be the loser of a merge in one run and
#: never minted in the other; sessions are named by their first touchpoint instead.
RESULTS = {
    "sessions": "SELECT customer_id, status, started_at, ended_at, touchpoints, channels,"
    " entry_event_id, exit_event_id, stage_at_start, stage_at_end, stages_reached,"
    " converted, revenue, passed, dropped_off_at, is_late FROM v_sessions",
    "transitions": "SELECT t.customer_id, s.entry_event_id, kind, from_stage, to_stage,"
    " event_time, event_id, t.is_late FROM v_transitions AS t"
    " LEFT JOIN v_sessions AS s ON s.session_id = t.session_id",
    "touchpoints": "SELECT t.event_id, t.customer_id, s.entry_event_id, t.stage, t.sequence"
    " FROM v_touchpoints AS t LEFT JOIN v_sessions AS s ON s.session_id = t.session_id",
    "window counts": "SELECT * FROM conversion_counts",
    "alerts": "SELECT alert_id, status, stage, window_size_seconds, window_start, sessions,"
    " dropped FROM alerts FINAL",
}


class Progress:
    """Where a consumer group stands on a prefix's topics."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.group, self.topics = group, topics
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    def caught_up(self) -> bool:
        """Whether the group has committed every record of every topic it reads (the
        pipeline commits an input once its effects, envelopes to other partitions
        included, are durable)."""
        try:
            # Every topic's partitions, from fresh metadata: a topic this client has not
            # seen yet would otherwise count as empty, and the group as caught up on it
            # (it once stopped the feed after 70 of 2,701 events).
            if not set(self.topics) <= self.consumer.topics():
                return False
            committed = self.admin.list_group_offsets(self.group)[self.group]
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in self.consumer.partitions_for_topic(topic) or ()
            ]
            ends = self.consumer.end_offsets(partitions)
        except KafkaError as error:
            if error.retriable:  # e.g. the group's coordinator is still being elected
                return False
            raise
        return all(
            end == 0 or (tp in committed and committed[tp].offset >= end)
            for tp, end in ends.items()
        )

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def results(worker: WorkerProcess) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: sorted(tuple(map(repr, row.values())) for row in worker.query(sql))
        for name, sql in RESULTS.items()
    }


def drained(worker: WorkerProcess, previous: list[Any], final_at: float) -> Any:
    """The results once every partition's watermark is at `final_at` (every touchpoint
    released, every session closable), no partition holds an open session, every stored
    session is closed, and two looks 2 s apart agree. (Open sessions alone are no sign:
    touchpoints the watermark has not released yet open none. Waiting for them alone
    compared 17 of the month's sessions in both runs, three fresh runs out of three.)"""
    figures = metrics(worker)
    marks = figures.get("journeys_watermark_seconds", {})
    if len(marks) < PARTITIONS or min(marks.values()) < final_at:
        return None
    open_now = figures.get("journeys_sessions_open", {})
    if len(open_now) < PARTITIONS or any(open_now.values()):
        return None
    if worker.query("SELECT count() AS n FROM sessions FINAL WHERE status != 'closed'")[0]["n"]:
        return None
    now = results(worker)
    same, previous[:] = now == (previous[0] if previous else None), [now]
    return now if same and now["sessions"] else None


def settle(
    start: Callable[..., WorkerProcess],
    bootstrap: str,
    names: TopicNames,
    env: dict[str, str],
    final_at: float,
) -> dict[str, Any]:
    worker = start(**env, **DRAINING)
    # Every raw record taken (in a backlog's case, often by this worker), then the rest.
    progress = Progress(bootstrap, env["KAFKA_CONSUMER_GROUP"], names.all_raw())
    try:
        wait_until(progress.caught_up, 300, "every raw record taken")
    finally:
        progress.close()
    looks: list[Any] = []
    got = wait_until(
        lambda: drained(worker, looks, final_at), 300, "every session closed", interval=2
    )
    assert worker.stop() == 0
    return dict(got)


def slices(events: list[GeneratedEvent]) -> list[list[GeneratedEvent]]:
    """The events by delivery time, `SLICE` at a time."""
    made: dict[int, list[GeneratedEvent]] = {}
    for event in events:
        made.setdefault((event.deliver_at - MONTH) // SLICE, []).append(event)
    return list(made.values())


def feed(
    start: Callable[..., WorkerProcess], bootstrap: str, names: TopicNames,
    env: dict[str, str], parts: list[list[GeneratedEvent]],
) -> None:  # fmt: skip
    """Each part sent, then taken in full by a worker, before the next."""
    raw_topics(names, PARTITIONS, bootstrap)
    worker = start(**env, **FEEDING)
    progress = Progress(bootstrap, env["KAFKA_CONSUMER_GROUP"], names.all())
    try:
        with KafkaOutput(bootstrap, names) as output:
            for part in parts:
                for event in part:
                    output.write(event)
                output.flush()
                wait_until(progress.caught_up, 300, f"{len(part)} events taken")
    finally:
        progress.close()
    assert worker.stop() == 0


def test_a_month_fed_as_a_backlog_and_paced_gives_the_same_results(
    kafka_bootstrap: str,
    worker_factory: Callable[..., WorkerProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    events = list(Traffic(TRAFFIC).events())
    runs = {
        "backlog": TopicNames(f"t{unique}b."),
        "paced": TopicNames(f"t{unique}p."),
    }
    envs = {
        run: {
            "KAFKA_TOPIC_PREFIX": names.prefix,
            "KAFKA_CONSUMER_GROUP": f"journeys-{names.prefix}",
            "CLICKHOUSE_URL": f"chdb://{tmp_path / run}?database=journeys",
        }
        for run, names in runs.items()
    }

    # Past the last event by a session's longest span, its gap and the lateness, and by a
    # window: every touchpoint released, every session and window final.
    last = max(event.event_time for event in events)
    final_at = (last + timedelta(days=2, hours=1)).timestamp()
    got = {}
    for run, parts in (("backlog", [events]), ("paced", slices(events))):
        feed(worker_factory, kafka_bootstrap, runs[run], envs[run], parts)
        got[run] = settle(worker_factory, kafka_bootstrap, runs[run], envs[run], final_at)
    backlog, paced = got["backlog"], got["paced"]
    for name in RESULTS:
        missing = sorted(set(backlog[name]) - set(paced[name]))
        extra = sorted(set(paced[name]) - set(backlog[name]))
        assert not missing and not extra, (name, len(backlog[name]), missing[:5], extra[:5])
    assert backlog == paced
    assert len(backlog["sessions"]) > 100 and backlog["window counts"]
    assert backlog["alerts"], "the incident raised an alert"
