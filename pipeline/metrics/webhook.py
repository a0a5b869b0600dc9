"""Delivering alerts to a webhook without ever slowing the pipeline.

`WebhookSender.submit` only puts the alert on a bounded queue (dropping the oldest, with
an error in the log, if the endpoint has been failing for that long); a background task
posts them with a timeout and retries with backoff. Payloads:

    json           the alert record as JSON
    slack          {"text": "..."} for a Slack incoming webhook (or anything compatible)
    alertmanager   [{"labels", "annotations", "startsAt", "endsAt"}] for Alertmanager's API
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import aiohttp
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

from schemas.outputs import DropoffAlert

log = logging.getLogger(__name__)

WebhookFormat = Literal["json", "slack", "alertmanager"]


def payload(alert: DropoffAlert, kind: WebhookFormat) -> Any:
    """The JSON body for one alert in the given format."""
    step = f"{alert.stage} → {alert.next_stage or 'end'}"
    summary = (
        f"Drop-off at {step}: {alert.observed_rate:.0%} of {alert.sessions} sessions "
        f"(baseline {alert.baseline_rate:.0%}) in {alert.window_start:%Y-%m-%d %H:%M} to "
        f"{alert.window_end:%H:%M} UTC"
    )
    top = ", ".join(f"{c.dimension}={c.value} (+{c.excess:.0f})" for c in alert.contributors)
    if kind == "slack":
        icon = ":rotating_light:" if alert.status == "firing" else ":white_check_mark:"
        resolved = "Resolved: " if alert.status == "resolved" else ""
        text = f"{icon} [{alert.severity}] {resolved}{summary}"
        return {"text": text + (f"\nMost affected: {top}" if top else "")}
    if kind == "alertmanager":
        item: dict[str, Any] = {
            "labels": {
                "alertname": "JourneyDropoffSpike",
                "stage": alert.stage,
                "severity": alert.severity,
                "alert_id": alert.alert_id,
            },
            "annotations": {"summary": summary, "contributors": top},
            "startsAt": alert.episode_started_at.isoformat(),
        }
        if alert.status == "resolved":
            item["endsAt"] = alert.window_end.isoformat()
        return [item]
    return alert.model_dump(mode="json")


class WebhookSender:
    """Posts alerts in the background; `submit` never waits."""

    def __init__(
        self,
        url: str,
        kind: WebhookFormat = "json",
        timeout: float = 5.0,
        attempts: int = 5,
        queue_size: int = 1000,
    ) -> None:
        self.url = url
        self.kind = kind
        self.timeout = timeout
        self.attempts = attempts
        self.queue: asyncio.Queue[DropoffAlert] = asyncio.Queue(maxsize=queue_size)
        self.delivered = 0
        self.failed = 0

    def submit(self, alert: DropoffAlert) -> None:
        if self.queue.full():
            dropped = self.queue.get_nowait()
            log.error("webhook queue full: alert %s not delivered", dropped.alert_id)
            self.failed += 1
        self.queue.put_nowait(alert)

    async def run(self) -> None:
        """Deliver queued alerts until cancelled."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                alert = await self.queue.get()
                await self._deliver(session, alert)

    async def _deliver(self, session: aiohttp.ClientSession, alert: DropoffAlert) -> None:
        body = payload(alert, self.kind)
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
            log.error("webhook %s failed for alert %s: %s", self.kind, alert.alert_id, error)
        else:
            self.delivered += 1
