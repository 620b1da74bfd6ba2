"""Redis persistence of the live stages: key naming, the two Lua scripts, load/save with retries.

Layout (every key of one atomic write shares one hash tag, so Redis Cluster runs the script on one
slot):

======================  =======  ============================================================
key                     type     what
======================  =======  ============================================================
``xd:{p<N>}:meta``      hash     stage 2, ``xd-keyed`` partition N: ``offset`` (last applied
                                 ``xd-keyed`` offset), ``state`` (``PartitionState.meta_bytes``),
                                 ``hw`` (per source partition the last applied (offset, index))
``xd:{p<N>}:keys``      set      api_key_ids with a window blob in partition N
``xd:{p<N>}:k:<id>``    string   ``KeyWindows.to_bytes()`` of one key; TTL = idle expiry
``xd:{scorer}:state``   hash     stage 3: ``offset`` (``xd-summaries``), ``scorer``
                                 (``Scorer.to_bytes``), ``buffer``, ``meta`` (markers, next epoch)
======================  =======  ============================================================

Both writes are one ``EVALSHA`` guarded by the stored offset: if the stored offset is already at or
past the batch's last offset the script does nothing and returns 0 (a redelivered batch, or another
worker got there first after a rebalance). redis-py reloads a script on ``NOSCRIPT`` (after a Redis
restart). Connection errors are retried with capped exponential backoff, forever: a worker waits
for Redis rather than acking input it could not persist. A refused login or an ACL refusal
(:data:`streams.redis_conn.ACCESS_ERRORS`; redis-py's ``AuthenticationError`` is a
``ConnectionError``) is not retried: it propagates, and the agent exits naming it. The client comes
from :func:`streams.redis_conn.redis_client` (TLS, ACL user and password from the settings).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams import metrics
from streams.redis_conn import ACCESS_ERRORS, redis_client
from streams.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

SCORER_KEY = "xd:{scorer}:state"
MGET_CHUNK = 500
RETRYABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)

# KEYS: meta hash, key-id set, nset blob keys to SET, then blob keys to DEL.
# ARGV: offset, ttl_s, nset, prefix length of blob keys, nmeta, nmeta field/value pairs, nset blobs.
SAVE_PARTITION_LUA = """
local cur = redis.call('HGET', KEYS[1], 'offset')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[2])
local nset = tonumber(ARGV[3])
local plen = tonumber(ARGV[4])
local nmeta = tonumber(ARGV[5])
local base = 5 + 2 * nmeta
for i = 1, nset do
  local k = KEYS[2 + i]
  if ttl > 0 then
    redis.call('SET', k, ARGV[base + i], 'EX', ttl)
  else
    redis.call('SET', k, ARGV[base + i])
  end
  redis.call('SADD', KEYS[2], string.sub(k, plen + 1))
end
for i = 3 + nset, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('SREM', KEYS[2], string.sub(KEYS[i], plen + 1))
end
redis.call('HSET', KEYS[1], 'offset', ARGV[1])
for i = 1, nmeta do
  redis.call('HSET', KEYS[1], ARGV[4 + 2 * i], ARGV[5 + 2 * i])
end
return 1
"""

# KEYS: the scorer hash. ARGV: offset, then field/value pairs.
SAVE_SCORER_LUA = """
local cur = redis.call('HGET', KEYS[1], 'offset')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"""


def partition_prefix(p: int) -> str:
    """Common prefix (with the hash tag) of stage-2 partition ``p``'s keys."""
    return f"xd:{{p{p}}}:"


def meta_key(p: int) -> str:
    return partition_prefix(p) + "meta"


def keyset_key(p: int) -> str:
    return partition_prefix(p) + "keys"


def blob_prefix(p: int) -> str:
    return partition_prefix(p) + "k:"


def blob_key(p: int, api_key_id: str) -> str:
    return blob_prefix(p) + api_key_id


