"""The parameterised views of the headline questions (schemas/clickhouse/0009): for
several date ranges, each answers exactly what the engine's own outputs say for that
range, worked out here in Python over the same touchpoints, sessions and transitions."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from pipeline.clickhouse.client import connect, quote_identifier
from pipeline.clickhouse.migrations import publish_stage_model
from pipeline.journeys.engine import Outputs
from pipeline.settings import ClickHouseTarget
from pipeline.sink.batching import SourcedRow
from pipeline.sink.clickhouse import TableWriter
from pipeline.sink.rows import ALERT_COLUMNS, STEP_WINDOW_COLUMNS, alert_row, step_window_row
from schemas.outputs import DropoffAlert, SessionRecord, StepWindow
from tests.factories import five_stage_model, run, touchpoint
from tests.integration.test_analyst_views import store

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
STEPS = ("ad_click", "product_view", "add_to_cart", "order_placed")
RANGES = [
    (START, START + timedelta(days=7)),
    (START + timedelta(days=3, hours=5), START + timedelta(days=12)),
    (START + timedelta(days=10), START + timedelta(days=40)),
    (START - timedelta(days=30), START + timedelta(days=90)),
    (START + timedelta(days=200), START + timedelta(days=207)),  # nothing in it
]


def synthetic_outputs(customers: int = 40, seed: int = 5) -> Outputs:
    """Customers visiting one to four times over three weeks, each visit getting a few
    steps further down the funnel, from a spring or summer campaign or neither."""
    rng = random.Random(seed)
    made = []
    for n in range(customers):
        user, campaign = f"c{n:02d}", rng.choice(["spring", "summer", None])
        at = START + timedelta(days=rng.uniform(0, 20), hours=rng.uniform(0, 12))
        for _ in range(rng.randint(1, 4)):
            for action in STEPS[: rng.randint(1, len(STEPS))]:
                made.append(
                    touchpoint(
                        action, at, user=user, campaign=campaign,
                        revenue="20.00" if action == "order_placed" else None,
                    )
                )  # fmt: skip
                at += timedelta(minutes=rng.uniform(1, 20))
            at += timedelta(days=rng.uniform(1, 6))
    out, _ = run(sorted(made, key=lambda t: t.event_time))
    return out


@pytest.fixture(scope="module")
def outputs() -> Outputs:
    return synthetic_outputs()


@pytest.fixture(scope="module")
def questions(clickhouse_target: ClickHouseTarget, outputs: Outputs) -> Iterator[Client]:
    """One database with the synthetic outputs for the module's tests (they only read)."""
    target = dataclasses.replace(clickhouse_target, database=f"test_q{uuid.uuid4().hex[:10]}")
    client = connect(target)
    store(client, outputs)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {quote_identifier(target.database)}")
    client.close()


#: The questions that pick customers by how they came (0013, 0014), and what else each
#: takes besides the range and the dimensions.
FILTERED_QUESTIONS: dict[str, dict[str, object]] = {
    "stage_funnel_between": {},
    "stage_flows_between": {},
    "stage_dropoff_between": {},
    "time_to_convert_between": {},
    "top_paths_between": {},
    "paths_after_dropoff": {"stage": "decision"},
    "weekly_retention": {},
    "step_funnel": {"steps": ["ad_click", "add_to_cart", "order_placed"], "window_seconds": 604800},
    "lifecycle": {"grain": "week"},
    "paths_to_conversion": {},
}


def ask(client: Client, view: str, **params: object) -> list[tuple[object, ...]]:
    """The view's rows; the dimensions of a filtered question default to '' (all)."""
    if view in FILTERED_QUESTIONS:
        params = {"channel": "", "campaign": "", "segment": "", **params}
    arguments = ", ".join(
        f"{name} = {{{name}:{'Array(String)' if isinstance(value, list) else 'String'}}}"
        for name, value in params.items()
    )
    result = client.query(
        f"SELECT * FROM {view}({arguments})",
        parameters={k: v if isinstance(v, list) else str(v) for k, v in params.items()},
    )
    return [tuple(row) for row in result.result_rows]


def within(at: datetime, since: datetime, until: datetime) -> bool:
    return since <= at < until


