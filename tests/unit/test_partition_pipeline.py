"""The partition pipeline without Kafka: raw records in, rows, dead letters, envelopes and
changelog records out; its state rebuilt from those records goes on as if never stopped."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from pipeline.journeys.clock import LEVELS
from pipeline.journeys.engine import EngineConfig
from pipeline.journeys.identity import CustomerRef
from pipeline.journeys.pipeline import (
    Apply,
    PartitionPipeline,
    PipelineConfig,
    Progress,
    Resolve,
    Router,
    decode_envelope,
    encode_envelope,
)
from pipeline.journeys.resolution import IdentifierRecord, IdentityLimits
from pipeline.journeys.state import CustomerState
from pipeline.journeys.store import PartitionState
from pipeline.sink import rows
from schemas.touchpoint import Channel, Identities
from tests.bad_inputs import BAD_INPUTS
from tests.factories import five_stage_model, touchpoint

pytestmark = pytest.mark.unit

#: The frontier of a partition with no input: it holds no one back.
IDLE = (None,) * LEVELS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAGE = {
    "messageId": "m-1",
    "type": "page",
    "anonymousId": "c-1",
    "timestamp": "2026-03-01T11:59:00Z",
    "properties": {"url": "https://shop.example/"},
}


def config(partitions: int = 1) -> PipelineConfig:
    return PipelineConfig(
        normalizer=Normalizer(PiiHasher(b"k" * 32)),
        engine=EngineConfig(stage_model=five_stage_model(), allowed_lateness=timedelta(0)),
        limits=IdentityLimits(),
        router=Router(partitions),
        window_sizes=(timedelta(hours=1),),
    )


def raw(value: bytes, offset: int = 0, topic: str = "touchpoints.raw.web") -> RawRecord:
    return RawRecord(topic, 0, offset, b"c-1", value)


def test_a_valid_record_becomes_a_touchpoint_row_and_bad_ones_dead_letters() -> None:
    data: dict[str, bytes] = {}
    pipe = PartitionPipeline(0, config(), PartitionState(data, 0))
    for offset, (_, channel, value) in enumerate(BAD_INPUTS):
        pipe.on_raw(channel, raw(value or b"", offset, f"touchpoints.raw.{channel}"), NOW, 0.0)
    pipe.on_raw(Channel.WEB, raw(json.dumps(PAGE).encode(), 99), NOW, 0.0)
    pipe.on_tick(0.0)
    flush = pipe.take_flush()
    assert [letter.raw_value for letter in flush.dead_letters] == [
        v or b"" for _, _, v in BAD_INPUTS
    ]
    (row,) = flush.rows[rows.TOUCHPOINTS]
    stored = dict(zip(rows.TOUCHPOINT_COLUMNS, row, strict=True))
    assert (stored["event_id"], stored["customer_id"], stored["action"]) == (
        "web:m-1", "anon:c-1", "page_view",
    )  # fmt: skip
    assert flush.changes, "the state that holds the customer goes to the changelog"


def test_work_for_another_partition_is_packed_into_one_envelope_per_partition() -> None:
    cfg = config(partitions=8)
    tps = [touchpoint("page_view", timedelta(minutes=i), user=f"u-{i}") for i in range(40)]
    here = 3
    pipe = PartitionPipeline(here, cfg, PartitionState({}, here))
    for tp in tps:
        pipe.on_envelope(encode_envelope([Resolve(touchpoint=tp)]), 0.0)
    envelopes = {q: decode_envelope(value) for q, value in pipe.take_outbox(0.0).items()}
    assert set(envelopes) == set(range(8)) - {here}, "every other partition hears from it"
    elsewhere = {cfg.router.partition_of(f"user:u-{i}") for i in range(40)} - {here}
    assert {q for q, items in envelopes.items() if len(items) > 1} == elsewhere
    assert all(isinstance(items[-1], Progress) for items in envelopes.values())
    forwarded = [item for items in envelopes.values() for item in items[:-1]]
    assert all(isinstance(item, Resolve) for item in forwarded)
    assert len(forwarded) == sum(cfg.router.partition_of(f"user:u-{i}") != here for i in range(40))


def test_envelopes_keep_every_item_and_its_order() -> None:
    a, b = touchpoint("page_view", user="a"), touchpoint("product_view", user="b")
    items = [Resolve(touchpoint=a), Apply(customer_id="user:b", touchpoint=b)]
    assert decode_envelope(encode_envelope(items)) == items


def test_a_partition_rebuilt_from_its_changelog_goes_on_as_if_never_stopped() -> None:
    """Run a journey straight through, and again with the pipeline dropped half-way and
    rebuilt from nothing but the records its flushes wrote: the same rows come out (in
    their latest versions)."""
    journey = [
        touchpoint("ad_click", timedelta(minutes=0)),
        touchpoint("product_view", timedelta(minutes=5)),
        touchpoint("add_to_cart", timedelta(minutes=9)),
        touchpoint("order_placed", timedelta(hours=3), revenue="20"),
        touchpoint("page_view", timedelta(days=2)),
    ]

    def run(stop_after: int | None) -> dict[str, list[tuple[object, ...]]]:
        changelog: dict[str, bytes] = {}
        out: dict[str, list[tuple[object, ...]]] = {}

        def flush(pipe: PartitionPipeline) -> None:
            made = pipe.take_flush()
            for table, batch in made.rows.items():
                out.setdefault(table, []).extend(batch)
            for key, value in made.changes:
                if value is None:
                    changelog.pop(key, None)
                else:
                    changelog[key] = value

        pipe = PartitionPipeline(0, config(), PartitionState(dict(changelog), 0))
        for i, tp in enumerate(journey):
            pipe.on_envelope(encode_envelope([Resolve(touchpoint=tp)]), float(i))
            if i == stop_after:
                flush(pipe)
                pipe = PartitionPipeline(0, config(), PartitionState(dict(changelog), 0))
        pipe.on_tick(float(len(journey)))
        flush(pipe)
        # What ClickHouse keeps of each row: its latest version (a flush writes only that).
        return {table: rows.latest_versions(table, made) for table, made in out.items()}

    straight, restarted = run(None), run(2)
    assert restarted == straight
    assert len(straight[rows.TOUCHPOINTS]) == len(journey)
    assert straight[rows.SESSIONS] and straight[rows.TRANSITIONS]


def test_identifiers_on_other_partitions_are_claimed_there() -> None:
    cfg = config(partitions=4)
    anchor = cfg.router.partition_of("anon:ck-9")
    email = next(e for e in ("e" * 16, "f" * 16, "a" * 16) if cfg.router.partition_of(e) != anchor)
    tp = touchpoint("page_view", identities=Identities(anonymous_id="ck-9", email_hash=email))
    pipe = PartitionPipeline(anchor, cfg, PartitionState({}, anchor))
    pipe.on_envelope(encode_envelope([Resolve(touchpoint=tp)]), 0.0)
    (claim, progress) = decode_envelope(pipe.take_outbox(0.0)[cfg.router.partition_of(email)])
    assert getattr(claim, "key", None) == f"email:{email}"
    assert progress == Progress(sender=anchor, frontier=pipe.clock.frontier(0.0))


def test_merged_customers_in_a_ring_do_not_pass_a_touchpoint_on_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two markers pointing at each other (a state no merge should leave, but a replay
    after crashes did): the touchpoint is dropped with an error instead of hanging the
    worker."""
    born = datetime(2026, 3, 1, tzinfo=UTC)
    a, b = CustomerRef(id="user:a", born=born), CustomerRef(id="user:b", born=born)
    pipe = PartitionPipeline(0, config(), PartitionState({}, 0))
    for me, other in ((a, b), (b, a)):
        pipe.state.customers.put(CustomerState(customer_id=me.id, merged_into=other))
    pipe.on_envelope(
        encode_envelope([Apply(customer_id=a.id, touchpoint=touchpoint("page_view"))]), 0.0
    )
    assert "passed on" in caplog.text


