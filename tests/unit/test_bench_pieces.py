"""The benchmark's pure pieces: percentiles, CPU interpolation, profile summaries, the
report's tables and the baselines' progress files. No timings are asserted anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.bench.baselines.progress import Finish, Progress
from pipeline.bench.latency import (
    FirstRows,
    LeadIn,
    keep_first,
    percentiles,
    session_ids,
    session_latencies,
    touchpoint_latencies,
)
from pipeline.bench.processes import Sample, Sampler, _cpu_at
from pipeline.bench.profile import summarise
from pipeline.bench.report import (
    PIPELINE,
    Latency,
    LatencyPath,
    Memory,
    ProcessUse,
    Report,
    Scale,
    Throughput,
    markdown,
)
from pipeline.bench.traffic import WARM_UP, Sent, bench_events, live_events
from pipeline.bench.workers import StoredInputs
from tests.support import REPO

pytestmark = pytest.mark.unit


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([3.0]) == {"p50": 3.0, "p95": 3.0, "p99": 3.0}
    assert percentiles([]) == {}


def test_cpu_seconds_are_interpolated_between_samples() -> None:
    samples = [Sample(10.0, 1.0, 0, 0.5), Sample(12.0, 2.0, 0, 0.5), Sample(14.0, 4.0, 0, 1.5)]
    assert _cpu_at(samples, 11.0) == pytest.approx(1.5)
    assert _cpu_at(samples, 13.0) == pytest.approx(3.0)
    assert _cpu_at(samples, 5.0) == 1.0  # before the first sample
    assert _cpu_at(samples, 20.0) == 4.0  # after the last
    assert _cpu_at(samples, 13.0, native=True) == pytest.approx(1.0)  # the native threads'


#: A child that spins for `seconds` in its main thread, or in a thread it names itself
#: (as an embedded engine names its pool threads), while the main thread sleeps.
SPINNER = """
import ctypes, sys, threading, time
def spin(name):
    if name:
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        pass
if sys.argv[1] == "main":
    spin("")
else:
    thread = threading.Thread(target=spin, args=("EnginePool",))
    thread.start()
    thread.join()
