"""The `journeys` command.

Usage:
    journeys up [--demo]              local Kafka (unless configured) + migrations + worker
    journeys generate                 demo traffic to the raw topics (or --out DIR)
    journeys worker                   the Faust worker alone (needs KAFKA_BOOTSTRAP_SERVERS)
    journeys kafka start|stop|status  a local broker in the background
    journeys migrate                  apply ClickHouse migrations
    journeys settings                 every environment variable and its current value
    journeys query "SQL" [-p N=V]     read-only SQL for analysts (table, csv or json)
    journeys replay FILE... -m MAP    replay exported files (CSV, JSON Lines, Parquet)
    journeys bench [--quick]          throughput, latency, memory, scaling beside baselines
    journeys alerts test              a sample alert through the configured webhook
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shlex
import signal
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.errors import ConfigError, JourneysError
from pipeline.settings import Settings, load_settings, setting_values, unknown_variables

app = typer.Typer(
    help="Journeys: real-time customer-journey analytics (Kafka -> Faust -> ClickHouse).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="A local Apache Kafka broker (KRaft) for machines without Docker.")
app.add_typer(kafka_app, name="kafka")
dlq_app = typer.Typer(help="Dead letters: records the pipeline could not use, with the reason.")
app.add_typer(dlq_app, name="dlq")
alerts_app = typer.Typer(help="Drop-off alerts and their webhook (docs/alerting.md).")
app.add_typer(alerts_app, name="alerts")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _settings(**overrides: dict[str, object]) -> Settings:
    settings = load_settings(**overrides)
    for warning in unknown_variables(os.environ):
        err.print(f"[yellow]warning:[/] {warning}")
    return settings


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        out.print(f"journeys {version('journeys')}")
        raise typer.Exit


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Journeys: real-time customer-journey analytics (Kafka -> Faust -> ClickHouse)."""


def _setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python narrates every connection at INFO.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # Faust warns each time its producer buffer fills and is flushed: flow control at
    # work, not a fault.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)


@app.command()
def up(
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Also generate demo traffic (a week, 600x, then live)."),
    ] = False,
    summary_every: Annotated[
        float, typer.Option(min=0, help="Seconds between live summaries (0: none).")
    ] = 10,
) -> None:
    """Run the pipeline: a local Kafka broker unless KAFKA_BOOTSTRAP_SERVERS is set,
    ClickHouse migrations, the worker and, with --demo, demo traffic. Ctrl-C stops all."""
    from pipeline.localstack.kafka import LocalKafka

    if demo:
        # Demo time runs 600x faster than the wall clock: a raw partition quiet for a few
        # seconds is idle, or it would hold sessions open for hours of demo time.
        os.environ.setdefault("JOURNEYS_SESSIONS_IDLE_AFTER", "5")
        os.environ.setdefault("JOURNEYS_WORKER_LOG_LEVEL", "warning")  # the summary speaks
    settings = _settings()
    _setup_logging(settings.worker.log_level)
    if settings.kafka.bootstrap_servers is not None:
        out.print(f"Using Kafka at {settings.kafka.bootstrap_servers}")
        _run(settings, demo, summary_every)
        return
    out.print("Starting a local Kafka broker (first run downloads the jars once)...")
    local = settings.local
    with LocalKafka(local.kafka_dir, local.cache_dir, local.kafka_heap) as kafka:
        out.print(f"Kafka is up at [bold]{kafka.bootstrap_servers}[/] (data in {kafka.data_dir})")
        _run(_settings(kafka={"bootstrap_servers": kafka.bootstrap_servers}), demo, summary_every)
    out.print("Stopped the worker and the local broker.")


