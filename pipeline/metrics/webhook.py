"""Delivering alerts to a webhook without ever slowing the pipeline (docs/alerting.md).

`WebhookSender.submit` only puts the alert on a bounded queue (dropping the oldest, with
an error in the log, if the endpoint has been failing for that long); a background task
posts them with a timeout and retries with backoff, each outcome counted in
`journeys_webhook_deliveries_total`. Payloads:

    json           the alert record as JSON, with the query that shows it and the links
    slack          {"text": "..."} for a Slack incoming webhook (or anything compatible)
    alertmanager   [{"labels", "annotations", "startsAt", "endsAt", "generatorURL"}],
                   Alertmanager's API v2 (POST /api/v2/alerts)

Alertmanager resolves an alert it has not heard of again by the alert's `endsAt`: while
an episode fires, the worker that owns the alerts topic sends it again every
`resend_interval` with `endsAt` four intervals ahead (as Prometheus does), and its
resolution with the `endsAt` of when it ended. A worker that becomes the owner (a
restart, a rebalance) first loads the episodes still firing from ClickHouse.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

from pipeline.telemetry import Telemetry
from schemas.outputs import DropoffAlert

log = logging.getLogger(__name__)

WebhookFormat = Literal["json", "slack", "alertmanager"]

#: How many intervals ahead a firing alert's `endsAt` is set: Alertmanager keeps it
#: firing through that many missed re-sends.
ENDS_AFTER_INTERVALS = 4

#: Resolved episodes remembered, so that a reload of what fires cannot bring them back.
RESOLVED_REMEMBERED = 10_000


@dataclass(frozen=True)
class AlertLinks:
    """Where an alert points on-call: `generator` is a URL template filled with the
    alert's `{alert_id}`, `{stage}` and `{window_size_seconds}` (a dashboard, say);
    `runbook` a fixed URL."""

    generator: str | None = None
    runbook: str | None = None

    def generator_for(self, alert: DropoffAlert) -> str | None:
        if self.generator is None:
            return None
        return self.generator.format(
            alert_id=quote(alert.alert_id, safe=""),
            stage=quote(alert.stage, safe=""),
            window_size_seconds=alert.window_size_seconds,
        )


def investigation(alert: DropoffAlert) -> str:
    """The ClickHouse query that shows the windows behind `alert` (as an analyst runs it)."""
    stage = alert.stage.replace("\\", "\\\\").replace("'", "\\'")
    return (
        "SELECT window_start, passed, dropped_off, dropoff_rate FROM conversion_counts "
        f"WHERE stage = '{stage}' AND dimension = 'all' "
        f"AND window_size_seconds = {alert.window_size_seconds} "
        "ORDER BY window_start DESC LIMIT 30"
    )


def payload(
    alert: DropoffAlert,
    kind: WebhookFormat,
    *,
    now: datetime | None = None,
    links: AlertLinks = AlertLinks(),
    resend_interval: float = 60.0,
) -> Any:
    """The JSON body for one alert in the given format, sent at `now` (wall clock)."""
    now = now or datetime.now(UTC)
    step = f"{alert.stage} → {alert.next_stage or 'end'}"
    summary = (
        f"Drop-off at {step}: {alert.observed_rate:.0%} of {alert.sessions} sessions "
        f"(baseline {alert.baseline_rate:.0%}) in {alert.window_start:%Y-%m-%d %H:%M} to "
        f"{alert.window_end:%H:%M} UTC"
    )
    top = ", ".join(
        f"{c.dimension}={c.value} ({c.share:.0%} of lost conversions, "
        f"{c.sessions_share:.0%} of sessions)"
        for c in alert.contributors
    )
    generator = links.generator_for(alert)
    if kind == "slack":
        icon = ":rotating_light:" if alert.status == "firing" else ":white_check_mark:"
        resolved = "Resolved: " if alert.status == "resolved" else ""
        lines = [f"{icon} [{alert.severity}] {resolved}{summary}"]
        if top:
            lines.append(f"Most affected: {top}")
        lines.extend(f"<{url}|{name}>" for name, url in _named_links(generator, links.runbook))
        return {"text": "\n".join(lines)}
    if kind == "alertmanager":
        annotations = {"summary": summary, "contributors": top, "query": investigation(alert)}
        if links.runbook is not None:
            annotations["runbook_url"] = links.runbook
        if alert.status == "firing":
            ends = now + timedelta(seconds=ENDS_AFTER_INTERVALS * resend_interval)
        else:  # when it ended, never before it started
            ends = max(alert.episode_started_at, min(alert.window_end, now))
        item: dict[str, Any] = {
            "labels": {
                "alertname": "JourneyDropoffSpike",
                "stage": alert.stage,
                "severity": alert.severity,
                "alert_id": alert.alert_id,
            },
            "annotations": annotations,
            "startsAt": alert.episode_started_at.isoformat(),
            "endsAt": ends.isoformat(),
        }
        if generator is not None:
            item["generatorURL"] = generator
        return [item]
    record = alert.model_dump(mode="json")
    record["query"] = investigation(alert)
    record.update({f"{name}_url": url for name, url in _named_links(generator, links.runbook)})
    return record


def sample_alert(now: datetime) -> DropoffAlert:
    """An alert that says it is a test (`journeys alerts test`), firing now."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return DropoffAlert(
        alert_id=f"test/{now:%Y%m%dT%H%M%S}",
        status="firing",
        stage="test",
        next_stage="delivery",
        window_size_seconds=3600,
        window_start=hour,
        window_end=hour + timedelta(hours=1),
        episode_started_at=now,
        observed_rate=0.5,
        baseline_rate=0.1,
        sessions=100,
        dropped=50,
        z_score=None,
        p_value=None,
        severity="warning",
        contributors=[],
    )


