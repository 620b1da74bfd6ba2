"""SlackPoster against a local Slack-like server, and the full notifier against the real Kafka broker."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from detector.slack import build_message, check_limits
from streams.notifier import SlackPoster, run_notifier
from streams.service_settings import Settings
from tests.unit.test_slack import make_alert

pytestmark = pytest.mark.integration

SECRET = "XOXB-SECRET-" + uuid.uuid4().hex
REPLIES: dict[str, tuple[int, str, dict[str, str]]] = {
    "ok": (200, "ok", {}),
    "429": (429, "rate_limited", {"Retry-After": "1"}),
    "invalid_payload": (400, "invalid_payload", {}),
    "channel_not_found": (404, "channel_not_found", {}),
    "500": (500, "rollup_error", {}),
}


@dataclass
class FakeSlack:
    """Answers the scripted replies in order (then ``ok``); records arrival time and payload."""

    script: list[str]
    url: str = ""
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((time.monotonic(), orjson.loads(await request.read())))
        status, body, headers = REPLIES[self.script.pop(0) if self.script else "ok"]
        return web.Response(status=status, text=body, headers=headers)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [p for _, p in self.received]


@asynccontextmanager
async def fake_slack(*script: str) -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(list(script))
    app = web.Application()
    app.router.add_post(f"/services/T000/B000/{SECRET}", slack.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    slack.url = f"http://{host}:{port}/services/T000/B000/{SECRET}"
    try:
        yield slack
    finally:
        await runner.cleanup()


def posts(status: str) -> float:
    return REGISTRY.get_sample_value("extdet_slack_posts_total", {"status": status}) or 0.0


def assert_no_secret(caplog: pytest.LogCaptureFixture, url: str) -> None:
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert SECRET not in logged and url not in logged


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def oversized_payload() -> dict[str, Any]:
    return {"text": "t" * 50_000, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 9000}}] * 70}


# ------------------------------------------------------------------ SlackPoster


def test_posts_are_paced_and_within_limits(caplog: pytest.LogCaptureFixture) -> None:
    payloads = [
        build_message(make_alert(1), replay_hint="--topic gateway-logs"),
        build_message(make_alert(2, kind="cluster", n_keys=500, n_reasons=12), replay_hint="--topic gateway-logs"),
        oversized_payload(),
        {"text": "plain"},
    ]

    async def scenario() -> FakeSlack:
        async with fake_slack() as slack, SlackPoster(slack.url) as poster:
            results = [await poster.post(p) for p in payloads]
        assert [r.status for r in results] == ["ok"] * 4
        return slack

    slack = asyncio.run(scenario())
    assert len(slack.received) == 4
    for payload in slack.payloads:
        assert check_limits(payload) == []
    times = [t for t, _ in slack.received]
    assert times[-1] - times[0] >= (len(times) - 1) * 0.9
    assert all(b - a >= 0.9 for a, b in pairwise(times))
    assert "webhook configured (host hidden)" in caplog.text
    assert_no_secret(caplog, slack.url)


def test_429_waits_for_retry_after_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    before = posts("rate_limited")

    async def scenario() -> tuple[FakeSlack, Any]:
        async with fake_slack("429") as slack, SlackPoster(slack.url) as poster:
            return slack, await poster.post({"text": "hello"})

    slack, result = asyncio.run(scenario())
    assert result.status == "ok" and result.attempts == 2
    (t1, _), (t2, _) = slack.received
    assert t2 - t1 >= 1.0
    assert posts("rate_limited") == before + 1
    assert_no_secret(caplog, slack.url)


@pytest.mark.parametrize("reply", ["invalid_payload", "channel_not_found"])
def test_permanent_errors_are_counted_not_retried(reply: str, caplog: pytest.LogCaptureFixture) -> None:
    before = posts("permanent")

    async def scenario() -> tuple[FakeSlack, Any]:
        async with fake_slack(reply) as slack, SlackPoster(slack.url, backoff_base_s=0.01) as poster:
            result = await poster.post({"text": "hello"})
            await asyncio.sleep(0.3)  # a retry, if any, would arrive now
            return slack, result

    slack, result = asyncio.run(scenario())
    assert (result.status, result.attempts, result.error) == ("permanent", 1, reply)
    assert len(slack.received) == 1
    assert posts("permanent") == before + 1
    assert reply in caplog.text
    assert_no_secret(caplog, slack.url)


def test_server_error_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    before = posts("transient")

    async def scenario() -> tuple[FakeSlack, Any]:
        async with fake_slack("500") as slack, SlackPoster(slack.url, backoff_base_s=0.05) as poster:
            return slack, await poster.post({"text": "hello"})

    slack, result = asyncio.run(scenario())
    assert result.status == "ok" and result.attempts == 2 and len(slack.received) == 2
    assert posts("transient") == before + 1
    assert_no_secret(caplog, slack.url)


def test_connection_errors_give_up_after_max_attempts(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> tuple[str, Any]:
        async with fake_slack() as slack:
            url = slack.url  # the server is gone once the block ends: connections are refused
        async with SlackPoster(url, max_attempts=3, backoff_base_s=0.01, rate_per_s=100) as poster:
            return url, await poster.post({"text": "hello"})

    url, result = asyncio.run(scenario())
    assert result.status == "gave_up" and result.attempts == 3
    assert result.error is not None and "Error" in result.error
    assert_no_secret(caplog, url)


def test_backoff_is_bounded_and_reproducible() -> None:
    a, b = SlackPoster("http://127.0.0.1:9/x", seed=7), SlackPoster("http://127.0.0.1:9/x", seed=7)
    delays = [a.backoff_s(n) for n in range(1, 10)]
    assert delays == [b.backoff_s(n) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        cap = min(30.0, 2 ** (n - 1))
        assert cap / 2 <= d <= cap


# ------------------------------------------------------------------ full notifier on Kafka


async def _wait_for(predicate: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_notifier_end_to_end_on_kafka(
    kafka_bootstrap: str, make_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    topic, group = make_topic(partitions=2, prefix="alerts"), f"test-notifier-{uuid.uuid4().hex[:8]}"
    first = [make_alert(1, severity="high"), make_alert(2, severity="critical"), make_alert(3, severity="medium"),
             make_alert(4, severity="low"), make_alert(1, severity="high")]  # low: below threshold; last: duplicate
    burst = [make_alert(100 + i, severity="high") for i in range(7)]

    async def produce(producer: AIOKafkaProducer, alerts: list[dict[str, Any]]) -> None:
        for a in alerts:
            await producer.send(topic, orjson.dumps(a), key=a["subject_id"].encode())
        await producer.flush()

    async def scenario() -> tuple[FakeSlack, int]:
        async with fake_slack() as slack:
            settings = Settings(kafka_bootstrap=kafka_bootstrap, alerts_topic=topic, notify_group=group,
                                notify_offset_reset="earliest", notify_gather_s=2.0, slack_webhook_url=slack.url)
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            task = asyncio.create_task(run_notifier(settings))
            try:
                await produce(producer, first)
                await _wait_for(lambda: len(slack.received) >= 3, 60)
                await produce(producer, burst)
                await _wait_for(lambda: len(slack.received) >= 4, 30)
                await asyncio.sleep(2.5)  # nothing else may arrive
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await producer.stop()
            consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
            await consumer.start()
            try:
                committed = sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1)])
            finally:
                await consumer.stop()
            return slack, committed

    slack, committed = asyncio.run(scenario())
    assert committed == len(first) + len(burst)  # everything posted or dropped was committed
    headers = [p["blocks"][0]["text"]["text"] for p in slack.payloads]
    assert headers[:3] == [
        ":red_circle: Model extraction: key key_2_0000",
        ":large_orange_circle: Model extraction: key key_1_0000",
        ":large_yellow_circle: Model extraction: key key_3_0000",
    ]
    assert headers[3] == ":large_orange_circle: Model extraction: 7 alerts"
    assert len(slack.received) == 4
    for payload in slack.payloads:
        assert check_limits(payload) == []
    assert "detector replay --topic gateway-logs" in orjson.dumps(slack.payloads[0]).decode()
    assert_no_secret(caplog, slack.url)
