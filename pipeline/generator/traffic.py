"""The whole population's traffic, in delivery order, with bots, broken records and
late deliveries mixed in.

    config = TrafficConfig(seed=7, start=..., end=..., customers_per_day=500)
    for event in Traffic(config).events(): ...     # GeneratedEvent, by delivery time
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from pipeline.generator import raw
from pipeline.generator.customers import Customer, new_customer
from pipeline.generator.incidents import Incident
from pipeline.generator.journey import HOURS, walk
from schemas.touchpoint import Channel

CRAWLERS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
_TIME_FIELDS = ("timestamp", "Timestamp", "occurred_at", "created_at")
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class TrafficConfig:
    """What to generate. Same configuration, same events."""

    start: datetime
    end: datetime | None = None  # None: keep going (a live demo)
    seed: int = 42
    customers_per_day: float = 500.0
    bots: float = 0.03  # share of arrivals that are crawlers
    malformed: float = 0.002  # share of events sent broken (they must reach dead letters)
    late: float = 0.02  # share delivered out of order, within the allowed lateness
    very_late: float = 0.002  # share delivered after it (sessions get new versions)
    incidents: tuple[Incident, ...] = ()
    driver: str | None = None  # an entry (e.g. google_organic) that earns every order


def time_range(
    start: datetime | None, days: float, live: bool, now: datetime
) -> tuple[datetime, datetime | None]:
    """[start, end) of the traffic: `days` from `start` (default: `days` before now, on
    the hour); live traffic has no end."""
    begin = start or (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return begin, None if live else begin + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class GeneratedEvent:
    """One raw record as a channel system sends it."""

    channel: Channel
    event_time: datetime
    deliver_at: datetime  # event time plus the channel's delivery delay
    key: bytes | None
    value: bytes
    malformed: bool = False


class Traffic:
    """Arrivals hour by hour (a Poisson process shaped by the hour of day), each walking
    its journey; events leave in delivery order."""

    def __init__(self, config: TrafficConfig) -> None:
        self.config = config
        self.rng = Random(f"journeys-traffic/{config.seed}")
        self._sequence = 0

    def events(self) -> Iterator[GeneratedEvent]:
        # (delivery time, sequence, event): the sequence keeps ties in a stable order
        pending: list[tuple[datetime, int, GeneratedEvent]] = []
        index = 0
        hour = self.config.start
        while self.config.end is None or hour < self.config.end:
            while pending and pending[0][0] < hour:
                yield heapq.heappop(pending)[2]
            for arrived in self._arrivals(hour):
                for event in self._customer_events(index, arrived):
                    heapq.heappush(pending, (event.deliver_at, self._sequence, event))
                    self._sequence += 1
                index += 1
            hour += _HOUR
        while pending:
            yield heapq.heappop(pending)[2]

    def _arrivals(self, hour: datetime) -> list[datetime]:
        """New customers in the hour starting at `hour`, in time order."""
        weight = HOURS[hour.hour] / sum(HOURS) * (1.15 if hour.weekday() >= 5 else 1.0)
        count = _poisson(self.rng, self.config.customers_per_day * weight)
        end = self.config.end
        times = sorted(hour + timedelta(seconds=self.rng.uniform(0, 3600)) for _ in range(count))
        return [at for at in times if end is None or at < end]

    def _customer_events(self, index: int, arrived: datetime) -> list[GeneratedEvent]:
        customer = new_customer(index, self.config.seed)
        if customer.rng.random() < self.config.bots:
            timed = _crawl(customer, arrived)
        else:
            timed = walk(customer, arrived, self.config.incidents, self.config.driver)
        end = self.config.end
        return [
            self._deliver(customer, at, channel, payload)
            for at, (channel, payload) in timed
            if end is None or at < end
        ]

    def _deliver(
        self, customer: Customer, at: datetime, channel: Channel, payload: raw.Payload
    ) -> GeneratedEvent:
        rng, config = customer.rng, self.config
        roll = rng.random()
        if roll < config.very_late:
            delay = rng.uniform(600, 3600)
        elif roll < config.very_late + config.late:
            delay = rng.uniform(20, 240)
        else:
            delay = rng.uniform(0.05, 2.0)
        broken = rng.random() < config.malformed
        value = _break(rng, payload) if broken else json.dumps(payload).encode()
        return GeneratedEvent(
            channel=channel,
            event_time=at,
            deliver_at=at + timedelta(seconds=delay),
            key=customer.anonymous_id.encode(),
            value=value,
            malformed=broken,
        )


def _crawl(customer: Customer, arrived: datetime) -> list[tuple[datetime, raw.Raw]]:
    """A crawler fetching a handful of pages, seconds apart."""
    customer.user_agent = customer.rng.choice(CRAWLERS)
    customer.device_id = None
    pages = ("/", "/spring", "/new", "/sale", "/about", "/p/sku-trail-42", "/p/sku-city-10")
    at, timed = arrived, []
    for _ in range(customer.rng.randint(3, 10)):
        timed.append((at, raw.web(customer, at, None, customer.rng.choice(pages))))
        at += timedelta(seconds=customer.rng.uniform(0.5, 5))
    return timed


def _break(rng: Random, payload: raw.Payload) -> bytes:
    """A record its normaliser must reject: cut short, not an object, or a bad time."""
    kind = rng.randrange(3)
    if kind == 0:
        text = json.dumps(payload)
        return text[: len(text) // 2].encode()
    if kind == 1:
        return json.dumps([payload]).encode()
    broken = {key: "not-a-time" if key in _TIME_FIELDS else value for key, value in payload.items()}
    return json.dumps(broken).encode()


def _poisson(rng: Random, mean: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
