"""The key-window stage for one partition: per-key windows, the watermark, late records.

A :class:`PartitionState` owns the :class:`~detector.windows.KeyWindows` of every key routed to
it. ``add`` counts an event unless it is late; ``advance`` moves the watermark and closes every
fine bucket whose end it passed, in time order, returning one :class:`Epoch` per closed bucket
boundary with the summaries of the keys active in that bucket (sorted by key, so the output does
not depend on arrival order).

The watermark is ``max event time seen - allowed lateness``; a live worker may also raise it from
heartbeats so idle partitions keep closing buckets. An event is *late* when its bucket has already
closed; it is counted in ``late`` and dropped. Keys idle for longer than ``idle_expiry_ms`` are
dropped from memory at bucket close (the Redis store expires them with a TTL).

A key's state is the compiled twin of :class:`~detector.windows.KeyWindows` (``detector_native``,
:mod:`detector.compiled`) when it is built and on, else the Python reference: one call per event
and one per close, the same bytes and the same summaries (``tests/unit/test_native_windows.py``).

>>> p = PartitionState()
>>> p.watermark_ms
-1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from detector import compiled, summary, windows
from detector.config import Config
from detector.features import FEATURE_FIELDS, ROW_HEAD, EventFeatures
from detector.levels import Horizon
from detector.summary import WindowSummary, bucket_stats
from detector.windows import KeyState, KeyWindows

TOP_SKELETONS = 4
"""How many of the day's heaviest skeletons a summary carries."""

_KERNEL: Any = compiled.kernel("WindowKernel", *windows.compiled_layout(), *summary.compiled_tables(),
                               (orjson.dumps, orjson.loads), list(FEATURE_FIELDS))
"""The compiled key windows (:mod:`detector.compiled`), None when it is not built."""

_TS, _KEY = ROW_HEAD + FEATURE_FIELDS.index("ts_ms"), ROW_HEAD + FEATURE_FIELDS.index("api_key_id")

_Parts = tuple[dict[str, dict[str, float]], dict[str, int], dict[str, int], list[tuple[int, int]], str, str,
               list[tuple[int, int]], str]
"""A closed key's summary fields: stats per horizon, models of the hour and day horizons, the day's top
skeletons, IP prefix, user agent, signatures, activity."""


def new_windows(key: str) -> KeyState:
    """An empty window state for ``key``: compiled when built and on, else the Python reference."""
    return _KERNEL.key(key) if _KERNEL is not None and compiled.ON else KeyWindows(key)


def load_windows(data: bytes) -> KeyState:
    """The window state of ``KeyState.to_bytes()`` bytes (written by either implementation)."""
    return _KERNEL.load(data) if _KERNEL is not None and compiled.ON else KeyWindows.from_bytes(data)


def _reference_parts(kw: KeyWindows, start: int, cfg: Config, day: str, hour: str) -> _Parts:
    """:meth:`KeyWindows.close` and the summary fields derived from it (what the compiled
    ``summarise`` returns in one call)."""
    merged = kw.close(start, cfg.fine_bucket_ms, cfg.coarse_bucket_ms, cfg.horizons_ms)
    return ({h: bucket_stats(b) for h, b in merged.items()},
            dict(sorted(merged[hour].models.items())),
            dict(sorted(merged[day].models.items())),
            merged[day].top_skeletons.top(TOP_SKELETONS),
            max(sorted(kw.ip_prefixes), key=kw.ip_prefixes.__getitem__, default=""),
            max(sorted(kw.user_agents), key=kw.user_agents.__getitem__, default=""),
            sorted(kw.signatures.items(), key=lambda sc: (-sc[1], sc[0])),
            f"{kw.activity(start - start % cfg.coarse_bucket_ms, max(cfg.horizons_ms.values())):x}")


@dataclass(slots=True)
class Epoch:
    """The close of the fine buckets ending at ``end_ms``: summaries of keys active in them."""

    end_ms: int
    summaries: list[WindowSummary]


