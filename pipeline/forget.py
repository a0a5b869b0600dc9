"""`journeys forget IDENTIFIER...`: wait until the workers have read what was sent so
far, ask them to forget the customers these identifiers name, wait until they have
(pipeline.journeys.forgetting), then clear the pipeline's topics of them (pipeline.purge).

    code = run_forget(settings, ["email:ann@example.com"], bootstrap, timeout=300)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from clickhouse_connect.driver.binding import format_query_value
from kafka import KafkaProducer
from rich.console import Console

from pipeline.errors import ConfigError
from pipeline.ingest.normalize import normalizer_for
from pipeline.ingest.pii import InvalidPersonalData
from pipeline.journeys.forgetting import (
    Forget,
    ForgetDeadLetters,
    dead_letter_position,
    fingerprint,
    identifier_key,
)
from pipeline.journeys.pipeline import Item, Router, encode_envelope
from pipeline.purge import PurgeError, PurgeSummary, Subject, TopicPurge
from pipeline.query import Ask, asker
from pipeline.settings import Settings
from pipeline.topics import TopicNames


def run_forget(
    settings: Settings,
    identifiers: Sequence[str],
    bootstrap: str,
    *,
    timeout: float | None = 300.0,
    out: Console | None = None,
) -> int:
    """Forget the customers `identifiers` name. With `timeout` (seconds each step may
    wait): first until the workers have read every record sent so far (nothing of theirs
    still on its way), last until the topics are cleared. Returns the exit status."""
    console = out or Console(highlight=False)
    normalizer = normalizer_for(settings)
    try:
        keys = sorted({identifier_key(text, normalizer.hasher) for text in identifiers})
    except InvalidPersonalData as error:
        raise ConfigError(f"cannot forget: {error}") from None
    ask = asker(settings)
    names, router = TopicNames(settings.kafka.topic_prefix), Router(settings.kafka.partitions)
    with TopicPurge(bootstrap, names, settings.kafka.consumer_group, normalizer) as purge:
        try:
            if timeout is not None:
                purge.wait_read(purge.ends(purge.pipeline_topics()), timeout)
            linked, customers = _linked(ask, keys)
            _send(
                purge.producer,
                names.internal,
                [(router.partition_of(k), Forget(key=k)) for k in keys],
            )
            console.print(
                f"asked the workers to forget {len(keys)} identifier(s), linked to "
                f"{len(linked)} identifier(s) and {len(customers)} customer id(s) in ClickHouse"
            )
            if timeout is None:
                console.print("not waiting: the topics keep their records of them")
                return 0
            missing = _wait_forgotten(ask, [*linked, *customers], timeout)
            if missing:
                console.print(
                    f"[red]not forgotten after {timeout:g} s:[/] {missing} of "
                    f"{len(linked) + len(customers)}: is a worker running on these topics?"
                )
                return 1
            console.print(
                "forgotten: their rows are gone from every table the pipeline writes, and "
                "their state from the workers (tombstones in the state changelog)"
            )
            given = [text.partition(":")[2] for text in identifiers]

            def forget_rows(positions: list[tuple[str, int, int]]) -> None:
                letters = [dead_letter_position(*position) for position in positions]
                item = ForgetDeadLetters(positions=letters)
                _send(purge.producer, names.internal, [(router.partition_of(letters[0]), item)])
                if _wait_forgotten(ask, letters, timeout):
                    raise PurgeError(f"the workers did not delete {len(letters)} dead "
                                     f"letters' rows in {timeout:g} s")  # fmt: skip

            summary = purge.run(Subject.of(linked, customers, given), forget_rows, timeout)
        except PurgeError as error:
            console.print(f"[red]the topics are not cleared:[/] {error}")
            return 1
    _report(console, summary)
    return 0


def _report(console: Console, summary: PurgeSummary) -> None:
    if not summary.found:
        console.print("no record of the raw, internal or dead-letter topics names them")
        return
    for topic, found in sorted(summary.found.items()):
        console.print(
            f"  {topic}: {found} record(s) named them; {summary.deleted[topic]} record(s) "
            "deleted with them (read and stored already)"
        )
    if summary.appended:
        console.print(f"  {summary.appended} other dead letter(s) appended again, not yet replayed")


def _linked(ask: Ask, keys: Sequence[str]) -> tuple[set[str], set[str]]:
    """Every identifier and customer id linked to `keys` in ClickHouse (through identity
    links and merges): what the workers' cascade forgets, and so what to wait for."""
    identifiers, customers = set(keys), set[str]()
    while True:
        named_i = format_query_value(sorted(identifiers))
        named_c = format_query_value(sorted(customers))
        links = ask(
            "SELECT identifier, customer_id FROM identity_links "
            f"WHERE has({named_i}, identifier) OR has({named_c}, customer_id)"
        )
        merges = ask(
            "SELECT loser_id, winner_id FROM customer_merges "
            f"WHERE has({named_c}, loser_id) OR has({named_c}, winner_id)"
        )
        more_i = identifiers | {str(row[0]) for row in links}
        more_c = customers | {str(row[1]) for row in links}
        more_c |= {str(x) for row in merges for x in row}
        if (more_i, more_c) == (identifiers, customers):
            return identifiers, customers
        identifiers, customers = more_i, more_c


def _send(producer: KafkaProducer, topic: str, items: Sequence[tuple[int, Item]]) -> None:
    """Each item in an envelope of its own to its partition of `topic`, taken by all."""
    sent = [producer.send(topic, value=encode_envelope([item]), partition=p) for p, item in items]
    producer.flush(timeout=60)
    for future in sent:
        future.get(timeout=60)


def _wait_forgotten(ask: Ask, keys: Sequence[str], timeout: float) -> int:
    """Poll `forgotten` until every key's fingerprint is there; how many are not."""
    wanted = {fingerprint(key) for key in keys}
    deadline = time.monotonic() + timeout
    while True:
        found = {
            str(row[0])
            for row in ask(
                "SELECT DISTINCT fingerprint FROM forgotten "
                f"WHERE has({format_query_value(sorted(wanted))}, fingerprint)"
            )
        }
        wanted -= found
        if not wanted or time.monotonic() >= deadline:
            return len(wanted)
        time.sleep(1)
