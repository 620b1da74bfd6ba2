"""Stage 2, key windows: feature rows of one ``xd-keyed`` partition in, window summaries out.

:class:`WindowStage` holds one :class:`~detector.partition.PartitionState` per ``xd-keyed``
partition this worker owns, loaded lazily from Redis. For one batch of messages of partition ``p``
(:meth:`WindowStage.process`):

1. If ``p`` is not in memory, or Redis holds another offset for it than memory does (another worker
   advanced it after a rebalance, or a write of ours was refused), reload it from Redis. Messages at
   or below the stored offset are skipped.
2. For each message (see :mod:`streams.ingest` for the format): rows at or below the source's
   high-water mark ``(source offset, index)`` are redeliveries after an ingest restart and are
   skipped; for every other row ``advance(pre)`` then ``add(row)`` (record by record, as
   :class:`~detector.pipeline.Detector` does); then ``advance(hb)``. A fresh partition starts its
   first bucket at the batch's first event (``t0``), as the in-process detector does.
   Heartbeats are kept per source partition; the value advanced to is the minimum over sources
   that still had input to read, or the maximum when all are caught up (with one source: that
   source's running maximum, exactly the in-process detector's watermark).
3. Every closed epoch is sent to ``xd-summaries`` as chunks of summaries, the last chunk flagged
   as the epoch's *marker*: ``{"p": p, "e": epoch_end_ms, "m": 0|1, "s": [summary, ...]}``. The
   scorer processes an epoch once every partition's marker reached it.
4. Only after the sends are acknowledged, the batch is persisted in one guarded Lua call
   (:meth:`~streams.redis_store.RedisStore.save_partition`): dirty key blobs, expired keys, meta,
   high-water marks and the offset. A crash anywhere re-runs the batch to the same result.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from detector.config import Config
from detector.features import EventFeatures
from detector.partition import Epoch, PartitionState
from detector.summary import WindowSummary
from streams import metrics
from streams.redis_store import RedisStore

log = logging.getLogger(__name__)

COVERED = 1 << 62  # index standing for "every row of this source offset"

Send = Callable[[list[bytes]], Awaitable[None]]


@dataclass(slots=True)
class Slot:
    """One partition in memory: its windows, per-source high-water marks, last applied offset."""

    state: PartitionState
    hw: dict[int, tuple[int, int]] = field(default_factory=dict)
    offset: int = -1
    sources: dict[int, tuple[int, bool]] = field(default_factory=dict)  # source -> (max ts, caught up)

    def heartbeat(self, source: int, ts: int, idle: bool) -> int:
        """Record ``source``'s running max ``ts``; return the combined heartbeat of all sources."""
        old = self.sources.get(source)
        if old is None or ts > old[0] or idle != old[1]:
            self.sources[source] = (max(ts, old[0]) if old else ts, idle)
        busy = [m for m, done in self.sources.values() if not done]
        return min(busy) if busy else max(m for m, _ in self.sources.values())


@dataclass(slots=True)
class BatchResult:
    """What one batch did (for tests and logs)."""

    applied: int = 0
    skipped: int = 0
    rows: int = 0
    duplicate_rows: int = 0
    late: int = 0
    epochs: list[int] = field(default_factory=list)
    persisted: bool = False


def summary_json(s: WindowSummary) -> bytes:
    """``s.to_json()``, without its ``dataclasses.asdict`` deep copy (half of this stage's time):
    orjson serialises the dataclass directly to the same bytes (pinned by a test)."""
    return orjson.dumps(s)


def encode_epochs(p: int, epochs: list[Epoch], per_message: int) -> list[bytes]:
    """``xd-summaries`` messages for closed epochs of partition ``p``, in order."""
    out: list[bytes] = []
    for ep in epochs:
        blobs = [summary_json(s) for s in ep.summaries]
        chunks = [blobs[i:i + per_message] for i in range(0, len(blobs), per_message)] or [[]]
        for n, chunk in enumerate(chunks):
            marker = 1 if n == len(chunks) - 1 else 0
            out.append(b'{"p":%d,"e":%d,"m":%d,"s":[' % (p, ep.end_ms, marker) + b",".join(chunk) + b"]}")
    return out


