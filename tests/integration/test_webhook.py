"""Alert webhooks against a local HTTP server: payloads, retries, and a dead endpoint that
never holds anything up."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from aiohttp import web

from pipeline.localstack.kafka import free_port
from pipeline.metrics.webhook import AlertLinks, WebhookSender, payload
from schemas.outputs import Contributor, DropoffAlert
from tests.support import REPO, WebhookReceiver, base_env

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
            dimension="channel",
            value="web",
            dropped=90,
            sessions=110,
            rate=0.82,
            excess=68.0,
            share=0.8,
            sessions_share=0.55,
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


SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fixtures/alertmanager/postable-alerts.schema.json").read_text()
)
NOW = datetime(2026, 3, 11, 9, tzinfo=UTC)
LINKS = AlertLinks("https://grafana.example/d/journeys?var-stage={stage}", "https://wiki/runbook")


def alertmanager_valid(body: object) -> None:
    """Raises unless `body` is a valid POST /api/v2/alerts body (formats checked too)."""
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def test_payload_shapes() -> None:
    slack = payload(ALERT, "slack", links=LINKS)
    assert set(slack) == {"text"}
    assert "decision → retention: 70% of 180 sessions (baseline 20%)" in slack["text"]
    assert "channel=web (80% of lost conversions, 55% of sessions)" in slack["text"]
    assert "<https://grafana.example/d/journeys?var-stage=decision|dashboard>" in slack["text"]
    record = json.loads(json.dumps(payload(ALERT, "json", links=LINKS)))
    assert record["observed_rate"] == 0.7 and record["runbook_url"] == "https://wiki/runbook"
    assert "FROM conversion_counts WHERE stage = 'decision'" in record["query"]


def test_alertmanager_payloads_follow_its_api_and_expire_unless_sent_again() -> None:
    (firing,) = payload(ALERT, "alertmanager", now=NOW, links=LINKS, resend_interval=60)
    alertmanager_valid([firing])
    assert firing["labels"] == {
        "alertname": "JourneyDropoffSpike",
        "stage": "decision",
        "severity": "critical",
        "alert_id": ALERT.alert_id,
    }
    assert firing["startsAt"] == "2026-03-10T14:00:00+00:00"
    assert firing["endsAt"] == "2026-03-11T09:04:00+00:00"  # four re-send intervals ahead
    assert firing["generatorURL"] == "https://grafana.example/d/journeys?var-stage=decision"
    assert firing["annotations"]["runbook_url"] == "https://wiki/runbook"
    assert firing["annotations"]["query"].startswith("SELECT window_start, passed")
    resolved = ALERT.model_copy(update={"status": "resolved"})
    (ended,) = payload(resolved, "alertmanager", now=NOW)
    alertmanager_valid([ended])
    assert ended["labels"] == firing["labels"]  # the same alert for Alertmanager
    assert ended["endsAt"] == "2026-03-10T15:00:00+00:00"  # when its window ended
    assert "generatorURL" not in ended
    with pytest.raises(jsonschema.ValidationError):  # the check itself can fail
        alertmanager_valid([{**firing, "generatorURL": "not a uri"}])


async def test_alertmanager_gets_a_firing_episode_again_until_it_resolves() -> None:
    runner, received, port = await serve(fail_first=0)
    sender = WebhookSender(
        f"http://127.0.0.1:{port}/hook", "alertmanager", timeout=2, resend_interval=0.2
    )
    task = asyncio.create_task(sender.run())
    try:
        sender.submit(ALERT)
        await until(lambda: len(received) >= 3)
        sender.submit(ALERT.model_copy(update={"status": "resolved"}))
        rounds = sender.resend_rounds
        await until(lambda: sender.resend_rounds >= rounds + 3)
    finally:
        task.cancel()
        await runner.cleanup()
    for body in received:
        alertmanager_valid(body)
    items = [body[0] for body in received]  # type: ignore[index]
    ends = [datetime.fromisoformat(item["endsAt"]) for item in items]
    last_firing = max(i for i, item in enumerate(items) if ends[i] > ALERT.window_end)
    assert last_firing >= 2 and ends[: last_firing + 1] == sorted(ends[: last_firing + 1])
    # Then the resolution, once, and nothing after it.
    assert [item["endsAt"] for item in items[last_firing + 1 :]] == ["2026-03-10T15:00:00+00:00"]


async def test_only_the_owner_resends_and_a_new_owner_loads_what_fires() -> None:
    runner, received, port = await serve(fail_first=0)
    owner = {"now": False}
    other = ALERT.model_copy(update={"alert_id": "decision/3600/other", "stage": "awareness"})

    async def firing() -> list[DropoffAlert]:
        return [ALERT, other]  # ALERT resolves below, before the load: it stays resolved

    sender = WebhookSender(
        f"http://127.0.0.1:{port}/hook",
        "alertmanager",
        timeout=2,
        resend_interval=0.1,
        firing=firing,
        owns=lambda: owner["now"],
    )
    task = asyncio.create_task(sender.run())
    try:
        sender.submit(ALERT.model_copy(update={"status": "resolved"}))
        await until(lambda: sender.resend_rounds >= 3)
        assert len(received) == 1, "not the owner: nothing is sent again"
        owner["now"] = True
        await until(lambda: len(received) >= 3)
    finally:
        task.cancel()
        await runner.cleanup()
    resent = {body[0]["labels"]["alert_id"] for body in received[1:]}  # type: ignore[index]
    assert resent == {other.alert_id}


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110  # the tasks under test change it, not an event
            await asyncio.sleep(0.05)


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


def alerts_test(**env: str) -> subprocess.CompletedProcess[str]:
    """`journeys alerts test` with `env` (and no other Journeys setting)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "alerts", "test"],
        env=base_env(**env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_journeys_alerts_test_sends_a_sample_through_the_configured_webhook() -> None:
    with WebhookReceiver() as receiver:
        sent = alerts_test(
            JOURNEYS_ALERTS_WEBHOOK_URL=receiver.url, JOURNEYS_ALERTS_WEBHOOK_FORMAT="alertmanager"
        )
    assert sent.returncode == 0, sent.stderr
    assert "sent a sample alertmanager alert" in sent.stdout
    (body,) = receiver.bodies
    alertmanager_valid(body)
    assert body[0]["labels"]["stage"] == "test"  # type: ignore[index]
    dead = alerts_test(JOURNEYS_ALERTS_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/hook")
    assert dead.returncode == 1
    assert "the webhook refused or did not answer (json format" in dead.stderr
    unset = alerts_test()
    assert unset.returncode == 2
    assert "JOURNEYS_ALERTS_WEBHOOK_URL is not set" in unset.stderr
