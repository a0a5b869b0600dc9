"""The benchmark's phases, in order, on one broker and one fixed set of events.

    1. generate the events once; produce them to prefix A (and B for scaling) up front
    2. baselines on prefix A, one at a time, each with its own consumer group
    3. the pipeline, one worker, on prefix A: throughput, then memory
    4. a new worker on its own prefix: latency of live traffic (event time = wall clock)
       at a share of the measured throughput
    5. the pipeline, two workers (one group), on prefix B: scaling

Usage:
    report = run_bench(BenchOptions(events=50_000), console)
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka.errors import KafkaError
from rich.console import Console

from pipeline.bench.baselines.progress import Finish
from pipeline.bench.latency import (
    FirstRows,
    LeadIn,
    percentiles,
    sent_by_event,
    session_ids,
    session_latencies,
    touchpoint_latencies,
)
from pipeline.bench.processes import REPO, Child, Sampler, busy_cores
from pipeline.bench.profile import Profiler, summarise
from pipeline.bench.report import (
    PIPELINE,
    Latency,
    LatencyPath,
    Memory,
    ProcessUse,
    Report,
    Scale,
    Throughput,
)
from pipeline.bench.traffic import (
    Sent,
    bench_events,
    group_lag,
    latest_values,
    live_events,
    produce_all,
    produce_live,
    raw_topics,
    records_per_topic,
)
from pipeline.bench.workers import IDLE_AFTER, BenchError, Fleet, Stalled, Worker
from pipeline.localstack.kafka import LocalKafka
from pipeline.settings import Settings
from pipeline.subprocesses import clean_env
from pipeline.topics import TopicNames

MB = 1024 * 1024

#: Seconds after the throughput run's last row at which its Kafka records are counted: a
#: flush writes its changelog records after its rows (flushes run every second).
COUNT_AFTER = 2.0
#: Seconds of the idle worker after that count, to tell its per-flush writes (partition
#: clocks, window reports) from the per-event ones.
IDLE_SECONDS = 5.0

#: What the latency phase sends, as its report says.
LIVE = "live (event time = wall clock)"

#: Seconds of untimed live traffic before the timed records: at least the first, at most
#: the second. The timed records start once the new worker has stored every record sent
#: before them (`LeadIn`): it has joined its consumer group, and the first records' costs
#: (partition assignment, first flushes) are behind it. The traffic never pauses: a
#: silence of the workers' idle_after would let the idle clock run the watermark ahead of
#: the wall clock, after which live records count as late.
LEAD_IN_SECONDS = (2.0, 60.0)

#: Seconds of untimed live traffic after the timed records. It no longer moves the
#: watermark past them: with event time = wall clock that takes the allowed lateness
#: (5 minutes), and live touchpoints do not wait for it (their provisional row is written at
#: arrival). It keeps the load on while the last timed records are in flight, and gives
#: their session rows this long (plus the workers' idle_after) to appear before the cut-off.
TRAILER_SECONDS = 3.0

CONTENDED = (
    "Measured with other work on the machine unless stated otherwise: compare ratios and "
    "CPU per event rather than absolute rates, and re-measure on a quiet machine."
)


@dataclass(frozen=True)
class BenchOptions:
    """What to run."""

    events: int = 50_000
    seed: int = 42
    partitions: int = 8
    latency_seconds: float = 20.0  # of paced traffic
    latency_share: float = 0.5  # of the measured maximum
    baselines: tuple[str, ...] = ("aiokafka", "faust", "quix")
    scaling: bool = True
    quick: bool = False
    timeout: float = 900.0  # per phase
    stall: float = 60.0  # a pipeline run that stores nothing new this long has stalled
    out_dir: Path = Path("var/bench")
    profile: bool = False  # py-spy the 1-worker run (costs it a little CPU)
    worker_env: tuple[tuple[str, str], ...] = ()  # settings for the workers (A/B runs)
    join_at: float = 0.25  # share of the records stored when the second worker joins (0: at start)
    busy: int = 0  # processes spinning on a core each during the 2-worker run


#: name -> (module, what it does per record)
BASELINES: dict[str, tuple[str, str]] = {
    "aiokafka": ("aiokafka_decode", "decode JSON"),
    "faust": ("faust_decode", "decode JSON in one agent"),
    "quix": ("quix_peer", "normalise, sessionize, count per stage (Quix state)"),
}


@contextlib.contextmanager
def broker(settings: Settings, workdir: Path, console: Console) -> Iterator[tuple[str, int | None]]:
    """(bootstrap servers, broker pid if it is ours): KAFKA_BOOTSTRAP_SERVERS, else a local
    broker of the run's own, stopped afterwards."""
    if settings.kafka.bootstrap_servers is not None:
        console.print(f"Kafka: {settings.kafka.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)")
        yield settings.kafka.bootstrap_servers, None
        return
    console.print("Starting a local Kafka broker for the run...")
    local = settings.local
    with LocalKafka(workdir / "kafka", local.cache_dir, local.kafka_heap) as kafka:
        yield kafka.bootstrap_servers, kafka.state().pid