def _run(settings: Settings, demo: bool, summary_every: float) -> None:
    """The worker in this process; demo traffic in a child process while it runs."""
    from pipeline.generator.process import DemoTraffic, start_demo_traffic
    from pipeline.subprocesses import stop_process
    from pipeline.worker import run_worker

    _announce(settings)
    assert settings.kafka.bootstrap_servers is not None
    traffic = None
    if demo:
        shape = DemoTraffic()
        out.print(
            f"Demo traffic: {shape.customers_per_day:,.0f} new customers a day, the last "
            f"{shape.days:g} days replayed {shape.speed:g}x faster than real time, then live"
        )
        traffic = start_demo_traffic(settings.kafka.bootstrap_servers, shape)
    try:
        run_worker(settings, summary_every or None)
    finally:
        if traffic is not None:
            stop_process(traffic, timeout=10)
            out.print("Stopped the demo traffic.")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _announce(settings: Settings) -> None:
    web = settings.worker.web_url
    out.print(f"ClickHouse: {settings.clickhouse.target.describe()}")
    out.print(f"Worker web endpoint: {web} (queries: POST {web}/query/)")
    out.print(f"Journey map: {web}/map/")
    out.print('Ask it: journeys query "SELECT * FROM funnel_by_stage" (docs/analysts.md)')


def _bootstrap(settings: Settings) -> str:
    """KAFKA_BOOTSTRAP_SERVERS, else the broker of `journeys kafka start`."""
    from pipeline.localstack.kafka import recorded_broker

    if settings.kafka.bootstrap_servers is not None:
        return settings.kafka.bootstrap_servers
    local = recorded_broker(settings.local.kafka_dir)
    if local is None:
        raise ConfigError(
            "KAFKA_BOOTSTRAP_SERVERS is not set and no local broker runs "
            "(`journeys kafka start` starts one)"
        )
    return local.bootstrap_servers


@alerts_app.command("test")
def alerts_test() -> None:
    """Send a sample alert through the configured webhook, as the worker would."""
    import asyncio

    from pipeline.metrics.webhook import AlertLinks, WebhookSender, sample_alert

    alerts = _settings().alerts
    if alerts.webhook_url is None:
        raise ConfigError("JOURNEYS_ALERTS_WEBHOOK_URL is not set: there is no webhook to test")
    sender = WebhookSender(
        alerts.webhook_url.get_secret_value(),
        alerts.webhook_format,
        alerts.webhook_timeout,
        attempts=1,
        links=AlertLinks(alerts.generator_url, alerts.runbook_url),
        resend_interval=alerts.resend_interval,
    )
    alert = sample_alert(datetime.now(UTC))
    if not asyncio.run(sender.deliver_once(alert)):
        raise JourneysError(
            f"the webhook refused or did not answer ({alerts.webhook_format} format; "
            "the reason is logged above)"
        )
    out.print(f"sent a sample {alerts.webhook_format} alert ({alert.alert_id}); check it arrived")


@dlq_app.command("replay")
def dlq_replay(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; send nothing.")] = False,
    fixes: Annotated[
        Path | None,
        typer.Option(help="JSON Lines of corrected payloads (see pipeline/ingest/replay.py)."),
    ] = None,
    max_replays: Annotated[
        int, typer.Option(min=1, help="Give up on records replayed this often already.")
    ] = 3,
) -> None:
    """Send dead letters back through their source topics (each at most once)."""
    from pipeline.ingest.replay import load_fixes, replay_dead_letters, replay_group
    from pipeline.topics import TopicNames

    settings = _settings()
    summary = replay_dead_letters(
        _bootstrap(settings),
        TopicNames(settings.kafka.topic_prefix).dead_letter,
        replay_group(settings.kafka.consumer_group),
        dry_run=dry_run,
        max_replays=max_replays,
        fixes=load_fixes(fixes) if fixes else None,
    )
    verb = "would replay" if dry_run else "replayed"
    out.print(
        f"read {summary.read} dead letters; {verb} {summary.replayed} "
        f"({summary.corrected} corrected); gave up on {summary.gave_up} "
        f"(replayed {max_replays} times already); {summary.not_replayable} without a source"
    )
    for name, count in sorted(summary.by_topic.items()):
        out.print(f"  {name}: {count}")