"""


@pytest.mark.parametrize(("where", "native"), [("main", False), ("thread", True)])
def test_the_sampler_tells_native_threads_cpu_from_the_process(where: str, native: bool) -> None:
    child = subprocess.Popen([sys.executable, "-c", SPINNER, where, "1.5"])
    sampler = Sampler(interval=0.1).start()
    try:
        began = time.time()
        sampler.watch("spinner", child.pid)
        child.wait(timeout=60)
        ended = time.time()
    finally:
        sampler.stop()
        child.kill()
    share = sampler.native_share("spinner", began, ended - 0.2)
    assert sampler.cpu_percent("spinner", began, ended - 0.2) > 0
    assert share > 0.8 if native else share < 0.2


def test_touchpoint_latency_matches_rows_to_sent_records_by_offset() -> None:
    sent = [Sent("raw.web", 0, 7, 100.0, False), Sent("raw.ads", 1, 3, 101.0, False)]
    rows = [
        {"event_id": "e1", "raw_topic": "raw.web", "raw_partition": 0, "raw_offset": 7,
         "inserted": 100.25},
        {"event_id": "e2", "raw_topic": "raw.ads", "raw_partition": 1, "raw_offset": 3,
         "inserted": 102.0},
        {"event_id": "other", "raw_topic": "raw.ads", "raw_partition": 1, "raw_offset": 4,
         "inserted": 103.0},
    ]  # fmt: skip
    assert touchpoint_latencies(rows, sent) == {"e1": 0.25, "e2": 1.0}


def test_session_latency_runs_to_the_first_row_of_the_touchpoints_session() -> None:
    sent = [Sent("raw.web", 0, n, 100.0 + n, False) for n in range(5)]
    rows = [
        {"event_id": f"e{n}", "raw_topic": "raw.web", "raw_partition": 0, "raw_offset": n,
         "session_id": session, "inserted": 110.0}
        for n, session in enumerate(["s1", "s1", "s0", None, "s9"])
    ] + [{"event_id": "other", "raw_topic": "raw.web", "raw_partition": 0, "raw_offset": 99,
          "session_id": "s7", "inserted": 110.0}]  # fmt: skip
    assert session_ids(rows, sent) == {"s0", "s1", "s9"}
    first = {"s1": 100.5, "s0": 101.0, "s7": 90.0}
    found = session_latencies(rows, first, sent)
    # e1 joined s1 after s1 was queryable; e3 is a bot; s9 has no row yet.
    assert found.seconds == {"e0": 0.5}
    assert (found.already, found.no_session, found.missing) == (2, 1, 1)
    assert "2 joined a session already queryable" in found.note()


def test_first_rows_keep_the_earliest_insert_seen_per_key() -> None:
    found = {"s1": 5.0}
    keep_first(found, [{"key": "s1", "first": 7.0}, {"key": "s2", "first": 9.0}])
    keep_first(found, [{"key": "s2", "first": 8.5}])  # an earlier row seen later
    assert found == {"s1": 5.0, "s2": 8.5}
    answers = iter([[{"key": "s3", "first": 3.0}], [{"key": "s3", "first": 4.0}]])
    watch = FirstRows(lambda sql: next(answers, []), "sessions", "session_id", since=0)
    assert "FROM sessions" in watch.sql and "GROUP BY session_id" in watch.sql
    watch.poll()
    assert watch.start().stop() == {"s3": 3.0}


def test_lead_in_times_records_once_the_pipeline_keeps_up_with_what_was_sent() -> None:
    now = [0.0]
    stored = iter([100, 101, 102])  # rows: 100 before the traffic, then 1 and 2 more
    lead_in = LeadIn(
        lambda: next(stored), 100, least=2, most=50, timed=4, trailer=2, within=2.0,
        clock=lambda: now[0],
    )  # fmt: skip
    steps = [lead_in.go_on(index) for index in range(3)]  # at t=0: 2 sent
    now[0] = 1.0
    assert not lead_in.poll()  # nothing sent 2 s ago yet (and fewer than `least`)
    now[0] = 2.5
    assert not lead_in.poll()  # 2 sent 2 s ago, 100 rows
    assert not lead_in.poll()  # 101
    assert lead_in.poll()  # 102: the next record starts the timed ones
    steps += [lead_in.go_on(index) for index in range(3, 12)]
    assert steps == [True] * 9 + [False] * 3
    assert lead_in.start == 3 and lead_in.caught_up and lead_in.timed() == slice(3, 7)
    never = LeadIn(lambda: 0, 100, least=2, most=5, timed=4, trailer=2)
    assert [never.go_on(i) for i in range(12)] == [True] * 11 + [False]
    assert never.timed() == slice(5, 9) and not never.caught_up


def test_the_event_set_is_the_same_for_the_same_seed() -> None:
    first, again, other = bench_events(300), bench_events(300), bench_events(300, seed=7)
    assert [e.value for e in first] == [e.value for e in again]
    assert [e.value for e in first] != [e.value for e in other]


def test_live_events_run_at_the_rate_asked_for_with_event_time_at_the_wall_clock() -> None:
    now = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
    events = live_events(400, rate=20.0, seed=43, clock=lambda: now)
    assert len(events) == 400
    delivered = [event.deliver_at for event in events]
    assert delivered == sorted(delivered) and delivered[0] > now
    seconds = (delivered[-1] - delivered[0]).total_seconds()
    assert 400 / seconds == pytest.approx(20.0, rel=0.3)
    # Sent at delivery: event time is the wall clock less the channel's delay, which is
    # short but for the late deliveries (within the allowed lateness).
    delays = sorted((e.deliver_at - e.event_time).total_seconds() for e in events)
    assert delays[0] > 0 and delays[len(delays) // 2] < 2.0 and delays[-1] < 300
    assert all(e.event_time >= now - WARM_UP for e in events)


def test_profile_summary_attributes_samples_to_library_and_own_code(tmp_path: Path) -> None:
    # py-spy's full file names (--full-filenames), as the worker's would be.
    repo, packages = REPO, f"{REPO}/.venv/lib/python3.11/site-packages"
    stdlib = sysconfig.get_paths()["stdlib"]
    entry = f"main ({repo}/pipeline/cli.py:1);run_worker ({repo}/pipeline/worker.py:2)"
    task = f"_wrapped ({packages}/faust/app/base.py:1035)"
    raw = tmp_path / "worker.pyspy"
    raw.write_text(
        f"{entry};put ({repo}/pipeline/journeys/agents.py:60);"
        f"model_dump_json ({packages}/pydantic/main.py:9) 6\n"
        f"{entry};send ({packages}/aiokafka/conn.py:4);"
        f"write ({stdlib}/asyncio/selector_events.py:1) 3\n"
        f"{entry};{task};tick ({repo}/pipeline/journeys/engine.py:5);"
        f"append ({stdlib}/collections/__init__.py:1) 2\n"
        f"{entry};_run_once ({stdlib}/asyncio/base_events.py:1) 1\n"
    )
    profile = summarise(raw)
    assert profile is not None and profile.samples == 12
    libraries = {share.name: share.percent for share in profile.by_library}
    assert libraries["pydantic (validate / serialise)"] == pytest.approx(50)
    assert libraries["aiokafka (fetch, produce)"] == pytest.approx(25)
    # Under a Faust task, but in our code: ours, not Faust's.
    assert libraries["own code (pipeline/, schemas/)"] == pytest.approx(100 / 6)
    assert "faust / mode (streams, tables, acks)" not in libraries
    assert libraries["asyncio event loop, threads, other"] == pytest.approx(100 / 12)
    own = {share.name: share.percent for share in profile.by_own_function}
    assert own["put (agents.py)"] == pytest.approx(50)
    assert own["tick (engine.py)"] == pytest.approx(100 / 6)
    assert summarise(tmp_path / "missing") is None


def test_progress_writes_its_finish_once(tmp_path: Path) -> None:
    result = tmp_path / "out.json"
    progress = Progress(expected=3, result=result)
    assert not progress.add(2)
    assert progress.add(1)
    assert not progress.add(1)
    finish = Finish.read(result)
    assert finish.processed == 3 and finish.last_at >= finish.first_at
    assert json.loads(result.read_text())["processed"] == 3


def _throughput(name: str, per_second: float, cpu_ms: float) -> Throughput:
    use = ProcessUse("worker", 90.0, cpu_ms, 500.0, native_thread_share=0.125)
    return Throughput(name, "does", 1000, 1000 / per_second, per_second, 2.0, [use])


def test_report_ratios_and_markdown_carry_every_section() -> None:
    report = Report(
        meta={"measured_at": "now", "cpus": 2, "load_average": "1 1 1", "commit": "abc",
              "events": 1000, "seed": 42, "partitions": 8, "note": "contended",
              "join_at": 0.25, "busy": 1},
        throughput=[_throughput(PIPELINE, 100, 4000), _throughput("quix", 1000, 100)],
        latency=Latency(50, 0.5, 1000, 100.0, [
            LatencyPath("touchpoint", 10, 1, 2, 3),
            LatencyPath("session", 4, 5, 6, 7, "6 joined a session already queryable"),
        ]),
        memory=Memory(10, 400, 20, 410, 100_000.0, 10, 0.05, 512.0),
        scaling=[Scale(1, 100, 1, [90], 1000, stored_per_worker=[1000]),
                 Scale(2, 0, 0, [], 700, completed=False)],
        problems=["2 workers: stalled"],
        kafka_records_per_event={"state-changelog": 0.7, "journeys.internal": 0.02},
        consumed_per_event=1.02,
        written_per_event=0.72,
        counted_after_seconds=3.0,
        idle_written_per_second=8.0,
    )  # fmt: skip
    assert report.ratios() == {PIPELINE: 1.0, "quix": 0.1}
    assert report.cpu_ratios() == {PIPELINE: 1.0, "quix": 40.0}
    text = markdown(report)
    assert markdown(Report.from_json(json.loads(json.dumps(report.to_json())))) == text
    expected = (
        "End-to-end throughput", "Latency at 50", "Memory", "Scaling", "stalled at 700",
        "2 workers: stalled", "> contended", "| 512 |", "already queryable", "| 1.020 |",
        "| 0.720 |", "| state-changelog | 0.700 |", "wrote 8.0 records/s",
        "| 90 | 12 | 4,000 |",  # CPU %, of it in native threads %, CPU ms per 1k events
        "the second worker joins at 25% of the records, 1 busy processes spin meanwhile",
        "| inputs stored per worker | stored by both |", "| 90 | 1,000 | - |",
    )  # fmt: skip
    for piece in expected:
        assert piece in text
    live = Report(
        meta=report.meta,
        latency=Latency(50, 0.5, 1000, 1.0, [LatencyPath("touchpoint", 10, 1, 2, 3)],
                        "live (event time = wall clock)"),
    )  # fmt: skip
    text = markdown(live)
    assert "Latency, live (event time = wall clock), at 50 events/s" in text
    assert "1.00x the wall clock" in text
    assert markdown(Report.from_json(json.loads(json.dumps(live.to_json())))) == text


def test_stored_inputs_count_each_input_once_across_rows_and_workers() -> None:
    def store(events: list[str], letters: list[tuple[str, int, int]]) -> StoredInputs:
        def query(sql: str) -> list[dict[str, Any]]:
            if "FROM touchpoints" in sql:
                return [{"event_id": event} for event in events]
            return [
                {"source_topic": t, "source_partition": p, "source_offset": o}
                for t, p, o in letters
            ]

        return StoredInputs.of(query)

    first = store(["a", "b", "c"], [("raw.web", 0, 7)])
    second = store(["c", "d"], [("raw.web", 0, 7), ("raw.ads", 1, 2)])
    assert len(first) == 4 and len(second) == 4
    assert len(first | second) == 6  # c and the web dead letter once
    assert first & second == StoredInputs(frozenset({"c"}), frozenset({("raw.web", 0, 7)}))