class Bench:
    """One run: its broker, events, working directory and process samples."""

    def __init__(
        self, options: BenchOptions, bootstrap: str, broker_pid: int | None, workdir: Path,
        console: Console,
    ) -> None:  # fmt: skip
        self.options = options
        self.bootstrap = bootstrap
        self.broker_pid = broker_pid
        self.workdir = workdir
        self.console = console
        self.run_id = uuid.uuid4().hex[:8]
        self.sampler = Sampler().start()
        if broker_pid is not None:
            self.sampler.watch("broker", broker_pid)

    def say(self, message: str) -> None:
        self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")

    def names(self, run: str) -> TopicNames:
        return TopicNames(f"bench{self.run_id}-{run}.")

    def group(self, run: str) -> str:
        return f"bench{self.run_id}-{run}"

    # ── measurements ──

    def uses(
        self, names: dict[str, str], begin: float, end: float, events: int
    ) -> list[ProcessUse]:
        """CPU and memory of sampled processes (sampler name -> shown name) over a window."""
        uses = []
        for key, shown in names.items():
            cpu = self.sampler.cpu_percent(key, begin, end)
            per_1k = cpu / 100 * (end - begin) / max(events, 1) * 1000 * 1000
            native = self.sampler.native_share(key, begin, end)
            uses.append(ProcessUse(shown, cpu, per_1k, self.sampler.peak_rss(key) / MB, native))
        return uses

    def baseline(self, name: str, topics: list[str], expected: int) -> Throughput:
        module, what = BASELINES[name]
        result = self.workdir / f"{name}.json"
        args = [
            "-m", f"pipeline.bench.baselines.{module}", "--bootstrap", self.bootstrap,
            "--topics", ",".join(topics), "--group", self.group(name),
            "--expected", str(expected), "--result", str(result),
            "--partitions", str(self.options.partitions), "--workdir", str(self.workdir / name),
        ]  # fmt: skip
        child = Child(args, clean_env(), self.workdir / f"{name}.log")
        started = time.time()
        child.start()
        key = f"baseline-{name}"
        self.sampler.watch(key, child.pid)
        try:
            _wait(result.exists, child, self.options.timeout, f"the {name} baseline")
            self.sampler.sample()
            finish = Finish.read(result)
        finally:
            child.stop()
            self.sampler.forget(key)
        seconds = max(finish.last_at - finish.first_at, 1e-6)
        watched = {key: "consumer", **({"broker": "broker"} if self.broker_pid else {})}
        return Throughput(
            consumer=name, what=what, events=finish.processed, seconds=seconds,
            events_per_second=finish.processed / seconds,
            startup_seconds=finish.first_at - started,
            processes=self.uses(watched, finish.first_at, finish.last_at, finish.processed),
        )  # fmt: skip

    @property
    def worker_env(self) -> dict[str, str]:
        return dict(self.options.worker_env)

    def pipeline(
        self, run: str, workers: int, expected: int, half: list[tuple[int, int]] | None = None,
        join_at: float = 0.0,
    ) -> tuple[Throughput, Fleet, dict[str, str]]:  # fmt: skip
        """Start `workers` workers on prefix `run` and time them through `expected` records;
        the fleet is left running (the caller stops it). `half` receives (customers, RSS of
        the first worker) once half the records are stored. With `join_at`, one worker
        starts and the others join once that share of the records is stored."""
        started = time.time()
        fleet = Fleet.start(
            self.bootstrap, prefix=self.names(run).prefix, group=self.group(run),
            count=1 if join_at else workers, partitions=self.options.partitions,
            workdir=self.workdir / run, extra_env=dict(self.options.worker_env),
        )  # fmt: skip
        watched: dict[str, str] = {}

        def watch(index: int, worker: Worker) -> None:
            key = f"{run}-worker-{index}"
            self.sampler.watch(key, worker.child.pid)
            watched[key] = "worker" if workers == 1 else f"worker-{index + 1}"

        for index, worker in enumerate(fleet.workers):
            watch(index, worker)
        profiler: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if self.options.profile and run == "a":
            profiler = Profiler(fleet.workers[0].child.pid, self.workdir / "worker.pyspy")
        try:
            fleet.wait_ready(timeout=180)
            first_key = next(iter(watched))

            def halfway(done: int) -> None:
                if half is not None and not half and done >= expected // 2:
                    self.sampler.sample()
                    half.append((fleet.customers(), self.sampler.rss(first_key)))
                while len(fleet.workers) < workers and done >= expected * join_at:
                    self.say(f"  worker {len(fleet.workers) + 1} joins at {done:,} records")
                    watch(len(fleet.workers), fleet.add())

            with profiler:
                fleet.wait_processed(
                    expected,
                    timeout=self.options.timeout,
                    on_poll=halfway,
                    stall=self.options.stall,
                )
            self.sampler.sample()
            first, last = fleet.window()
        except BaseException:
            fleet.stop()
            raise
        seconds = max(last - first, 1e-6)
        if self.broker_pid:
            watched["broker"] = "broker"
        return (
            Throughput(
                consumer=PIPELINE if workers == 1 else f"pipeline ({workers} workers)",
                what="normalise, resolve, sessionize, stage, count, insert into ClickHouse",
                events=expected, seconds=seconds, events_per_second=expected / seconds,
                startup_seconds=first - started,
                processes=self.uses(watched, first, last, expected),
            ),
            fleet,
            watched,
        )  # fmt: skip

    def memory(self, fleet: Fleet, key: str, half: tuple[int, int]) -> Memory:
        """Worker RSS growth from half-way to the end, per 100,000 more customers."""
        customers_half, rss_half = half
        customers_end, rss_end = fleet.customers(), self.sampler.rss(key)
        added = customers_end - customers_half
        per = (rss_end - rss_half) / MB / added * 100_000 if added > 0 else 0.0
        # Keys are the table's JSON strings, "<partition>|c|<customer id>" for customers.
        keys, size = latest_values(
            self.bootstrap, f"{self.group('a')}-state-changelog", contains=b"|c|"
        )
        state = size / MB / keys * 100_000 if keys else 0.0
        return Memory(
            customers_half, rss_half / MB, customers_end, rss_end / MB, per, keys, state,
            size / keys if keys else 0.0,
        )  # fmt: skip

    def latency(self, *, rate: float, timed: int, trailer: int) -> Latency:
        """Live traffic into a new worker on its own prefix: every record is sent when the
        wall clock reaches its delivery time; `timed` records are timed once the pipeline
        has caught up with the lead-in, then `trailer` more are sent.

        Not the throughput run's worker: its event time stands in January 2026, and the
        first live record would move it on by months at once. The worker then closes every
        window in between (tens of seconds of work before anything else), and the idle
        clock can carry a partition's watermark ahead of the wall clock meanwhile, after
        which live records count as late. A live pipeline never makes that jump.

        A session row that comes out only once the traffic has stopped is not a live
        latency: the workers' idle clock (`IDLE_AFTER` s of silence, then event time at
        600x) releases everything the watermark held. Session rows inserted after the last
        record was sent plus that idle time are counted as missing, not as samples."""
        names, group = self.names("live"), self.group("live")
        raw_topics(names, self.options.partitions, self.bootstrap)
        fleet = Fleet.start(
            self.bootstrap, prefix=names.prefix, group=group, count=1,
            partitions=self.options.partitions, workdir=self.workdir / "live",
            extra_env=dict(self.worker_env),
        )  # fmt: skip
        try:
            fleet.wait_ready(timeout=180)
            return self._live(fleet, names, rate=rate, timed=timed, trailer=trailer)
        finally:
            fleet.stop()

    def _live(
        self, fleet: Fleet, names: TopicNames, *, rate: float, timed: int, trailer: int
    ) -> Latency:
        already = fleet.processed()  # 0: a new worker
        least, most = (max(20, int(rate * seconds)) for seconds in LEAD_IN_SECONDS)
        # Other customers than the throughput run's (another seed), from about now on.
        events = live_events(most + timed + trailer, rate, self.options.seed + 1)
        self.say(f"latency: sending live events from {events[0].deliver_at:%H:%M:%S} UTC")
        worker = fleet.workers[0]
        began = time.time()
        # Session rows are replaced by later versions in background merges: watch them.
        watch = FirstRows(worker.query, "sessions", "session_id", since=began - 1).start()
        lead_in = LeadIn(
            fleet.processed, already, least=least, most=min(most, len(events) - timed - trailer),
            timed=timed, trailer=trailer,
        )  # fmt: skip
        try:
            with lead_in:
                sent = produce_live(self.bootstrap, names, events, lead_in.go_on)
            cutoff = sent[-1].sent_at + _idle_after(self.options)
            fleet.wait_processed(
                already + len(sent), timeout=self.options.timeout, stall=self.options.stall
            )
        finally:
            watch.stop()
        window = lead_in.timed()
        timed_sent = sent[window]
        timed_events = events[window.start : window.start + len(timed_sent)]
        self.say(
            f"latency: timed {len(timed_sent):,} records from "
            f"{timed_sent[0].sent_at - sent[0].sent_at:.1f} s into the traffic"
            + ("" if lead_in.caught_up else " (the pipeline had not caught up)")
        )
        rows = worker.query(
            "SELECT event_id, raw_topic, raw_partition, raw_offset, session_id, is_late, "
            "toUnixTimestamp64Milli(_inserted_at) / 1000 AS inserted FROM touchpoints "
            f"WHERE received_at >= fromUnixTimestamp64Milli({int(began * 1000) - 1000}) "
            "ORDER BY _inserted_at"  # a touchpoint's first row (provisional) first
        )
        stored = touchpoint_latencies(rows, timed_sent)
        first = _first_rows(watch, session_ids(rows, timed_sent), until=cutoff + 1)
        live = {key: at for key, at in first.items() if at <= cutoff}
        opened = session_latencies(rows, live, timed_sent)
        late = _late_first_rows(rows, timed_sent)
        paths = [
            _path(
                "touchpoint row queryable in ClickHouse",
                list(stored.values()),
                f"{late:,} of them first stored as late (behind the watermark)" if late else "",
            ),
            _path(
                "session row queryable in ClickHouse (first row of the touchpoint's session, "
                "while the traffic was live)",
                list(opened.seconds.values()),
                opened.note(),
            ),
        ]
        behind = [
            record.sent_at - event.event_time.timestamp()
            for record, event in zip(timed_sent, timed_events, strict=True)
        ]
        wall = max(timed_sent[-1].sent_at - timed_sent[0].sent_at, 1e-6)
        span = (timed_events[-1].event_time - timed_events[0].event_time).total_seconds()
        lag = percentiles(behind, (50, 99))
        start = timed_sent[0].sent_at - sent[0].sent_at
        caught = "" if lead_in.caught_up else ", before the pipeline had caught up"
        return Latency(
            offered_per_second=len(timed_sent) / wall, share_of_max=self.options.latency_share,
            events=len(timed_sent), event_time_speed=span / wall, paths=paths,
            traffic=f"{LIVE}; sent {lag.get('p50', 0):.1f} s (p50) and {lag.get('p99', 0):.0f} s "
            f"(p99) after the event time; timed from {start:.0f} s into it{caught}",
        )  # fmt: skip


