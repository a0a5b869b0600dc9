"""The benchmark's results, and how they are shown: a rich table, JSON and markdown.

Usage:
    report = Report(meta=..., throughput=[...], latency=..., memory=..., scaling=[...])
    write(report, Path("var/bench"))        # latest.json and latest.md
    show(report, console)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.bench.profile import Profile, Share

#: The pipeline's row name in the throughput table; ratios are taken against it.
PIPELINE = "pipeline (1 worker)"


@dataclass(frozen=True)
class ProcessUse:
    """One process during a timed run."""

    name: str  # "worker", "worker-2", "broker", "consumer"
    cpu_percent: float  # of one core, over the timed window
    cpu_ms_per_1k_events: float  # CPU time it spent per thousand events
    peak_rss_mb: float
    # Share of its CPU in native threads (chdb's for a worker, RocksDB's for Quix).
    native_thread_share: float = 0.0


@dataclass(frozen=True)
class Throughput:
    """One consumer getting through the whole event set."""

    consumer: str
    what: str  # what it does per record
    events: int
    seconds: float  # first record processed .. last record processed (or stored)
    events_per_second: float
    startup_seconds: float  # process start .. first record processed
    processes: list[ProcessUse]


@dataclass(frozen=True)
class LatencyPath:
    """Latencies of one path, in milliseconds."""

    path: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    note: str = ""  # records left out of the samples, and why


@dataclass(frozen=True)
class Latency:
    offered_per_second: float  # the paced load
    share_of_max: float  # of the pipeline's measured throughput
    events: int
    event_time_speed: float  # event-time seconds per wall second of the paced traffic
    paths: list[LatencyPath]
    # What was sent, e.g. "live (event time = wall clock); ..."; "" in reports from before
    # live traffic (history compressed in event time, see event_time_speed).
    traffic: str = ""


@dataclass(frozen=True)
class Memory:
    """Worker RSS against customers in the engine's state, at half-way and at the end of
    the throughput run: the growth between the two is what more customers cost (start-up
    and warm-up are behind both points)."""

    customers_half: int
    rss_half_mb: float
    customers_end: int
    rss_end_mb: float
    mb_per_100k_customers: float  # (rss_end - rss_half) / (customers_end - customers_half)
    # The engine's state as its changelog holds it: latest value per customer key
    # (`<p>|c|<customer id>`; identifiers, windows and the clock left out).
    state_customers: int = 0
    state_mb_per_100k_customers: float = 0.0
    state_bytes_per_customer: float = 0.0  # key + latest value


@dataclass(frozen=True)
class Scale:
    workers: int
    events_per_second: float  # 0 when the run did not complete
    speedup: float  # over one worker
    cpu_percent_per_worker: list[float]
    stored: int  # inputs stored when the run ended (all of them unless it stalled)
    completed: bool = True
    stored_per_worker: list[int] = field(default_factory=list)  # inputs each worker stored
    stored_by_both: int = 0  # inputs both workers stored (read again after a handover)


@dataclass
class Report:
    meta: dict[str, Any]
    throughput: list[Throughput] = field(default_factory=list)
    latency: Latency | None = None
    memory: Memory | None = None
    scaling: list[Scale] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # phases that failed, and why
    profile: Profile | None = None  # py-spy of the 1-worker run (--profile)
    # Records in each Kafka topic the 1-worker run wrote, per raw event (raw topics left
    # out; changelog topics named "<table>-changelog").
    kafka_records_per_event: dict[str, float] = field(default_factory=dict)
    # Records Faust consumed on the hot path per raw event: (raw + journeys.internal) / raw.
    consumed_per_event: float | None = None
    # Records the worker produced per raw event: journeys.internal, table changelogs, dead
    # letters, window reports and alerts.
    written_per_event: float | None = None
    # Seconds after the last touchpoint row at which the records were counted.
    counted_after_seconds: float | None = None
    # Records the idle worker went on writing per second after that (per-flush records:
    # partition clocks, window reports), not included in the figures per event.
    idle_written_per_second: float | None = None

    def pipeline(self) -> Throughput | None:
        return next((t for t in self.throughput if t.consumer == PIPELINE), None)

    def ratios(self) -> dict[str, float]:
        """Pipeline throughput / each consumer's throughput (1.0 for the pipeline)."""
        mine = self.pipeline()
        if mine is None:
            return {}
        return {
            t.consumer: mine.events_per_second / t.events_per_second
            for t in self.throughput
            if t.events_per_second > 0
        }

    def cpu_ratios(self) -> dict[str, float]:
        """Pipeline CPU per event (all its Python processes) / each consumer's."""
        mine = self.pipeline()
        if mine is None:
            return {}
        own = _consumer_cpu(mine)
        return {t.consumer: own / _consumer_cpu(t) for t in self.throughput if _consumer_cpu(t) > 0}

    def rss_ratios(self) -> dict[str, float]:
        """Pipeline peak RSS (its own processes) / each consumer's."""
        mine = self.pipeline()
        if mine is None:
            return {}
        own = _consumer_rss(mine)
        return {t.consumer: own / _consumer_rss(t) for t in self.throughput if _consumer_rss(t) > 0}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """A report read back from its JSON (to render it again)."""
        profile = data.get("profile")
        return cls(
            meta=data["meta"],
            throughput=[
                Throughput(**{**t, "processes": [ProcessUse(**p) for p in t["processes"]]})
                for t in data["throughput"]
            ],
            latency=(
                Latency(**{**data["latency"],
                           "paths": [LatencyPath(**p) for p in data["latency"]["paths"]]})
                if data.get("latency") else None
            ),
            memory=Memory(**data["memory"]) if data.get("memory") else None,
            scaling=[Scale(**s) for s in data.get("scaling", [])],
            problems=list(data.get("problems", [])),
            profile=(
                Profile(profile["samples"], *(
                    [Share(**s) for s in profile[part]]
                    for part in ("by_library", "by_own_function", "by_leaf")
                ))
                if profile else None
            ),
            kafka_records_per_event=dict(data.get("kafka_records_per_event", {})),
            consumed_per_event=data.get("consumed_per_event"),
            written_per_event=data.get("written_per_event"),
            counted_after_seconds=data.get("counted_after_seconds"),
            idle_written_per_second=data.get("idle_written_per_second"),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratios"] = {
            "pipeline_throughput_over": self.ratios(),
            "pipeline_cpu_per_event_over": self.cpu_ratios(),
            "pipeline_peak_rss_over": self.rss_ratios(),
        }
        return data


