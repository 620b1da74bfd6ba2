"""``detector enforce``: reference rate-limiter consumer of the compacted ``extraction-decisions`` topic.

What: on start, reads every partition of the decisions topic from the earliest offset up to the end
offsets seen at start (no consumer group, nothing committed), folds the records into a
:class:`detector.outputs.enforcement.EnforcementState`, reconciles Redis to exactly that state (sets what
should be there, deletes stale ``xd:enf:*`` keys), then keeps following the topic and applies
each change as it comes, plus a sweep when the earliest live decision expires. It serves

* ``GET /v1/decisions/{api_key_id}`` -> ``{api_key_id, action: allow|observe|throttle|block,
  rate_limit_rpm, expires_at, subject}`` from Redis (one GET; ids may contain ``/`` percent-encoded);
* ``GET /healthz`` -> 200 once rebuilt and Redis answers, 503 while rebuilding (readiness);
* ``GET /metrics`` (Prometheus).

With ``DETECTOR_HTTP_TOKEN_FILE`` set, the decisions API and ``/metrics`` answer 401 without
``Authorization: Bearer <token>`` (:mod:`streams.http_auth`); ``/healthz`` stays open for the
kubelet but gives its counts only with the token. Redis is reached through
:func:`streams.redis_conn.redis_client` (TLS, ACL user ``xd-enforce`` of ``docs/security.md``); a
refused login fails :meth:`Enforcer.start` at once with :class:`streams.redis_conn.RedisAccessError`.

Assumptions: a rebuilding enforcer reaches the head within ``delete.retention.ms`` (tombstones
older than that are gone, but the reconcile deletes whatever the rebuilt state does not hold, and
every record carries ``PXAT`` anyway). Several enforcers may run at once: each computes the same
state from the same topic and writes the same idempotent values. Gateways may also read Redis
directly (``GET xd:enf:key:<api_key_id>``) instead of calling HTTP.

Cost: memory O(live decisions + covered keys); one pipelined Redis round trip per fetched batch;
the reconcile SCANs the ``xd:enf:`` prefix once per start.

Settings: :class:`streams.settings.Settings` (``DETECTOR_KAFKA_BOOTSTRAP``, ``DETECTOR_REDIS_URL``,
``DETECTOR_TOPIC_PREFIX`` + ``DETECTOR_DECISIONS_TOPIC``, ``DETECTOR_BIND_HOST`` (default
``127.0.0.1``), ``DETECTOR_ENFORCER_PORT``, ``DETECTOR_ENFORCER_REDIS_PREFIX``).

Failure modes: invalid records are counted (``extdet_decisions_applied_total{result="invalid"}``)
and skipped; a missing topic is waited for (logged, /healthz 503); Redis or Kafka errors in the
follow loop end :func:`run_enforcer` with the exception (restart rebuilds from the topic); the
HTTP endpoint answers 503 when Redis is unreachable, so the gateway applies its own fail-open or
fail-closed policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping

import orjson
import redis.asyncio as redis
from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from detector.outputs.enforcement import Delete, EnforcementState, InvalidDecision, Put, Write, parse_decision
from streams.http_auth import authorized, bearer_middleware
from streams.redis_conn import check_redis, redis_client
from streams import kafka_security
from streams.settings import Settings

log = logging.getLogger(__name__)

DECISIONS_APPLIED = Counter(
    "extdet_decisions_applied",
    "Decision records read by the enforcer, by result (changed, unchanged, lifted, invalid)",
    ["result"],
)
DECISIONS_ACTIVE = Gauge("extdet_decisions_active", "Live decisions held by the enforcer")
KEYS_ENFORCED = Gauge("extdet_enforced_keys", "API keys with an effective observe/throttle/block decision")

_MAX_WAIT_S = 1.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class Enforcer:
    """The enforcer service: ``await start()``, then ``await wait()``; ``await stop()`` always.

    ``port`` is the bound HTTP port (useful with ``enforcer_port=0``); ``ready`` is set once the
    state is rebuilt from the topic and reconciled into Redis.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = EnforcementState(prefix=settings.enforcer_redis_prefix)
        self.ready = asyncio.Event()
        self._redis = redis_client(settings)
        self._consumer = AIOKafkaConsumer(   # servers + SASL/TLS from streams/kafka_security.py
            **kafka_security.aiokafka_config(settings), group_id=None, enable_auto_commit=False
        )
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        """The HTTP application (decisions API, /healthz, /metrics), bearer token enforced."""
        app = web.Application(middlewares=[bearer_middleware(self.settings.http_token)])
        app.router.add_get("/v1/decisions/{api_key_id:.+}", self._get_decision)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        """Check the Redis login, start the HTTP server and the consumer task (returns before the
        rebuild completes). Raises :class:`streams.redis_conn.RedisAccessError` when Redis refuses."""
        await check_redis(self._redis, self.settings)
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.bind_host, self.settings.enforcer_port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        await kafka_security.check_async(self.settings)   # refused credentials/TLS: a clear error, at once
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="enforcer-consume")
        log.info("enforcer listening on %s:%d, topic %s",
                 self.settings.bind_host, self.port, self.settings.topic("decisions"))

    async def wait(self) -> None:
        """Until the consumer task ends (only by error or cancellation)."""
        assert self._task is not None, "start() first"
        await self._task

    async def stop(self) -> None:
        """Cancel the consumer, close Kafka, HTTP and Redis."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._consumer.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._redis.aclose()

    # ------------------------------------------------------------------ consuming

    async def _partitions(self) -> list[TopicPartition]:
        """The topic's partitions, waiting for the topic to exist (asks for all topics' metadata,
        because a metadata request naming the topic could auto-create it uncompacted)."""
        topic = self.settings.topic("decisions")
        admin = AIOKafkaAdminClient(**kafka_security.aiokafka_config(self.settings))
        await admin.start()
        try:
            while True:
                for meta in await admin.describe_topics():
                    if meta["topic"] == topic and meta["partitions"]:
                        return sorted(TopicPartition(topic, p["partition"]) for p in meta["partitions"])
                log.warning("decisions topic %s does not exist yet; waiting", topic)
                await asyncio.sleep(2.0)
        finally:
            await admin.close()

    def _fold(self, records: Iterable[ConsumerRecord[bytes, bytes]], now_ms: int) -> list[Write]:
        writes: list[Write] = []
        for rec in records:
            try:
                if rec.key is None:
                    raise InvalidDecision("record without key")
                subject = rec.key.decode()
                decision = None if rec.value is None else parse_decision(subject, rec.value)
            except (InvalidDecision, UnicodeDecodeError) as exc:
                DECISIONS_APPLIED.labels("invalid").inc()
                log.warning("skipping invalid decision at %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, exc)
                continue
            applied = self.state.apply(subject, decision, now_ms)
            result = "lifted" if decision is None else ("changed" if applied else "unchanged")
            DECISIONS_APPLIED.labels(result).inc()
            writes.extend(applied)
        return writes

    async def _execute(self, writes: Iterable[Write]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        n = 0
        for w in writes:
            if isinstance(w, Put):
                pipe.set(w.key, w.value, pxat=w.expire_at_ms)
            else:
                pipe.delete(w.key)
            n += 1
        if n:
            await pipe.execute()
        DECISIONS_ACTIVE.set(self.state.active_subjects)
        KEYS_ENFORCED.set(self.state.covered_keys)

    async def _reconcile(self) -> None:
        """Make Redis hold exactly the rebuilt state under the prefix."""
        desired = self.state.desired()
        stale = [
            key
            async for key in self._redis.scan_iter(match=self.state.prefix + "*", count=1000)
            if key.decode() not in desired
        ]
        await self._execute([*(Delete(k.decode()) for k in stale), *desired.values()])
        log.info("rebuilt %d decisions covering %d keys; removed %d stale records",
                 self.state.active_subjects, self.state.covered_keys, len(stale))

    async def _rebuild(self, tps: list[TopicPartition]) -> None:
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        ends: Mapping[TopicPartition, int] = await self._consumer.end_offsets(tps)
        while any([await self._consumer.position(tp) < end for tp, end in ends.items()]):
            batches = await self._consumer.getmany(timeout_ms=int(_MAX_WAIT_S * 1000), max_records=5000)
            for records in batches.values():
                self._fold(records, _now_ms())  # writes are replaced by the reconcile
        self.state.expire(_now_ms())
        await self._reconcile()

    async def _follow(self) -> None:
        while True:
            due = self.state.next_expiry_ms()
            wait_s = _MAX_WAIT_S if due is None else min(_MAX_WAIT_S, max(due - _now_ms(), 0) / 1000)
            batches = await self._consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=1000)
            now = _now_ms()
            writes = [w for records in batches.values() for w in self._fold(records, now)]
            writes += self.state.expire(now)
            await self._execute(writes)

    async def _run(self) -> None:
        await self._rebuild(await self._partitions())
        self.ready.set()
        await self._follow()

    # ------------------------------------------------------------------ HTTP

    async def _get_decision(self, request: web.Request) -> web.Response:
        api_key_id = request.match_info["api_key_id"]
        try:
            raw = await self._redis.get(self.state.key_name(api_key_id))
        except redis.RedisError:
            return web.json_response({"error": "decision store unavailable"}, status=503)
        body = {"api_key_id": api_key_id, "action": "allow", "rate_limit_rpm": None,
                "expires_at": None, "subject": None}
        if raw is not None:
            record = orjson.loads(raw)
            body.update({k: record[k] for k in ("action", "rate_limit_rpm", "expires_at", "subject")})
        return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            redis_ok = bool(await self._redis.ping())
        except redis.RedisError:
            redis_ok = False
        ok = self.ready.is_set() and redis_ok
        body: dict[str, object] = {"status": "ok" if ok else ("rebuilding" if redis_ok else "redis unavailable")}
        if authorized(request):  # open to probes; the counts only with the token
            body.update(decisions=self.state.active_subjects, keys=self.state.covered_keys)
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def run_enforcer(settings: Settings) -> None:
    """Run the enforcer until cancelled or until Kafka/Redis fail (then the error propagates)."""
    enforcer = Enforcer(settings)
    try:
        await enforcer.start()
        await enforcer.wait()
    finally:
        await enforcer.stop()