@pytest.mark.parametrize("delay", [timedelta(0), timedelta(days=1)], ids=["live", "history"])
def test_a_live_touchpoint_whose_customer_lives_elsewhere_gets_a_row_before_the_hop(
    delay: timedelta,
) -> None:
    """Its customer's partition is one flush away: the anchor's partition writes a
    provisional row (not yet in a session) at once; history gets only its final row."""
    cfg = replace(config(partitions=4), engine=replace(config().engine, provisional=True))
    anchor = cfg.router.partition_of("anon:ck-1")
    user = next(
        f"user:u-{i}" for i in range(20) if cfg.router.partition_of(f"user:u-{i}") != anchor
    )
    here = PartitionPipeline(anchor, cfg, PartitionState({}, anchor), wall=0.0)
    for idle in set(range(4)) - {anchor}:  # the others have nothing to send
        here.on_envelope(encode_envelope([Progress(sender=idle, frontier=IDLE)]), 0.0)
    here.state.identities.put(IdentifierRecord(key="anon:ck-1", customer=CustomerRef(user, NOW)))
    tp = touchpoint("page_view", identities=Identities(anonymous_id="ck-1"))
    tp = msgspec.structs.replace(tp, received_at=tp.event_time + delay)
    here.on_envelope(encode_envelope([Resolve(touchpoint=tp)]), 0.0)
    early = [
        dict(zip(rows.TOUCHPOINT_COLUMNS, row, strict=True))
        for row in here.take_flush().rows.get(rows.TOUCHPOINTS, [])
    ]
    if delay:
        assert early == []
    else:
        assert [(r["event_id"], r["customer_id"], r["session_id"]) for r in early] == [
            (tp.event_id, user, None)
        ]
    owner = cfg.router.partition_of(user)
    there = PartitionPipeline(owner, cfg, PartitionState({}, owner), wall=0.0)
    for idle in set(range(4)) - {anchor, owner}:  # the others have nothing to send
        there.on_envelope(encode_envelope([Progress(sender=idle, frontier=IDLE)]), 0.0)
    there.on_envelope(here.take_outbox(0.0)[owner], 0.0)
    there.on_tick(0.0)  # the flush's tick: `here` has now said how far it has got
    (placed,) = there.take_flush().rows[rows.TOUCHPOINTS]
    final = dict(zip(rows.TOUCHPOINT_COLUMNS, placed, strict=True))
    assert (final["event_id"], final["customer_id"]) == (tp.event_id, user)
    assert final["session_id"] is not None


