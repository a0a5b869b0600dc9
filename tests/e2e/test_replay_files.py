"""`journeys replay` of a shop's CSV export through the real pipeline (real broker, worker
process, ClickHouse): the sessions and conversion counts stored are the ones worked out by
hand below, the rows that cannot be mapped are dead letters, and replaying the file again
counts nothing twice.

The export (tests/fixtures/replay/shop_export.csv) is sorted by customer, not by time,
with Berlin local times (UTC+1 in March) in a day-first format:

    u-100  10:00-10:12 UTC  ad impression, ad click, visit, product, cart, checkout,
                            purchase                       -> buys: converted at decision
    u-200  11:00-11:06 UTC  visit, product, product        -> drops off at consideration
    u-300  14:00-14:07 UTC  visit, product, cart, checkout -> drops off at decision
    u-400  13:00 UTC        "Wishlist added": not in the value map    -> rejected
    u-500  13:30 UTC        email "not-an-email"                      -> rejected

Each customer has one session (no gap of 30 minutes). Stages: ad impression, ad click and
visit are awareness; product views consideration; cart, checkout and the first purchase
decision. A closing session passes the stages it moved on from (and the one it ends in,
if it converted) and drops off at the stage it ends in otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import REPO, WorkerProcess, wait_until

pytestmark = pytest.mark.e2e

FIXTURES = REPO / "tests" / "fixtures" / "replay"
EXPORT = FIXTURES / "shop_export.csv"
WEEK_LATER = FIXTURES / "shop_export_week_later.csv"
MAPPING = FIXTURES / "shop_export.yml"

#: Close sessions promptly once the data stops: an idle second is a day of event time.
FAST_IDLE = {"JOURNEYS_SESSIONS_IDLE_AFTER": "1", "JOURNEYS_SESSIONS_IDLE_RATE": "86400"}
CUSTOMERS = "customer_id IN ('user:u-100', 'user:u-200', 'user:u-300')"

#: (customer, entry, exit, touchpoints, start, end, stage at end, converted, passed,
#:  dropped off at), written by hand from the export.
EXPECTED_SESSIONS = [
    (
        "user:u-100", "import:A-1", "import:A-7", 7, "2026-03-10 10:00:00", "2026-03-10 10:12:00",
        "decision", True, ["awareness", "consideration", "decision"], None,
    ),
    (
        "user:u-200", "import:B-1", "import:B-3", 3, "2026-03-10 11:00:00", "2026-03-10 11:06:00",
        "consideration", False, ["awareness"], "consideration",
    ),
    (
        "user:u-300", "import:C-1", "import:C-4", 4, "2026-03-10 14:00:00", "2026-03-10 14:07:00",
        "decision", False, ["awareness", "consideration"], "decision",
    ),
]  # fmt: skip

#: Conversion counts over the day's hourly windows (sessions above: passed and dropped).
EXPECTED_COUNTS = [
    {"stage": "awareness", "entered": 3, "passed": 3, "dropped_off": 0},
    {"stage": "consideration", "entered": 3, "passed": 2, "dropped_off": 1},
    {"stage": "decision", "entered": 2, "passed": 1, "dropped_off": 1},
]


def replay(
    env: dict[str, str], *files: Path, wait: bool = False
) -> subprocess.CompletedProcess[str]:
    command = ["replay", *map(str, files), "--mapping", str(MAPPING), "--no-progress"]
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *command, *(["--wait"] if wait else [])],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sessions(worker: WorkerProcess) -> list[tuple[object, ...]]:
    rows = worker.query(
        "SELECT customer_id, entry_event_id, exit_event_id, touchpoints, "
        "toString(toDateTime(started_at)) AS s, toString(toDateTime(ended_at)) AS e, "
        "stage_at_end, converted, passed, dropped_off_at "
        f"FROM sessions FINAL WHERE {CUSTOMERS} AND status = 'closed' "
        "ORDER BY customer_id, started_at"
    )
    return [tuple(row.values()) for row in rows]


#: The session funnel (viewed_product -> added_to_cart -> started_checkout -> ordered):
#: A goes all the way; B views two products and stops; C stops at checkout.
EXPECTED_FUNNEL = [
    {"step": "viewed_product", "passed": 2, "dropped_off": 1},
    {"step": "added_to_cart", "passed": 2, "dropped_off": 0},
    {"step": "started_checkout", "passed": 1, "dropped_off": 1},
    {"step": "ordered", "passed": 1, "dropped_off": 0},
]


def counts(worker: WorkerProcess) -> list[dict[str, object]]:
    return worker.query(
        "SELECT stage, sum(entered) AS entered, sum(passed) AS passed, "
        "sum(dropped_off) AS dropped_off FROM conversion_counts "
        "WHERE dimension = 'all' AND window_start < '2026-03-11' "
        "AND stage IN (SELECT stage FROM stage_model) GROUP BY stage ORDER BY stage"
    )


def funnel(worker: WorkerProcess) -> list[dict[str, object]]:
    return worker.query(
        "SELECT step, sum(passed) AS passed, sum(dropped_off) AS dropped_off "
        "FROM funnel_counts WHERE dimension = 'all' AND window_start < '2026-03-11' "
        "GROUP BY step, rank ORDER BY rank"
    )


def test_a_replayed_csv_export_gives_the_sessions_and_counts_worked_out_by_hand(
    worker_factory: Callable[..., WorkerProcess], unique: str
) -> None:
    worker = worker_factory(**FAST_IDLE)
    env = dict(worker.env)
    started = time.monotonic()
    first = replay(env, EXPORT)
    assert first.returncode == 0, first.stdout + first.stderr
    summary = " ".join(first.stdout.split())
    topic = f"t{unique}.touchpoints.raw.import"
    assert f"read 16 rows; sent to {topic}: 14; rejected: 2" in summary
    assert "1 MappingError action (column 'event')" in summary
    assert "1 InvalidPersonalData email (column 'email')" in summary
    assert "shop_export.csv line 12: column 'event' -> action: value 'Wishlist added'" in summary
    assert "not-an-email" not in first.stdout + first.stderr

    wait_until(lambda: len(sessions(worker)) == 3, 120, "the three sessions closed")
    assert sessions(worker) == EXPECTED_SESSIONS
    wait_until(lambda: counts(worker) == EXPECTED_COUNTS, 60, "the conversion counts")
    assert funnel(worker) == EXPECTED_FUNNEL
    # Each output topic has its own sink: the touchpoints may land a batch after sessions.
    stored = wait_until(
        lambda: (
            rows
            if len(
                rows := worker.query(
                    "SELECT event_id, channel, platform, action, revenue, currency, "
                    "campaign_source, properties, email_hash IS NOT NULL AS hashed "
                    "FROM touchpoints FINAL "
                    "WHERE event_id IN ('import:A-1', 'import:A-7') ORDER BY event_id"
                )
            )
            == 2
            else None
        ),
        60,
        "both touchpoints stored",
    )
    assert stored == [
        {
            "event_id": "import:A-1",
            "channel": "ads",
            "platform": "shopexport",
            "action": "ad_impression",
            "revenue": None,
            "currency": None,
            "campaign_source": "instagram",
            "properties": {},
            "hashed": True,
        },
        {
            "event_id": "import:A-7",
            "channel": "commerce",
            "platform": "shopexport",
            "action": "order_placed",
            "revenue": "129.0000",
            "currency": "EUR",
            "campaign_source": None,
            "properties": {"product_id": "sku-1"},
            "hashed": True,
        },
    ]
    print(f"replayed and stored in {time.monotonic() - started:.1f} s")

    # The rows that could not be mapped: dead letters naming file, line and column only.
    wait_until(
        lambda: worker.query("SELECT count() AS n FROM dead_letters")[0]["n"] == 2,
        60,
        "the two rejected rows in dead_letters",
    )
    letters = worker.query(
        "SELECT source_topic, source_partition, source_offset, error_type, error_message "
        "FROM dead_letters ORDER BY source_offset"
    )
    assert letters == [
        {
            "source_topic": topic,
            "source_partition": -1,
            "source_offset": 12,
            "error_type": "MappingError",
            "error_message": "shop_export.csv line 12: column 'event' -> action: not in the "
            "value map (known: Ad click, Added to cart, Checkout, Impression, Purchase, "
            "Viewed product, Visit)",
        },
        {
            "source_topic": topic,
            "source_partition": -1,
            "source_offset": 13,
            "error_type": "InvalidPersonalData",
            "error_message": "shop_export.csv line 13: column 'email' -> email: "
            "not an email address",
        },
    ]

    # Again, with a week-later visit per customer merged in: the export's rows are
    # recognised by their event ids and counted once; only the new visits add sessions.
    # With --wait it returns once every event sent is final: a script reads right after.
    second = replay(env, EXPORT, WEEK_LATER, wait=True)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "read 19 rows" in " ".join(second.stdout.split())
    assert "all 17 events sent are final in ClickHouse" in second.stdout
    final = worker.query("SELECT uniqExact(event_id) AS n FROM touchpoints WHERE _version = 2")
    assert final == [{"n": 17}], "the export's 14 events and the 3 week-later visits"
    wait_until(lambda: len(sessions(worker)) == 6, 120, "the week-later sessions closed")
    assert sessions(worker)[::2] == EXPECTED_SESSIONS

    def journeys() -> list[dict[str, object]]:
        return worker.query(
            "SELECT customer_id, touchpoints, sessions, purchases FROM journeys FINAL "
            f"WHERE {CUSTOMERS} ORDER BY customer_id"
        )

    wait_until(
        lambda: (
            journeys()
            == [
                {"customer_id": "user:u-100", "touchpoints": 8, "sessions": 2, "purchases": 1},
                {"customer_id": "user:u-200", "touchpoints": 4, "sessions": 2, "purchases": 0},
                {"customer_id": "user:u-300", "touchpoints": 5, "sessions": 2, "purchases": 0},
            ]
        ),
        60,
        "the journeys with one more session each",
    )
    # Not FINAL: every stored touchpoint row, so a duplicate would show.
    assert worker.query(f"SELECT count() AS n FROM touchpoints WHERE {CUSTOMERS}") == [{"n": 17}]
    assert counts(worker) == EXPECTED_COUNTS
    assert worker.stop() == 0, worker.log_tail()
