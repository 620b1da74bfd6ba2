"""The one cycle every stateful live stage runs per batch: load, offset check, apply, send, persist.

A :class:`Runner` drives a pure stage (:mod:`detector.stages.keyed_windows`,
:mod:`detector.stages.epoch_scorer`) over Kafka and Redis, per input partition:

1. **Load.** If the partition is not in memory, or Redis holds another offset for it than memory
   does (another worker advanced it after a rebalance, or a write of ours was refused), reload it.
2. **Offset check.** Redis's offset is the source of truth. Messages at or below it were applied
   already and are skipped. If the batch starts *after* the next offset Redis expects (the consumer
   group's committed offset ran ahead of Redis: Redis lost its last writes, or a worker died between
   a commit and its write), the batch is not applied: :meth:`Runner.process` returns a
   :class:`Rewind` and the agent seeks the partition back to the stored offset + 1, so no record
   is skipped. Messages the consumer had already fetched past the gap come back as further
   rewinds. Only if the gap is still there after :data:`REWIND_PATIENCE_S` (the records were
   deleted by retention) is the batch applied and the missing offsets counted as lost.
3. **Apply** the stage to the fresh messages (pure, deterministic).
4. **Send** its outputs and wait for the acknowledgements.
5. **Persist** the stage's checkpoint in one guarded Redis write (refused if Redis is already at or
   past this batch: memory is then dropped and reloaded next time).

A crash anywhere re-runs the batch to the same result: outputs are at-least-once with
deterministic ids, state is exactly-once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from detector.config import Config
from detector.stages.epoch_scorer import EpochScorer, ScoreResult, ScorerMemory
from detector.stages.keyed_windows import BatchResult, KeyedWindows, Slot
from streams import metrics
from streams.redis_store import RedisStore

log = logging.getLogger(__name__)

SCORER_PARTITION = 0
REWIND_PATIENCE_S = 30.0


class _Memory(Protocol):
    offset: int


class _Result(Protocol):
    applied: int      # messages past the stored offset, applied
    skipped: int      # messages at or below it (redeliveries)
    persisted: bool   # set by the runner: the checkpoint write succeeded


M = TypeVar("M", bound=_Memory)
R = TypeVar("R", bound=_Result)


@dataclass(frozen=True, slots=True)
class Rewind:
    """The batch was not applied: seek ``partition`` back to ``offset`` and read on from there."""

    partition: int
    offset: int


class StageIO(Protocol[M, R]):
    """What a :class:`Runner` needs of one stage: its store access, pure step and outputs."""

    name: str

    async def stored_offset(self, p: int) -> int: ...
    async def load(self, p: int) -> M: ...
    def apply(self, p: int, mem: M, messages: list[tuple[int, bytes]]) -> R: ...
    async def send(self, result: R) -> None: ...
    async def save(self, p: int, mem: M) -> bool: ...
    def observe(self, p: int, mem: M, result: R) -> None: ...


class Runner(Generic[M, R]):
    """Runs one stage for every partition this worker is given (see the module docstring)."""

    def __init__(self, io: StageIO[M, R], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.io = io
        self.clock = clock
        self.memory: dict[int, M] = {}
        self.rewinding: dict[int, tuple[int, float]] = {}   # partition -> (stored offset, since)

    async def _memory(self, p: int) -> M:
        mem = self.memory.get(p)
        stored = await self.io.stored_offset(p)
        if mem is None or mem.offset != stored:
            if mem is not None:
                log.info("%s partition %d: Redis offset %d != memory %d; reloading", self.io.name, p, stored,
                         mem.offset)
            mem = self.memory[p] = await self.io.load(p)
            metrics.RELOADS.labels(self.io.name).inc()
        return mem

    def forget(self, p: int) -> None:
        """Drop partition ``p`` from memory (revoked, or our write was refused)."""
        self.memory.pop(p, None)

    async def process(self, p: int, messages: list[tuple[int, bytes]]) -> R | Rewind:
        """One batch of partition ``p`` (``(offset, value)`` in offset order): apply, send, persist."""
        started = time.perf_counter()
        mem = await self._memory(p)
        if messages and messages[0][0] > mem.offset + 1:
            rewind = self._rewind(p, mem.offset, messages[0][0])
            if rewind is not None:
                return rewind
        result = self.io.apply(p, mem, messages)
        if result.skipped:
            metrics.SKIPPED_MESSAGES.labels(self.io.name).inc(result.skipped)
        if not result.applied:
            return result
        await self.io.send(result)
        result.persisted = await self.io.save(p, mem)
        if result.persisted:
            self.rewinding.pop(p, None)
        else:
            log.info("%s partition %d: Redis already at or past offset %d; dropping memory", self.io.name, p,
                     mem.offset)
            self.forget(p)
        self.io.observe(p, mem, result)
        metrics.mark_batch(self.io.name, started)
        return result

    def _rewind(self, p: int, stored: int, first: int) -> Rewind | None:
        """A :class:`Rewind` to ``stored + 1``, or None once the gap outlived the patience (lost)."""
        now = self.clock()
        since = self.rewinding.get(p)
        if since is None or since[0] != stored:
            since = self.rewinding[p] = (stored, now)
            metrics.REWINDS.labels(self.io.name).inc()
            log.warning("%s partition %d: batch starts at %d but Redis holds offset %d; rewinding", self.io.name,
                        p, first, stored)
        if now - since[1] < REWIND_PATIENCE_S:
            return Rewind(p, stored + 1)
        metrics.LOST_MESSAGES.labels(self.io.name).inc(first - stored - 1)
        log.error("%s partition %d: offsets %d..%d are gone from the log; continuing without them", self.io.name,
                  p, stored + 1, first - 1)
        self.rewinding.pop(p, None)
        return None


class WindowsIO:
    """:class:`~detector.stages.keyed_windows.KeyedWindows` over Redis, epochs sent to ``send``."""

    name = "windows"

    def __init__(self, config: Config, store: RedisStore, send: Callable[[list[bytes]], Awaitable[None]], *,
                 summaries_per_message: int = 400) -> None:
        self.stage = KeyedWindows(config, summaries_per_message=summaries_per_message)
        self.store = store
        self._send = send

    async def stored_offset(self, p: int) -> int:
        return await self.store.partition_offset(p)

    async def load(self, p: int) -> Slot:
        stored = await self.store.load_partition(p)
        if stored.missing:
            log.warning("partition %d: %d key blobs had expired in Redis; dropping them", p, stored.missing)
        slot = self.stage.restore(stored.offset, stored.fields, stored.blobs)
        metrics.ACTIVE_KEYS.labels(str(p)).set(len(slot.state.keys))
        log.info("partition %d: loaded %d keys at offset %d", p, len(slot.state.keys), stored.offset)
        return slot

    def apply(self, p: int, mem: Slot, messages: list[tuple[int, bytes]]) -> BatchResult:
        return self.stage.apply(p, mem, messages)

    async def send(self, result: BatchResult) -> None:
        if result.messages:
            await self._send(result.messages)

    async def save(self, p: int, mem: Slot) -> bool:
        cp = self.stage.checkpoint(mem)
        done = await self.store.save_partition(p, mem.offset, ttl_s=self.stage.ttl_s, fields=cp.fields,
                                               set_blobs=cp.set_blobs, del_ids=cp.del_ids)
        if done:
            self.stage.saved(mem)
        return done

    def observe(self, p: int, mem: Slot, result: BatchResult) -> None:
        if result.epochs:
            metrics.EPOCHS.labels("windows").inc(len(result.epochs))
            metrics.SUMMARIES.inc(result.summaries)
        if result.late:
            metrics.LATE.inc(result.late)
        if result.duplicate_rows:
            metrics.DUPLICATE_ROWS.inc(result.duplicate_rows)
        metrics.ACTIVE_KEYS.labels(str(p)).set(len(mem.state.keys))
        metrics.WATERMARK.labels(str(p)).set(mem.state.watermark_ms)


class ScorerIO:
    """:class:`~detector.stages.epoch_scorer.EpochScorer` over Redis, outputs sent to ``send``."""

    name = "scorer"

    def __init__(self, config: Config, store: RedisStore, partitions: int,
                 send: Callable[[list[dict[str, Any]], list[tuple[str, Any]]], Awaitable[None]]) -> None:
        self.stage = EpochScorer(config, partitions)
        self.fine_ms = config.fine_bucket_ms
        self.store = store
        self._send = send

    async def stored_offset(self, p: int) -> int:
        return await self.store.scorer_offset()

    async def load(self, p: int) -> ScorerMemory:
        offset, fields = await self.store.load_scorer()
        mem = self.stage.restore(offset, fields)
        if mem.config_changed:
            log.warning("scorer: the checkpoint was written under another configuration; deciding with this one")
        log.info("scorer: loaded at offset %d, next epoch %d", offset, mem.next_epoch)
        return mem

    def apply(self, p: int, mem: ScorerMemory, messages: list[tuple[int, bytes]]) -> ScoreResult:
        return self.stage.apply(mem, messages)

    async def send(self, result: ScoreResult) -> None:
        if result.alerts or result.decisions:
            await self._send(result.alerts, result.decisions)

    async def save(self, p: int, mem: ScorerMemory) -> bool:
        done = await self.store.save_scorer(mem.offset, self.stage.checkpoint(mem))
        if done:
            self.stage.saved(mem)
        return done

    def observe(self, p: int, mem: ScorerMemory, result: ScoreResult) -> None:
        for a in result.alerts:
            metrics.ALERTS.labels(a.get("severity", ""), a.get("action", "")).inc()
        for _k, d in result.decisions:
            metrics.DECISIONS.labels("lift" if d is None else "set").inc()
        if result.rejected_profiles:
            metrics.REJECTED_PROFILES.labels("malformed_forward").inc(result.rejected_profiles)
        if result.epochs:
            metrics.EPOCHS.labels("scorer").inc(len(result.epochs))
        metrics.SCORER_PENDING.set(len(mem.buffer))
        if mem.next_epoch >= 0:
            metrics.SCORER_EPOCH.set(mem.next_epoch - self.fine_ms)