def test_a_flush_writes_only_the_latest_version_of_each_session_and_journey() -> None:
    """A session opened and closed, and a journey advanced three times, within one flush:
    the flush keeps the last version of each, and every touchpoint and transition."""
    journey = [
        touchpoint("ad_click", timedelta(minutes=0)),
        touchpoint("product_view", timedelta(minutes=5)),
        touchpoint("add_to_cart", timedelta(minutes=9)),
    ]
    pipe = PartitionPipeline(0, config(), PartitionState({}, 0))
    for i, tp in enumerate(journey):
        pipe.on_envelope(encode_envelope([Resolve(touchpoint=tp)]), float(i))
    pipe.on_tick(4000.0)  # an hour past idle: the session is closed
    made = pipe.take_flush().rows

    (session,) = [dict(zip(rows.SESSION_COLUMNS, r, strict=True)) for r in made[rows.SESSIONS]]
    (customer,) = [dict(zip(rows.JOURNEY_COLUMNS, r, strict=True)) for r in made[rows.JOURNEYS]]
    assert (session["status"], session["touchpoints"]) == ("closed", len(journey))
    assert customer["touchpoints"] == len(journey) and customer["stage"] == "decision"
    assert customer["version"] > 1, "the journey changed more than once in this flush"
    assert len(made[rows.TOUCHPOINTS]) == len(journey)
    kinds = [
        dict(zip(rows.TRANSITION_COLUMNS, r, strict=True))["kind"] for r in made[rows.TRANSITIONS]
    ]
    assert kinds == ["entered", "advanced", "advanced", "dropped_off"]


def test_latest_versions_keeps_the_highest_version_of_each_key_and_every_row_of_others() -> None:
    first = (*("s-1", "c-1", 1), *[None] * (len(rows.SESSION_COLUMNS) - 3))
    second = (*("s-1", "c-1", 2), *[None] * (len(rows.SESSION_COLUMNS) - 3))
    other = (*("s-2", "c-1", 1), *[None] * (len(rows.SESSION_COLUMNS) - 3))
    assert rows.latest_versions(rows.SESSIONS, [first, other, second]) == [second, other]
    assert rows.latest_versions(rows.SESSIONS, [second, first]) == [second]  # highest wins
    assert rows.latest_versions(rows.TRANSITIONS, [first, first]) == [first, first]
