"""SlackPoster against a local Slack-like server, and the full notifier against the real Kafka broker and Redis.

The notifier tests wait for the consumer group's committed offset instead of sleeping: the notifier
commits only after every alert read so far was posted or dropped, so once the commit covers the
topic, nothing more will be posted for those alerts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from collections.abc import Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import orjson
import pytest
import redis
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from detector.outputs.slack import SEVERITY_RANK, build_message, check_limits
from detector.outputs.notifier import SlackPoster, run_notifier
from streams.settings import Settings
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


async def _wait_for(predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float,
                    task: asyncio.Task[None] | None = None) -> None:
    """Poll ``predicate`` (sync or async) until true; a ``task`` that ends meanwhile fails the wait
    with its own error."""
    deadline = time.monotonic() + timeout_s
    while True:
        ok = predicate()
        if ok if isinstance(ok, bool) else await ok:
            return
        if task is not None and task.done():
            task.result()
            raise AssertionError("the notifier stopped")
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _all_committed(bootstrap: str, group: str, topic: str, partitions: int, total: int) -> bool:
    """True when the group's committed offsets over the topic's partitions add up to ``total``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions)]) == total
    finally:
        await consumer.stop()


async def _produce(bootstrap: str, topic: str, alerts: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for a in alerts:
            await producer.send(topic, orjson.dumps(a), key=a["subject_id"].encode())
        await producer.flush()
    finally:
        await producer.stop()


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """``run_notifier(settings)`` as a task, cancelled (a notifier stop) when the block ends."""
    task = asyncio.create_task(run_notifier(settings))
    try:
        yield task
    finally:
        task.cancel()
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if not isinstance(outcome, asyncio.CancelledError):
            raise AssertionError("the notifier ended on its own") from outcome


def _headers(slack: FakeSlack) -> list[str]:
    return [p["blocks"][0]["text"]["text"] for p in slack.payloads]


def test_notifier_end_to_end_on_kafka(
    kafka_bootstrap: str, redis_db_url: str, make_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    topic, group = make_topic(partitions=2, prefix="alerts"), f"test-notifier-{uuid.uuid4().hex[:8]}"
    first = [make_alert(1, severity="high"), make_alert(2, severity="critical"), make_alert(3, severity="medium"),
             make_alert(4, severity="low"), make_alert(1, severity="high")]  # low: below threshold; last: duplicate
    burst = [make_alert(100 + i, severity="high") for i in range(7)]
    total = len(first) + len(burst)

    async def scenario() -> FakeSlack:
        async with fake_slack() as slack:
            settings = Settings(kafka_bootstrap=kafka_bootstrap, redis_url=redis_db_url, alerts_topic=topic,
                                notify_group=group, notify_offset_reset="earliest", notify_gather_s=2.0,
                                slack_webhook_url=slack.url)
            async with running(settings) as task:
                await _produce(kafka_bootstrap, topic, first)
                await _wait_for(lambda: len(slack.received) >= 3, 60, task)
                await _produce(kafka_bootstrap, topic, burst)
                # everything posted or dropped is committed, and only then
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 2, total), 60, task)
            return slack

    slack = asyncio.run(scenario())
    headers = _headers(slack)
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


# ------------------------------------------------------------------ restarts: dedupe and cooldowns in Redis

NOTIFY_PREFIX = "xd:notify:"
COOLDOWN_S, DEDUPE_TTL_S = 900.0, 3600.0


def _restart_settings(kafka_bootstrap: str, redis_db_url: str, topic: str, group: str, url: str) -> Settings:
    """Fast-flushing notifier settings; the topic is named through the prefix, as deployed."""
    prefix, name = topic[:3], topic[3:]
    assert prefix == "it-"
    return Settings(kafka_bootstrap=kafka_bootstrap, redis_url=redis_db_url, topic_prefix=prefix, alerts_topic=name,
                    notify_group=group, notify_offset_reset="earliest", notify_gather_s=0.3,
                    notify_rate_per_s=50.0, notify_cooldown_s=COOLDOWN_S, notify_dedupe_ttl_s=DEDUPE_TTL_S,
                    slack_webhook_url=url)


