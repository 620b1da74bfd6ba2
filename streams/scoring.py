"""Stage 3, scorer: window summaries and epoch markers in, alerts and decisions out.

:class:`ScoringStage` consumes the single ``xd-summaries`` partition. It buffers summaries per epoch
(by api_key_id, so a redelivered summary overwrites its twin) and tracks, per ``xd-keyed``
partition, the last epoch whose marker arrived. Once every one of the P partitions has a marker,
it processes every epoch from the next unprocessed one (initially the smallest epoch seen) up to
the smallest marker, in fine-bucket steps, calling :meth:`Scorer.close_epoch` for *every* step,
empty ones included, exactly as the in-process :class:`~detector.pipeline.Detector` does. So the
scorer sees the same epoch sequence with the same summaries as replay and makes the same decisions.

Alerts (key = subject id) and decisions (key = ``key:<id>``/``cluster:<id>``, ``None`` = lifted)
are sent and acknowledged, then the checkpoint (scorer, buffer, markers, next epoch, offset) is
written in one guarded Lua call. After a crash the batch is re-run: outputs are at-least-once with
deterministic alert ids, decisions are idempotent on the compacted topic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from detector.config import Config
from detector.feedback import Label
from detector.scorer import Scorer
from detector.summary import WindowSummary
from streams import metrics
from streams.profiles import is_profile_message, profile_update
from streams.redis_store import RedisStore

log = logging.getLogger(__name__)

Alert = dict[str, Any]
Decision = tuple[str, dict[str, Any] | None]
SendOutputs = Callable[[list[Alert], list[Decision]], Awaitable[None]]


@dataclass(slots=True)
class ScorerMemory:
    """Everything stage 3 keeps between batches."""

    scorer: Scorer
    buffer: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)  # epoch -> key -> summary
    closed: dict[int, int] = field(default_factory=dict)    # xd-keyed partition -> last marked epoch
    next_epoch: int = -1                                    # next epoch to process (-1: not started)
    min_seen: int = -1                                      # smallest epoch seen before starting
    offset: int = -1                                        # last applied xd-summaries offset
    scorer_dirty: bool = True

    def meta_bytes(self) -> bytes:
        return orjson.dumps({"closed": {str(p): e for p, e in sorted(self.closed.items())},
                             "next_epoch": self.next_epoch, "min_seen": self.min_seen})

    def buffer_bytes(self) -> bytes:
        return orjson.dumps({str(e): self.buffer[e] for e in sorted(self.buffer)}, option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class ScoreResult:
    """What one batch did."""

    applied: int = 0
    skipped: int = 0
    epochs: list[int] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    persisted: bool = False


class ScoringStage:
    """Stage 3 (one instance owns the single ``xd-summaries`` partition at a time)."""

    def __init__(self, config: Config, store: RedisStore, partitions: int) -> None:
        self.config = config
        self.store = store
        self.partitions = partitions
        self.mem: ScorerMemory | None = None

    async def load(self) -> ScorerMemory:
        """(Re)load the checkpoint from Redis, or start a fresh scorer."""
        offset, fields = await self.store.load_scorer()
        if "scorer" in fields:
            scorer = Scorer.from_bytes(fields["scorer"])
            meta = orjson.loads(fields.get("meta", b"{}"))
            buffer = {int(e): v for e, v in orjson.loads(fields.get("buffer", b"{}")).items()}
            mem = ScorerMemory(scorer, buffer, {int(p): e for p, e in meta.get("closed", {}).items()},
                               meta.get("next_epoch", -1), meta.get("min_seen", -1), offset, scorer_dirty=False)
        else:
            mem = ScorerMemory(Scorer(self.config), offset=offset)
        self.mem = mem
        metrics.RELOADS.labels("scorer").inc()
        log.info("scorer: loaded at offset %d, next epoch %d", offset, mem.next_epoch)
        return mem

    def forget(self) -> None:
        self.mem = None

    async def _memory(self) -> ScorerMemory:
        stored = await self.store.scorer_offset()
        if self.mem is None or self.mem.offset != stored:
            if self.mem is not None:
                log.info("scorer: Redis offset %d != memory %d; reloading", stored, self.mem.offset)
            return await self.load()
        return self.mem

    async def process(self, messages: list[tuple[int, bytes]], send: SendOutputs) -> ScoreResult:
        """Apply one batch of ``xd-summaries`` messages ``(offset, value)``, score what is complete."""
        started = time.perf_counter()
        res = ScoreResult()
        mem = await self._memory()
        fresh = [(o, v) for o, v in messages if o > mem.offset]
        res.skipped = len(messages) - len(fresh)
        if res.skipped:
            metrics.SKIPPED_MESSAGES.labels("scorer").inc(res.skipped)
        if not fresh:
            return res
        for _offset, value in fresh:
            self._apply(mem, value)
        res.applied = len(fresh)
        self._score(mem, res)
        if res.alerts or res.decisions:
            await send(res.alerts, res.decisions)
            for a in res.alerts:
                metrics.ALERTS.labels(a.get("severity", ""), a.get("action", "")).inc()
            for _k, d in res.decisions:
                metrics.DECISIONS.labels("lift" if d is None else "set").inc()
        res.persisted = await self._persist(mem, fresh[-1][0])
        metrics.SCORER_PENDING.set(len(mem.buffer))
        if mem.next_epoch >= 0:
            metrics.SCORER_EPOCH.set(mem.next_epoch - self.config.fine_bucket_ms)
        metrics.mark_batch("scorer", started)
        return res

    def _apply(self, mem: ScorerMemory, value: bytes) -> None:
        msg = orjson.loads(value)
        if "label" in msg:  # an analyst verdict, forwarded in stream order by the labels agent
            try:
                mem.scorer.add_label(Label.from_json(msg["label"].encode()))
                mem.scorer_dirty = True
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("scorer: ignoring a malformed label (%s)", exc)
            return
        if is_profile_message(msg):  # an account profile, forwarded in stream order by the profiles agent
            try:
                mem.scorer.add_profile(profile_update(msg))
                mem.scorer_dirty = True
            except ValueError:
                metrics.REJECTED_PROFILES.labels("malformed_forward").inc()
                log.warning("scorer: ignoring a malformed profile message")
            return
        if "marker" in msg:  # bare marker form {"marker": [p, epoch]}
            p, epoch = msg["marker"]
            summaries: list[dict[str, Any]] = []
            marker = True
        else:
            p, epoch, summaries, marker = msg["p"], msg["e"], msg["s"], bool(msg.get("m"))
        if mem.next_epoch >= 0 and epoch < mem.next_epoch:
            return  # a redelivery of an epoch already scored
        if mem.next_epoch < 0 and (mem.min_seen < 0 or epoch < mem.min_seen):
            mem.min_seen = epoch
        if summaries:
            bucket = mem.buffer.setdefault(epoch, {})
            for s in summaries:
                bucket[s["api_key_id"]] = s
        if marker and epoch > mem.closed.get(p, -1):
            mem.closed[p] = epoch

    def _score(self, mem: ScorerMemory, res: ScoreResult) -> None:
        if len(mem.closed) < self.partitions or any(p not in mem.closed for p in range(self.partitions)):
            return
        upto = min(mem.closed[p] for p in range(self.partitions))
        if mem.next_epoch < 0:
            if mem.min_seen < 0:
                return
            mem.next_epoch = mem.min_seen
        fine = self.config.fine_bucket_ms
        while mem.next_epoch <= upto:
            epoch = mem.next_epoch
            raw = mem.buffer.pop(epoch, {})
            summaries = [WindowSummary.from_json(orjson.dumps(raw[k])) for k in sorted(raw)]
            out = mem.scorer.close_epoch(epoch, summaries)
            res.epochs.append(epoch)
            res.alerts.extend(out.alerts)
            res.decisions.extend(out.decisions)
            mem.next_epoch = epoch + fine
            mem.scorer_dirty = True
        if res.epochs:
            metrics.EPOCHS.labels("scorer").inc(len(res.epochs))

    async def _persist(self, mem: ScorerMemory, offset: int) -> bool:
        fields = {"meta": mem.meta_bytes(), "buffer": mem.buffer_bytes()}
        if mem.scorer_dirty:
            fields["scorer"] = mem.scorer.to_bytes()
        done = await self.store.save_scorer(offset, fields)
        if done:
            mem.offset = offset
            mem.scorer_dirty = False
        else:
            log.info("scorer: Redis already at or past offset %d; dropping memory", offset)
            self.forget()
        return done
