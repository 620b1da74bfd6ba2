"""Per-key sliding windows in event time: a ring of mergeable time buckets.

A key's recent traffic is held in *fine* buckets (10 minutes, the last hour) and *coarse* buckets
(1 hour, the last 24 hours). Events update only their fine bucket; when a fine bucket closes (the
watermark passed its end) it is folded into the coarse bucket of its hour. A window over a horizon
is the merge of the buckets it covers, so every statistic in a :class:`Bucket` must merge exactly or
as a sketch union: counts and sums add, distinct sets are KMV sketches (union), skeleton heavy
hitters merge, length and gap distributions are log histograms (bin-wise sums), masks OR.

Horizons at the close of a fine bucket ending at ``E``: ``10m`` is that bucket; ``1h`` the fine
buckets in ``(E-1h, E]``; ``24h`` the coarse buckets of the 24 hours up to ``E``'s hour, which hold
exactly the fine buckets closed so far (so the result does not depend on arrival timing).

Assumes events of one key arrive roughly in time order (out-of-order within the allowed lateness
is fine: they land in their own still-open bucket). Costs O(1) per event (a few sketch updates)
and O(buckets) per close. State per key is bounded: at most 6 fine + 24 coarse buckets, each of a
bounded size (sketch capacities are fixed), and idle keys are dropped.

This module is the reference: :mod:`detector.partition` runs its compiled twin
(``detector_native.KeyWindows``, built from :func:`compiled_layout`) when it is built, which keeps
the same state, writes the same bytes and reads the bytes of either.

>>> from detector.features import EventFeatures
>>> kw = KeyWindows("k1")
>>> f = EventFeatures(ts_ms=1_000, api_key_id="k1", account_id=None, account_created_ms=None,
...     prompt_fp=1, skeleton_fp=2, skeleton_sig=3, system_fp=0, flags=0, script=0, prompt_chars=40,
...     input_tokens=10, output_tokens=200, depth=1, model="m", ip_prefix="", user_agent="",
...     end_user_fp=0, status=200)
>>> kw.add(f, 600_000)
>>> kw.fine[0].n
1
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from xxhash import xxh3_64_intdigest

from detector.chunks import SKETCH_K
from detector.features import ROW_HEAD, EventFeatures
from detector.sketches import KMV, HeavyHitters, LogHistogram

NSIG = 32
MAX_MODELS = 4
MAX_LINK_VALUES = 4
MAX_SIGNATURES = 4
RECENT_REQUESTS = 16
_HOUR_MS = 3_600_000
_SESSION_MS = 10 * 60_000
_PAIR = struct.Struct("<QQ")
_xxh = xxh3_64_intdigest
SLOT_MS = 5 * 60_000
"""Activity resolution: a bucket records which 5-minute slots of its hour had traffic."""
OTHER = "~other"
"""The key that counts the values past a bounded dict's cap (models, IP prefixes, user agents)."""


def frame(parts: list[bytes]) -> bytes:
    """Concatenate byte strings, each behind a 4-byte length (inverse: :func:`unframe`)."""
    return b"".join(struct.pack("<I", len(p)) + p for p in parts)


def unframe(data: bytes) -> list[bytes]:
    """Split what :func:`frame` joined."""
    parts: list[bytes] = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        parts.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return parts


def _bounded_inc(d: dict[str, int], key: str, w: int, cap: int) -> None:
    """Add ``w`` to ``d[key]``; when a new key would exceed ``cap``, fold it into :data:`OTHER`."""
    if key in d or len(d) < cap:
        d[key] = d.get(key, 0) + w
    else:
        d[OTHER] = d.get(OTHER, 0) + w