async def _rewind(bootstrap: str, group: str, topic: str) -> None:
    """Commit offset 0 for the (stopped) group: Kafka redelivers everything, as after a crash before a commit."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 0})
    finally:
        await consumer.stop()


def test_restart_does_not_repost_redelivered_alerts(
    kafka_bootstrap: str, redis_db_url: str, make_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    topic, group = make_topic(partitions=1, prefix="alerts"), f"test-notifier-{uuid.uuid4().hex[:8]}"
    first = [make_alert(1, severity="high"), make_alert(2, severity="critical")]
    fresh = make_alert(3, severity="medium")

    async def scenario() -> FakeSlack:
        async with fake_slack() as slack:
            settings = _restart_settings(kafka_bootstrap, redis_db_url, topic, group, slack.url)
            async with running(settings) as task:
                await _produce(kafka_bootstrap, topic, first)
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 1, 2), 60, task)
            assert len(slack.received) == 2
            await _rewind(kafka_bootstrap, group, topic)
            await _produce(kafka_bootstrap, topic, first)  # the producer publishes them again, too
            async with running(settings) as task:  # a new process: nothing in memory
                await _produce(kafka_bootstrap, topic, [fresh])
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 1, 5), 60, task)
            return slack

    slack = asyncio.run(scenario())
    assert _headers(slack) == [
        ":red_circle: Model extraction: key key_2_0000",
        ":large_orange_circle: Model extraction: key key_1_0000",
        ":large_yellow_circle: Model extraction: key key_3_0000",
    ]
    store = redis.Redis.from_url(redis_db_url, decode_responses=True)
    try:
        keys = sorted(store.keys("*"))
        assert keys == sorted([f"{NOTIFY_PREFIX}seen:{make_alert(n)['alert_id']}" for n in (1, 2, 3)]
                              + [f"{NOTIFY_PREFIX}cool:key_{n}_0000" for n in (1, 2, 3)])
        for key in keys:
            ttl_ms, value = store.pttl(key), store.get(key)
            assert value is not None
            if ":seen:" in key:
                assert value == "1" and 0 < ttl_ms <= DEDUPE_TTL_S * 1000
            else:  # "<epoch seconds> <severity rank>", gone when the cooldown ends
                at, rank = value.split()
                assert abs(float(at) - time.time()) < 120 and int(rank) in SEVERITY_RANK.values()
                assert 0 < ttl_ms <= COOLDOWN_S * 1000
    finally:
        store.close()
    assert_no_secret(caplog, slack.url)


def test_cooldown_holds_across_a_restart(
    kafka_bootstrap: str, redis_db_url: str, make_topic: Callable[..., str]
) -> None:
    topic, group = make_topic(partitions=1, prefix="alerts"), f"test-notifier-{uuid.uuid4().hex[:8]}"
    subject = {"subject_id": "key_x", "api_key_ids": ["key_x"]}
    before = [make_alert(1, severity="high", **subject)]
    quiet = [make_alert(2, severity="high", **subject), make_alert(3, severity="medium", **subject)]
    escalation = [make_alert(4, severity="critical", **subject)]

    async def scenario() -> FakeSlack:
        async with fake_slack() as slack:
            settings = _restart_settings(kafka_bootstrap, redis_db_url, topic, group, slack.url)
            async with running(settings) as task:
                await _produce(kafka_bootstrap, topic, before)
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 1, 1), 60, task)
            async with running(settings) as task:
                await _produce(kafka_bootstrap, topic, quiet)  # handled (committed) apart from the escalation
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 1, 3), 60, task)
                await _produce(kafka_bootstrap, topic, escalation)
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 1, 4), 60, task)
            return slack

    slack = asyncio.run(scenario())
    assert _headers(slack) == [
        ":large_orange_circle: Model extraction: key key_x",
        ":red_circle: Model extraction: key key_x",
    ]
    posted = [n for p in slack.payloads for n in (1, 2, 3, 4) if make_alert(n)["alert_id"] in orjson.dumps(p).decode()]
    assert posted == [1, 4]
    store = redis.Redis.from_url(redis_db_url, decode_responses=True)
    try:  # the ids dropped for cooldown are remembered too; the cooldown now counts at critical
        assert sorted(store.keys(f"{NOTIFY_PREFIX}seen:*")) == sorted(
            f"{NOTIFY_PREFIX}seen:{make_alert(n)['alert_id']}" for n in (1, 2, 3, 4))
        assert int(store.get(f"{NOTIFY_PREFIX}cool:key_x").split()[1]) == SEVERITY_RANK["critical"]
    finally:
        store.close()