def _consumer_cpu(t: Throughput) -> float:
    """CPU ms per 1k events of the consumer's own processes (the broker left out)."""
    return sum(p.cpu_ms_per_1k_events for p in t.processes if p.name != "broker")


def _consumer_rss(t: Throughput) -> float:
    return sum(p.peak_rss_mb for p in t.processes if p.name != "broker")


def _f(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _per(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(value: float | None) -> str:
    """Three significant digits: 0.000266, 0.0374, 1, 37.4, 1,150."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table of the report."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    ratios, cpu_ratios, rss_ratios = report.ratios(), report.cpu_ratios(), report.rss_ratios()
    rows = []
    for t in report.throughput:
        own = [p for p in t.processes if p.name != "broker"]
        broker = next((p for p in t.processes if p.name == "broker"), None)
        rows.append([
            t.consumer, _f(t.events_per_second), _ratio(ratios.get(t.consumer)),
            " + ".join(_f(p.cpu_percent) for p in own),
            " + ".join(_f(100 * p.native_thread_share) for p in own),
            _f(_consumer_cpu(t)), _ratio(cpu_ratios.get(t.consumer)),
            _f(broker.cpu_percent) if broker else "-",
            " + ".join(_f(p.peak_rss_mb) for p in own), _ratio(rss_ratios.get(t.consumer)),
            _f(t.startup_seconds, 1),
        ])  # fmt: skip
    out.append((
        f"End-to-end throughput, {_f(report.meta['events'])} events (pipeline: raw topics to "
        "rows in ClickHouse; baselines: raw topics to processed)",
        ["consumer", "events/s", "pipeline ÷ this", "CPU % (per process)",
         "of it in native threads %", "CPU ms / 1k events", "pipeline ÷ this (CPU)",
         "broker CPU %", "peak RSS MB", "pipeline ÷ this (RSS)", "start s"],
        rows,
    ))  # fmt: skip
    if report.latency is not None:
        lat = report.latency
        offered = (
            f"{_f(lat.offered_per_second)} events/s offered ({lat.share_of_max:.0%} of the "
            f"measured maximum), {_f(lat.events)} events"
        )
        out.append((
            f"Latency, {lat.traffic}, at {offered}, event time at "
            f"{lat.event_time_speed:.2f}x the wall clock" if lat.traffic else
            f"Latency at {offered}, event time at {_f(lat.event_time_speed)}x the wall clock",
            ["from producing a raw record to", "samples", "p50 ms", "p95 ms", "p99 ms",
             "left out"],
            [[p.path, _f(p.samples), _f(p.p50_ms), _f(p.p95_ms), _f(p.p99_ms), p.note or "-"]
             for p in lat.paths],
        ))  # fmt: skip
    if report.memory is not None:
        mem = report.memory
        out.append((
            "Memory (worker RSS against customers in state, half-way and at the end)",
            ["customers half-way", "RSS MB", "customers at the end", "RSS MB",
             "RSS MB per 100k more customers", "customers in the changelog",
             "state bytes per customer (changelog)",
             "state MB per 100k customers (changelog)"],
            [[_f(mem.customers_half), _f(mem.rss_half_mb), _f(mem.customers_end),
              _f(mem.rss_end_mb), _f(mem.mb_per_100k_customers, 1),
              _f(mem.state_customers), _f(mem.state_bytes_per_customer),
              _f(mem.state_mb_per_100k_customers, 1)]],
        ))  # fmt: skip
    if report.scaling:
        out.append((
            "Scaling (same events, same topics layout, one consumer group"
            + _scaling_conditions(report.meta) + ")",
            ["workers", "events/s", "speedup", "CPU % per worker", "inputs stored per worker",
             "stored by both"],
            [[str(s.workers),
              _f(s.events_per_second) if s.completed else f"stalled at {_f(s.stored)}",
              f"{s.speedup:.2f}" if s.completed else "-",
              " + ".join(_f(c) for c in s.cpu_percent_per_worker) or "-",
              " + ".join(_f(n) for n in s.stored_per_worker) or "-",
              _f(s.stored_by_both) if s.workers > 1 and s.completed else "-"]
             for s in report.scaling],
        ))  # fmt: skip
    if report.consumed_per_event is not None or report.written_per_event is not None:
        when = []
        if report.counted_after_seconds is not None:
            when.append(f"counted {report.counted_after_seconds:.1f} s after its last row")
        if report.idle_written_per_second is not None:
            when.append(
                f"then, idle, the worker wrote {report.idle_written_per_second:.1f} records/s"
            )
        out.append((
            "Kafka records per raw event, 1-worker run" + (f" ({'; '.join(when)})" if when else ""),
            ["records", "per raw event"],
            [["consumed by Faust (raw topics + journeys.internal)",
              _per(report.consumed_per_event)],
             ["written by the worker (journeys.internal, changelogs, dead letters, "
              "window reports, alerts)", _per(report.written_per_event)]],
        ))  # fmt: skip
    if report.kafka_records_per_event:
        per = report.kafka_records_per_event
        out.append((
            "Kafka records per raw event by topic (1-worker run, raw topics left out)",
            ["topic", "records per raw event"],
            [[topic, f"{count:.3f}"] for topic, count in per.items()],
        ))  # fmt: skip
    if report.profile is not None:
        prof = report.profile
        for what, shares in (
            ("library of the innermost frame", prof.by_library),
            ("innermost own function (pipeline/, schemas/)", prof.by_own_function),
            ("innermost frame", prof.by_leaf),
        ):
            out.append((
                f"Profile of the worker (1-worker run, py-spy, {_f(prof.samples)} samples): "
                f"by {what}",
                ["where", "share of samples"],
                [[share.name, f"{share.percent:.1f} %"] for share in shares],
            ))  # fmt: skip
    return out


def markdown(report: Report) -> str:
    meta = report.meta
    lines = [
        f"Measured {meta['measured_at']} on {meta['cpus']} CPUs "
        f"(load average {meta['load_average']} before the run), commit {meta['commit']}; "
        f"{_f(meta['events'])} events, seed {meta['seed']}, {meta['partitions']} partitions"
        f"{', --quick' if meta.get('quick') else ''}.",
        "",
    ]
    if meta.get("note"):
        lines += [f"> {meta['note']}", ""]
    if report.problems:
        lines += ["Problems in this run:", ""] + [f"- {p}" for p in report.problems] + [""]
    lines += ["What each consumer does per record:", ""]
    lines += [f"- **{t.consumer}**: {t.what}" for t in report.throughput]
    lines.append("")
    for title, header, rows in tables(report):
        lines += [f"**{title}**", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(" --- " for _ in header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def show(report: Report, console: Console) -> None:
    for title, header, rows in tables(report):
        table = Table(*header, title=title, title_justify="left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for problem in report.problems:
        console.print(f"[red]problem:[/] {problem}")
    if report.meta.get("note"):
        console.print(f"[yellow]{report.meta['note']}[/]")


def write(report: Report, directory: Path) -> tuple[Path, Path]:
    """latest.json and latest.md in `directory`; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    as_json, as_md = directory / "latest.json", directory / "latest.md"
    as_json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    as_md.write_text(markdown(report))
    return as_json, as_md


def _scaling_conditions(meta: dict[str, Any]) -> str:
    """How the 2-worker run was set up (absent from reports made before these options)."""
    parts = []
    if meta.get("join_at"):
        parts.append(f"the second worker joins at {meta['join_at']:.0%} of the records")
    if meta.get("busy"):
        parts.append(f"{meta['busy']} busy processes spin meanwhile")
    return "; " + ", ".join(parts) if parts else ""