def _late_first_rows(rows: list[dict[str, Any]], sent: list[Sent]) -> int:
    """Timed records whose first row was a late one (the watermark had passed them)."""
    sent_at = sent_by_event(rows, sent)
    first: dict[str, bool] = {}
    for row in rows:  # in insert order
        if str(row["event_id"]) in sent_at:
            first.setdefault(str(row["event_id"]), bool(int(row["is_late"])))
    return sum(first.values())


def _idle_after(options: BenchOptions) -> float:
    """Seconds of silence after which the workers' idle clock moves the watermark."""
    value = dict(options.worker_env).get("JOURNEYS_SESSIONS_IDLE_AFTER")
    try:
        return float(value) if value else IDLE_AFTER
    except ValueError:
        return IDLE_AFTER


def _first_rows(watch: FirstRows, wanted: set[str], until: float) -> dict[str, float]:
    """What `watch` saw, once it has seen every key in `wanted` or polled until `until`
    (time.time(); a flush inserts its session rows after its touchpoint rows)."""
    while not wanted <= set(watch.found) and time.time() < until:
        time.sleep(0.5)
        watch.poll()
    return watch.found


def _path(label: str, seconds: list[float], note: str = "") -> LatencyPath:
    points = {key: value * 1000 for key, value in percentiles(seconds).items()}
    return LatencyPath(
        label, len(seconds), points.get("p50", 0.0), points.get("p95", 0.0),
        points.get("p99", 0.0), note,
    )  # fmt: skip


