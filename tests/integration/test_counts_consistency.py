"""The conversion counts in ClickHouse equal the same counts recomputed in SQL from the
stored sessions and transitions, for every window of a generated multi-day data set:
stages from transitions and sessions' `passed` / `dropped_off_at`, funnel steps from
sessions' `funnel_reached` / `funnel_dropped_at`."""

from __future__ import annotations

import asyncio
import random
import threading
import zlib
from datetime import timedelta

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.migrations import migrate
from pipeline.journeys.clock import PartitionClock
from pipeline.journeys.engine import Outputs
from pipeline.journeys.partition import DictStore, JourneyPartition
from pipeline.metrics.windows import DictCounts, WindowCounter
from pipeline.sink import rows
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from schemas.touchpoint import Touchpoint
from tests.factories import engine_config, touchpoint

pytestmark = pytest.mark.integration

ACTIONS = [
    ("ad_impression", 0.25), ("ad_click", 0.1), ("page_view", 0.2), ("product_view", 0.15),
    ("email_opened", 0.08), ("add_to_cart", 0.08), ("checkout_started", 0.05),
    ("order_placed", 0.05), ("loyalty_signed_up", 0.02), ("review_posted", 0.02),
]  # fmt: skip


def generated(days: int = 4, customers: int = 150, seed: int = 9) -> list[Touchpoint]:
    """Random multi-channel visits by many customers over several days, in time order."""
    rng = random.Random(seed)
    names, weights = zip(*ACTIONS, strict=True)
    events = []
    for c in range(customers):
        for _ in range(rng.randint(1, 6)):  # visits
            at = timedelta(minutes=rng.randint(0, days * 24 * 60))
            for _ in range(rng.randint(1, 5)):
                at += timedelta(minutes=rng.randint(1, 20))
                events.append(
                    touchpoint(
                        rng.choices(names, weights)[0],
                        at,
                        user=f"c{c}",
                        campaign=rng.choice(["spring", "summer", None]),
                        segment=rng.choice(["students", "parents"]),
                        revenue="50.00" if rng.random() < 0.5 else None,
                    )
                )
    return sorted(events, key=lambda t: (t.event_time, t.event_id))


def run_partitions(events: list[Touchpoint], partitions: int = 3) -> Outputs:
    config = engine_config()
    engines = [
        JourneyPartition(
            p,
            DictStore(),
            config,
            PartitionClock(config.allowed_lateness),
            counter=WindowCounter(p, DictCounts(), [timedelta(hours=1)], config.inactivity_gap),
        )
        for p in range(partitions)
    ]
    out = Outputs()
    for wall, tp in enumerate(events):
        customer = tp.identities.user_id or ""
        engine = engines[zlib.crc32(customer.encode()) % partitions]
        out.extend(engine.on_touchpoint(customer, tp, float(wall)))
    for engine in engines:
        out.extend(engine.flush())
    return out


def store(client: Client, out: Outputs) -> None:
    migrate(client, retention_days=3650)
    lock = threading.Lock()
    sessions = [[rows.session_row(s)] for s in out.sessions]
    transitions = [[rows.transition_row(t)] for t in out.transitions]
    partials = [rows.partial_rows(r) for r in out.reports]
    tables = [
        ("sessions", rows.SESSION_COLUMNS, sessions),
        ("stage_transitions", rows.TRANSITION_COLUMNS, transitions),
        ("conversion_partials", rows.PARTIAL_COLUMNS, partials),
    ]
    for table, columns, per_record in tables:
        sourced = [
            SourcedRow(f"gen.{table}", 0, offset, values, index)
            for offset, made in enumerate(per_record)
            for index, values in enumerate(made)
        ]
        asyncio.run(TableWriter(client, table, columns, lock).write(sourced))


RECOMPUTED = """
WITH 3600 AS size
SELECT w, dimension, value, stage, metric, count() AS n FROM
(
    SELECT toStartOfInterval(event_time, toIntervalSecond(size)) AS w, to_stage AS stage,
           'entered' AS metric, channel, ifNull(campaign, '(none)') AS campaign_value,
           ifNull(segment, '(none)') AS segment_value
    FROM v_transitions WHERE kind IN ('entered', 'advanced')
    UNION ALL
    SELECT toStartOfInterval(ended_at, toIntervalSecond(size)), passed_stage, 'passed',
           entry_channel, ifNull(entry_campaign, '(none)'), ifNull(segment, '(none)')
    FROM v_sessions ARRAY JOIN passed AS passed_stage WHERE status = 'closed'
    UNION ALL
    SELECT toStartOfInterval(ended_at, toIntervalSecond(size)), assumeNotNull(dropped_off_at),
           'dropped_off', entry_channel, ifNull(entry_campaign, '(none)'),
           ifNull(segment, '(none)')
    FROM v_sessions WHERE status = 'closed' AND dropped_off_at IS NOT NULL
    UNION ALL
    SELECT toStartOfInterval(ended_at, toIntervalSecond(size)), step,
           if(step = ifNull(funnel_dropped_at, ''), 'dropped_off', 'passed'), entry_channel,
           ifNull(entry_campaign, '(none)'), ifNull(segment, '(none)')
    FROM v_sessions ARRAY JOIN funnel_reached AS step WHERE status = 'closed'
)
ARRAY JOIN [('all', 'all'), ('channel', channel), ('campaign', campaign_value),
            ('segment', segment_value)] AS dv
GROUP BY w, dv.1 AS dimension, dv.2 AS value, stage, metric
"""

STORED = """
SELECT window_start AS w, dimension, value, stage, metric, n FROM conversion_counts
ARRAY JOIN [('entered', entered), ('passed', passed), ('dropped_off', dropped_off)] AS m
WHERE window_size_seconds = 3600 AND m.2 > 0
GROUP BY w, dimension, value, stage, m.1 AS metric, m.2 AS n
"""


def test_counts_equal_their_recomputation_from_sessions_and_transitions(
    clickhouse: Client,
) -> None:
    events = generated()
    out = run_partitions(events)
    assert not any(t.is_late for t in out.touchpoints)
    store(clickhouse, out)
    recomputed = {tuple(r) for r in clickhouse.query(RECOMPUTED).result_rows}
    stored = {tuple(r) for r in clickhouse.query(STORED).result_rows}
    windows = {r[0] for r in recomputed}
    assert len(windows) > 48, "several days of hourly windows"
    assert {r[4] for r in recomputed} == {"entered", "passed", "dropped_off"}
    steps = engine_config().stage_model.funnel_steps
    # Random visits rarely take all four steps in order: the first three are counted.
    assert set(steps[:3]) <= {r[3] for r in recomputed}, "funnel steps counted"
    assert stored == recomputed
