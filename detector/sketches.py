"""Small mergeable sketches for per-key time buckets.

Window state is a ring of time buckets per API key (100k+ keys, up to ~30 buckets each), written to
Redis every batch. A sketch here therefore has to be cheap to update in pure Python, small on the
wire, exactly mergeable across buckets and fully deterministic, so that replay reproduces live state
byte for byte. Asymptotic elegance comes second. (The window buckets' compiled twin in
``detector/native`` ports the three with the same results and bytes.) Three sketches cover what the
windows need:

:class:`KMV` -- *how many distinct?* (prompts, skeletons, IP prefixes)
    A k-minimum-values (bottom-k, "theta") sketch keeps the ``k`` smallest distinct 64-bit hashes
    seen. While fewer than ``k`` distinct hashes have arrived it holds all of them and the count is
    exact. After that, the ``k``-th smallest hash ``U`` (as a fraction of 2**64) tells how densely
    the hash space is filled and ``(k - 1) / U`` estimates the distinct count, with relative
    standard error about ``1 / sqrt(k - 2)`` (~18% at k=32, ~6% at k=256). The union of two sketches
    is the bottom-k of the union of their hashes, so merging is exact: commutative, associative and
    idempotent (merging a bucket twice changes nothing). Two sketches also estimate the Jaccard
    similarity of their sets, which links keys that share prompt skeletons.

:class:`LogHistogram` -- *what does the distribution look like?* (prompt lengths, token counts,
inter-arrival gaps in ms)
    Fixed log2-spaced bins: bin 0 holds ``[0, 1)``, bin ``i`` holds ``[2**(i-1), 2**i)``, and the
    last bin also takes everything larger. Merging adds bins and is exact. Quantiles are read by
    interpolating geometrically inside the bin that holds the wanted rank, so their error is bounded
    by the bin width: the answer lies in the bin of the true quantile, so within a factor 2 of it
    (in ``[0, 1]`` for bin 0; the overflow bin is read as if it ended at ``2**(n_bins - 1)``).

:class:`HeavyHitters` -- *is one thing dominating?* (the same skeleton replayed, one model, one IP)
    Misra-Gries with ``m`` counters (weighted). Every counter underestimates, never overestimates:
    for every item, ``true - error_bound() <= estimate <= true`` with
    ``error_bound() = (total - sum(counters)) // (m + 1) <= total // (m + 1)``. Hence any item
    with more than ``total / (m + 1)`` of the weight is guaranteed to be tracked. Merging is the
    mergeable-summaries merge (Agarwal et al., 2012): add counters, subtract the (m+1)-th largest,
    drop what is not positive. It keeps the same bound; it is commutative, but not associative
    counter for counter (the guarantee holds for any merge order).

Assumptions. Inputs to :class:`KMV` and :class:`HeavyHitters` are already well-mixed unsigned 64-bit
hashes (xxhash ``intdigest``); KMV's estimate relies on them being uniform, and two sketches only
compare if both used the same hash function and seed. :class:`LogHistogram` takes non-negative
finite numbers. Nothing uses Python's ``hash()`` or randomness, and serialised forms are canonical
(sorted), so equal sketches give equal bytes.

When they fail. KMV is a poor fit if the hashes are not uniform (e.g. small raw integers fed
directly): estimates are then meaningless, though exact-below-k still holds. Its Jaccard estimate
is coarse for small similarities (it sees ~``k * J`` shared hashes) and for sets of very different
sizes. LogHistogram cannot tell 65 from 127 (one octave is one bin) and clamps everything at or above
``2**(n_bins - 2)`` into the last bin. HeavyHitters says nothing useful about items below
``total / (m + 1)``: with m=8 it finds items carrying more than ~11% of the weight, not a long tail.

Cost (CPython 3.11 on the 2-core dev box, ``timeit`` over 1e5 adds; about 2x more under load).
``KMV.add``: 0.08 us per hash once the sketch is full and the hash is above its threshold (the
common case: one comparison), 0.2 us while below k; ``KMV.update``: 0.04 / 0.16 us per hash.
``LogHistogram.add``: 0.18 us for ints, 0.25 us for floats (``update``: 0.18 us). ``HeavyHitters.add``:
0.24 us for a tracked hash, up to 0.48 us when every hash is new (the O(m) decrement). ``merge``:
1.5-2 us; ``KMV.union`` of 30 full k=32 buckets ~55 us. ``to_bytes`` / ``from_bytes``: 1.5-4.5 us.

Size on the wire. ``KMV``: 3 + 8 bytes per retained hash, so 259 bytes for a full k=32 sketch and
less for a bucket with fewer than k distinct values. ``LogHistogram(24)``: 6 bytes of header and
non-empty-bin bitmap plus one count per non-empty bin, 1/2/4/8 bytes wide as the largest count needs
(30 bytes for all 24 bins under 256, 102 under 2**32). ``HeavyHitters(m=8)``: 12 bytes of header
plus 8 + w bytes per counter (84 full with counts under 256, 108 under 2**32).

Wire format. Every sketch serialises to little-endian ``struct`` bytes that start with one tag byte:
high nibble the sketch type, low nibble the format version (``0x11`` KMV v1, ``0x21``
LogHistogram v1, ``0x31`` HeavyHitters v1). ``from_bytes`` rejects anything else with
``ValueError``; ``from_bytes(to_bytes(s)) == s`` for every sketch.

Examples
--------

>>> from xxhash import xxh64_intdigest
>>> from detector.sketches import KMV, LogHistogram, HeavyHitters

Distinct counts are exact below k and estimated above:

>>> a, b = KMV(k=32), KMV(k=32)
>>> for i in range(20):
...     a.add(xxh64_intdigest(b"prompt-%d" % i))
>>> a.estimate()
20.0
>>> for i in range(10, 5000):
...     b.add(xxh64_intdigest(b"prompt-%d" % i))
>>> a.merge(b)            # union of buckets: prompts 0..4999
>>> len(a), round(a.estimate())   # true 5000; k=32 has ~18% standard error, this draw is -26%
(32, 3698)
>>> KMV.from_bytes(a.to_bytes()) == a, len(a.to_bytes())
(True, 259)

Quantiles of a length distribution, to within one octave:

>>> h = LogHistogram()
>>> for n in range(1, 1001):
...     h.add(n)
>>> h.count, LogHistogram.bin_index(500), LogHistogram.bin_bounds(9)
(1000, 9, (256.0, 512.0))
>>> 256 <= h.quantile(0.5) < 512
True

One skeleton dominating a key's traffic:

>>> hh = HeavyHitters(m=8)
>>> for i in range(1000):
...     hh.add(7 if i % 2 else 1000 + i)
>>> top_hash, top_count = hh.top(1)[0]
>>> top_hash, 500 - hh.error_bound() <= top_count <= 500, hh.total
(7, True, 1000)

References
----------
- Bar-Yossef, Jayram, Kumar, Sivakumar, Trevisan. Counting distinct elements in a data stream.
  RANDOM 2002 (the k-minimum-values estimator).
- Dasgupta, Lang, Rhodes, Thaler. A framework for estimating stream expression cardinalities.
  ICDT 2016 (theta sketches: union and set similarity from bottom-k).
- Misra, Gries. Finding repeated elements. Science of Computer Programming, 1982.
- Agarwal, Cormode, Huang, Phillips, Wei, Yi. Mergeable summaries. PODS 2012.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, insort
from collections.abc import Iterable
from operator import index as _index

__all__ = ["KMV", "LogHistogram", "HeavyHitters"]

_TWO64 = 1 << 64
_MAX64 = _TWO64 - 1

_KMV_TAG = 0x11
_HIST_TAG = 0x21
_HH_TAG = 0x31

# Width codes for variable-width integer arrays: index stored on the wire -> struct format char.
_WIDTHS = "BHIQ"
_WIDTH_BYTES = (1, 2, 4, 8)

_KMV_HEAD = struct.Struct("<BH")  # tag, k
_HIST_HEAD = struct.Struct("<BBB")  # tag, n_bins, width code
_HH_HEAD = struct.Struct("<BHQB")  # tag, m, total, width code


def _width_code(largest: int) -> int:
    if largest < 0x100:
        return 0
    if largest < 0x10000:
        return 1
    if largest < 0x100000000:
        return 2
    return 3


def _check_hash(h: int) -> int:
    h = _index(h)  # accepts numpy integers, rejects floats
    if not 0 <= h <= _MAX64:
        raise ValueError(f"expected an unsigned 64-bit hash in [0, 2**64), got {h}")
    return h


def _bad_bytes(kind: str, why: str) -> ValueError:
    return ValueError(f"not a serialised {kind} ({why}); was it written by another sketch type or version?")


def _absorb(hs: list[int], hset: set[int], k: int, thr: int, other: list[int]) -> int:
    """Fold the ascending distinct hashes ``other`` into the bottom-k list ``hs`` (and its set
    ``hset``), in place; return the new threshold (``hs[-1]`` once full, else 2**64)."""
    if not other or other[0] >= thr or other == hs:
        return thr
    if other[-1] >= thr:
        other = other[: bisect_left(other, thr)]
    for h in other:
        if h >= thr:  # the threshold only shrinks; the rest of ``other`` is above it too
            break
        if h in hset:
            continue
        insort(hs, h)
        hset.add(h)
        if len(hs) >= k:
            if len(hs) > k:
                hset.discard(hs.pop())
            thr = hs[-1]
    return thr


# ---------------------------------------------------------------------------------------------
# KMV
# ---------------------------------------------------------------------------------------------


class KMV:
    """Bottom-k (k-minimum-values) sketch of a set of 64-bit hashes.

    Parameters
    ----------
    k
        Number of smallest distinct hashes kept, 2 <= k <= 65535. Exact count below ``k``;
        above, relative standard error ~ ``1 / sqrt(k - 2)``. Memory and wire size ~ 8k bytes.

    Examples
    --------
    >>> s = KMV(k=4)
    >>> for h in (50, 10, 40, 10, 30, 20):
    ...     s.add(h)
    >>> s.hashes(), len(s)
    ([10, 20, 30, 40], 4)
    >>> t = KMV(k=4)
    >>> t.add(5)
    >>> s.merge(t)
    >>> s.hashes(), s.theta == 30 / 2**64
    ([5, 10, 20, 30], True)
    """

    __slots__ = ("_k", "_h", "_thr")

    def __init__(self, k: int = 32) -> None:
        k = _index(k)
        if not 2 <= k <= 0xFFFF:
            raise ValueError(f"KMV needs 2 <= k <= 65535, got k={k}")
        self._k = k
        self._h: list[int] = []  # sorted, distinct, len <= k
        # Any add with h >= _thr is a no-op: 2**64 while not full (so only invalid hashes reach
        # that branch), the retained maximum once full (the common case: one comparison).
        self._thr = _TWO64

    @property
    def k(self) -> int:
        return self._k

    def add(self, h: int) -> None:
        """Add one 64-bit hash. O(1) if the sketch is full and ``h`` is not below its max."""
        if h >= self._thr:
            if h > _MAX64:
                raise ValueError(f"expected an unsigned 64-bit hash in [0, 2**64), got {h}")
            return
        hs = self._h
        i = bisect_left(hs, h)
        if i < len(hs) and hs[i] == h:
            return
        if h < 0 or h.__class__ is not int:
            h = _check_hash(h)
        hs.insert(i, h)
        if len(hs) >= self._k:
            if len(hs) > self._k:
                hs.pop()
            self._thr = hs[-1]

    def update(self, hashes: Iterable[int]) -> None:
        """Add many hashes; same result as calling :meth:`add` on each, with less call overhead.

        On an invalid hash, raises with the hashes before it already added."""
        hs = self._h
        k = self._k
        thr = self._thr
        for h in hashes:
            if h >= thr:
                if h > _MAX64:
                    self._thr = thr
                    raise ValueError(f"expected an unsigned 64-bit hash in [0, 2**64), got {h}")
                continue
            i = bisect_left(hs, h)
            if i < len(hs) and hs[i] == h:
                continue
            if h < 0 or h.__class__ is not int:
                self._thr = thr
                h = _check_hash(h)
            hs.insert(i, h)
            if len(hs) >= k:
                if len(hs) > k:
                    hs.pop()
                thr = hs[-1]
        self._thr = thr

    def __len__(self) -> int:
        """Number of retained hashes (= distinct count while below k)."""
        return len(self._h)

    @property
    def is_exact(self) -> bool:
        """True while fewer than ``k`` distinct hashes have been seen (the count is exact)."""
        return len(self._h) < self._k

    @property
    def theta(self) -> float:
        """Sampling threshold: the k-th smallest hash / 2**64, or 1.0 while below k."""
        return 1.0 if len(self._h) < self._k else self._h[-1] / _TWO64

    def estimate(self) -> float:
        """Distinct count: exact below k, else ``(k - 1) / (kth_min / 2**64)``."""
        n = len(self._h)
        if n < self._k:
            return float(n)
        return (self._k - 1) * _TWO64 / self._h[-1]  # hs[-1] >= 1: k >= 2 distinct values

    def hashes(self) -> list[int]:
        """The retained hashes, ascending (a copy)."""
        return list(self._h)

    def merge(self, other: KMV) -> None:
        """Union ``other`` into this sketch, in place. Commutative, associative, idempotent.

        Cost: O(log k) per hash of ``other`` below this sketch's threshold; nothing else.
        """
        self._check_mergeable(other)
        hs = self._h
        self._thr = _absorb(hs, set(hs), self._k, self._thr, other._h)

    @classmethod
    def union(cls, sketches: Iterable[KMV]) -> KMV:
        """A new sketch of the union of ``sketches`` (all with the same k; at least one).

        Same result as merging them one by one into a copy of the first, with less overhead: meant
        for reading a window's ring of buckets (~55 us for 30 full k=32 buckets, ~120 us one by one).
        """
        it = iter(sketches)
        try:
            first = next(it)
        except StopIteration:
            raise ValueError("KMV.union needs at least one sketch") from None
        out = first.copy()
        hs = out._h
        hset = set(hs)
        thr = out._thr
        for s in it:
            out._check_mergeable(s)
            thr = _absorb(hs, hset, out._k, thr, s._h)
        out._thr = thr
        return out

    def _check_mergeable(self, other: object) -> None:
        if not isinstance(other, KMV):
            raise TypeError(f"can only merge KMV with KMV, not {type(other).__name__}")
        if other._k != self._k:
            raise ValueError(
                f"cannot merge KMV(k={other._k}) into KMV(k={self._k}): build both with the same k"
            )

    def jaccard(self, other: KMV) -> float:
        """Estimate |A & B| / |A | B| from two sketches (exact when both are below k).

        Sketches of different k are compared at the smaller k. Returns 0.0 when both are empty.
        """
        k = min(self._k, other._k)
        a = set(self._h[:k])
        b = set(other._h[:k])
        union = sorted(a | b)[:k]
        if not union:
            return 0.0
        both = sum(1 for h in union if h in a and h in b)
        return both / len(union)

    def copy(self) -> KMV:
        new = KMV.__new__(KMV)
        new._k, new._h, new._thr = self._k, list(self._h), self._thr
        return new

    def to_bytes(self) -> bytes:
        """``0x11 | k:u16 | hashes:u64 * len`` (little-endian, ascending)."""
        hs = self._h
        return _KMV_HEAD.pack(_KMV_TAG, self._k) + struct.pack(f"<{len(hs)}Q", *hs)

    @classmethod
    def from_bytes(cls, data: bytes) -> KMV:
        size = len(data)
        if size < 3 or data[0] != _KMV_TAG:
            raise _bad_bytes("KMV", f"tag or length: {bytes(data[:1])!r}, {size} bytes")
        n, rem = divmod(size - 3, 8)
        if rem:
            raise _bad_bytes("KMV", f"{size} bytes is not 3 + 8n")
        _, k = _KMV_HEAD.unpack_from(data)
        hs = list(struct.unpack_from(f"<{n}Q", data, 3))
        if k < 2 or n > k or any(x >= y for x, y in zip(hs, hs[1:])):
            raise _bad_bytes("KMV", "hashes not ascending/distinct or more than k")
        new = cls.__new__(cls)
        new._k, new._h = k, hs
        new._thr = hs[-1] if n == k else _TWO64
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KMV):
            return NotImplemented
        return self._k == other._k and self._h == other._h

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"KMV(k={self._k}, retained={len(self._h)}, estimate={self.estimate():.1f})"


# ---------------------------------------------------------------------------------------------
# LogHistogram
# ---------------------------------------------------------------------------------------------

class LogHistogram:
    """Histogram over fixed log2-spaced bins for quantiles of non-negative quantities.

    Bin 0 counts ``[0, 1)``; bin ``i >= 1`` counts ``[2**(i-1), 2**i)``; the last bin also counts
    everything larger (overflow). With the default 24 bins the resolved range is ``[0, 2**22)``
    plus the overflow bin ``[2**22, inf)``, whose quantiles are interpolated as if it ended at
    ``2**23``.

    Parameters
    ----------
    n_bins
        2 <= n_bins <= 64. Binning is exact (``int(x).bit_length()``, no logarithm), so values
        on a power of two land in the bin that starts there.

    Examples
    --------
    >>> h = LogHistogram(n_bins=8)
    >>> for x in (0, 0.5, 1, 3, 3.9, 100, 1e9):
    ...     h.add(x)
    >>> h.counts
    (2, 1, 2, 0, 0, 0, 0, 2)
    >>> h.quantile(0.0), h.quantile(1.0)
    (0.0, 128.0)
    """

    __slots__ = ("_c", "_last")

    def __init__(self, n_bins: int = 24) -> None:
        n_bins = _index(n_bins)
        if not 2 <= n_bins <= 64:
            raise ValueError(f"LogHistogram needs 2 <= n_bins <= 64, got n_bins={n_bins}")
        self._c = [0] * n_bins
        self._last = n_bins - 1

    @property
    def n_bins(self) -> int:
        return self._last + 1

    @staticmethod
    def bin_index(x: float, n_bins: int = 24) -> int:
        """The bin ``x`` falls in (same rule as :meth:`add`)."""
        if x < 1:
            if x < 0:
                raise ValueError(f"LogHistogram takes non-negative values, got {x!r}")
            return 0
        try:
            e = int(x).bit_length()  # x in [2**(e-1), 2**e), and so is floor(x)
        except (OverflowError, ValueError):
            raise ValueError(f"LogHistogram takes finite values, got {x!r}") from None
        return e if e < n_bins else n_bins - 1

    @staticmethod
    def bin_bounds(i: int) -> tuple[float, float]:
        """``[lo, hi)`` of bin ``i`` (for the last bin, ``hi`` is the interpolation ceiling)."""
        if i < 0:
            raise ValueError(f"bin index must be >= 0, got {i}")
        return (0.0, 1.0) if i == 0 else (float(2 ** (i - 1)), float(2**i))

    def add(self, x: float) -> None:
        """Count one value (non-negative, finite)."""
        if x < 1:
            if x < 0:
                raise ValueError(f"LogHistogram takes non-negative values, got {x!r}")
            self._c[0] += 1
            return
        try:
            e = int(x).bit_length()  # x in [2**(e-1), 2**e), and so is floor(x): exact, no log
        except (OverflowError, ValueError):  # inf, nan
            raise ValueError(f"LogHistogram takes finite values, got {x!r}") from None
        if e > self._last:
            e = self._last
        self._c[e] += 1

    def update(self, xs: Iterable[float]) -> None:
        """Count many values; same result as :meth:`add` on each, with less call overhead.

        On an invalid value, raises with the values before it already counted."""
        c = self._c
        last = self._last
        for x in xs:
            if x < 1:
                if x < 0:
                    raise ValueError(f"LogHistogram takes non-negative values, got {x!r}")
                c[0] += 1
                continue
            try:
                e = int(x).bit_length()
            except (OverflowError, ValueError):
                raise ValueError(f"LogHistogram takes finite values, got {x!r}") from None
            if e > last:
                e = last
            c[e] += 1

    @property
    def count(self) -> int:
        """Number of values counted."""
        return sum(self._c)

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(self._c)

    def quantile(self, q: float) -> float:
        """Value at rank ``q * count``, interpolated inside its bin; ``nan`` when empty.

        Linear inside bin 0, geometric (``lo * 2**frac``) inside the others, so the answer lies in
        the bin holding that rank and is monotone in ``q``.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        c = self._c
        total = sum(c)
        if total == 0:
            return math.nan
        target = q * total
        cum = 0
        for i, ci in enumerate(c):
            if ci and cum + ci >= target:
                frac = (target - cum) / ci
                frac = 0.0 if frac < 0.0 else (1.0 if frac > 1.0 else frac)
                return frac if i == 0 else 2.0 ** (i - 1 + frac)
            cum += ci
        raise AssertionError("unreachable: target <= total")  # pragma: no cover

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s bins into this histogram, in place (exact)."""
        if not isinstance(other, LogHistogram):
            raise TypeError(f"can only merge LogHistogram with LogHistogram, not {type(other).__name__}")
        if other._last != self._last:
            raise ValueError(
                f"cannot merge LogHistogram(n_bins={other._last + 1}) into "
                f"LogHistogram(n_bins={self._last + 1}): build both with the same n_bins"
            )
        self._c = [a + b for a, b in zip(self._c, other._c)]

    def copy(self) -> LogHistogram:
        new = LogHistogram.__new__(LogHistogram)
        new._c, new._last = list(self._c), self._last
        return new

    def to_bytes(self) -> bytes:
        """``0x21 | n_bins:u8 | width:u8 | bitmap of non-empty bins | their counts``."""
        c = self._c
        bitmap = 0
        nz = []
        for i, ci in enumerate(c):
            if ci:
                bitmap |= 1 << i
                nz.append(ci)
        w = _width_code(max(nz)) if nz else 0
        n = len(c)
        return (
            _HIST_HEAD.pack(_HIST_TAG, n, w)
            + bitmap.to_bytes((n + 7) >> 3, "little")
            + struct.pack(f"<{len(nz)}{_WIDTHS[w]}", *nz)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LogHistogram:
        size = len(data)
        if size < 3 or data[0] != _HIST_TAG:
            raise _bad_bytes("LogHistogram", f"tag or length: {bytes(data[:1])!r}, {size} bytes")
        _, n, w = _HIST_HEAD.unpack_from(data)
        if not 2 <= n <= 64 or w > 3:
            raise _bad_bytes("LogHistogram", f"n_bins={n}, width code={w}")
        nb = (n + 7) >> 3
        bitmap = int.from_bytes(data[3 : 3 + nb], "little")
        k = bitmap.bit_count()
        if bitmap >> n or size != 3 + nb + k * _WIDTH_BYTES[w]:
            raise _bad_bytes("LogHistogram", "bitmap does not match length")
        vals = struct.unpack_from(f"<{k}{_WIDTHS[w]}", data, 3 + nb)
        if 0 in vals:
            raise _bad_bytes("LogHistogram", "zero count marked non-empty")
        c = [0] * n
        j = 0
        for i in range(n):
            if bitmap >> i & 1:
                c[i] = vals[j]
                j += 1
        new = cls.__new__(cls)
        new._c, new._last = c, n - 1
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogHistogram):
            return NotImplemented
        return self._c == other._c

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LogHistogram(n_bins={self._last + 1}, count={self.count})"


# ---------------------------------------------------------------------------------------------
# HeavyHitters
# ---------------------------------------------------------------------------------------------


class HeavyHitters:
    """Weighted Misra-Gries summary of the heaviest 64-bit hashes.

    Error bound: for every hash ``x`` (tracked or not, untracked estimate 0),
    ``true(x) - error_bound() <= estimate(x) <= true(x)`` where
    ``error_bound() = (total - sum(counters)) // (m + 1) <= total // (m + 1)``. This holds after any
    sequence of adds and merges, in any order.

    Parameters
    ----------
    m
        Number of counters, 1 <= m <= 65535.

    Examples
    --------
    >>> hh = HeavyHitters(m=2)
    >>> for h in (1, 1, 1, 2, 3, 1, 2):
    ...     hh.add(h)
    >>> hh.top(), hh.total, hh.error_bound()
    ([(1, 3), (2, 1)], 7, 1)
    """

    __slots__ = ("_m", "_c", "_total")

    def __init__(self, m: int = 8) -> None:
        m = _index(m)
        if not 1 <= m <= 0xFFFF:
            raise ValueError(f"HeavyHitters needs 1 <= m <= 65535, got m={m}")
        self._m = m
        self._c: dict[int, int] = {}
        self._total = 0

    @property
    def m(self) -> int:
        return self._m

    @property
    def total(self) -> int:
        """Sum of all weights ever added (including those later decremented away)."""
        return self._total

    def add(self, h: int, w: int = 1) -> None:
        """Add weight ``w`` (a positive int) to hash ``h``. O(1), or O(m) when a new hash
        arrives while all counters are taken."""
        if w.__class__ is not int or w <= 0:
            w = _index(w)
            if w <= 0:
                raise ValueError(f"weight must be a positive integer, got {w}")
        c = self._c
        if h in c:
            c[h] += w
            self._total += w
            return
        h = _check_hash(h)
        self._total += w
        if len(c) < self._m:
            c[h] = w
            return
        # Full: decrement all m counters and the newcomer by d = min(min counter, w); this removes
        # (m+1)*d of weight, which is where the error bound comes from.
        d = min(c.values())
        if w <= d:
            self._c = {k: v - w for k, v in c.items() if v > w}
        else:
            self._c = {k: v - d for k, v in c.items() if v > d}
            self._c[h] = w - d

    def estimate(self, h: int) -> int:
        """Lower bound on ``h``'s true weight (0 if untracked)."""
        return self._c.get(h, 0)

    def error_bound(self) -> int:
        """Maximum undercount of any item: ``(total - sum(counters)) // (m + 1)``."""
        return (self._total - sum(self._c.values())) // (self._m + 1)

    def top(self, n: int | None = None) -> list[tuple[int, int]]:
        """``[(hash, count), ...]`` by count descending, then hash ascending; all if n is None."""
        items = sorted(self._c.items(), key=lambda kv: (-kv[1], kv[0]))
        return items if n is None else items[:n]

    def __len__(self) -> int:
        return len(self._c)

    def merge(self, other: HeavyHitters) -> None:
        """Mergeable-summaries merge, in place: add counters, subtract the (m+1)-th largest,
        drop non-positive. Deterministic (no tie to break: the subtracted value is unique)."""
        if not isinstance(other, HeavyHitters):
            raise TypeError(f"can only merge HeavyHitters with HeavyHitters, not {type(other).__name__}")
        if other._m != self._m:
            raise ValueError(
                f"cannot merge HeavyHitters(m={other._m}) into HeavyHitters(m={self._m}): "
                "build both with the same m"
            )
        c = dict(self._c)
        for h, v in other._c.items():
            c[h] = c.get(h, 0) + v
        if len(c) > self._m:
            cut = sorted(c.values(), reverse=True)[self._m]
            c = {h: v - cut for h, v in c.items() if v > cut}
        self._c = c
        self._total += other._total

    def copy(self) -> HeavyHitters:
        new = HeavyHitters.__new__(HeavyHitters)
        new._m, new._c, new._total = self._m, dict(self._c), self._total
        return new

    def to_bytes(self) -> bytes:
        """``0x31 | m:u16 | total:u64 | width:u8 | hashes:u64 * n (ascending) | counts * n``."""
        items = sorted(self._c.items())
        n = len(items)
        w = _width_code(max(self._c.values())) if n else 0
        return _HH_HEAD.pack(_HH_TAG, self._m, self._total, w) + struct.pack(
            f"<{n}Q{n}{_WIDTHS[w]}", *[h for h, _ in items], *[v for _, v in items]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> HeavyHitters:
        size = len(data)
        head = _HH_HEAD.size
        if size < head or data[0] != _HH_TAG:
            raise _bad_bytes("HeavyHitters", f"tag or length: {bytes(data[:1])!r}, {size} bytes")
        _, m, total, w = _HH_HEAD.unpack_from(data)
        if w > 3:
            raise _bad_bytes("HeavyHitters", f"width code={w}")
        n, rem = divmod(size - head, 8 + _WIDTH_BYTES[w])
        if rem or m < 1 or n > m:
            raise _bad_bytes("HeavyHitters", f"{size} bytes for m={m}")
        vals = struct.unpack_from(f"<{n}Q{n}{_WIDTHS[w]}", data, head)
        hs, cs = vals[:n], vals[n:]
        if any(x >= y for x, y in zip(hs, hs[1:])) or 0 in cs or sum(cs) > total:
            raise _bad_bytes("HeavyHitters", "hashes not ascending, zero count, or counts > total")
        new = cls.__new__(cls)
        new._m, new._c, new._total = m, dict(zip(hs, cs)), total
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HeavyHitters):
            return NotImplemented
        return self._m == other._m and self._total == other._total and self._c == other._c

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HeavyHitters(m={self._m}, total={self._total}, top={self.top(3)})"