class WindowStage:
    """Stage 2 for the partitions of one worker."""

    def __init__(self, config: Config, store: RedisStore, *, summaries_per_message: int = 400) -> None:
        self.config = config
        self.store = store
        self.per_message = max(1, summaries_per_message)
        self.ttl_s = max(1, math.ceil(config.idle_expiry_ms / 1000))
        self.slots: dict[int, Slot] = {}

    # ----------------------------------------------------------------- loading
    async def load(self, p: int) -> Slot:
        """(Re)load partition ``p`` from Redis."""
        stored = await self.store.load_partition(p)
        state = PartitionState.restore(self.config, stored.fields.get("state"), stored.blobs)
        if stored.missing:
            log.warning("partition %d: %d key blobs had expired in Redis; dropping them", p, stored.missing)
        for keys in state.active.values():  # a key whose blob expired cannot be closed
            keys.intersection_update(state.keys)
        hw = {int(s): (o, i) for s, (o, i) in orjson.loads(stored.fields.get("hw", b"{}")).items()}
        sources = {int(s): (m, bool(i)) for s, (m, i) in orjson.loads(stored.fields.get("src", b"{}")).items()}
        slot = self.slots[p] = Slot(state, hw, stored.offset, sources)
        metrics.RELOADS.labels("windows").inc()
        metrics.ACTIVE_KEYS.labels(str(p)).set(len(state.keys))
        log.info("partition %d: loaded %d keys at offset %d", p, len(state.keys), stored.offset)
        return slot

    def forget(self, p: int) -> None:
        """Drop partition ``p`` from memory (revoked, or our write was refused)."""
        self.slots.pop(p, None)

    async def _slot(self, p: int) -> Slot:
        slot = self.slots.get(p)
        stored = await self.store.partition_offset(p)
        if slot is None or slot.offset != stored:
            if slot is not None:
                log.info("partition %d: Redis offset %d != memory %d; reloading", p, stored, slot.offset)
            slot = await self.load(p)
        return slot

    # -------------------------------------------------------------- processing
    async def process(self, p: int, messages: list[tuple[int, bytes]], send: Send) -> BatchResult:
        """Apply one batch of partition ``p`` (``(offset, value)`` in offset order), send, persist."""
        started = time.perf_counter()
        res = BatchResult()
        slot = await self._slot(p)
        fresh = [(o, v) for o, v in messages if o > slot.offset]
        res.skipped = len(messages) - len(fresh)
        if res.skipped:
            metrics.SKIPPED_MESSAGES.labels("windows").inc(res.skipped)
        if not fresh:
            return res
        epochs: list[Epoch] = []
        for _offset, value in fresh:
            self._apply(slot, value, epochs, res)
        res.applied = len(fresh)
        res.epochs = [e.end_ms for e in epochs]
        if epochs:
            await send(encode_epochs(p, epochs, self.per_message))
            metrics.EPOCHS.labels("windows").inc(len(epochs))
            metrics.SUMMARIES.inc(sum(len(e.summaries) for e in epochs))
        res.persisted = await self._persist(p, slot, fresh[-1][0])
        st = slot.state
        metrics.ACTIVE_KEYS.labels(str(p)).set(len(st.keys))
        metrics.WATERMARK.labels(str(p)).set(st.watermark_ms)
        metrics.mark_batch("windows", started)
        return res

    def _apply(self, slot: Slot, value: bytes, epochs: list[Epoch], res: BatchResult) -> None:
        msg = orjson.loads(value)
        st = slot.state
        source = msg["s"]
        hw = slot.hw.get(source, (-1, -1))
        t0 = msg.get("t0", -1)
        if st.closed_until_ms < 0 and not st.active and t0 >= 0:
            st.closed_until_ms = t0 - t0 % self.config.fine_bucket_ms
        late_before = st.late
        dups = 0
        for row in msg["rows"]:
            pos = (row[0], row[1])
            if pos <= hw:
                dups += 1
                continue
            hw = pos
            epochs.extend(st.advance(slot.heartbeat(source, row[2], False)))
            st.add(EventFeatures(*row[3:]))
            res.rows += 1
        covered = msg.get("c")
        if covered is not None and (covered, COVERED) > hw:
            hw = (covered, COVERED)
        slot.hw[source] = hw
        hb = msg.get("hb", -1)
        beat = slot.heartbeat(source, hb, bool(msg.get("i", 1))) if covered is not None else \
            slot.heartbeat(source, hb, False)
        if st.closed_until_ms >= 0 or st.active:
            epochs.extend(st.advance(beat))
        late = st.late - late_before
        if late:
            res.late += late
            metrics.LATE.inc(late)
        if dups:
            res.duplicate_rows += dups
            metrics.DUPLICATE_ROWS.inc(dups)

    async def _persist(self, p: int, slot: Slot, offset: int) -> bool:
        st = slot.state
        dirty = st.dirty
        set_blobs = {k: st.keys[k].to_bytes() for k in dirty if k in st.keys}
        del_ids = sorted(k for k in dirty if k not in st.keys)
        fields = {
            "state": st.meta_bytes(),
            "hw": orjson.dumps({str(s): list(v) for s, v in sorted(slot.hw.items())}),
            "src": orjson.dumps({str(s): [m, int(i)] for s, (m, i) in sorted(slot.sources.items())}),
        }
        done = await self.store.save_partition(p, offset, ttl_s=self.ttl_s, fields=fields,
                                               set_blobs=set_blobs, del_ids=del_ids)
        if done:
            st.dirty = set()
            slot.offset = offset
        else:
            log.info("partition %d: Redis already at or past offset %d; dropping memory", p, offset)
            self.forget(p)
        return done