def _wait(done: Callable[[], bool], child: Child, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if not child.running():
            raise BenchError(f"{what} exited early:\n{child.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not finish within {timeout:.0f} s")
        time.sleep(0.2)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
            check=False, timeout=10,
        )  # fmt: skip
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run_bench(options: BenchOptions, settings: Settings, console: Console) -> Report:
    """Every phase; the report (also written to `options.out_dir`)."""
    stamp = datetime.now(UTC)
    workdir = (options.out_dir / f"run-{stamp:%Y%m%dT%H%M%SZ}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    report = Report(meta={
        "measured_at": f"{stamp:%Y-%m-%d %H:%M} UTC", "cpus": os.cpu_count(),
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "python": platform.python_version(), "commit": _commit(), "events": options.events,
        "seed": options.seed, "partitions": options.partitions, "quick": options.quick,
        "workdir": str(workdir), "note": CONTENDED, "join_at": options.join_at,
        "busy": options.busy,
    })  # fmt: skip
    with broker(settings, workdir, console) as (bootstrap, broker_pid):
        bench = Bench(options, bootstrap, broker_pid, workdir, console)
        try:
            _phases(bench, report)
        finally:
            bench.sampler.stop()
    _tidy(workdir)
    return report


def _tidy(workdir: Path) -> None:
    """Keep a finished run's logs and results; drop its data (ClickHouse, Faust, Quix state,
    the broker's logs), which can be large."""
    for pattern in ("*/clickhouse-*", "*/faust-*", "*/state", "kafka/kraft-logs"):
        for path in workdir.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