def day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def latest_sessions(sessions: Iterable[SessionRecord]) -> dict[str, SessionRecord]:
    """Each session as ClickHouse keeps it: its highest version."""
    kept: dict[str, SessionRecord] = {}
    for session in sessions:
        held = kept.get(session.session_id)
        if held is None or session.version >= held.version:
            kept[session.session_id] = session
    return {k: s for k, s in kept.items() if s.status != "withdrawn"}


def acquisition(outputs: Outputs) -> dict[str, dict[str, str]]:
    """How each customer came (customer_acquisition): their first session's entry
    channel and campaign, and the first segment a session of theirs carries."""
    firsts: dict[str, dict[str, str]] = {}
    ordered = sorted(
        latest_sessions(outputs.sessions).values(), key=lambda s: (s.started_at, s.session_id)
    )
    for s in ordered:
        came = firsts.setdefault(
            s.customer_id,
            {"channel": str(s.entry_channel), "campaign": s.entry_campaign or "", "segment": ""},
        )
        came["segment"] = came["segment"] or s.segment or ""
    return firsts


def acquired(outputs: Outputs, **chosen: str) -> set[str]:
    """The customers acquired through the `chosen` channel, campaign or segment."""
    return {
        customer
        for customer, came in acquisition(outputs).items()
        if all(came[name] == value for name, value in chosen.items() if value)
    }


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_stage_funnel_between_counts_the_customers_entering_each_stage_in_the_range(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    seen = 0
    for campaign in ("", "spring"):
        entered: dict[str, set[str]] = defaultdict(set)
        chosen = acquired(outputs, campaign=campaign)
        for t in outputs.transitions:
            moved = t.kind in ("entered", "advanced") and within(t.event_time, since, until)
            if moved and t.customer_id in chosen:
                entered[t.to_stage].add(t.customer_id)
        rows = ask(
            questions, "stage_funnel_between", since=day(since), until=day(until),
            channel="", campaign=campaign, segment="",
        )  # fmt: skip
        assert {stage: customers for _, stage, customers, _ in rows} == {
            stage: len(entered.get(stage, ())) for _, stage, _, _ in rows
        }
        assert [stage for _, stage, _, _ in rows][:4] == [
            "awareness", "consideration", "decision", "retention"
        ]  # fmt: skip
        seen += sum(len(customers) for customers in entered.values())
    assert (seen > 0) == (since < START + timedelta(days=90))  # only the last range is empty


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_time_to_convert_between_gives_the_distribution_of_the_range_s_moves(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    waits: dict[tuple[str, str], list[int]] = defaultdict(list)
    for t in outputs.transitions:
        if t.kind == "advanced" and within(t.event_time, since, until):
            assert t.from_stage is not None and t.seconds_since_previous is not None
            waits[t.from_stage, t.to_stage].append(int(t.seconds_since_previous))

    def hours(values: list[int], level: float) -> float:
        ordered = sorted(values)  # ClickHouse's quantileExact: the element at level * n
        return round(ordered[min(int(level * len(ordered)), len(ordered) - 1)] / 3600, 2)

    expected = {
        pair: (len(v), hours(v, 0.1), hours(v, 0.5), hours(v, 0.9), round(max(v) / 3600, 2))
        for pair, v in waits.items()
    }
    rows = ask(questions, "time_to_convert_between", since=day(since), until=day(until))
    assert {(row[0], row[1]): (row[2], row[3], row[5], row[7], row[8]) for row in rows} == expected


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_top_paths_between_reads_only_the_range_s_touchpoints(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    steps: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for placed in outputs.touchpoints:
        t = placed.touchpoint
        if within(t.event_time, since, until) and not t.is_bot:
            steps[placed.customer_id].append((t.event_time, t.event_id, str(t.channel)))
    paths: Counter[str] = Counter()
    for walked in steps.values():
        channels = [channel for _, _, channel in sorted(walked)]
        folded = [c for i, c in enumerate(channels) if i == 0 or c != channels[i - 1]]
        paths[" > ".join(folded[:12])] += 1
    rows = ask(questions, "top_paths_between", since=day(since), until=day(until))
    assert dict(rows) == dict(paths)  # type: ignore[arg-type]


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_paths_after_a_dropoff_add_up_to_the_stage_s_dropoffs(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    sessions = latest_sessions(outputs.sessions)
    by_customer: dict[str, list[SessionRecord]] = defaultdict(list)
    for session in sessions.values():
        by_customer[session.customer_id].append(session)
    for stage in ("consideration", "decision"):
        nexts: Counter[str] = Counter()
        for s in sessions.values():
            if (
                s.status == "closed"
                and s.dropped_off_at == stage
                and within(s.ended_at, since, until)
            ):
                later = sorted(
                    (o.started_at, o.entry_channel)
                    for o in by_customer[s.customer_id]
                    if o.started_at > s.started_at
                )
                nexts[later[0][1] if later else "(no later session)"] += 1
        rows = ask(
            questions, "paths_after_dropoff", since=day(since), until=day(until), stage=stage
        )
        assert dict(rows) == dict(nexts)  # type: ignore[arg-type]
        [(dropped,)] = questions.query(
            "SELECT count() FROM v_sessions WHERE status = 'closed' AND dropped_off_at = "
            "{stage:String} AND ended_at >= {since:DateTime64(3)} AND ended_at < "
            "{until:DateTime64(3)}",
            parameters={"stage": stage, "since": day(since), "until": day(until)},
        ).result_rows
        assert sum(count for _, count in rows) == dropped  # type: ignore[misc]


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_weekly_retention_follows_each_cohort_of_the_range(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    weeks: dict[str, set[datetime]] = defaultdict(set)
    for placed in outputs.touchpoints:
        t = placed.touchpoint
        if within(t.event_time, since, until) and not t.is_bot:
            weeks[placed.customer_id].add(monday(t.event_time))
    cohorts = {customer: min(active) for customer, active in weeks.items()}
    sizes = Counter(cohorts.values())
    active: Counter[tuple[datetime, int]] = Counter()
    for customer, seen in weeks.items():
        for week in seen:
            active[cohorts[customer], (week - cohorts[customer]).days // 7] += 1
    rows = ask(questions, "weekly_retention", since=day(since), until=day(until))
    assert {(row[0], row[1]): (row[2], row[3]) for row in rows} == {
        (cohort.date(), later): (n, sizes[cohort]) for (cohort, later), n in active.items()
    }


def test_weekly_retention_of_a_hand_computed_example(clickhouse: Client) -> None:
    # Ann: weeks 0, 1 and 3; Bob: week 0 only; Cem: weeks 1 and 2.
    visits = {"ann": (0, 1, 3), "bob": (0,), "cem": (1, 2)}
    made = [
        touchpoint("page_view", START + timedelta(weeks=week, days=1), user=user)
        for user, weeks in visits.items()
        for week in weeks
    ]
    out, _ = run(sorted(made, key=lambda t: t.event_time))
    store(clickhouse, out)
    rows = ask(
        clickhouse, "weekly_retention", since=day(START), until=day(START + timedelta(weeks=8))
    )
    first, second = START.date(), (START + timedelta(weeks=1)).date()
    assert [row[:4] for row in rows] == [
        (first, 0, 2, 2), (first, 1, 1, 2), (first, 3, 1, 2),
        (second, 0, 1, 1), (second, 1, 1, 1),
    ]  # fmt: skip
    assert [row[4] for row in rows] == [1.0, 0.5, 0.5, 1.0, 1.0]


def test_dropoff_between_reads_the_windows_starting_in_the_range(clickhouse: Client) -> None:
    store(clickhouse, Outputs())
    counts = [  # window, stage, metric, count
        (START + timedelta(hours=h), stage, metric, 10 * h + len(stage) + len(metric))
        for h in range(6)
        for stage in ("awareness", "decision")
        for metric in ("passed", "dropped_off")
    ]
    clickhouse.insert(
        "conversion_partials",
        [[3600, at, 0, "all", "all", stage, metric, n, 1] for at, stage, metric, n in counts],
        column_names=["window_size_seconds", "window_start", "partition", "dimension",
                      "value", "stage", "metric", "count", "version"],
    )  # fmt: skip
    since, until = START + timedelta(hours=1), START + timedelta(hours=4)
    rows = ask(
        clickhouse, "dropoff_between", since=day(since), until=day(until),
        window_size=3600, dimension="all", value="",
    )  # fmt: skip
    expected = {}
    for at, stage, metric, n in counts:
        if within(at, since, until):
            expected.setdefault((at, stage), {})[metric] = n
    assert [(row[0].replace(tzinfo=UTC), row[3], row[4], row[5]) for row in rows] == [  # type: ignore[union-attr]
        (at, stage, c["passed"], c["dropped_off"]) for (at, stage), c in sorted(expected.items())
    ]


def monday(at: datetime) -> datetime:
    start = at - timedelta(days=at.weekday())
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def funnel_level(times: dict[str, list[datetime]], steps: list[str], window: timedelta) -> int:
    """How far down `steps` one customer got, in order, within `window` of a first step
    (what windowFunnel computes): from each first step, the earliest next one each time."""
    best = 0
    for start in times.get(steps[0], []):
        level, at = 1, start
        for action in steps[1:]:
            later = [t for t in times.get(action, []) if at < t <= start + window]
            if not later:
                break
            level, at = level + 1, min(later)
        best = max(best, level)
    return best


@pytest.mark.parametrize(("since", "until"), RANGES)
@pytest.mark.parametrize("window", [timedelta(minutes=30), timedelta(days=7)])
def test_step_funnel_counts_customers_down_the_steps_within_the_window(
    questions: Client, outputs: Outputs, since: datetime, until: datetime, window: timedelta
) -> None:
    steps = ["ad_click", "add_to_cart", "order_placed"]
    times: dict[str, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for placed in outputs.touchpoints:
        t = placed.touchpoint
        if within(t.event_time, since, until) and not t.is_bot:
            times[placed.customer_id][t.action].append(t.event_time)
    levels = [funnel_level(seen, steps, window) for seen in times.values()]
    result = questions.query(
        "SELECT step, action, customers FROM step_funnel(since = {since:String}, "
        "until = {until:String}, steps = {steps:Array(String)}, window_seconds = {w:UInt32}, "
        "channel = '', campaign = '', segment = '')",
        parameters={
            "since": day(since), "until": day(until), "steps": steps,
            "w": int(window.total_seconds()),
        },
    )  # fmt: skip
    assert [tuple(row) for row in result.result_rows] == [
        (k, action, sum(level >= k for level in levels)) for k, action in enumerate(steps, 1)
    ]
    if (since, until) == RANGES[3]:  # everything: some customers ordered after a click
        assert sum(level == len(steps) for level in levels) > 0


def test_step_funnel_refuses_more_than_six_steps(questions: Client) -> None:
    with pytest.raises(Exception, match="at most six steps"):
        questions.query(
            "SELECT * FROM step_funnel(since = '2026-03-01', until = '2026-04-01', "
            "channel = '', campaign = '', segment = '', "
            "steps = ['a', 'b', 'c', 'd', 'e', 'f', 'g'], window_seconds = 60)"
        )


@pytest.mark.parametrize(("since", "until"), RANGES)
@pytest.mark.parametrize("grain", ["week", "day"])
def test_lifecycle_sorts_each_period_s_customers(
    questions: Client, outputs: Outputs, since: datetime, until: datetime, grain: str
) -> None:
    step = timedelta(days=7 if grain == "week" else 1)
    active: dict[str, set[date]] = defaultdict(set)
    for placed in outputs.touchpoints:
        t = placed.touchpoint
        if within(t.event_time, since, until) and not t.is_bot:
            start = monday(t.event_time) if grain == "week" else t.event_time
            active[placed.customer_id].add(start.date())
    expected: Counter[tuple[date, str]] = Counter()
    for periods in active.values():
        ordered = sorted(periods)
        for i, period in enumerate(ordered):
            before = period - step in periods
            expected[period, "new" if i == 0 else "returning" if before else "resurrecting"] += 1
            if period + step not in periods and period + step < until.date():
                expected[period + step, "dormant"] += 1
    rows = ask(questions, "lifecycle", since=day(since), until=day(until), grain=grain)
    assert {(row[0], row[1]): row[2] for row in rows} == dict(expected)


def test_lifecycle_of_a_hand_computed_example(clickhouse: Client) -> None:
    # Ann: weeks 0, 1 and 3; Bob: week 0 only; Cem: weeks 1 and 2 (as for retention).
    visits = {"ann": (0, 1, 3), "bob": (0,), "cem": (1, 2)}
    made = [
        touchpoint("page_view", START + timedelta(weeks=week, days=1), user=user)
        for user, weeks in visits.items()
        for week in weeks
    ]
    out, _ = run(sorted(made, key=lambda t: t.event_time))
    store(clickhouse, out)
    rows = ask(
        clickhouse, "lifecycle", since=day(START), until=day(START + timedelta(weeks=5)),
        grain="week",
    )  # fmt: skip
    week = [(START + timedelta(weeks=n)).date() for n in range(5)]
    assert rows == [
        (week[0], "new", 2),
        (week[1], "dormant", 1), (week[1], "new", 1), (week[1], "returning", 1),
        (week[2], "dormant", 1), (week[2], "returning", 1),
        (week[3], "dormant", 1), (week[3], "resurrecting", 1),
        (week[4], "dormant", 1),
    ]  # fmt: skip
    with pytest.raises(Exception, match="grain is day or week"):
        ask(clickhouse, "lifecycle", since=day(START), until=day(START + timedelta(weeks=5)),
            grain="month")  # fmt: skip


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_paths_to_conversion_lead_to_each_first_purchase_of_the_range(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    walked: dict[str, list[SessionRecord]] = defaultdict(list)
    for session in latest_sessions(outputs.sessions).values():
        if session.status != "provisional":
            walked[session.customer_id].append(session)
    paths: Counter[str] = Counter()
    for sessions in walked.values():
        ordered = sorted(sessions, key=lambda s: (s.started_at, s.session_id))
        first = next((i for i, s in enumerate(ordered) if s.converted), None)
        if first is None or not within(ordered[first].started_at, since, until):
            continue
        channels = [str(s.entry_channel) for s in ordered[: first + 1]]
        folded = [c for i, c in enumerate(channels) if i == 0 or c != channels[i - 1]]
        paths[" > ".join(folded[-12:])] += 1
    rows = ask(questions, "paths_to_conversion", since=day(since), until=day(until))
    assert dict(rows) == dict(paths)  # type: ignore[arg-type]
    if (since, until) == RANGES[3]:
        assert sum(paths.values()) > 0  # some customers bought


# The journey map's views (schemas/clickhouse/0013, the worker's page /map/).


@pytest.mark.parametrize(("since", "until"), RANGES)
@pytest.mark.parametrize("campaign", ["", "spring"])
def test_stage_flows_count_customers_between_each_pair_of_stages(
    questions: Client, outputs: Outputs, since: datetime, until: datetime, campaign: str
) -> None:
    moved: dict[tuple[str, str], set[str]] = defaultdict(set)
    chosen = acquired(outputs, campaign=campaign)
    for t in outputs.transitions:
        if within(t.event_time, since, until) and t.customer_id in chosen:
            source = "(first touch)" if t.kind == "entered" else str(t.from_stage)
            target = "(dropped off)" if t.kind == "dropped_off" else t.to_stage
            moved[source, target].add(t.customer_id)
    rows = ask(
        questions, "stage_flows_between", since=day(since), until=day(until),
        channel="", campaign=campaign, segment="",
    )  # fmt: skip
    assert {(row[0], row[1]): row[2] for row in rows} == {
        pair: len(customers) for pair, customers in moved.items()
    }
    if (since, until) == RANGES[3]:
        assert {"(first touch)", "(dropped off)"} <= {part for pair in moved for part in pair}


@pytest.mark.parametrize(("since", "until"), RANGES)
@pytest.mark.parametrize("campaign", ["", "summer"])
def test_stage_dropoff_counts_the_sessions_that_ended_in_the_range(
    questions: Client, outputs: Outputs, since: datetime, until: datetime, campaign: str
) -> None:
    passed: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    chosen = acquired(outputs, campaign=campaign)
    for s in latest_sessions(outputs.sessions).values():
        if s.status == "closed" and within(s.ended_at, since, until) and s.customer_id in chosen:
            passed.update(s.passed)
            if s.dropped_off_at is not None:
                dropped[s.dropped_off_at] += 1
    rows = ask(
        questions, "stage_dropoff_between", since=day(since), until=day(until),
        channel="", campaign=campaign, segment="",
    )  # fmt: skip
    stages = ["awareness", "consideration", "decision", "retention", "advocacy"]
    assert [row[1:4] for row in rows] == [
        (stage, passed[stage], dropped[stage]) for stage in stages
    ]
    for _, _stage, n_passed, n_dropped, rate in rows:
        assert rate == (
            round(n_dropped / (n_passed + n_dropped), 4) if n_passed or n_dropped else None
        )  # type: ignore[operator]


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_dimension_values_offer_how_the_ranges_customers_came(
    questions: Client, outputs: Outputs, since: datetime, until: datetime
) -> None:
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    came = acquisition(outputs)
    for t in outputs.transitions:
        if within(t.event_time, since, until):
            for dimension, value in came[t.customer_id].items():
                if value:
                    seen[dimension, value].add(t.customer_id)
    rows = ask(questions, "dimension_values_between", since=day(since), until=day(until))
    assert {(row[0], row[1]): row[2] for row in rows} == {
        key: len(customers) for key, customers in seen.items()
    }


def test_alerts_between_lists_the_episodes_firing_in_the_range(clickhouse: Client) -> None:
    store(clickhouse, Outputs())
    day_ = timedelta(days=1)
    # (alert, stage, status, window): one episode fired on day 3 and resolved by the window
    # ending on day 8, another fired on day 20 and still fires.
    made = [
        ("a1", "decision", "firing", 3), ("a1", "decision", "resolved", 7),
        ("a2", "consideration", "firing", 20),
    ]  # fmt: skip
    rows = []
    for alert_id, stage, status, n in made:
        alert = DropoffAlert(
            alert_id=alert_id, status=status, stage=stage, next_stage=None,
            window_size_seconds=86400, window_start=START + n * day_,
            window_end=START + (n + 1) * day_, episode_started_at=START + 3 * day_,
            observed_rate=0.6, baseline_rate=0.2, sessions=40, dropped=24, z_score=4.0,
            p_value=0.0001, severity="critical", contributors=[],
        )  # fmt: skip
        rows.append(SourcedRow("fixture.alerts", 0, len(rows), alert_row(alert)))
    asyncio.run(TableWriter(clickhouse, "alerts", ALERT_COLUMNS, threading.Lock()).write(rows))
    cases = {  # range in days -> the episodes firing at some time in it
        (0, 3): [],
        (0, 4): ["a1"],
        (8, 20): [],
        (7, 9): ["a1"],
        (8, 21): ["a2"],
        (0, 60): ["a1", "a2"],
    }
    for (first, last), expected in cases.items():
        answer = ask(
            clickhouse, "alerts_between", since=day(START + first * day_),
            until=day(START + last * day_),
        )  # fmt: skip
        assert [row[0] for row in answer] == expected, (first, last)
    [a1, a2] = ask(clickhouse, "alerts_between", since=day(START), until=day(START + 60 * day_))
    assert (a1[4].replace(tzinfo=UTC), a1[5].replace(tzinfo=UTC)) == (  # type: ignore[union-attr]
        START + 3 * day_,
        START + 8 * day_,
    )
    assert a2[5] is None and a2[6] == "critical"


def test_step_watch_between_sums_each_step_s_windows_of_the_smallest_size_in_the_range(
    clickhouse: Client,
) -> None:
    store(clickhouse, Outputs())
    model = five_stage_model()
    publish_stage_model(clickhouse, model.name, model.stages, model.funnel_steps)
    hour = timedelta(hours=1)
    rng = random.Random(3)
    # (step, next, hours): hourly windows, and one daily window that must not count
    plan = [
        (model.funnel_steps[1], model.funnel_steps[2], range(10)),
        (model.stages[2], model.stages[3], range(2, 12)),
        (model.stages[1], model.stages[2], range(6)),
    ]
    made: list[StepWindow] = []
    for step, after, hours in plan:
        for n in hours:
            sessions = rng.randint(20, 60)
            dropped = rng.randint(0, sessions)
            made.append(StepWindow(
                stage=step, next_stage=after, window_size_seconds=3600,
                window_start=START + n * hour, window_end=START + (n + 1) * hour,
                sessions=sessions, dropped=dropped, observed_rate=dropped / sessions,
                baseline_rate=None if n < 3 else round(rng.uniform(0.1, 0.5), 3),
                evidence=0.0, anomalous=n in (4, 5, 8),
                alert_id=f"{step}-{n // 6}" if n in (4, 5, 8) else None,
            ))  # fmt: skip
    daily = made[0].model_copy(update={"window_size_seconds": 86400, "sessions": 10**6})
    shuffled = [daily, *made]
    rng.shuffle(shuffled)  # the view orders each step's windows by time itself
    sourced = [
        SourcedRow("fixture.step_windows", 0, i, step_window_row(w)) for i, w in enumerate(shuffled)
    ]
    writer = TableWriter(clickhouse, "step_windows", STEP_WINDOW_COLUMNS, threading.Lock())
    asyncio.run(writer.write(sourced))

    for first, last in [(0, 24), (3, 9), (11, 12), (30, 40)]:
        since, until = START + first * hour, START + last * hour
        answer = ask(
            clickhouse,
            "step_watch_between",
            since=day(since),
            until=day(until),
        )
        windows = [w for w in made if since <= w.window_start < until]
        steps = [*model.stages, *model.funnel_steps]  # stages first, then the funnel
        expected_order = sorted({w.stage for w in windows}, key=steps.index)
        assert [row[0] for row in answer] == expected_order, (first, last)
        for row in answer:
            mine = sorted((w for w in windows if w.stage == row[0]), key=lambda w: w.window_start)
            sessions, dropped = sum(w.sessions for w in mine), sum(w.dropped for w in mine)
            assert row[1:7] == (
                mine[0].next_stage, 3600, len(mine), sessions, dropped,
                round(dropped / sessions, 4),
            ), (first, last, row)  # fmt: skip
            latest, rates, baselines = row[7], row[12], row[13]
            assert isinstance(latest, datetime) and isinstance(rates, list)
            assert latest.replace(tzinfo=UTC) == mine[-1].window_start
            assert (row[8], row[9]) == (mine[-1].observed_rate, mine[-1].baseline_rate)
            assert row[10] == sum(w.anomalous for w in mine)
            assert row[11] == len({w.alert_id for w in mine if w.alert_id})
            assert rates == [w.observed_rate for w in mine]
            assert baselines == [w.baseline_rate for w in mine]


def test_customer_acquisition_is_the_first_session_s_even_without_a_campaign(
    clickhouse: Client, outputs: Outputs
) -> None:
    # Ann came by the web without a campaign and clicked a spring ad a week later; Bob
    # came through the spring ad.
    made = [
        touchpoint("page_view", START, user="ann"),
        touchpoint("ad_click", START + timedelta(days=7), user="ann", campaign="spring"),
        touchpoint("ad_click", START + timedelta(days=1), user="bob", campaign="spring"),
        touchpoint("page_view", START + timedelta(days=1, minutes=5), user="bob"),
    ]
    out, _ = run(sorted(made, key=lambda t: t.event_time))
    store(clickhouse, out)
    rows = clickhouse.query(
        "SELECT customer_id, channel, campaign FROM customer_acquisition ORDER BY customer_id"
    ).result_rows
    assert [tuple(row) for row in rows] == [
        ("ann", "web", None),
        ("bob", "ads", "spring"),
    ]
    assert {c: (came["channel"], came["campaign"]) for c, came in acquisition(out).items()} == {
        "ann": ("web", ""), "bob": ("ads", "spring")
    }  # fmt: skip
    # The synthetic month has customers of each campaign and of none.
    assert 0 < len(acquired(outputs, campaign="spring")) < len(acquisition(outputs))


@pytest.fixture(scope="module")
def spring_only(clickhouse_target: ClickHouseTarget, outputs: Outputs) -> Iterator[Client]:
    """A database with the outputs of the customers acquired through the spring campaign
    and of no one else."""
    chosen = acquired(outputs, campaign="spring")
    theirs = Outputs(
        touchpoints=[t for t in outputs.touchpoints if t.customer_id in chosen],
        sessions=[s for s in outputs.sessions if s.customer_id in chosen],
        transitions=[t for t in outputs.transitions if t.customer_id in chosen],
        journeys=[j for j in outputs.journeys if j.customer_id in chosen],
    )
    target = dataclasses.replace(clickhouse_target, database=f"test_s{uuid.uuid4().hex[:10]}")
    client = connect(target)
    store(client, theirs)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {quote_identifier(target.database)}")
    client.close()


@pytest.mark.parametrize("view", sorted(FILTERED_QUESTIONS))
def test_a_campaign_filter_answers_as_if_only_its_customers_existed(
    questions: Client, spring_only: Client, view: str
) -> None:
    narrowed = False
    for since, until in RANGES:
        bounds = {"since": day(since), "until": day(until), **FILTERED_QUESTIONS[view]}
        filtered = ask(questions, view, campaign="spring", **bounds)
        assert filtered == ask(spring_only, view, **bounds), (since, until)
        narrowed = narrowed or filtered != ask(questions, view, **bounds)
    assert narrowed, "the filter leaves some customers out"
