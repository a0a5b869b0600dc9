"""The demo traffic generator: deterministic, valid raw shapes, realistic journeys,
deliberate faults, incidents that show in the conversion counts, and pacing."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.generator.incidents import Incident
from pipeline.generator.output import FileOutput, Pacer, send
from pipeline.generator.traffic import GeneratedEvent, Traffic, TrafficConfig, time_range
from pipeline.ingest.deadletters import DeadLetter
from pipeline.ingest.normalize import Normalizer, RawRecord
from pipeline.ingest.pii import PiiHasher
from pipeline.journeys.clock import PartitionClock
from pipeline.journeys.engine import Outputs
from pipeline.journeys.identity import anchor_key
from pipeline.journeys.partition import DictStore, JourneyPartition
from pipeline.metrics.windows import DictCounts, WindowCounter
from schemas.touchpoint import Touchpoint
from tests.factories import engine_config

pytestmark = pytest.mark.unit

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
NORMALIZER = Normalizer(PiiHasher(b"generator-test-key-0123"))


def traffic(
    days: float = 4, per_day: float = 300, seed: int = 7, **changes: object
) -> list[GeneratedEvent]:
    config = TrafficConfig(
        start=START,
        end=START + timedelta(days=days),
        seed=seed,
        customers_per_day=per_day,
        **changes,
    )  # type: ignore[arg-type]
    return list(Traffic(config).events())


def normalised(events: list[GeneratedEvent]) -> list[Touchpoint | DeadLetter]:
    return [
        NORMALIZER(e.channel, RawRecord("raw", 0, i, e.key, e.value), e.deliver_at)
        for i, e in enumerate(events)
    ]


@cache
def month_with_incident() -> tuple[list[GeneratedEvent], Incident]:
    incident = Incident.parse("decision@2026-03-16T00:00Z+48h=0.7")
    return traffic(days=28, per_day=250, seed=11, incidents=(incident,), malformed=0.0), incident


def test_same_seed_same_events_other_seed_other_events() -> None:
    first, again, other = traffic(seed=3), traffic(seed=3), traffic(seed=4)
    assert len(first) > 1000
    assert [(e.channel, e.deliver_at, e.key, e.value) for e in first] == [
        (e.channel, e.deliver_at, e.key, e.value) for e in again
    ]
    assert [e.value for e in first] != [e.value for e in other]


def test_every_record_is_its_channels_raw_shape_except_the_deliberately_broken() -> None:
    events = traffic(days=6, malformed=0.01)
    results = normalised(events)
    wrong = [
        (e.channel, r.message if isinstance(r, DeadLetter) else r.action)
        for e, r in zip(events, results, strict=True)
        if isinstance(r, DeadLetter) != e.malformed
    ]
    assert wrong == []
    broken = sum(e.malformed for e in events)
    assert 0.005 * len(events) < broken < 0.02 * len(events)
    channels = {e.channel.value for e in events}
    assert {"ads", "search", "web", "chat", "popup", "email", "commerce", "loyalty"} <= channels


def test_events_leave_in_delivery_order_some_out_of_event_time_order() -> None:
    events = traffic(days=3, late=0.05, very_late=0.01)
    assert all(a.deliver_at <= b.deliver_at for a, b in pairwise(events))
    delays = [(e.deliver_at - e.event_time).total_seconds() for e in events]
    assert min(delays) > 0
    assert 0.03 < sum(20 <= d <= 240 for d in delays) / len(delays) < 0.08  # within lateness
    assert 0.003 < sum(d >= 600 for d in delays) / len(delays) < 0.02  # after it
    overtaken = sum(a.event_time > b.event_time for a, b in pairwise(events))
    assert overtaken > 0


def test_bots_are_flagged_and_personas_tag_web_touchpoints_with_their_segment() -> None:
    touchpoints = [r for r in normalised(traffic(days=3, bots=0.05)) if isinstance(r, Touchpoint)]
    bots = [t for t in touchpoints if t.is_bot]
    assert bots and all(t.action == "page_view" for t in bots)
    assert (
        0.02
        < len({t.identities.anonymous_id for t in bots})
        / len({t.identities.anonymous_id for t in touchpoints})
        < 0.1
    )
    segments = Counter(t.properties.get("segment") for t in touchpoints if t.channel == "web")
    assert set(segments) == {
        "young-urban", "outdoor-enthusiast", "busy-parent", "bargain-hunter", "loyal-local"
    }  # fmt: skip


def test_journeys_start_anonymous_and_become_known_across_channels() -> None:
    events, _ = month_with_incident()
    touchpoints = [r for r in normalised(events) if isinstance(r, Touchpoint)]
    by_cookie: dict[str, list[Touchpoint]] = defaultdict(list)
    for t in touchpoints:
        if t.identities.anonymous_id:
            by_cookie[t.identities.anonymous_id].append(t)
    buyers = [ts for ts in by_cookie.values() if any(t.action == "order_placed" for t in ts)]
    assert len(buyers) > 100
    for journey in buyers[:50]:
        journey.sort(key=lambda t: t.event_time)
        assert journey[0].identities.user_id is None  # anonymous first
        assert journey[0].action in {"ad_impression", "search_landing"}
        order = next(t for t in journey if t.action == "order_placed")
        assert order.identities.user_id and order.identities.email_hash
    actions = Counter(t.action for t in touchpoints)
    for action in (
        "popup_submitted", "email_clicked", "video_completed", "chat_started", "signed_up",
        "checkout_started", "loyalty_signed_up", "store_purchase", "review_posted",
        "push_opened", "sms_clicked", "ticket_opened", "survey_answered",
    ):  # fmt: skip
        assert actions[action] > 0, action


def decision_drop_off_by_day(events: list[GeneratedEvent]) -> dict[datetime, tuple[int, int]]:
    """(dropped off, passed) at `decision` per daily window, from the engine's counts."""
    config = engine_config()
    engine = JourneyPartition(
        0,
        DictStore(),
        config,
        PartitionClock(config.allowed_lateness),
        counter=WindowCounter(0, DictCounts(), [timedelta(days=1)], config.inactivity_gap),
    )
    out = Outputs()
    for wall, result in enumerate(normalised(events)):
        if isinstance(result, Touchpoint) and (key := anchor_key(result.identities)):
            out.extend(engine.on_touchpoint(key, result, float(wall)))
    out.extend(engine.flush())
    latest = {}
    for report in out.reports:
        for partial in report.partials:
            latest[partial.window_start] = partial  # versions come in order
    counts = {}
    for start, partial in latest.items():
        found = {
            metric: n
            for dimension, _, stage, metric, n in partial.counts
            if dimension == "all" and stage == "decision"
        }
        counts[start] = (found.get("dropped_off", 0), found.get("passed", 0))
    return counts