def _phases(bench: Bench, report: Report) -> None:
    options = bench.options
    bench.say(f"generating {options.events:,} events (seed {options.seed})")
    events = bench_events(options.events, options.seed)
    single, double = bench.names("a"), bench.names("b")
    for names in (single, double) if options.scaling else (single,):
        seconds = produce_all(bench.bootstrap, names, events, options.partitions)
        bench.say(f"produced them to {names.prefix}touchpoints.raw.* in {seconds:.1f} s")
    topics = raw_topics(single, options.partitions, bench.bootstrap)

    for name in options.baselines:
        bench.say(f"baseline: {name}")
        try:
            report.throughput.append(bench.baseline(name, topics, len(events)))
        except BenchError as error:
            report.problems.append(f"baseline {name}: {error}")

    bench.say("pipeline: 1 worker")
    half: list[tuple[int, int]] = []
    one, fleet, watched = bench.pipeline("a", 1, len(events), half)
    report.throughput.insert(0, one)
    _records_per_event(bench, report, single, len(events))
    if options.profile:
        report.profile = summarise(bench.workdir / "worker.pyspy")
        if report.profile is None:
            report.problems.append("--profile: py-spy recorded nothing (see worker.log)")
    try:
        if half:
            report.memory = bench.memory(fleet, next(iter(watched)), half[0])
    finally:
        fleet.stop()
    rate = max(1.0, options.latency_share * one.events_per_second)
    count = max(50, int(rate * options.latency_seconds))
    trailer = max(20, int(rate * TRAILER_SECONDS))
    bench.say(
        f"latency, {LIVE}: {count:,} events at {rate:,.0f}/s on a new worker "
        f"(after a lead-in, then {trailer:,} untimed)"
    )
    try:
        report.latency = bench.latency(rate=rate, timed=count, trailer=trailer)
    except BenchError as error:
        report.problems.append(f"latency: {error}")
    if options.scaling:
        _scaling(bench, report, one, len(events))


