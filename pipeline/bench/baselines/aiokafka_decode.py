"""Baseline: a bare aiokafka consumer that decodes each raw record's JSON and nothing else.

The ceiling for any Python consumer on this machine and broker: no framework, no
processing, no producing.

Usage:
    python -m pipeline.bench.baselines.aiokafka_decode --bootstrap HOST:PORT \
        --topics a,b --group g --expected 50000 --result out.json --workdir /tmp/x
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiokafka import AIOKafkaConsumer

from pipeline.bench.baselines.progress import Progress, arguments


async def consume(bootstrap: str, topics: list[str], group: str, progress: Progress) -> None:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    try:
        while not progress.done:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    # a deliberately broken record is decoded as far as it goes
                    with contextlib.suppress(ValueError):
                        json.loads(record.value)
                progress.add(len(records))
    finally:
        await consumer.stop()


def main() -> None:
    args = arguments(__doc__ or "")
    progress = Progress(args.expected, args.result)
    asyncio.run(consume(args.bootstrap, args.topics.split(","), args.group, progress))


if __name__ == "__main__":
    main()
