"""`journeys generate`: traffic to Kafka or files, with a progress line.

Usage:
    run_generate(config, out=None, bootstrap="127.0.0.1:9092", settings=load_settings())
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pipeline.generator.output import FileOutput, KafkaOutput, Output, Pacer, SendSummary, send
from pipeline.generator.traffic import Traffic, TrafficConfig
from pipeline.kafka_admin import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import CHANNELS, TopicNames


def run_generate(
    config: TrafficConfig,
    *,
    out: Path | None,
    bootstrap: str | None,
    settings: Settings,
    speed: float | None = None,
    rate: float | None = None,
    limit: int | None = None,
    console: Console | None = None,
) -> SendSummary:
    """Generate `config`'s traffic into `out` (files) or the raw topics at `bootstrap`."""
    output: Output
    if out is not None:
        output = FileOutput(out)
    else:
        assert bootstrap is not None
        names = TopicNames(settings.kafka.topic_prefix)
        ensure_topics(
            bootstrap,
            [names.raw(channel) for channel in CHANNELS],
            settings.kafka.partitions,
            settings.kafka.replication_factor,
        )
        output = KafkaOutput(bootstrap, names)
    pacer = Pacer(config.start, speed=speed, rate=rate)
    events = Traffic(config).events()
    try:
        if console is None:
            return send(events, output, pacer, limit)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("[bold]{task.completed:,.0f}[/] events"),
            TextColumn("{task.fields[rate]:,.0f}/s"),
            TextColumn("event time {task.fields[at]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("generating", total=limit, rate=0.0, at="-")

            def on_event(summary: SendSummary) -> None:
                if summary.events % 500 == 0 and summary.last is not None:
                    elapsed = progress.tasks[task].elapsed or 1e-9
                    progress.update(
                        task,
                        completed=summary.events,
                        rate=summary.events / elapsed,
                        at=f"{summary.last:%Y-%m-%d %H:%M}",
                    )

            summary = send(events, output, pacer, limit, on_event)
            progress.update(task, completed=summary.events)
            return summary
    finally:
        output.close()
