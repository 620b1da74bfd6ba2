"""Stage 3, epoch barrier + scorer: epoch summaries, labels and profiles in; alerts and decisions out.

A pure state machine over the single ``xd-summaries`` stream: :meth:`EpochScorer.apply` takes the
:class:`ScorerMemory` and one batch of ``(offset, value)`` messages and returns the alerts and
decisions of every epoch the batch completed; :meth:`EpochScorer.checkpoint` and
:meth:`EpochScorer.restore` turn the memory into stored fields and back. The runner (live:
:mod:`streams.runner`) does the I/O around it.

The barrier: summaries are buffered per epoch (by api_key_id, so a redelivered summary overwrites
its twin) and, per key partition, the last epoch whose marker arrived is kept. Once every one of
the P partitions has a marker, every epoch from the next unprocessed one (initially the smallest
epoch seen) up to the smallest marker is scored, in fine-bucket steps, calling
:meth:`~detector.scorer.Scorer.close_epoch` for *every* step, empty ones included, exactly as the
in-process :class:`~detector.pipeline.Detector` does. So the scorer sees the same epoch sequence
with the same summaries as replay and makes the same decisions.

Analyst labels (``{"label": ...}``) and account profiles travel in the same stream, so their effect
is ordered with the epochs and checkpointed with them.

The checkpoint holds the scorer's learned state, never its :class:`~detector.config.Config` or
calibration: a restarted worker decides with the configuration it was started with, as replay
does (``config`` in :meth:`restore`), and the fingerprint of the configuration that wrote the
checkpoint is kept beside it so a change is visible (:attr:`ScorerMemory.config_changed`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from detector.config import Config
from detector.feedback import Label
from detector.stages.profiles import is_profile_message, profile_update
from detector.scorer import Scorer
from detector.stages.records import decode_epoch
from detector.summary import WindowSummary

log = logging.getLogger(__name__)

Alert = dict[str, Any]
Decision = tuple[str, dict[str, Any] | None]


@dataclass(slots=True)
class ScorerMemory:
    """Everything stage 3 keeps between batches."""

    scorer: Scorer
    buffer: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)  # epoch -> key -> summary
    closed: dict[int, int] = field(default_factory=dict)    # key partition -> last marked epoch
    next_epoch: int = -1                                    # next epoch to process (-1: not started)
    min_seen: int = -1                                      # smallest epoch seen before starting
    offset: int = -1                                        # last applied xd-summaries offset
    scorer_dirty: bool = True
    config_changed: bool = False                            # restored under another configuration


@dataclass(slots=True)
class ScoreResult:
    """What one batch did."""

    applied: int = 0
    skipped: int = 0
    epochs: list[int] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    rejected_profiles: int = 0
    persisted: bool = False


class EpochScorer:
    """Stage 3 logic: the epoch barrier over ``partitions`` key partitions and the scorer."""

    def __init__(self, config: Config, partitions: int) -> None:
        self.config = config
        self.partitions = partitions

    def restore(self, offset: int, fields: dict[str, bytes]) -> ScorerMemory:
        """The memory a :meth:`checkpoint` describes, or a fresh scorer when ``fields`` has none."""
        if "scorer" not in fields:
            return ScorerMemory(Scorer(self.config), offset=offset)
        meta = orjson.loads(fields.get("meta", b"{}"))
        buffer = {int(e): v for e, v in orjson.loads(fields.get("buffer", b"{}")).items()}
        return ScorerMemory(Scorer.from_bytes(fields["scorer"], self.config), buffer,
                            {int(p): e for p, e in meta.get("closed", {}).items()},
                            meta.get("next_epoch", -1), meta.get("min_seen", -1), offset, scorer_dirty=False,
                            config_changed=meta.get("config") != self.config.fingerprint())

    def apply(self, mem: ScorerMemory, messages: list[tuple[int, bytes]]) -> ScoreResult:
        """Apply the messages past ``mem.offset`` (in offset order) and score what is complete."""
        res = ScoreResult()
        fresh = [(o, v) for o, v in messages if o > mem.offset]
        res.skipped = len(messages) - len(fresh)
        for _offset, value in fresh:
            self._apply(mem, value, res)
        res.applied = len(fresh)
        self._score(mem, res)
        if fresh:
            mem.offset = fresh[-1][0]
        return res

    def _apply(self, mem: ScorerMemory, value: bytes, res: ScoreResult) -> None:
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
                res.rejected_profiles += 1
                log.warning("scorer: ignoring a malformed profile message")
            return
        chunk = decode_epoch(msg)
        epoch = chunk.epoch_ms
        if mem.next_epoch >= 0 and epoch < mem.next_epoch:
            return  # a redelivery of an epoch already scored
        if mem.next_epoch < 0 and (mem.min_seen < 0 or epoch < mem.min_seen):
            mem.min_seen = epoch
        if chunk.summaries:
            bucket = mem.buffer.setdefault(epoch, {})
            for s in chunk.summaries:
                bucket[s["api_key_id"]] = s
        if chunk.marker and epoch > mem.closed.get(chunk.partition, -1):
            mem.closed[chunk.partition] = epoch

    def _score(self, mem: ScorerMemory, res: ScoreResult) -> None:
        if any(p not in mem.closed for p in range(self.partitions)):
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
            out = mem.scorer.close_epoch(epoch, [WindowSummary.from_dict(raw[k]) for k in sorted(raw)])
            res.epochs.append(epoch)
            res.alerts.extend(out.alerts)
            res.decisions.extend(out.decisions)
            mem.next_epoch = epoch + fine
            mem.scorer_dirty = True

    def checkpoint(self, mem: ScorerMemory) -> dict[str, bytes]:
        """Fields to store: markers and next epoch, the epoch buffer, and the scorer when it changed."""
        fields = {
            "meta": orjson.dumps({"closed": {str(p): e for p, e in sorted(mem.closed.items())},
                                  "next_epoch": mem.next_epoch, "min_seen": mem.min_seen,
                                  "config": self.config.fingerprint()}),
            "buffer": orjson.dumps({str(e): mem.buffer[e] for e in sorted(mem.buffer)}, option=orjson.OPT_SORT_KEYS),
        }
        if mem.scorer_dirty:
            fields["scorer"] = mem.scorer.to_bytes()
        return fields

    @staticmethod
    def saved(mem: ScorerMemory) -> None:
        """Mark the memory as stored (after the runner's write succeeded)."""
        mem.scorer_dirty = False