def _named_links(generator: str | None, runbook: str | None) -> list[tuple[str, str]]:
    named = [("dashboard", generator), ("runbook", runbook)]
    return [(name, url) for name, url in named if url is not None]


async def _nothing_firing() -> list[DropoffAlert]:
    return []


class WebhookSender:
    """Posts alerts in the background; `submit` never waits.

    With the alertmanager format, it also re-sends the episodes that fire while `owns()`
    (this worker reads the alerts topic); on becoming the owner, `firing()` says which
    episodes fire (from ClickHouse)."""

    def __init__(
        self,
        url: str,
        kind: WebhookFormat = "json",
        timeout: float = 5.0,
        attempts: int = 5,
        queue_size: int = 1000,
        *,
        links: AlertLinks = AlertLinks(),
        resend_interval: float = 60.0,
        firing: Callable[[], Awaitable[list[DropoffAlert]]] = _nothing_firing,
        owns: Callable[[], bool] = lambda: True,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.url = url
        self.kind = kind
        self.timeout = timeout
        self.attempts = attempts
        self.links = links
        self.resend_interval = resend_interval
        self.firing = firing
        self.owns = owns
        self.queue: asyncio.Queue[DropoffAlert] = asyncio.Queue(maxsize=queue_size)
        self.active: dict[str, DropoffAlert] = {}  # episodes firing, by alert id
        self.resolved: deque[str] = deque(maxlen=RESOLVED_REMEMBERED)
        self.deliveries = (telemetry or Telemetry()).webhook_deliveries
        self.delivered = 0
        self.failed = 0
        self.resend_rounds = 0  # re-send intervals passed

    def submit(self, alert: DropoffAlert) -> None:
        """Queue `alert` for delivery (and, firing, for re-sending until it resolves)."""
        if alert.status == "firing":
            self.active[alert.alert_id] = alert
        else:
            self.active.pop(alert.alert_id, None)
            self.resolved.append(alert.alert_id)
        self._enqueue(alert)

    def _enqueue(self, alert: DropoffAlert) -> None:
        if self.queue.full():
            dropped = self.queue.get_nowait()
            log.error("webhook queue full: alert %s not delivered", dropped.alert_id)
            self.failed += 1
            self.deliveries.labels("dropped").inc()
        self.queue.put_nowait(alert)

    async def run(self) -> None:
        """Deliver queued alerts (and re-send firing ones) until cancelled."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            if self.kind == "alertmanager":
                await asyncio.gather(self._deliver_forever(session), self._resend_forever())
            else:
                await self._deliver_forever(session)

    async def deliver_once(self, alert: DropoffAlert) -> bool:
        """Post `alert` now, with the retries; whether it was delivered."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await self._deliver(session, alert)

    async def _deliver_forever(self, session: aiohttp.ClientSession) -> None:
        while True:
            alert = await self.queue.get()
            await self._deliver(session, alert)

    async def _resend_forever(self) -> None:
        owner = False
        while True:
            await asyncio.sleep(self.resend_interval)
            self.resend_rounds += 1
            if not self.owns():
                owner = False
                self.active.clear()  # the owner re-sends them now
                continue
            if not owner:
                owner = True
                for alert in await self.firing():
                    if alert.alert_id not in self.resolved:
                        self.active.setdefault(alert.alert_id, alert)
            for alert in list(self.active.values()):
                self._enqueue(alert)

    async def _deliver(self, session: aiohttp.ClientSession, alert: DropoffAlert) -> bool:
        body = payload(alert, self.kind, links=self.links, resend_interval=self.resend_interval)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.5, max=30),
            ):
                with attempt:
                    async with session.post(self.url, json=body) as response:
                        response.raise_for_status()
        except RetryError as error:
            self.failed += 1
            self.deliveries.labels("failed").inc()
            cause = error.last_attempt.exception()
            log.error("webhook %s failed for alert %s: %r", self.kind, alert.alert_id, cause)
            return False
        self.delivered += 1
        self.deliveries.labels("delivered").inc()
        return True
