"""`journeys replay FILE... --mapping MAP`: the command around `replay_files`.

Loads and checks every mapping and file before sending anything, creates the import and
dead-letter topics if the worker has not yet, draws a progress bar (rows, rate, ETA),
prints the first rejected rows as they happen and a summary at the end.

Exit status: 0 when the run completed (rejected rows are in the dead-letter topic, and a
warning says how many); 1 when it stopped early (too many rejected rows, interrupted),
Kafka refused rows, or `--strict` was given and any row was rejected.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.errors import ConfigError
from pipeline.files.mapping import load_mapping
from pipeline.files.replayer import (
    Rejection,
    ReplayOptions,
    ReplaySummary,
    Source,
    count_rows,
    replay_files,
)
from pipeline.files.sender import CountingSink, KafkaSink, Sink
from pipeline.ingest.normalize import normalizer_for
from pipeline.settings import Settings
from pipeline.topics import TopicNames

#: Rejected rows printed one by one; the rest are only counted in the summary.
SHOW_REJECTED = 20
#: Seconds between redraws of the progress bar.
_REDRAW = 0.1


def sources(files: list[Path], mappings: list[Path]) -> list[Source]:
    """Each file with its mapping: one mapping for all, or one per file."""
    if len(mappings) not in (1, len(files)):
        raise ConfigError(
            f"{len(files)} files and {len(mappings)} mappings: give --mapping once for all "
            "files, or once per file in the same order"
        )
    loaded = {path: load_mapping(path) for path in dict.fromkeys(mappings)}
    paired = mappings if len(mappings) == len(files) else mappings * len(files)
    return [Source(file, loaded[mapping]) for file, mapping in zip(files, paired, strict=True)]


class _Bar:
    """The rich progress bar (redrawn at most ten times a second) and the first rejected
    rows, printed above it."""

    def __init__(self, progress: Progress, task: TaskID, console: Console) -> None:
        self.progress, self.task, self.console = progress, task, console
        self.shown = 0
        self.done = self.pending = 0
        self.started = self.drawn = time.monotonic()

    def advance(self, rows: int) -> None:
        self.pending += rows
        now = time.monotonic()
        if now - self.drawn >= _REDRAW:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.done += self.pending
        rate = self.done / (now - self.started) if now > self.started else 0.0
        self.progress.update(self.task, advance=self.pending, rate=f"{rate:,.0f}/s")
        self.pending, self.drawn = 0, now

    def rejected(self, rejection: Rejection) -> None:
        self.shown += 1
        if self.shown <= SHOW_REJECTED:
            self.console.print(f"[yellow]rejected[/] {rejection.console()}", highlight=False)
        elif self.shown == SHOW_REJECTED + 1:
            self.console.print("[yellow]more rejected rows: counted in the summary[/]")


def run_replay(
    settings: Settings,
    files: list[Path],
    mappings: list[Path],
    *,
    bootstrap: str | None,
    speed: float | None = None,
    dry_run: bool = False,
    strict: bool = False,
    max_rejected: int | None = 100,
    sort_window: int = 10_000,
    show_progress: bool = True,
    wait: float | None = None,
    out: Console | None = None,
) -> int:
    """Replay `files`; returns the exit status. `bootstrap` None only with `dry_run`.
    With `wait` (seconds), then wait until every event sent is final in ClickHouse."""
    console = out or Console(highlight=False)
    replayed = sources(files, mappings)
    total = count_rows(replayed)
    names = TopicNames(settings.kafka.topic_prefix)
    topic = names.raw("import")
    sink: Sink
    if dry_run or bootstrap is None:
        sink = CountingSink()
    else:
        from pipeline.kafka_admin import ensure_topics

        # The worker's layout: a topic a producer auto-creates would break co-partitioning.
        ensure_topics(
            bootstrap,
            [topic, names.dead_letter],
            settings.kafka.partitions,
            settings.kafka.replication_factor,
        )
        sink = KafkaSink(bootstrap, topic, names.dead_letter)
    retention = timedelta(days=settings.clickhouse.retention_days)
    options = ReplayOptions(
        speed=speed,
        sort_window=sort_window,
        max_rejected=max_rejected,
        keep_after=datetime.now(UTC) - retention,
        refuse_expired=strict,
        remember_sent=wait is not None and not dry_run,
    )
    columns = (
        TextColumn("[bold]replay[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows  {task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        task = progress.add_task("replay", total=total or None, rate="")
        bar = _Bar(progress, task, console)
        summary = replay_files(
            replayed, sink, normalizer_for(settings), topic, options=options, progress=bar
        )
        bar.flush()
    print_summary(console, summary, dry_run=dry_run, topic=topic, dead_letter=names.dead_letter)
    if not summary.complete or (strict and summary.rejected):
        return 1
    if wait is not None and not dry_run:
        return wait_for_final(settings, summary.event_ids, wait, console, show_progress)
    return 0


def wait_for_final(
    settings: Settings, event_ids: set[str], timeout: float, console: Console, show: bool
) -> int:
    """`--wait`: 0 once every one of `event_ids` is final in ClickHouse, 1 at `timeout`."""
    from pipeline.files.waiting import wait_until_final
    from pipeline.query import asker

    columns = (TextColumn("[bold]final[/]"), BarColumn(), MofNCompleteColumn(),
               TextColumn("events stored in their sessions"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=not show) as progress:
        task = progress.add_task("final", total=len(event_ids))
        missing = wait_until_final(
            asker(settings), event_ids, timeout, told=lambda n: progress.update(task, completed=n)
        )
    if missing:
        console.print(
            f"[red]not final after {timeout:g} s:[/] {len(missing):,} of {len(event_ids):,} "
            f"events (e.g. {min(missing)}): is a worker running on these topics? Its event "
            "time moves past the last events only once its partitions are idle "
            "(JOURNEYS_SESSIONS_IDLE_AFTER, JOURNEYS_SESSIONS_IDLE_RATE; docs/replay.md)"
        )
        return 1
    console.print(f"all {len(event_ids):,} events sent are final in ClickHouse")
    return 0


def print_summary(
    console: Console, summary: ReplaySummary, *, dry_run: bool, topic: str, dead_letter: str
) -> None:
    """Rows read, sent and rejected (by reason), time span, elapsed and rate."""
    verb = "would send" if dry_run else f"sent to {topic}"
    console.print(
        f"{summary.files} file(s): read {summary.read:,} rows; {verb}: {summary.sent:,}; "
        f"rejected: {summary.rejected:,}; in {summary.elapsed:,.1f} s ({summary.rate:,.0f} rows/s)"
    )
    if summary.first_event is not None and summary.last_event is not None:
        console.print(f"event time: {_iso(summary.first_event)} .. {_iso(summary.last_event)}")
    if summary.out_of_order:
        console.print(
            f"[yellow]warning:[/] {summary.out_of_order:,} rows were older than rows already "
            "sent (beyond --sort-window): the pipeline treats them as late events"
        )
    if summary.expired:
        console.print(
            f"[yellow]warning:[/] {summary.expired:,} rows are older than ClickHouse keeps "
            "(CLICKHOUSE_RETENTION_DAYS): the pipeline takes them, but its tables drop them "
            "at once, so analysts will not see them (docs/replay.md; --strict rejects them)"
        )
    if summary.rejected:
        where = "" if dry_run else f" (sent to {dead_letter})"
        console.print(f"[yellow]warning:[/] {summary.rejected:,} rows rejected{where}:")
        for reason, count in summary.reasons.most_common():
            console.print(f"  {count:>8,}  {reason}")
    if summary.failed:
        console.print(f"[red]error:[/] Kafka refused {summary.failed:,} rows: {summary.failure}")
    if summary.stopped:
        console.print(f"[red]stopped:[/] {summary.stopped}")


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")
