"""The enforcer on the real Kafka broker and Redis: rebuild, follow, expiry, tombstones, clusters, HTTP.

Each test gets a fresh compacted topic (``make_topic``) and a Redis DB of its own (``redis_db_url``),
so the enforcer runs with its production key layout (``xd:enf:``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from detector.outputs.enforcer import Enforcer
from streams.settings import Settings

pytestmark = pytest.mark.integration

RPM = {"observe": None, "throttle": 6, "block": 0}
PREFIX = "xd:enf:"
Body = Callable[["Harness"], Awaitable[None]]


def decision(subject: str, keys: list[str], action: str = "block", *, n: int = 1, ttl_s: float = 3600) -> bytes:
    now = time.time()
    return orjson.dumps({
        "schema": "extraction.decision/v1",
        "subject": subject,
        "kind": subject.split(":", 1)[0],
        "api_key_ids": keys,
        "action": action,
        "severity": "high",
        "rate_limit_rpm": RPM[action],
        "decided_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "expires_at": datetime.fromtimestamp(now + ttl_s, UTC).isoformat(),
        "alert_id": f"xa_{n:032x}",
    })


@dataclass
class Harness:
    """One fresh compacted topic, one Redis DB, a producer, and helpers to start enforcers."""

    settings: Settings
    producer: AIOKafkaProducer
    redis: redis.Redis

    async def send(self, subject: str, value: bytes | None) -> None:
        await self.producer.send_and_wait(self.settings.topic("decisions"), value, key=subject.encode())

    async def dump(self) -> dict[str, tuple[bytes, int]]:
        """Every key of the test DB: serialized value and absolute expiry (ms)."""
        keys = sorted([k async for k in self.redis.scan_iter()])
        return {k.decode(): (await self.redis.dump(k), await self.redis.pexpiretime(k)) for k in keys}

    async def record(self, api_key_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"{PREFIX}key:{api_key_id}")
        return None if raw is None else orjson.loads(raw)

    @asynccontextmanager
    async def enforcer(self) -> AsyncIterator[Enforcer]:
        enf = Enforcer(self.settings)
        await enf.start()
        try:
            await asyncio.wait_for(enf.ready.wait(), 30)
            yield enf
        finally:
            await enf.stop()


@pytest.fixture
def run(kafka_bootstrap: str, redis_db_url: str, make_topic: Callable[..., str]) -> Callable[[Body], None]:
    """``run(body)``: runs ``body(harness)`` in a fresh event loop against a fresh topic and DB."""
    topic = make_topic(partitions=3, prefix="decisions", config={"cleanup.policy": "compact"})
    settings = Settings(kafka_bootstrap=kafka_bootstrap, redis_url=redis_db_url, decisions_topic=topic,
                        enforcer_port=0, enforcer_redis_prefix=PREFIX)

    def _run(body: Body) -> None:
        async def main() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
            await producer.start()
            client = redis.Redis.from_url(redis_db_url)
            try:
                await body(Harness(settings, producer, client))
            finally:
                await client.aclose()
                await producer.stop()

        asyncio.run(main())

    return _run


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    """Poll ``check`` until true; fails after ``timeout_s``."""
    t0 = time.monotonic()
    while not await check():
        assert time.monotonic() - t0 < timeout_s, f"not within {timeout_s}s"
        await asyncio.sleep(0.02)


async def http_decision(enf: Enforcer, api_key_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{enf.port}/v1/decisions/{api_key_id}") as r:
        assert r.status == 200
        return await r.json()


async def _http_action_is(enf: Enforcer, api_key_id: str, action: str) -> bool:
    return (await http_decision(enf, api_key_id))["action"] == action


def applied(result: str) -> float:
    return REGISTRY.get_sample_value("extdet_decisions_applied_total", {"result": result}) or 0.0


def test_block_is_visible_in_redis_and_http_within_1s(run: Callable[[Body], None]) -> None:
    async def body(h: Harness) -> None:
        async with h.enforcer() as enf:
            assert (await http_decision(enf, "k1"))["action"] == "allow"
            await h.send("key:k1", decision("key:k1", ["k1"]))
            await eventually(lambda: _http_action_is(enf, "k1", "block"), 1.0)
            record = await h.record("k1")
            assert record is not None and record["action"] == "block" and record["rate_limit_rpm"] == 0
            body_ = await http_decision(enf, "k1")
            assert body_ == {"api_key_id": "k1", "action": "block", "rate_limit_rpm": 0,
                             "expires_at": record["expires_at"], "subject": "key:k1"}
            async with aiohttp.ClientSession() as s:
                async with s.get(f"http://127.0.0.1:{enf.port}/healthz") as r:
                    assert r.status == 200 and (await r.json())["decisions"] == 1
                async with s.get(f"http://127.0.0.1:{enf.port}/metrics") as r:
                    assert "extdet_decisions_active" in await r.text()

    run(body)


def test_decision_disappears_at_expiry(run: Callable[[Body], None]) -> None:
    async def body(h: Harness) -> None:
        async with h.enforcer() as enf:
            await h.send("key:k2", decision("key:k2", ["k2"], "throttle", ttl_s=2.0))
            await eventually(lambda: _http_action_is(enf, "k2", "throttle"), 1.0)
            assert 0 < await h.redis.pttl(f"{PREFIX}key:k2") <= 2000
            await eventually(lambda: _http_action_is(enf, "k2", "allow"), 3.0)
            assert await h.record("k2") is None
            assert enf.state.active_subjects == 0

    run(body)


def test_redelivery_changes_nothing(run: Callable[[Body], None]) -> None:
    async def body(h: Harness) -> None:
        async with h.enforcer() as enf:
            value = decision("cluster:xc_r", ["r1", "r2"], "throttle")
            await h.send("cluster:xc_r", value)
            await eventually(lambda: _http_action_is(enf, "r2", "throttle"), 1.0)
            before, unchanged = await h.dump(), applied("unchanged")

            async def redelivered() -> bool:
                return applied("unchanged") == unchanged + 1

            await h.send("cluster:xc_r", value)
            await eventually(redelivered, 2.0)
            assert await h.dump() == before

    run(body)


def test_tombstone_lifts_the_decision(run: Callable[[Body], None]) -> None:
    async def body(h: Harness) -> None:
        async with h.enforcer() as enf:
            await h.send("key:k3", decision("key:k3", ["k3"]))
            await eventually(lambda: _http_action_is(enf, "k3", "block"), 1.0)
            await h.send("key:k3", None)
            await eventually(lambda: _http_action_is(enf, "k3", "allow"), 1.0)
            assert await h.dump() == {}

    run(body)


def test_cluster_expands_to_members_and_stronger_action_wins(run: Callable[[Body], None]) -> None:
    members = [f"m{i}" for i in range(5)]

    async def body(h: Harness) -> None:
        async with h.enforcer() as enf:
            await h.send("key:m0", decision("key:m0", ["m0"], "throttle", n=1))
            await h.send("cluster:xc_c", decision("cluster:xc_c", members, "block", n=2))
            await eventually(lambda: _http_action_is(enf, "m4", "block"), 1.0)
            for m in members:
                got = await http_decision(enf, m)
                assert (got["action"], got["subject"]) == ("block", "cluster:xc_c")
            cluster = orjson.loads(await h.redis.get(f"{PREFIX}cluster:xc_c"))
            assert cluster["api_key_ids"] == members and cluster["action"] == "block"
            await h.send("cluster:xc_c", None)
            await eventually(lambda: _http_action_is(enf, "m4", "allow"), 1.0)
            assert (await http_decision(enf, "m0"))["action"] == "throttle"
            assert set(await h.dump()) == {f"{PREFIX}key:m0"}

    run(body)


def test_restart_with_flushed_redis_rebuilds_the_same_state(run: Callable[[Body], None]) -> None:
    async def body(h: Harness) -> None:
        await h.send("key:a", decision("key:a", ["a"], "observe", n=1))
        await h.send("cluster:xc_1", decision("cluster:xc_1", ["a", "b", "c"], "throttle", n=2))
        await h.send("key:gone", decision("key:gone", ["gone"], n=3))
        await h.send("key:gone", None)
        await h.send("key:bad", b"{not json")  # counted as invalid, skipped
        invalid = applied("invalid")
        async with h.enforcer() as enf:
            assert enf.state.active_subjects == 2 and applied("invalid") == invalid + 1
            await h.send("cluster:xc_2", decision("cluster:xc_2", ["c", "d"], "block", n=4))
            await eventually(lambda: _http_action_is(enf, "d", "block"), 1.0)
            state = await h.dump()
        assert set(state) == {f"{PREFIX}{k}" for k in
                              ("key:a", "key:b", "key:c", "key:d", "cluster:xc_1", "cluster:xc_2")}
        assert (await h.record("c"))["subject"] == "cluster:xc_2"  # type: ignore[index]
        await h.redis.flushdb()
        await h.redis.set(f"{PREFIX}key:stale", b"{}")  # a leftover the rebuild must remove
        async with h.enforcer():
            assert await h.dump() == state

    run(body)
