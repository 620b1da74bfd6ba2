"""Stage 2, keyed windows: feature rows of one key partition in, closed epochs' summaries out.

A pure state machine per key partition: :meth:`KeyedWindows.apply` takes the partition's
:class:`Slot` and one batch of ``(offset, value)`` messages (:class:`~detector.stages.records.KeyedMessage`
bytes) and returns the ``xd-summaries`` messages of every epoch the batch closed;
:meth:`KeyedWindows.checkpoint` returns what must be stored so that :meth:`KeyedWindows.restore`
rebuilds the same slot. The runner (live: :mod:`streams.runner`) does the I/O around it.

For each message: rows at or below the source's high-water mark ``(source offset, index)`` are
redeliveries after an ingest restart and are skipped; for every other row ``advance(pre)`` then
``add(row)`` (record by record, as :class:`~detector.pipeline.Detector` does); then ``advance(hb)``.
A fresh partition starts its first bucket at the batch's first event (``t0``), as the in-process
detector does. Heartbeats are kept per source partition; the value advanced to is the minimum over
sources that still had input to read, or the maximum when all are caught up (with one source: that
source's running maximum, exactly the in-process detector's watermark). Every closed epoch becomes
chunks of summaries, the last flagged as the epoch's marker (:func:`~detector.stages.records.encode_epoch`).

When it fails: a key blob that expired in the store cannot be closed; :meth:`restore` drops it from
the open buckets (the runner logs how many). Cost: per message one ``orjson.loads``; per row one window
update; per epoch one summary per active key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

from detector.config import Config
from detector.partition import Epoch, PartitionState
from detector.stages.records import decode_keyed, encode_epoch
from detector.summary import WindowSummary

COVERED = 1 << 62
"""Row index standing for "every row of this source offset" in a high-water mark."""


@dataclass(slots=True)
class Slot:
    """One key partition in memory: its windows, per-source high-water marks, last applied offset."""

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
    """What one batch did: counts for metrics and tests, the closed epochs and their messages."""

    applied: int = 0
    skipped: int = 0
    rows: int = 0
    duplicate_rows: int = 0
    late: int = 0
    epochs: list[int] = field(default_factory=list)
    summaries: int = 0
    messages: list[bytes] = field(default_factory=list)
    persisted: bool = False


@dataclass(slots=True)
class PartitionCheckpoint:
    """What the store keeps of a slot: meta fields, blobs of changed keys, keys to delete."""

    fields: dict[str, bytes]
    set_blobs: dict[str, bytes]
    del_ids: list[str]


def summary_json(s: WindowSummary) -> bytes:
    """``s.to_json()``: orjson serialises the slots dataclass directly (no ``asdict`` deep copy)."""
    return orjson.dumps(s)


def encode_epochs(p: int, epochs: list[Epoch], per_message: int) -> list[bytes]:
    """``xd-summaries`` messages for closed epochs of partition ``p``, in order."""
    out: list[bytes] = []
    for ep in epochs:
        blobs = [summary_json(s) for s in ep.summaries]
        chunks = [blobs[i:i + per_message] for i in range(0, len(blobs), per_message)] or [[]]
        for n, chunk in enumerate(chunks):
            out.append(encode_epoch(p, ep.end_ms, n == len(chunks) - 1, chunk))
    return out


class KeyedWindows:
    """Stage 2 logic for any number of key partitions (one :class:`Slot` each)."""

    def __init__(self, config: Config, *, summaries_per_message: int = 400) -> None:
        self.config = config
        self.per_message = max(1, summaries_per_message)
        self.ttl_s = max(1, math.ceil(config.idle_expiry_ms / 1000))

    def restore(self, offset: int, fields: dict[str, bytes], blobs: dict[str, bytes]) -> Slot:
        """The slot a :meth:`checkpoint` describes (an empty one when ``fields`` is empty)."""
        state = PartitionState.restore(self.config, fields.get("state"), blobs)
        for keys in state.active.values():  # a key whose blob expired cannot be closed
            keys.intersection_update(state.keys)
        hw = {int(s): (o, i) for s, (o, i) in orjson.loads(fields.get("hw", b"{}")).items()}
        sources = {int(s): (m, bool(i)) for s, (m, i) in orjson.loads(fields.get("src", b"{}")).items()}
        return Slot(state, hw, offset, sources)

    def apply(self, p: int, slot: Slot, messages: list[tuple[int, bytes]]) -> BatchResult:
        """Apply the messages of partition ``p`` that are past ``slot.offset``, in offset order."""
        res = BatchResult()
        fresh = [(o, v) for o, v in messages if o > slot.offset]
        res.skipped = len(messages) - len(fresh)
        epochs: list[Epoch] = []
        for _offset, value in fresh:
            self._apply(slot, value, epochs, res)
        res.applied = len(fresh)
        res.epochs = [e.end_ms for e in epochs]
        res.summaries = sum(len(e.summaries) for e in epochs)
        if epochs:
            res.messages = encode_epochs(p, epochs, self.per_message)
        if fresh:
            slot.offset = fresh[-1][0]
        return res

    def _apply(self, slot: Slot, value: bytes, epochs: list[Epoch], res: BatchResult) -> None:
        msg = decode_keyed(value)
        st = slot.state
        source = msg.source
        hw = slot.hw.get(source, (-1, -1))
        t0 = msg.t0
        if st.closed_until_ms < 0 and not st.active and t0 >= 0:
            st.closed_until_ms = t0 - t0 % self.config.fine_bucket_ms
        late_before = st.late
        for row in msg.rows:
            pos = (row[0], row[1])
            if pos <= hw:
                res.duplicate_rows += 1
                continue
            hw = pos
            epochs.extend(st.advance(slot.heartbeat(source, row[2], False)))
            st.add_row(row)
            res.rows += 1
        if msg.covered is not None and (msg.covered, COVERED) > hw:
            hw = (msg.covered, COVERED)
        slot.hw[source] = hw
        beat = slot.heartbeat(source, msg.hb, msg.idle)
        if st.closed_until_ms >= 0 or st.active:
            epochs.extend(st.advance(beat))
        res.late += st.late - late_before

    def checkpoint(self, slot: Slot) -> PartitionCheckpoint:
        """What to store so :meth:`restore` gives this slot back: meta, changed keys, expired keys."""
        st = slot.state
        return PartitionCheckpoint(
            fields={
                "state": st.meta_bytes(),
                "hw": orjson.dumps({str(s): list(v) for s, v in sorted(slot.hw.items())}),
                "src": orjson.dumps({str(s): [m, int(i)] for s, (m, i) in sorted(slot.sources.items())}),
            },
            set_blobs={k: st.keys[k].to_bytes() for k in st.dirty if k in st.keys},
            del_ids=sorted(k for k in st.dirty if k not in st.keys))

    @staticmethod
    def saved(slot: Slot) -> None:
        """Mark the slot's changes as stored (after the runner's write succeeded)."""
        slot.state.dirty = set()