@dataclass(slots=True)
class PartitionState:
    """All key windows of one partition plus its event-time bookkeeping."""

    config: Config = field(default_factory=Config)
    keys: dict[str, KeyState] = field(default_factory=dict)
    active: dict[int, set[str]] = field(default_factory=dict)  # open fine bucket start -> keys
    max_ts_ms: int = -1
    watermark_ms: int = -1
    closed_until_ms: int = -1    # every fine bucket ending at or before this is closed
    late: int = 0
    duplicates: int = 0          # records whose request id the key had just counted (retries)
    dirty: set[str] = field(default_factory=set)  # keys changed since the last persist

    def add(self, f: EventFeatures) -> bool:
        """Count one event; returns False if its bucket has closed (counted in ``late``) or its
        request id repeats one of the key's last few (counted in ``duplicates``)."""
        return self._count(f.ts_ms, f.api_key_id, f, False)

    def add_row(self, row: list[Any]) -> bool:
        """:meth:`add` of a keyed row ``[offset, index, pre, *EventFeatures values]`` (as
        :func:`~detector.stages.records.decode_keyed` gives it), without building the features."""
        return self._count(row[_TS], row[_KEY], row, True)

    def _count(self, ts: int, key: str, item: Any, row: bool) -> bool:
        fine = self.config.fine_bucket_ms
        start = ts - ts % fine
        if start < self.closed_until_ms:
            self.late += 1
            return False
        kw = self.keys.get(key)
        if kw is None:
            kw = self.keys[key] = new_windows(key)
        if not (kw.observe_row(item, fine) if row else kw.observe(item, fine)):
            self.duplicates += 1
            return False
        keys = self.active.get(start)
        if keys is None:
            keys = self.active[start] = set()
        keys.add(key)
        self.dirty.add(key)
        if ts > self.max_ts_ms:
            self.max_ts_ms = ts
        return True

    def next_close_ms(self) -> int:
        """The smallest event time that can close a bucket; events before it need no ``advance``."""
        if self.closed_until_ms < 0:
            return -1
        return self.closed_until_ms + self.config.fine_bucket_ms + self.config.allowed_lateness_ms

    def advance(self, heartbeat_ms: int = -1) -> list[Epoch]:
        """Raise the watermark (from own events and ``heartbeat_ms``) and close what it passed."""
        wm = max(self.max_ts_ms, heartbeat_ms) - self.config.allowed_lateness_ms
        if wm <= self.watermark_ms:
            return []
        self.watermark_ms = wm
        fine = self.config.fine_bucket_ms
        if self.closed_until_ms < 0:
            first = min(self.active, default=wm - wm % fine)
            self.closed_until_ms = first
        epochs: list[Epoch] = []
        while self.closed_until_ms + fine <= wm:
            epochs.append(self._close(self.closed_until_ms))
            self.closed_until_ms += fine
        return epochs

    def flush(self) -> list[Epoch]:
        """Close every open bucket (end of a finite replay)."""
        if not self.active:
            return []
        last = max(self.active) + self.config.fine_bucket_ms
        return self.advance(last + self.config.allowed_lateness_ms)

    def _close(self, start: int) -> Epoch:
        cfg = self.config
        end = start + cfg.fine_bucket_ms
        spans = cfg.horizons_ms
        day = Horizon.DAY if Horizon.DAY in spans else max(spans, key=spans.__getitem__)
        hour = Horizon.HOUR if Horizon.HOUR in spans else day
        summaries: list[WindowSummary] = []
        for key in sorted(self.active.pop(start, ())):
            kw = self.keys[key]
            if isinstance(kw, KeyWindows):
                parts = _reference_parts(kw, start, cfg, day, hour)
            else:
                parts = kw.summarise(start, cfg.fine_bucket_ms, cfg.coarse_bucket_ms, spans, day, hour, TOP_SKELETONS)
            self.dirty.add(key)
            stats, models_1h, models_24h, skeletons, ip_prefix, user_agent, signatures, activity = parts
            summaries.append(WindowSummary(
                api_key_id=key, epoch_ms=end, account_id=kw.account_id, account_created_ms=kw.account_created_ms,
                stats=stats, models_1h=models_1h, models_24h=models_24h, skeletons=skeletons, ip_prefix=ip_prefix,
                user_agent=user_agent, signatures=signatures, activity=activity))
        self._expire(end)
        return Epoch(end, summaries)

    def _expire(self, now_ms: int) -> None:
        horizon = self.config.idle_expiry_ms
        idle = [k for k, kw in self.keys.items() if kw.last_ts < now_ms - horizon]
        for k in idle:
            del self.keys[k]
            self.dirty.add(k)

    def meta_bytes(self) -> bytes:
        """Everything but the per-key windows (those are stored per key)."""
        return orjson.dumps({
            "active": {str(k): sorted(v) for k, v in sorted(self.active.items())},
            "max_ts_ms": self.max_ts_ms, "watermark_ms": self.watermark_ms,
            "closed_until_ms": self.closed_until_ms, "late": self.late,
        })

    @classmethod
    def restore(cls, config: Config, meta: bytes | None, keys: dict[str, bytes]) -> PartitionState:
        """Rebuild from :meth:`meta_bytes` and the per-key ``KeyWindows.to_bytes()`` blobs."""
        state = cls(config)
        if meta:
            m = orjson.loads(meta)
            state.active = {int(k): set(v) for k, v in m["active"].items()}
            state.max_ts_ms, state.watermark_ms = m["max_ts_ms"], m["watermark_ms"]
            state.closed_until_ms, state.late = m["closed_until_ms"], m["late"]
        state.keys = {k: load_windows(v) for k, v in sorted(keys.items())}
        return state
