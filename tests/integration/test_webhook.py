"""Alert webhooks against a local HTTP server: payloads, retries, and a dead endpoint that
never holds anything up."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from aiohttp import web

from pipeline.localstack.kafka import free_port
from pipeline.metrics.webhook import WebhookSender, payload
from schemas.outputs import Contributor, DropoffAlert

pytestmark = pytest.mark.integration

ALERT = DropoffAlert(
    alert_id="decision/3600/2026-03-10T14:00:00+00:00",
    status="firing",
    stage="decision",
    next_stage="retention",
    window_size_seconds=3600,
    window_start=datetime(2026, 3, 10, 14, tzinfo=UTC),
    window_end=datetime(2026, 3, 10, 15, tzinfo=UTC),
    episode_started_at=datetime(2026, 3, 10, 14, tzinfo=UTC),
    observed_rate=0.7,
    baseline_rate=0.2,
    sessions=180,
    dropped=126,
    z_score=12.5,
    p_value=1e-20,
    severity="critical",
    contributors=[
        Contributor(
            dimension="channel", value="web", dropped=90, sessions=110, rate=0.82, excess=68.0
        )
    ],
)


async def serve(fail_first: int) -> tuple[web.AppRunner, list[object], int]:
    received: list[object] = []
    attempts = {"n": 0}

    async def hook(request: web.Request) -> web.Response:
        attempts["n"] += 1
        if attempts["n"] <= fail_first:
            return web.Response(status=503)
        received.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, received, port


def test_payload_shapes() -> None:
    slack = payload(ALERT, "slack")
    assert set(slack) == {"text"}
    assert "decision → retention: 70% of 180 sessions (baseline 20%)" in slack["text"]
    assert "channel=web (+68)" in slack["text"]
    (manager,) = payload(ALERT, "alertmanager")
    assert manager["labels"] == {
        "alertname": "JourneyDropoffSpike",
        "stage": "decision",
        "severity": "critical",
        "alert_id": ALERT.alert_id,
    }
    assert "endsAt" not in manager and manager["startsAt"] == "2026-03-10T14:00:00+00:00"
    resolved = payload(ALERT.model_copy(update={"status": "resolved"}), "alertmanager")[0]
    assert resolved["endsAt"] == "2026-03-10T15:00:00+00:00"
    assert json.loads(json.dumps(payload(ALERT, "json")))["observed_rate"] == 0.7


async def test_failed_posts_are_retried_until_they_succeed() -> None:
    runner, received, port = await serve(fail_first=2)
    sender = WebhookSender(f"http://127.0.0.1:{port}/hook", "slack", timeout=2, attempts=4)
    task = asyncio.create_task(sender.run())
    try:
        sender.submit(ALERT)
        for _ in range(100):
            if sender.delivered:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await runner.cleanup()
    assert (sender.delivered, sender.failed) == (1, 0)
    assert received == [payload(ALERT, "slack")]


async def test_a_dead_endpoint_never_blocks_submit_and_gives_up_in_the_background() -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    sender = WebhookSender(dead, "json", timeout=0.5, attempts=2, queue_size=3)
    task = asyncio.create_task(sender.run())
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(10):  # more than the queue holds: the oldest are dropped, never waited on
        sender.submit(ALERT)
    assert loop.time() - started < 0.05, "submit must not wait for the endpoint"
    try:
        for _ in range(200):
            if sender.failed >= 10:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
    assert sender.delivered == 0
    assert sender.failed >= 10  # dropped from the full queue, or given up after retries
