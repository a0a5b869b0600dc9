"""`journeys forget IDENTIFIER...`: ask the workers to forget the customers these
identifiers name, then wait until they have (pipeline.journeys.forgetting).

    code = run_forget(settings, ["email:ann@example.com"], bootstrap, timeout=300)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from clickhouse_connect.driver.binding import format_query_value
from rich.console import Console

from pipeline.errors import ConfigError
from pipeline.ingest.normalize import normalizer_for
from pipeline.ingest.pii import InvalidPersonalData
from pipeline.journeys.forgetting import Forget, fingerprint, identifier_key
from pipeline.journeys.pipeline import Router, encode_envelope
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
    """Send a Forget for each identifier to its partition; with `timeout`, wait that
    long at most until ClickHouse's `forgotten` log has them and the customers they
    named. Returns the exit status."""
    console = out or Console(highlight=False)
    hasher = normalizer_for(settings).hasher
    try:
        keys = sorted({identifier_key(text, hasher) for text in identifiers})
    except InvalidPersonalData as error:
        raise ConfigError(f"cannot forget: {error}") from None

    ask = asker(settings)
    linked, customers = _linked(ask, keys)
    names, router = TopicNames(settings.kafka.topic_prefix), Router(settings.kafka.partitions)
    _send(bootstrap, names, router, keys)
    console.print(
        f"asked the workers to forget {len(keys)} identifier(s), linked to "
        f"{len(linked)} identifier(s) and {len(customers)} customer id(s) in ClickHouse"
    )
    if timeout is None:
        return 0
    missing = _wait_forgotten(ask, [*linked, *customers], timeout)
    if missing:
        console.print(
            f"[red]not forgotten after {timeout:g} s:[/] {missing} of "
            f"{len(linked) + len(customers)}: is a worker running on these topics?"
        )
        return 1
    console.print(
        "forgotten: their rows are gone from every table the pipeline writes, and their "
        "state from the workers (tombstones in the state changelog); dead letters and the "
        "raw and internal topics keep what they hold until their retention"
    )
    return 0


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


def _send(bootstrap: str, names: TopicNames, router: Router, keys: Sequence[str]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all")
    try:
        for key in keys:
            value = encode_envelope([Forget(key=key)])
            producer.send(names.internal, value=value, partition=router.partition_of(key))
        producer.flush(timeout=60)
    finally:
        producer.close()


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