@app.command()
def replay(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, JSON Lines or Parquet files (.gz too).")
    ],
    *,
    mapping: Annotated[
        list[Path],
        typer.Option(
            "--mapping",
            "-m",
            help="Mapping file (docs/replay.md): once for all files, or "
            "once per file in the same order.",
        ),
    ],
    speed: Annotated[
        float | None,
        typer.Option(
            min=0.000001,
            help="Replay N times faster than the events happened (default: as fast as possible).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Map and check every row; send nothing.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help=(
                "Reject rows older than ClickHouse keeps (CLICKHOUSE_RETENTION_DAYS), and "
                "exit with status 1 if any row was rejected."
            ),
        ),
    ] = False,
    max_rejected: Annotated[
        int, typer.Option(min=0, help="Stop once more rows than this were rejected.")
    ] = 100,
    sort_window: Annotated[
        int, typer.Option(min=1, help="Rows held back per file to sort by event time.")
    ] = 10_000,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")
    ] = True,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Then wait until every event sent is final in ClickHouse (placed in its "
            "session), so that a script can read right after; exit status 1 at --wait-timeout.",
        ),
    ] = False,
    wait_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds --wait waits at most.")
    ] = 1800,
) -> None:
    """Replay exported files through the pipeline, keeping each event's own time."""
    from pipeline.files.command import run_replay

    settings = _settings()
    code = run_replay(
        settings,
        files,
        mapping,
        speed=speed,
        dry_run=dry_run,
        strict=strict,
        max_rejected=max_rejected,
        sort_window=sort_window,
        show_progress=progress,
        wait=wait_timeout if wait else None,
        bootstrap=None if dry_run else _bootstrap(settings),
        out=out,
    )
    raise typer.Exit(code)


@app.command()
def forget(
    identifiers: Annotated[
        list[str],
        typer.Argument(
            help="KIND:VALUE, KIND one of device, anon, user, email, phone, loyalty "
            "(e.g. email:ann@example.com)."
        ),
    ],
    timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds each step may wait for the workers (0: only ask them to forget, "
            "and leave the topics as they are).",
        ),
    ] = 300,
) -> None:
    """Forget customers: every customer these identifiers name (and everything linked to
    them) leaves every ClickHouse table, the workers' state and the pipeline's topics."""
    from pipeline.forget import run_forget

    settings = _settings()
    code = run_forget(settings, identifiers, _bootstrap(settings), timeout=timeout or None, out=out)
    raise typer.Exit(code)


