"""The analyst views read customer ids through the merges (real ClickHouse).

The seed journey is split over three customers as the pipeline would have written it
before it knew they are one: the laptop (anon:ck-1), the phone (anon:ck-2), the account
(user:u-1042). Then the merges: phone -> account, account -> laptop (a chain).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import msgspec
import pytest
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.migrations import migrate, publish_stage_model
from pipeline.journeys.engine import Outputs
from pipeline.sink import rows
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from schemas.outputs import CustomerMerge, IdentityLink
from tests.factories import five_stage_model, run
from tests.seed_journey import at, seed_journey

pytestmark = pytest.mark.integration

LAPTOP, PHONE, ACCOUNT = "anon:ck-1", "anon:ck-2", "user:u-1042"


def split_outputs() -> Outputs:
    """The seed journey's outputs, each customer's part under its own id."""
    events = seed_journey()
    parts = {LAPTOP: events[:11], PHONE: events[11:16], ACCOUNT: events[16:]}
    out = Outputs()
    for customer, part in parts.items():
        keyed = [msgspec.structs.replace(t, identities=msgspec.structs.replace(
            t.identities, user_id=customer)) for t in part]  # fmt: skip
        done, _ = run(keyed)
        out.extend(done)
    return out


def merge(loser: str, winner: str, loser_born: datetime, winner_born: datetime) -> CustomerMerge:
    return CustomerMerge(
        loser_id=loser, winner_id=winner, loser_born=loser_born, winner_born=winner_born,
        identifier="email:e-1", via=loser, event_id="order", event_time=at(3, 15, 18, 52),
    )  # fmt: skip


def write(
    client: Client, table: str, columns: tuple[str, ...], values: list[tuple[object, ...]]
) -> None:
    writer = TableWriter(client, table, columns, threading.Lock())
    asyncio.run(writer.write([SourcedRow(f"t.{table}", 0, i, v) for i, v in enumerate(values)]))


@pytest.fixture
def merged(clickhouse: Client) -> Client:
    migrate(clickhouse, retention_days=3650)
    model = five_stage_model()
    publish_stage_model(clickhouse, model.name, model.stages)
    out = split_outputs()
    facts = [
        ("touchpoints", rows.TOUCHPOINT_COLUMNS, [rows.touchpoint_row(t) for t in out.touchpoints]),
        ("sessions", rows.SESSION_COLUMNS, [rows.session_row(s) for s in out.sessions]),
        (
            "stage_transitions",
            rows.TRANSITION_COLUMNS,
            [rows.transition_row(t) for t in out.transitions],
        ),
        ("journeys", rows.JOURNEY_COLUMNS, [rows.journey_row(j) for j in out.journeys]),
    ]
    for table, columns, values in facts:
        write(clickhouse, table, columns, values)
    born = {LAPTOP: at(3, 1, 12, 0), PHONE: at(3, 15, 18, 30), ACCOUNT: at(3, 15, 18, 47)}
    write(
        clickhouse,
        "customer_merges",
        rows.MERGE_COLUMNS,
        [
            rows.merge_row(merge(PHONE, ACCOUNT, born[PHONE], born[ACCOUNT])),  # chain link 1
            rows.merge_row(merge(ACCOUNT, LAPTOP, born[ACCOUNT], born[LAPTOP])),  # chain link 2
            rows.merge_row(merge(PHONE, ACCOUNT, born[PHONE], born[ACCOUNT])),  # redelivered
        ],
    )
    links = [
        IdentityLink(identifier=key, identifier_type=kind, customer_id=customer, version=1,
                     reason="minted", via=None, event_id="x", event_time=born[customer])
        for key, kind, customer in [
            (LAPTOP, "anonymous_id", LAPTOP), (PHONE, "anonymous_id", PHONE),
            (ACCOUNT, "user_id", ACCOUNT), ("email:e-1", "email_hash", LAPTOP),
        ]
    ]  # fmt: skip
    write(clickhouse, "identity_links", rows.LINK_COLUMNS, [rows.link_row(x) for x in links])
    return clickhouse


def query(client: Client, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in client.query(sql).result_rows]


def test_aliases_follow_merge_chains(merged: Client) -> None:
    assert query(merged, "SELECT * FROM customer_aliases ORDER BY customer_id") == [
        (PHONE, LAPTOP),
        (ACCOUNT, LAPTOP),
    ]
    assert set(query(merged, "SELECT identifier, customer_id FROM v_identities")) == {
        (LAPTOP, LAPTOP), (PHONE, LAPTOP), (ACCOUNT, LAPTOP), ("email:e-1", LAPTOP),
    }  # fmt: skip


def test_facts_of_merged_customers_count_for_the_winner(merged: Client) -> None:
    assert query(merged, "SELECT customer_id, count() FROM v_touchpoints GROUP BY customer_id") == [
        (LAPTOP, 24)
    ]
    assert query(merged, "SELECT DISTINCT customer_id FROM v_sessions") == [(LAPTOP,)]
    assert query(merged, "SELECT DISTINCT customer_id FROM v_transitions") == [(LAPTOP,)]
    timeline = query(merged, f"SELECT count() FROM customer_timeline(customer = '{LAPTOP}')")
    assert timeline == [(24,)]
    # The raw tables keep the ids the facts were written with.
    stored = query(merged, "SELECT uniqExact(customer_id) FROM touchpoints FINAL")
    assert stored == [(3,)]


def test_merged_customers_journeys_leave_the_journey_views(merged: Client) -> None:
    assert query(merged, "SELECT customer_id FROM v_journeys") == [(LAPTOP,)]
    funnel = query(merged, "SELECT stage, customers FROM funnel_by_stage")
    # Only the winner's own journey row remains (the engine moved the others into it).
    assert funnel[0] == ("awareness", 1)
    paths = query(merged, "SELECT customers FROM top_paths")
    assert paths == [(1,)]  # one customer, one path


def test_a_provisional_row_left_under_a_merged_customer_gives_way_to_the_final_one(
    merged: Client,
) -> None:
    """A live touchpoint got its row at arrival under the phone; a merge moved it before
    its release, and its final row is the account's. One row remains, the final one,
    whatever order the two were stored in."""
    final = split_outputs().touchpoints[-1]
    early = msgspec.structs.replace(final, customer_id=PHONE, session_id=None, stage=None)
    provisional = rows.touchpoint_row(early, rows.UNPLACED)
    merged.insert("touchpoints", [provisional], column_names=list(rows.TOUCHPOINT_COLUMNS))
    seen = query(
        merged,
        f"SELECT customer_id, session_id IS NOT NULL FROM v_touchpoints "
        f"WHERE event_id = '{final.event_id}'",
    )
    assert seen == [(LAPTOP, True)]
    assert query(merged, "SELECT count() FROM v_touchpoints") == [(24,)]
