"""A month of generated traffic with a two-day checkout incident, sent as one backlog
through the real pipeline: the counts show it, and it raises exactly one alert episode on
each step it cuts (the decision stage, and the session funnel's cart and checkout steps),
on time, resolved after it ends, with no alert on the normal days or other steps; the
webhook receives them, the worker's metrics count them, one view shows a step's daily
rate, baseline and episode, the analyst dashboard's panels show it, and so does the journey
map in a browser, number for number. The generated month is the demo's kind of traffic:
every view docs/analysts.md documents has something to say about it."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.generator.incidents import Incident
from pipeline.generator.output import KafkaOutput, send
from pipeline.generator.traffic import Traffic, TrafficConfig
from pipeline.topics import TopicNames
from tests.browser import check_journey_map
from tests.dashboards import runnable, targets
from tests.documented_views import documented_views, view_query
from tests.support import WebhookReceiver, WorkerProcess, metrics, wait_until

pytestmark = pytest.mark.e2e

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAYS = 28
DAY = 86400
INCIDENT = Incident.parse("decision@2026-03-16T00:00Z+48h=0.7")  # about 20% -> 70%
#: The steps that incident cuts: the stage, and the funnel steps taken in it.
CUT_STEPS = ("decision", "added_to_cart", "started_checkout")
REPLAY = {
    "JOURNEYS_WINDOWS_SIZES": f"[{DAY}]",  # a few hundred sessions a day: daily windows
    # The end of the backlog closes by the wall clock: after 30 quiet seconds (a stall of
    # a loaded machine is shorter), a day of event time per second.
    "JOURNEYS_SESSIONS_IDLE_AFTER": "30",
    "JOURNEYS_SESSIONS_IDLE_RATE": "86400",
    "JOURNEYS_SINK_BATCH_SECONDS": "1",
    "JOURNEYS_ATTRIBUTION_MARKOV_EVERY": "2",  # look for final days every 2 s
}

DECISION_BY_DAY = f"""
SELECT window_start, passed, dropped_off, dropoff_rate FROM conversion_counts
WHERE window_size_seconds = {DAY} AND dimension = 'all' AND stage = 'decision'
ORDER BY window_start
"""
ALERTS = """
SELECT alert_id, status, stage, next_stage, window_start, observed_rate, baseline_rate,
       sessions, p_value, severity, length(contributors) AS contributors