def test_an_injected_incident_shows_in_the_decision_drop_off_counts() -> None:
    events, incident = month_with_incident()
    by_day = decision_drop_off_by_day(events)
    rate = {day: d / (d + p) for day, (d, p) in by_day.items() if d + p >= 20}
    during = [r for day, r in rate.items() if incident.start <= day < incident.end]
    normal = [
        r
        for day, r in rate.items()
        if not incident.start - timedelta(days=1) <= day < incident.end + timedelta(days=1)
    ]
    assert len(during) == 2 and len(normal) > 20
    assert all(0.55 < r < 0.85 for r in during), during
    assert all(0.04 < r < 0.35 for r in normal), normal


def test_incident_specs_are_checked() -> None:
    incident = Incident.parse("consideration@2026-03-10T06:00Z+1.5h=0.9")
    assert (incident.stage, incident.drop_off) == ("consideration", 0.9)
    assert incident.end - incident.start == timedelta(hours=1.5)
    for bad in (
        "decision",
        "retention@2026-03-10T00:00Z+1h=0.5",
        "decision@2026-03-10T00:00+1h=0.5",
        "decision@2026-03-10T00:00Z+1h=1.5",
        "decision@yesterday+1h=0.5",
    ):
        with pytest.raises(ConfigError, match="incident"):
            Incident.parse(bad)


def test_time_range_defaults_to_the_last_days_and_live_has_no_end() -> None:
    now = datetime(2026, 3, 10, 14, 25, tzinfo=UTC)
    assert time_range(None, 2, False, now) == (
        datetime(2026, 3, 8, 14, tzinfo=UTC),
        datetime(2026, 3, 10, 14, tzinfo=UTC),
    )
    assert time_range(START, 1.5, True, now) == (START, None)


def test_pacer_compresses_event_time_never_sends_early_and_caps_the_rate() -> None:
    wall = [START.timestamp() + 30 * 86400]  # the clock: a month after START
    pacer = Pacer(START, speed=3600, clock=lambda: wall[0])
    began = wall[0]
    assert pacer.send_time(START + timedelta(hours=2)) == began + 2  # an hour per second
    future = START + timedelta(days=40)
    assert pacer.send_time(future) == future.timestamp()  # not before it happens
    capped = Pacer(START, rate=100, clock=lambda: wall[0])
    times = [capped.send_time(START) for _ in range(3)]
    assert times == [began, began + 0.01, began + 0.02]


def test_file_output_writes_each_channels_records_as_json_lines(tmp_path: Path) -> None:
    events = traffic(days=1, malformed=0.0)
    with FileOutput(tmp_path) as output:
        summary = send(events, output)
    assert summary.events == len(events)
    for channel, count in summary.by_channel.items():
        lines = (tmp_path / f"{channel}.jsonl").read_bytes().splitlines()
        assert len(lines) == count
        assert all(isinstance(json.loads(line), dict) for line in lines)