def _records_per_event(bench: Bench, report: Report, names: TopicNames, events: int) -> None:
    """Records per raw event in the run's topics: consumed by the hot path (raw topics and
    journeys.internal), written by the worker, and per topic; then what the idle worker
    goes on writing per second."""
    group = f"{bench.group('a')}-"
    raw = set(names.all_raw())
    own = {names.internal, names.dead_letter, names.window_reports, names.alerts}

    def written(counts: dict[str, int]) -> int:
        return sum(
            count
            for topic, count in counts.items()
            if topic in own or (topic.startswith(group) and topic.endswith("-changelog"))
        )

    time.sleep(COUNT_AFTER)
    counts = records_per_topic(bench.bootstrap, (names.prefix, group))
    began = time.monotonic()
    time.sleep(IDLE_SECONDS)
    later = records_per_topic(bench.bootstrap, (names.prefix, group))
    consumed = sum(counts.get(topic, 0) for topic in (*raw, names.internal))
    report.consumed_per_event = consumed / events
    report.written_per_event = written(counts) / events
    report.counted_after_seconds = COUNT_AFTER
    report.idle_written_per_second = (written(later) - written(counts)) / (time.monotonic() - began)
    report.kafka_records_per_event = {
        topic.removeprefix(names.prefix).removeprefix(group): count / events
        for topic, count in sorted(counts.items(), key=lambda item: -item[1])
        if topic not in raw and count
    }


def _scaling(bench: Bench, report: Report, one: Throughput, events: int) -> None:
    """2 workers in one group on their own copy of the events, against `one` worker."""
    options = bench.options
    bench.say(
        f"pipeline: 2 workers (the second joins at {options.join_at:.0%} of the records"
        + (f", {options.busy} busy processes)" if options.busy else ")")
    )
    report.scaling = [
        Scale(1, one.events_per_second, 1.0, _worker_cpu(one), events, stored_per_worker=[events])
    ]
    try:
        with busy_cores(options.busy, bench.workdir / "b"):
            two, fleet2, _ = bench.pipeline("b", 2, events, join_at=options.join_at)
    except Stalled as stalled:
        try:
            lag = group_lag(bench.bootstrap, bench.group("b"))
            behind = ", ".join(f"{t}: {n:,}" for t, n in sorted(lag.items())) or "none"
        except (KafkaError, OSError, KeyError) as error:  # a diagnosis, not a result
            behind = f"unknown ({type(error).__name__}: {error})"
        report.problems.append(f"2 workers: {stalled}; consumer group lag: {behind}")
        report.scaling.append(Scale(2, 0.0, 0.0, [], stalled.stored, completed=False))
        return
    stores = fleet2.stored()  # the second worker's share shows whether it joined in time
    fleet2.stop()
    report.throughput.insert(1, two)
    report.scaling.append(
        Scale(2, two.events_per_second, two.events_per_second / one.events_per_second,
              _worker_cpu(two), events, stored_per_worker=[len(store) for store in stores],
              stored_by_both=len(stores[0] & stores[1]) if len(stores) > 1 else 0)
    )  # fmt: skip


def _worker_cpu(run: Throughput) -> list[float]:
    return [p.cpu_percent for p in run.processes if p.name != "broker"]