FROM alerts FINAL ORDER BY window_start, status
"""


def test_a_checkout_incident_raises_one_episode_per_step_it_cuts_and_nothing_else(
    worker_factory: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    unique: str,
    tmp_path: Path,
) -> None:
    with WebhookReceiver() as receiver:
        _raise_and_check_the_episode(worker_factory, kafka_bootstrap, unique, receiver, tmp_path)


def _raise_and_check_the_episode(
    worker_factory: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    unique: str,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    config = TrafficConfig(
        start=START,
        end=START + timedelta(days=DAYS),
        seed=11,
        customers_per_day=150,
        incidents=(INCIDENT,),
    )
    worker = worker_factory(**REPLAY, JOURNEYS_ALERTS_WEBHOOK_URL=receiver.url)
    # The month as fast as it goes: the pipeline judges a backlog as it would have judged
    # the same traffic live (tests/e2e/test_live_equals_replay.py).
    with KafkaOutput(kafka_bootstrap, TopicNames(f"t{unique}.")) as output:
        sent = send(Traffic(config).events(), output)
    assert sent.events > 25_000

    last_day = START + timedelta(days=DAYS - 1)

    def all_days_counted() -> list[dict[str, object]] | None:
        # Each partition reports its windows in order, when its own watermark passes them:
        # the month is counted once every partition that reported a day reported the last.
        reported = worker.query(
            "SELECT uniqExact(partition) AS partitions, "
            f"uniqExactIf(partition, window_start = '{last_day:%Y-%m-%d %H:%M:%S}') AS done "
            f"FROM conversion_partials FINAL WHERE window_size_seconds = {DAY}"
        )[0]
        if not 0 < int(reported["partitions"]) == int(reported["done"]):
            return None
        return worker.query(DECISION_BY_DAY)

    rows = wait_until(all_days_counted, 900, "every daily window of the month", interval=5)
    # Days with the detector's minimum volume; the first days of the month are thin, as
    # returning customers have not built up yet.
    rates = {
        _utc(row["window_start"]): float(row["dropoff_rate"])
        for row in rows
        if int(row["passed"]) + int(row["dropped_off"]) >= 30
    }
    incident_days = [INCIDENT.start, INCIDENT.start + timedelta(days=1)]
    normal = sorted(rate for day, rate in rates.items() if day not in incident_days)
    assert len(normal) >= DAYS - 5
    # The incident's two days stand out: well above the month's usual drop-off (about
    # 20%) and above every other day's, noisy as those are.
    assert statistics.median(normal) < 0.3, rates
    assert all(rates[day] > max(0.45, normal[-1]) for day in incident_days), rates

    # One episode on every step the incident cuts, the stage's and the session funnel's
    # (a cart is added and checkout started in the decision stage), and nothing else.
    alerts = worker.query(ALERTS)
    by_episode: dict[str, list[str]] = {}
    for row in alerts:
        by_episode.setdefault(row["alert_id"], []).append(row["status"])
    assert all(statuses == ["firing", "resolved"] for statuses in by_episode.values()), alerts
    firing = {row["stage"]: row for row in alerts if row["status"] == "firing"}
    assert set(firing) == set(CUT_STEPS), alerts
    assert len(by_episode) == len(CUT_STEPS), alerts
    fired = firing["decision"]
    assert fired["next_stage"] == "retention"
    for row in firing.values():
        assert INCIDENT.start <= _utc(row["window_start"]) < INCIDENT.start + timedelta(days=2)
        assert row["observed_rate"] > row["baseline_rate"] + 0.2, row
        assert row["p_value"] < 0.001 and row["contributors"] > 0, row
    assert fired["observed_rate"] > 0.55 and fired["baseline_rate"] < 0.3
    assert fired["sessions"] >= 30
    assert all(
        _utc(row["window_start"]) >= INCIDENT.end for row in alerts if row["status"] == "resolved"
    ), alerts
    episodes = 2 * len(CUT_STEPS)
    wait_until(lambda: len(receiver.bodies) >= episodes, 120, "every alert at the webhook")
    statuses = sorted(body["status"] for body in receiver.bodies)
    assert statuses == ["firing"] * len(CUT_STEPS) + ["resolved"] * len(CUT_STEPS)
    scraped = metrics(worker)
    assert scraped["journeys_alerts"] == {
        (("stage", step), ("status", status)): 1
        for step in CUT_STEPS
        for status in ("firing", "resolved")
    }
    assert scraped["journeys_webhook_deliveries"] == {(("outcome", "delivered"),): episodes}
    # One view has each step's daily rate, its baseline and the episode.
    # (The step windows have a sink of their own: they may land a batch after the alerts.)
    watch = wait_until(
        lambda: (
            rows
            if len(
                rows := worker.query(
                    f"SELECT window_start, observed_rate, baseline_rate, episode, fired, "
                    f"resolved FROM step_watch WHERE window_size_seconds = {DAY} "
                    f"AND stage = 'started_checkout' "
                    f"AND window_start < '{START + timedelta(days=DAYS):%Y-%m-%d}' "
                    "ORDER BY window_start"
                )
            )
            == DAYS
            else None
        ),
        120,
        "every day of the checkout step in step_watch",
    )
    checkout = firing["started_checkout"]
    in_episode = [row for row in watch if row["episode"] == checkout["alert_id"]]
    assert [row["fired"] for row in watch].count(True) == 1
    assert [row["resolved"] for row in watch].count(True) == 1
    assert _utc(in_episode[0]["window_start"]) == _utc(checkout["window_start"])
    assert all(row["observed_rate"] > row["baseline_rate"] for row in in_episode[:2]), watch
    assert sum(row["baseline_rate"] is not None for row in watch) >= DAYS - 10, watch
    # Every purchase with a visit before it is credited by every model, and the Markov
    # attribution of every day of the month is computed once the day is final.
    [bought] = worker.query(
        "SELECT uniqExact(conversion_id) AS credited, (SELECT count() FROM v_touchpoints "
        "WHERE action IN ('order_placed', 'store_purchase') AND NOT is_bot) AS purchases "
        "FROM attribution_credits"
    )
    assert 0.9 * bought["purchases"] <= bought["credited"] <= bought["purchases"], bought
    [totals] = worker.query(
        "SELECT sum(first_touch) AS first, sum(linear) AS linear, "
        "sum(position_based) AS positions FROM attribution_comparison"
    )
    assert {float(n) for n in totals.values()} == {bought["credited"]}, totals
    markov_days = wait_until(
        lambda: (
            n
            if (n := worker.query("SELECT uniqExact(day) AS n FROM markov_attribution")[0]["n"])
            >= DAYS
            else None
        ),
        120,
        "the Markov attribution of every day",
    )
    assert markov_days >= DAYS
    # Every panel of the analyst dashboard (Grafana, monitoring profile) has rows to show.
    stages = [row["stage"] for row in worker.query("SELECT stage FROM stage_model FINAL")]
    for name, panel, target in targets("grafana-clickhouse-datasource"):
        assert worker.query(runnable(target["rawSql"], stages)), f"{name}: {panel['title']}"
    # The journey map shows the month's funnel, flows and the episode, each number its
    # view's answer, before and after a filter changes (tests/browser.py).
    screenshot = tmp_path / "journey-map.png"
    shown = check_journey_map(worker, screenshot)
    assert sorted(row["alert_id"] for row in shown["alerts"]) == sorted(
        row["alert_id"] for row in firing.values()
    )
    print(f"journey map screenshot: {screenshot}")
    assert all(row["customers"] > 0 for row in shown["funnel"]), "every stage is reached"
    watched = {row["stage"]: row for row in shown["watch"]}
    for stage in firing:  # each step that fired shows its anomalous windows and episode
        assert watched[stage]["anomalous_windows"] > 0 and watched[stage]["episodes"] > 0, stage
    _every_documented_view_has_answers(worker)


def _every_documented_view_has_answers(worker: WorkerProcess) -> None:
    """Each view of docs/analysts.md answers rows, with a figure above zero where it has
    figures, and every channel with a click-through has clicks (email opens and clicks
    included)."""
    [someone] = worker.query("SELECT customer_id FROM v_journeys ORDER BY customer_id LIMIT 1")
    until = (START + timedelta(days=DAYS)).date()
    for name, parameters in documented_views().items():
        sql = view_query(name, parameters, START.date(), until, someone["customer_id"])
        rows = worker.query(sql)
        figures = [
            v
            for row in rows
            for v in row.values()
            if type(v) in (int, float)  # not bools
        ]
        assert rows and (not figures or max(figures) > 0), f"{name} has nothing to say: {sql}"
    clicks = {row["channel"]: row["clicks"] for row in worker.query(
        "SELECT channel, sum(clicks) AS clicks FROM click_through GROUP BY channel"
    )}  # fmt: skip
    assert set(clicks) == {"ads", "email", "sms", "push", "popup"}, clicks
    assert all(n > 0 for n in clicks.values()), clicks
    [email] = worker.query(
        "SELECT countIf(action = 'email_opened') AS opens, countIf(action = 'email_clicked') "
        "AS clicks FROM v_touchpoints"
    )
    assert email["opens"] > 0 and email["clicks"] > 0, email


def _utc(value: object) -> datetime:
    return datetime.fromisoformat(str(value)).astimezone(UTC)