@dataclass(slots=True)
class Bucket:
    """Mergeable statistics of one key over one time bucket."""

    n: int = 0
    in_tok: int = 0
    out_tok: int = 0
    depth_sum: int = 0
    errors: int = 0
    end_user_n: int = 0
    hours: int = 0       # bitmask of UTC hours of day with traffic
    scripts: int = 0     # bitmask of writing systems seen
    slots: int = 0       # bitmask of the 5-minute slots of the hour with traffic (12 bits)
    flag_counts: list[int] = field(default_factory=lambda: [0] * NSIG)
    prompts: KMV = field(default_factory=lambda: KMV(32))
    skeletons: KMV = field(default_factory=lambda: KMV(32))
    end_users: KMV = field(default_factory=lambda: KMV(16))
    bias_sets: KMV = field(default_factory=lambda: KMV(8))
    heads: KMV = field(default_factory=lambda: KMV(16))   # distinct conversations (opening turns)
    user_sessions: KMV = field(default_factory=lambda: KMV(16))   # distinct (end user, 10-minute slot)
    in_chunks: int = 0   # content-defined chunks of the input text (detector.chunks)
    inputs: KMV = field(default_factory=lambda: KMV(SKETCH_K))   # their theta-sampled hashes
    top_skeletons: HeavyHitters = field(default_factory=HeavyHitters)
    gaps: LogHistogram = field(default_factory=LogHistogram)
    lengths: LogHistogram = field(default_factory=LogHistogram)
    models: dict[str, int] = field(default_factory=dict)

    def add(self, f: EventFeatures, gap_ms: int) -> None:
        """Count one event; ``gap_ms`` is the time since the key's previous event (-1: none)."""
        self.n += 1
        self.in_tok += f.input_tokens
        self.out_tok += f.output_tokens
        self.depth_sum += f.depth
        if f.status >= 400:
            self.errors += 1
        if f.end_user_fp:
            self.end_user_n += 1
            self.end_users.add(f.end_user_fp)
            self.user_sessions.add(_xxh(_PAIR.pack(f.end_user_fp, f.ts_ms // _SESSION_MS)))
        self.hours |= 1 << ((f.ts_ms // _HOUR_MS) % 24)
        self.scripts |= 1 << f.script
        self.slots |= 1 << (f.ts_ms % _HOUR_MS // SLOT_MS)
        if f.bias_fp:
            self.bias_sets.add(f.bias_fp)
        if f.head_fp:
            self.heads.add(f.head_fp)
        flags = f.flags
        counts = self.flag_counts
        while flags:
            low = flags & -flags
            counts[low.bit_length() - 1] += 1
            flags ^= low
        self.prompts.add(f.prompt_fp)
        self.skeletons.add(f.skeleton_fp)
        self.top_skeletons.add(f.skeleton_fp)
        if gap_ms >= 0:
            self.gaps.add(gap_ms)
        self.lengths.add(f.prompt_chars)
        _bounded_inc(self.models, f.model, 1, MAX_MODELS)
        self.in_chunks += f.input_chunks
        self.inputs.update(f.input_samples)

    def merge(self, other: Bucket) -> None:
        """Fold ``other`` into this bucket (exact for counts, sketch union for the rest)."""
        self.n += other.n
        self.in_tok += other.in_tok
        self.out_tok += other.out_tok
        self.depth_sum += other.depth_sum
        self.errors += other.errors
        self.end_user_n += other.end_user_n
        self.hours |= other.hours
        self.scripts |= other.scripts
        self.slots |= other.slots
        self.flag_counts = [a + b for a, b in zip(self.flag_counts, other.flag_counts)]
        self.prompts.merge(other.prompts)
        self.skeletons.merge(other.skeletons)
        self.end_users.merge(other.end_users)
        self.bias_sets.merge(other.bias_sets)
        self.heads.merge(other.heads)
        self.user_sessions.merge(other.user_sessions)
        self.in_chunks += other.in_chunks
        self.inputs.merge(other.inputs)
        self.top_skeletons.merge(other.top_skeletons)
        self.gaps.merge(other.gaps)
        self.lengths.merge(other.lengths)
        for model, c in sorted(other.models.items()):
            _bounded_inc(self.models, model, c, MAX_MODELS)

    def copy(self) -> Bucket:
        """An independent copy (merging into an empty bucket)."""
        out = Bucket()
        out.merge(self)
        return out

    def to_bytes(self) -> bytes:
        """Compact binary form (see :func:`Bucket.from_bytes`)."""
        ints = [self.n, self.in_tok, self.out_tok, self.depth_sum, self.errors, self.end_user_n,
                self.hours, self.scripts, self.slots]
        nz = [(i, c) for i, c in enumerate(self.flag_counts) if c]
        head = struct.pack(f"<9qB{len(nz) * 2}q", *ints, len(nz), *[v for p in nz for v in p])
        models = "\x1f".join(f"{m}\x1e{c}" for m, c in self.models.items()).encode()
        parts = [head, self.prompts.to_bytes(), self.skeletons.to_bytes(), self.end_users.to_bytes(),
                 self.top_skeletons.to_bytes(), self.gaps.to_bytes(), self.lengths.to_bytes(), models,
                 self.bias_sets.to_bytes(), self.heads.to_bytes(), self.user_sessions.to_bytes(),
                 struct.pack("<q", self.in_chunks), self.inputs.to_bytes()]
        return frame(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Bucket:
        """Inverse of :meth:`to_bytes`."""
        parts = unframe(data)
        if len(parts) not in (11, 13):   # eleven: written before the input chunks were counted
            raise ValueError(f"not a serialised Bucket ({len(parts)} parts)")
        head = parts[0]
        ints = struct.unpack_from("<9qB", head)
        b = cls(n=ints[0], in_tok=ints[1], out_tok=ints[2], depth_sum=ints[3], errors=ints[4],
                end_user_n=ints[5], hours=ints[6], scripts=ints[7], slots=ints[8])
        nz = struct.unpack_from(f"<{ints[9] * 2}q", head, struct.calcsize("<9qB"))
        for i in range(0, len(nz), 2):
            b.flag_counts[nz[i]] = nz[i + 1]
        b.prompts = KMV.from_bytes(parts[1])
        b.skeletons = KMV.from_bytes(parts[2])
        b.end_users = KMV.from_bytes(parts[3])
        b.top_skeletons = HeavyHitters.from_bytes(parts[4])
        b.gaps = LogHistogram.from_bytes(parts[5])
        b.lengths = LogHistogram.from_bytes(parts[6])
        if parts[7]:
            for item in parts[7].decode().split("\x1f"):
                m, c = item.split("\x1e")
                b.models[m] = int(c)
        b.bias_sets = KMV.from_bytes(parts[8])
        b.heads = KMV.from_bytes(parts[9])
        b.user_sessions = KMV.from_bytes(parts[10])
        if len(parts) == 13:
            (b.in_chunks,) = struct.unpack("<q", parts[11])
            b.inputs = KMV.from_bytes(parts[12])
        return b


@dataclass(slots=True)
class KeyWindows:
    """All window state of one API key: fine and coarse bucket rings plus linkage attributes."""

    api_key_id: str
    account_id: str | None = None
    account_created_ms: int | None = None
    last_ts: int = -1
    fine: dict[int, Bucket] = field(default_factory=dict)     # fine bucket start -> bucket
    coarse: dict[int, Bucket] = field(default_factory=dict)   # hour start -> bucket
    ip_prefixes: dict[str, int] = field(default_factory=dict)
    user_agents: dict[str, int] = field(default_factory=dict)
    signatures: dict[int, int] = field(default_factory=dict)  # SimHash of system + skeleton -> count
    recent: list[int] = field(default_factory=list)  # fingerprints of the last request ids (dedupe)

    def seen(self, request_fp: int) -> bool:
        """True when ``request_fp`` is one of the key's last :data:`RECENT_REQUESTS` request ids (a
        retry or redelivery of a request already counted); otherwise remembers it."""
        if not request_fp:
            return False
        if request_fp in self.recent:
            return True
        self.recent.append(request_fp)
        if len(self.recent) > RECENT_REQUESTS:
            del self.recent[0]
        return False

    def observe(self, f: EventFeatures, fine_ms: int) -> bool:
        """:meth:`seen` of ``f``'s request id, then :meth:`add` unless seen: whether ``f`` counted."""
        if self.seen(f.request_fp):
            return False
        self.add(f, fine_ms)
        return True

    def observe_row(self, row: list[Any], fine_ms: int) -> bool:
        """:meth:`observe` of a keyed row ``[offset, index, pre, *EventFeatures values]``."""
        return self.observe(EventFeatures(*row[ROW_HEAD:]), fine_ms)

    def add(self, f: EventFeatures, fine_ms: int) -> None:
        """Count ``f`` in its fine bucket (the caller has checked it is not late)."""
        start = f.ts_ms - f.ts_ms % fine_ms
        bucket = self.fine.get(start)
        if bucket is None:
            bucket = self.fine[start] = Bucket()
        gap = f.ts_ms - self.last_ts if 0 <= self.last_ts <= f.ts_ms else -1
        bucket.add(f, gap)
        if f.ts_ms > self.last_ts:
            self.last_ts = f.ts_ms
        if f.account_id is not None:
            self.account_id = f.account_id
        if f.account_created_ms is not None:
            self.account_created_ms = f.account_created_ms
        if f.ip_prefix:
            _bounded_inc(self.ip_prefixes, f.ip_prefix, 1, MAX_LINK_VALUES)
        if f.user_agent:
            _bounded_inc(self.user_agents, f.user_agent, 1, MAX_LINK_VALUES)
        sig = f.skeleton_sig
        if sig and (sig in self.signatures or len(self.signatures) < MAX_SIGNATURES):
            self.signatures[sig] = self.signatures.get(sig, 0) + 1

    def close(self, start: int, fine_ms: int, coarse_ms: int, horizons_ms: dict[str, int]) -> dict[str, Bucket]:
        """Close the fine bucket starting at ``start``; return the merged bucket per horizon.

        The closed bucket is folded into its coarse bucket; fine buckets older than the longest
        fine-resolved horizon and coarse buckets older than the longest horizon are dropped.
        """
        end = start + fine_ms
        closed = self.fine.get(start) or Bucket()
        hour = start - start % coarse_ms
        coarse = self.coarse.get(hour)
        if coarse is None:
            self.coarse[hour] = closed.copy()
        else:
            coarse.merge(closed)
        out: dict[str, Bucket] = {}
        for name, span in horizons_ms.items():
            if span <= fine_ms:
                out[name] = closed
            elif span < coarse_ms * 2:
                merged = Bucket()
                for s in sorted(self.fine):
                    if end - span <= s < end:
                        merged.merge(self.fine[s])
                out[name] = merged
            else:
                merged = Bucket()
                for h in sorted(self.coarse):
                    if hour - span < h <= hour:
                        merged.merge(self.coarse[h])
                out[name] = merged
        fine_keep = max((s for s in horizons_ms.values() if s < coarse_ms * 2), default=fine_ms)
        for s in [s for s in self.fine if s < end - fine_keep]:
            del self.fine[s]
        longest = max(horizons_ms.values())
        for h in [h for h in self.coarse if h <= hour - longest]:
            del self.coarse[h]
        return out

    def activity(self, hour: int, span_ms: int) -> int:
        """The 5-minute slots with traffic in the ``span_ms`` up to the hour starting at ``hour``:
        a bitmask, slot 0 the oldest (``span_ms // SLOT_MS`` bits). Keys driven by one scheduler
        share their slots; independent callers rarely do."""
        per_hour = _HOUR_MS // SLOT_MS
        mask = 0
        for h, bucket in self.coarse.items():
            age = (hour - h) // _HOUR_MS
            if 0 <= age < span_ms // _HOUR_MS:
                mask |= bucket.slots << (per_hour * (span_ms // _HOUR_MS - 1 - age))
        return mask

    def state_bytes(self) -> int:
        """Serialised size of this key's state (what the Redis store keeps)."""
        return len(self.to_bytes())

    def to_bytes(self) -> bytes:
        """Compact binary form: a small JSON header followed by the buckets."""
        header = orjson.dumps([self.api_key_id, self.account_id, self.account_created_ms, self.last_ts,
                               self.ip_prefixes, self.user_agents, sorted(self.fine), sorted(self.coarse),
                               [[str(s), c] for s, c in self.signatures.items()], [str(r) for r in self.recent]])
        parts = [header] + [self.fine[s].to_bytes() for s in sorted(self.fine)] + [
            self.coarse[h].to_bytes() for h in sorted(self.coarse)]
        return frame(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyWindows:
        """Inverse of :meth:`to_bytes`."""
        parts = unframe(data)
        key, acct, created, last_ts, ips, uas, fine, coarse, sigs, recent = orjson.loads(parts[0])
        kw = cls(key, acct, created, last_ts, ip_prefixes=ips, user_agents=uas,
                 signatures={int(s): c for s, c in sigs}, recent=[int(r) for r in recent])
        buckets = parts[1:]
        for i, s in enumerate(fine):
            kw.fine[s] = Bucket.from_bytes(buckets[i])
        for j, h in enumerate(coarse):
            kw.coarse[h] = Bucket.from_bytes(buckets[len(fine) + j])
        return kw


class KeyState(Protocol):
    """One key's window state: a :class:`KeyWindows` or its compiled twin, ``detector_native.KeyWindows``
    (same methods, same bytes; see :mod:`detector.partition`)."""

    @property
    def last_ts(self) -> int: ...

    @property
    def account_id(self) -> str | None: ...

    @property
    def account_created_ms(self) -> int | None: ...

    def observe(self, f: EventFeatures, fine_ms: int) -> bool: ...

    def observe_row(self, row: list[Any], fine_ms: int) -> bool: ...

    def to_bytes(self) -> bytes: ...

    def state_bytes(self) -> int: ...


def compiled_layout() -> tuple[bytes, tuple[int, int, int, int, int], str, tuple[int, int, int]]:
    """What the compiled twin of :class:`KeyWindows` takes over from this module: the empty
    bucket's bytes (its sketch sizes), the caps ``(NSIG, MAX_MODELS, MAX_LINK_VALUES,
    MAX_SIGNATURES, RECENT_REQUESTS)``, :data:`OTHER` and the hour, activity slot and end-user
    session lengths in ms."""
    return (Bucket().to_bytes(), (NSIG, MAX_MODELS, MAX_LINK_VALUES, MAX_SIGNATURES, RECENT_REQUESTS), OTHER,
            (_HOUR_MS, SLOT_MS, _SESSION_MS))