async def retrying(op: Callable[[], Awaitable[T]], what: str, *, max_delay_s: float = 2.0) -> T:
    """Run ``op`` until it does not raise a connection-type error (capped exponential backoff)."""
    delay = 0.05
    failures = 0
    while True:
        try:
            result = await op()
        except ACCESS_ERRORS:
            raise   # wrong credentials or ACL: retrying cannot help
        except RETRYABLE as exc:
            failures += 1
            metrics.REDIS_RETRIES.inc()
            metrics.failing("redis")
            if failures == 1 or failures % 20 == 0:
                log.warning("redis %s failed (%s), retry %d in %.2fs", what, type(exc).__name__, failures, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
            continue
        if failures:
            metrics.recovered("redis")
            log.info("redis %s succeeded after %d retries", what, failures)
        return result


@dataclass(slots=True)
class StoredPartition:
    """What Redis holds for one stage-2 partition."""

    offset: int
    fields: dict[str, bytes]       # meta hash fields other than offset
    blobs: dict[str, bytes]        # api_key_id -> KeyWindows bytes
    missing: int = 0               # ids in the key set whose blob had expired


class RedisStore:
    """Async access to the detector's Redis state; every call retries on connection errors."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._save_partition = client.register_script(SAVE_PARTITION_LUA)
        self._save_scorer = client.register_script(SAVE_SCORER_LUA)

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> RedisStore:
        """A store on a new client for ``settings`` (``url`` replaces ``DETECTOR_REDIS_URL``);
        connections are opened lazily, in the running event loop."""
        return cls(redis_client(settings, url=url, decode_responses=False, socket_timeout=30,
                                health_check_interval=15))

    async def close(self) -> None:
        await self.client.aclose()

    # ------------------------------------------------------------------ stage 2
    async def partition_offset(self, p: int) -> int:
        """Last ``xd-keyed`` offset persisted for partition ``p`` (-1: none)."""
        raw = await retrying(lambda: self.client.hget(meta_key(p), "offset"), "hget offset")
        return int(raw) if raw is not None else -1

    async def load_partition(self, p: int) -> StoredPartition:
        """Everything persisted for partition ``p``."""
        async def load() -> StoredPartition:
            meta = await self.client.hgetall(meta_key(p))
            ids = sorted(m.decode("utf-8", "surrogatepass") for m in await self.client.smembers(keyset_key(p)))
            blobs: dict[str, bytes] = {}
            missing = 0
            for i in range(0, len(ids), MGET_CHUNK):
                chunk = ids[i:i + MGET_CHUNK]
                values = await self.client.mget([blob_key(p, k) for k in chunk])
                for k, v in zip(chunk, values):
                    if v is None:
                        missing += 1
                    else:
                        blobs[k] = v
            fields = {k.decode(): v for k, v in meta.items()}
            offset = int(fields.pop("offset", b"-1"))
            return StoredPartition(offset, fields, blobs, missing)
        return await retrying(load, "load partition")

    async def save_partition(self, p: int, offset: int, *, ttl_s: int, fields: dict[str, bytes],
                             set_blobs: dict[str, bytes], del_ids: list[str]) -> bool:
        """Atomically write one batch of partition ``p``; False if the offset guard refused it."""
        set_ids = sorted(set_blobs)
        keys = [meta_key(p), keyset_key(p)] + [blob_key(p, k) for k in set_ids] + [blob_key(p, k) for k in del_ids]
        args: list[object] = [offset, ttl_s, len(set_ids), len(blob_prefix(p).encode()), len(fields)]
        for name in sorted(fields):
            args += [name, fields[name]]
        args += [set_blobs[k] for k in set_ids]
        started = time.perf_counter()
        done = await retrying(lambda: self._save_partition(keys=keys, args=args), "save partition")
        metrics.REDIS_WRITE_SECONDS.labels("windows").observe(time.perf_counter() - started)
        return bool(done)

    # ------------------------------------------------------------------ stage 3
    async def scorer_offset(self) -> int:
        """Last ``xd-summaries`` offset persisted by the scorer (-1: none)."""
        raw = await retrying(lambda: self.client.hget(SCORER_KEY, "offset"), "hget scorer offset")
        return int(raw) if raw is not None else -1

    async def load_scorer(self) -> tuple[int, dict[str, bytes]]:
        """(offset, fields) of the scorer checkpoint; (-1, {}) when there is none."""
        raw = await retrying(lambda: self.client.hgetall(SCORER_KEY), "load scorer")
        fields = {k.decode(): v for k, v in raw.items()}
        return int(fields.pop("offset", b"-1")), fields

    async def save_scorer(self, offset: int, fields: dict[str, bytes]) -> bool:
        """Atomically write the scorer checkpoint fields; False if the offset guard refused it."""
        args: list[object] = [offset]
        for name in sorted(fields):
            args += [name, fields[name]]
        started = time.perf_counter()
        done = await retrying(lambda: self._save_scorer(keys=[SCORER_KEY], args=args), "save scorer")
        metrics.REDIS_WRITE_SECONDS.labels("scorer").observe(time.perf_counter() - started)
        return bool(done)