@app.command()
def generate(
    seed: Annotated[int, typer.Option(help="Same seed, same events.")] = 42,
    customers_per_day: Annotated[float, typer.Option(min=0, help="New customers a day.")] = 500,
    days: Annotated[float, typer.Option(min=0, help="How much traffic (event time).")] = 3,
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
            help="Event time of the first arrival (UTC when no offset); default: DAYS ago.",
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Do not stop: catch up with now, then go on live.")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=0, help="Event time per wall-clock time (0: as fast as possible).")
    ] = 0,
    rate: Annotated[float, typer.Option(min=0, help="At most this many events/s (0: no cap).")] = 0,
    bots: Annotated[float, typer.Option(min=0, max=1, help="Share of crawler visitors.")] = 0.03,
    malformed: Annotated[
        float, typer.Option(min=0, max=1, help="Share of broken records.")
    ] = 0.002,
    late: Annotated[
        float, typer.Option(min=0, max=1, help="Share delivered out of order (within lateness).")
    ] = 0.02,
    very_late: Annotated[
        float, typer.Option(min=0, max=1, help="Share delivered after the allowed lateness.")
    ] = 0.002,
    incident: Annotated[
        list[str] | None,
        typer.Option(help="STAGE@START+HOURSh=DROPOFF, e.g. decision@2026-03-10T00:00Z+48h=0.7."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write <channel>.jsonl files here instead of to Kafka."),
    ] = None,
    max_events: Annotated[int | None, typer.Option(min=1, help="Stop after this many.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Demo traffic: customers with personas walking multi-channel journeys, as raw events."""
    from pipeline.generator.commands import run_generate
    from pipeline.generator.incidents import Incident
    from pipeline.generator.traffic import TrafficConfig, time_range

    begin, end = time_range(
        start.replace(tzinfo=start.tzinfo or UTC) if start else None, days, live, datetime.now(UTC)
    )
    config = TrafficConfig(
        start=begin,
        end=end,
        seed=seed,
        customers_per_day=customers_per_day,
        bots=bots,
        malformed=malformed,
        late=late,
        very_late=very_late,
        incidents=tuple(Incident.parse(spec) for spec in incident or ()),
    )
    settings = _settings()
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: flush what was produced
    try:
        summary = run_generate(
            config,
            out=out_dir,
            bootstrap=None if out_dir else _bootstrap(settings),
            settings=settings,
            speed=speed or None,
            rate=rate or None,
            limit=max_events,
            console=None if quiet else err,
        )
    except KeyboardInterrupt:
        err.print("generator stopped")
        return
    where = str(out_dir) if out_dir else "the raw topics"
    out.print(
        f"sent {summary.events} events to {where} ({summary.malformed} deliberately broken), "
        f"event time {summary.first:%Y-%m-%d %H:%M} .. {summary.last:%Y-%m-%d %H:%M} UTC"
        if summary.first and summary.last
        else "sent nothing: no customer arrived in that time"
    )


@app.command()
def worker() -> None:
    """Run the Faust worker against KAFKA_BOOTSTRAP_SERVERS (no local broker)."""
    from pipeline.worker import run_worker

    settings = _settings()
    if settings.kafka.bootstrap_servers is None:
        raise ConfigError(
            "KAFKA_BOOTSTRAP_SERVERS is not set: point it at a broker, or use `journeys up`, "
            "which starts a local one"
        )
    _setup_logging(settings.worker.log_level)
    _announce(settings)
    run_worker(settings)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def query(
    sql: Annotated[
        str | None,
        typer.Argument(help="One SELECT (or SHOW, DESCRIBE, ...) statement; - or none: stdin."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the statement from this file.")
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="NAME=VALUE for a {NAME:Type} placeholder (repeatable)."
        ),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="How to print rows.")] = Format.table,
) -> None:
    """Ask ClickHouse, read-only: through the running worker, or directly when none runs."""
    from pipeline.query import run_query, to_json

    if file is not None and sql not in (None, "-"):
        raise ConfigError("give the statement as an argument or with --file, not both")
    text = file.read_text() if file is not None else sql
    if text in (None, "-"):
        text = sys.stdin.read()
    answer = run_query(
        _settings(), text, dict(_name_value(item, "--param") for item in params or [])
    )
    if output is Format.json:
        for row in answer.rows:
            print(json.dumps(dict(zip(answer.columns, row, strict=True)), default=to_json))
    elif output is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(answer.columns)
        writer.writerows(answer.rows)
    else:
        table = Table(*answer.columns, caption=f"{len(answer.rows)} rows, from {answer.via}")
        for column in table.columns:
            column.overflow = "fold"  # a long value wraps, never cut with an ellipsis
        for row in answer.rows:
            table.add_row(*("NULL" if value is None else str(value) for value in row))
        out.print(table)


@app.command()
def bench(
    events: Annotated[int, typer.Option(min=100, help="Events in the fixed set.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Generator seed: same seed, same events.")] = 42,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of every topic.")] = 8,
    latency_seconds: Annotated[
        float, typer.Option(min=1, help="Seconds of paced traffic for the latency figures.")
    ] = 20.0,
    latency_share: Annotated[
        float, typer.Option(min=0.01, max=1, help="Offered load, as a share of the maximum.")
    ] = 0.5,
    skip: Annotated[
        list[str] | None,
        typer.Option(help="Leave out a baseline (aiokafka, faust, quix) or 'scaling'."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A small run (2,000 events, 4 partitions, 5 s paced).")
    ] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Where latest.json/.md go.")] = Path(
        "var/bench"
    ),
    profile: Annotated[
        bool, typer.Option("--profile", help="Sample the 1-worker run with py-spy.")
    ] = False,
    worker_env: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE setting for the pipeline's workers (A/B runs)."),
    ] = None,
    join_at: Annotated[
        float,
        typer.Option(
            min=0,
            max=0.95,
            help="Scaling: the second worker joins once this share of the records is stored "
            "(0: both start together).",
        ),
    ] = 0.25,
    busy: Annotated[
        int,
        typer.Option(min=0, help="Scaling: processes that spin on a core each meanwhile."),
    ] = 0,
) -> None:
    """Benchmark the pipeline beside baselines: throughput, latency, memory, scaling.

    Starts a local broker unless KAFKA_BOOTSTRAP_SERVERS is set; writes the report to
    var/bench/latest.json and latest.md (see docs/performance.md).
    """
    from pipeline.bench.report import show, write
    from pipeline.bench.runner import BASELINES, BenchOptions, run_bench

    skipped = set(skip or ())
    unknown = skipped - {*BASELINES, "scaling"}
    if unknown:
        raise ConfigError(f"--skip: unknown {', '.join(sorted(unknown))}")
    options = BenchOptions(
        events=2_000 if quick else events,
        seed=seed,
        partitions=4 if quick else partitions,
        latency_seconds=5.0 if quick else latency_seconds,
        latency_share=latency_share,
        baselines=tuple(name for name in BASELINES if name not in skipped),
        scaling="scaling" not in skipped,
        quick=quick,
        stall=20.0 if quick else 60.0,
        profile=profile,
        out_dir=out_dir,
        worker_env=tuple(_name_value(item, "--worker-env") for item in worker_env or ()),
        join_at=join_at,
        busy=busy,
    )
    _setup_logging("warning")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # leader moves of brand-new topics
    report = run_bench(options, _settings(), err)
    show(report, out)
    as_json, as_md = write(report, out_dir)
    out.print(f"written: {as_json}, {as_md}")


def _name_value(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise ConfigError(f"{option}: {item!r} is not NAME=VALUE")
    return name, value


@app.command()
def migrate() -> None:
    """Apply pending ClickHouse migrations (schemas/clickhouse/NNNN_*.sql)."""
    from pipeline.clickhouse.client import connect
    from pipeline.clickhouse.migrations import migrate as apply

    settings = _settings()
    client = connect(settings.clickhouse.target)
    applied = apply(client, retention_days=settings.clickhouse.retention_days)
    for migration in applied:
        out.print(f"applied {migration.name}")
    out.print(
        f"{settings.clickhouse.target.describe()}: "
        f"{len(applied)} migration(s) applied, schema up to date"
    )


class SettingsFormat(StrEnum):
    table = "table"
    env = "env"
    json = "json"


@app.command("settings")
def show_settings(
    output: Annotated[
        SettingsFormat,
        typer.Option("--format", help="table; env (NAME=value lines to paste); json."),
    ] = SettingsFormat.table,
) -> None:
    """List every environment variable Journeys reads, with its current value as it
    would be written in the environment (secrets masked; unset ones empty)."""
    values = setting_values(_settings())
    if output is SettingsFormat.env:
        for item in values:
            if item.value is None:
                print(f"# {item.variable}=")
            else:
                print(f"{item.variable}={shlex.quote(item.value)}")
    elif output is SettingsFormat.json:
        print(json.dumps({item.variable: item.value for item in values}, indent=2))
    else:
        table = Table("variable", "value", "meaning")
        for item in values:
            table.add_row(item.variable, "" if item.value is None else item.value, item.meaning)
        out.print(table)


@kafka_app.command("start")
def kafka_start(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker.")] = 60.0,
) -> None:
    """Start a local broker in the background on free ports."""
    from pipeline.localstack.kafka import LocalKafka, recorded_broker

    settings = _settings()
    running = recorded_broker(settings.local.kafka_dir)
    if running is not None:
        out.print(f"already running: {running.bootstrap_servers} (pid {running.pid})")
        return
    local = settings.local
    kafka = LocalKafka(
        local.kafka_dir, local.cache_dir, local.kafka_heap, detached=True, start_timeout=timeout
    ).start()
    state = kafka.state()
    out.print(f"Kafka is up at {state.bootstrap_servers} (pid {state.pid})")
    out.print(f"export KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker started by `journeys kafka start`."""
    from pipeline.localstack.kafka import stop_recorded_broker

    stopped = stop_recorded_broker(_settings().local.kafka_dir)
    out.print("no local broker is running" if stopped is None else f"stopped pid {stopped.pid}")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs, where, and where its data is."""
    from pipeline.localstack.kafka import recorded_broker

    state = recorded_broker(_settings().local.kafka_dir)
    if state is None:
        out.print("not running")
        raise typer.Exit(3)
    out.print(f"running: pid {state.pid}")
    out.print(f"bootstrap servers: {state.bootstrap_servers}")
    out.print(f"controller port: {state.controller_port}")
    out.print(f"data directory: {state.data_dir}")
    out.print(f"log file: {state.log_file}")


def main() -> None:
    """Entry point of the `journeys` console script: errors become short messages."""
    try:
        app()
    except ConfigError as error:
        err.print(f"[red]configuration error:[/] {error}", highlight=False)
        sys.exit(2)
    except JourneysError as error:
        err.print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(1)
