"""Every Kafka topic of the pipeline, declared once, with who writes and who reads it.

Names carry `KAFKA_TOPIC_PREFIX` so that tests and tenants never share a topic. The raw
topics and `journeys.internal` are co-partitioned: they have the same partition count.

Usage:
    names = TopicNames(prefix="")
    names.dead_letter          # "touchpoints.dead-letter"
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.touchpoint import Channel

#: Channel families (schemas.touchpoint.Channel); each has its raw topic
#: `touchpoints.raw.<channel>`, `import` for rows replayed from files by `journeys replay`.
CHANNELS: tuple[str, ...] = tuple(channel.value for channel in Channel)


@dataclass(frozen=True)
class TopicNames:
    """Topic names under one prefix."""

    prefix: str = ""

    def raw(self, channel: str) -> str:
        # producer: channel systems, `journeys generate`, dlq replay; `journeys replay`
        # (files) writes `touchpoints.raw.import`
        # consumer: the partition pipeline agent (group: <consumer_group>)
        return f"{self.prefix}touchpoints.raw.{channel}"

    @property
    def dead_letter(self) -> str:
        # producer: the partition pipelines' normaliser, the alert sink (raw bytes + reason
        # headers)
        # consumer: the dead-letter sink -> ClickHouse `dead_letters`; `journeys dlq replay`
        return f"{self.prefix}touchpoints.dead-letter"

    @property
    def internal(self) -> str:
        # producer: the partition pipelines (one envelope per destination partition per
        # flush, sent once the state it came from is durable: touchpoints, identity claims
        # and merges, journey moves whose key lives on that partition)
        # consumer: the partition pipeline agent (co-partitioned with the raw topics)
        return f"{self.prefix}journeys.internal"

    @property
    def window_reports(self) -> str:
        # producer: the partition pipelines, per partition and flush (partial window counts;
        # they also write them to `conversion_partials` themselves)
        # consumer: the merger (drop-off alerts). One partition.
        return f"{self.prefix}journeys.window-reports"

    @property
    def alerts(self) -> str:
        # producer: drop-off detection; consumer: sink -> `alerts`, webhook delivery.
        # One partition: alerts are few and are read in order.
        return f"{self.prefix}journeys.alerts"

    @property
    def step_windows(self) -> str:
        # producer: drop-off detection, one record per final window of each stage and
        # funnel step; consumer: sink -> `step_windows`. One partition.
        return f"{self.prefix}journeys.step-windows"

    def all_raw(self) -> list[str]:
        return [self.raw(channel) for channel in CHANNELS]

    def all(self) -> list[str]:
        """Every topic of the pipeline (created up front by `pipeline.kafka_admin`)."""
        return [
            *self.all_raw(),
            self.dead_letter,
            self.internal,
            self.window_reports,
            self.alerts,
            self.step_windows,
        ]

    def single_partition(self) -> set[str]:
        """Topics with one partition: low volume, read in order by a single consumer."""
        return {self.window_reports, self.alerts, self.step_windows}
