"""Every Kafka topic of the pipeline, declared once, with who writes and who reads it.

Names carry `KAFKA_TOPIC_PREFIX` so that tests and tenants never share a topic. All
topics keyed by customer are co-partitioned: they have the same partition count.

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
        # consumer: the channel's normaliser agent (group: <consumer_group>)
        return f"{self.prefix}touchpoints.raw.{channel}"

    @property
    def dead_letter(self) -> str:
        # producer: normalisers and sinks (raw bytes + reason headers)
        # consumer: the dead-letter sink -> ClickHouse `dead_letters`; `journeys dlq replay`
        return f"{self.prefix}touchpoints.dead-letter"

    @property
    def canonical(self) -> str:
        # producer: normalisers (canonical Touchpoint, keyed by its anchor identifier)
        # consumer: identity resolution -> touchpoints.by-customer
        return f"{self.prefix}touchpoints.canonical"

    @property
    def identity_messages(self) -> str:
        # producer: identity resolution (claims, merges, keyed by identifier or loser id),
        # the journey engine (repoints, keyed by identifier)
        # consumer: identity resolution (co-partitioned with touchpoints.canonical)
        return f"{self.prefix}identity.messages"

    @property
    def by_customer(self) -> str:
        # producer: identity resolution (Touchpoint keyed by customer_id); the journey
        # engine (touchpoints of a merged customer, forwarded to the winner)
        # consumer: the journey engine
        return f"{self.prefix}touchpoints.by-customer"

    @property
    def moves(self) -> str:
        # producer: identity resolution (merge, keyed by the loser); the journey engine
        # (the loser's state, keyed by the winner)
        # consumer: the journey engine (co-partitioned with touchpoints.by-customer)
        return f"{self.prefix}journeys.moves"

    @property
    def identity_links(self) -> str:
        # producer: identity resolution (IdentityLink); consumer: sink -> `identity_links`
        return f"{self.prefix}identity.links"

    @property
    def identity_merges(self) -> str:
        # producer: identity resolution (CustomerMerge); consumer: sink -> `customer_merges`
        return f"{self.prefix}identity.merges"

    @property
    def identity_violations(self) -> str:
        # producer: identity resolution (IdentityViolation)
        # consumer: sink -> `identity_violations`
        return f"{self.prefix}identity.violations"

    @property
    def journey_touchpoints(self) -> str:
        # producer: the journey engine (enriched touchpoint); consumer: sink -> `touchpoints`
        return f"{self.prefix}journeys.touchpoints"

    @property
    def sessions(self) -> str:
        # producer: the journey engine (session versions); consumer: sink -> `sessions`
        return f"{self.prefix}journeys.sessions"

    @property
    def transitions(self) -> str:
        # producer: the journey engine (stage entered / advanced / dropped off)
        # consumer: window counts; sink -> `stage_transitions`
        return f"{self.prefix}journeys.transitions"

    @property
    def customers(self) -> str:
        # producer: the journey engine (journey snapshots); consumer: sink -> `journeys`
        return f"{self.prefix}journeys.customers"

    @property
    def ticks(self) -> str:
        # producer: every worker's clock, once a second, to each partition it owns
        # consumer: the journey engine (co-partitioned with touchpoints.by-customer), so an
        # idle partition's watermark still moves and its sessions still close
        return f"{self.prefix}journeys.ticks"

    @property
    def window_reports(self) -> str:
        # producer: the journey engine, per partition and tick (partial window counts)
        # consumer: the merger (alerts), sink -> `conversion_partials`. One partition.
        return f"{self.prefix}journeys.window-reports"

    @property
    def alerts(self) -> str:
        # producer: drop-off detection; consumer: sink -> `alerts`, webhook delivery.
        # One partition: alerts are few and are read in order.
        return f"{self.prefix}journeys.alerts"

    def all_raw(self) -> list[str]:
        return [self.raw(channel) for channel in CHANNELS]

    def all(self) -> list[str]:
        """Every topic of the pipeline (created up front by `pipeline.kafka_admin`)."""
        return [
            *self.all_raw(),
            self.dead_letter,
            self.canonical,
            self.identity_messages,
            self.by_customer,
            self.moves,
            self.identity_links,
            self.identity_merges,
            self.identity_violations,
            self.journey_touchpoints,
            self.sessions,
            self.transitions,
            self.customers,
            self.ticks,
            self.window_reports,
            self.alerts,
        ]

    def single_partition(self) -> set[str]:
        """Topics with one partition: low volume, read in order by a single consumer."""
        return {self.window_reports, self.alerts}
