"""Tests for detector.sketches: exact references, algebraic laws of merge, error bounds, wire format."""

from __future__ import annotations

import doctest
import itertools
import math
import struct

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.sketches as sketches_module
from detector.sketches import KMV, HeavyHitters, LogHistogram

# Derandomized: the same examples on every run, so CI cannot flake; each test still sees a few
# hundred generated cases including hypothesis' edge values (0, 2**64 - 1, duplicates, empties).
PROPS = settings(max_examples=150, deadline=None, derandomize=True)

MAX64 = 2**64 - 1
# Mostly arbitrary 64-bit values, plus a small pool so streams contain duplicates and shared items.
POOL = [xxhash.xxh64_intdigest(b"pool-%d" % i) for i in range(12)]
hash64 = st.one_of(st.integers(0, MAX64), st.sampled_from(POOL), st.sampled_from([0, 1, MAX64]))
streams = st.lists(hash64, max_size=120)
ks = st.sampled_from([2, 3, 8, 32])


def xx(i: int, seed: int = 0) -> int:
    return xxhash.xxh64_intdigest(i.to_bytes(8, "little"), seed=seed)


def kmv_of(stream, k: int) -> KMV:
    s = KMV(k)
    for h in stream:
        s.add(h)
    return s


def bottom_k(stream, k: int) -> list[int]:
    return sorted(set(stream))[:k]


def test_module_doctests_run():
    result = doctest.testmod(sketches_module)
    assert result.attempted > 10
    assert result.failed == 0


# ---------------------------------------------------------------------------------------------
# KMV
# ---------------------------------------------------------------------------------------------


@PROPS
@given(streams, ks)
def test_kmv_retains_exactly_the_k_smallest_distinct(stream, k):
    s = kmv_of(stream, k)
    assert s.hashes() == bottom_k(stream, k)
    assert len(s) == min(k, len(set(stream)))
    bulk = KMV(k)
    bulk.update(stream)
    assert bulk == s


@PROPS
@given(streams, ks)
def test_kmv_exact_below_k(stream, k):
    s = kmv_of(stream, k)
    n = len(set(stream))
    if n < k:
        assert s.is_exact and s.theta == 1.0
        assert s.estimate() == float(n)
    else:
        assert not s.is_exact
        assert s.estimate() == (k - 1) / (s.hashes()[-1] / 2**64)


@PROPS
@given(streams, streams, ks)
def test_kmv_merge_commutative_and_equals_union_stream(xs, ys, k):
    a, b = kmv_of(xs, k), kmv_of(ys, k)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.hashes() == ba.hashes() == bottom_k(xs + ys, k)
    assert ab == kmv_of(xs + ys, k)
    assert ab.to_bytes() == ba.to_bytes()
    assert a == kmv_of(xs, k) and b == kmv_of(ys, k)  # inputs untouched


@PROPS
@given(streams, streams, streams, ks)
def test_kmv_merge_associative(xs, ys, zs, k):
    a, b, c = kmv_of(xs, k), kmv_of(ys, k), kmv_of(zs, k)
    left = a.copy()
    left.merge(b)
    left.merge(c)
    bc = b.copy()
    bc.merge(c)
    right = a.copy()
    right.merge(bc)
    assert left.hashes() == right.hashes() == bottom_k(xs + ys + zs, k)


@PROPS
@given(streams, streams, ks)
def test_kmv_merge_idempotent(xs, ys, k):
    a, b = kmv_of(xs, k), kmv_of(ys, k)
    aa = a.copy()
    aa.merge(a)
    assert aa == a
    ab = a.copy()
    ab.merge(b)
    once = ab.copy()
    ab.merge(b)
    ab.merge(a)
    assert ab == once


@PROPS
@given(st.lists(streams, min_size=1, max_size=8), ks)
def test_kmv_union_equals_sequential_merge(parts, k):
    sks = [kmv_of(p, k) for p in parts]
    seq = sks[0].copy()
    for s in sks[1:]:
        seq.merge(s)
    u = KMV.union(sks)
    assert u == seq == kmv_of([h for p in parts for h in p], k)
    assert u is not sks[0] and sks[0] == kmv_of(parts[0], k)


def test_kmv_union_of_full_buckets():
    buckets = []
    for j in range(30):
        s = KMV(32)
        s.update(xx(i) for i in range(j * 500, (j + 1) * 500 + 100))  # overlapping neighbours
        buckets.append(s)
    assert KMV.union(buckets).hashes() == bottom_k([xx(i) for i in range(30 * 500 + 100)], 32)


def test_kmv_estimate_error_10k_distinct_k256():
    k, n = 256, 10_000
    s = KMV(k)
    s.update(xx(i) for i in range(n))
    assert abs(s.estimate() / n - 1) < 3 / math.sqrt(k)
    # Unbiased across hash seeds: the mean of 20 independent sketches is within 3 standard errors.
    errs = []
    for seed in range(20):
        t = KMV(k)
        t.update(xx(i, seed) for i in range(n))
        errs.append(t.estimate() / n - 1)
    assert abs(sum(errs) / len(errs)) < 3 / math.sqrt((k - 2) * len(errs))


def test_kmv_estimate_is_order_independent():
    hs = [xx(i) for i in range(3000)]
    a, b = KMV(32), KMV(32)
    a.update(hs)
    b.update(reversed(hs + hs))
    assert a == b and a.estimate() == b.estimate() and a.to_bytes() == b.to_bytes()


@PROPS
@given(streams, ks)
def test_kmv_round_trip(stream, k):
    s = kmv_of(stream, k)
    data = s.to_bytes()
    assert data[0] == 0x11 and len(data) == 3 + 8 * len(s)
    back = KMV.from_bytes(data)
    assert back == s and back.k == k and back.estimate() == s.estimate()
    assert KMV.from_bytes(memoryview(data)) == s
    # the restored sketch keeps working identically (threshold restored)
    more = [xx(i) for i in range(50)]
    s.update(more)
    back.update(more)
    assert back == s


def test_kmv_full_size():
    s = KMV(32)
    s.update(xx(i) for i in range(1000))
    assert len(s.to_bytes()) == 259


@PROPS
@given(streams, ks)
def test_kmv_jaccard_identical_is_one(stream, k):
    a, b = kmv_of(stream, k), kmv_of(list(reversed(stream)), k)
    assert a.jaccard(b) == (1.0 if stream else 0.0)


@PROPS
@given(st.lists(st.integers(0, 10**6), unique=True, max_size=200), ks)
def test_kmv_jaccard_disjoint_is_zero(ids, k):
    half = len(ids) // 2
    a = kmv_of([xx(i) for i in ids[:half]], k)
    b = kmv_of([xx(i) for i in ids[half:]], k)
    assert a.jaccard(b) == 0.0


@PROPS
@given(streams, streams)
def test_kmv_jaccard_exact_below_k(xs, ys):
    k = 256  # above the largest possible union here
    a, b = kmv_of(xs, k), kmv_of(ys, k)
    sa, sb = set(xs), set(ys)
    expected = len(sa & sb) / len(sa | sb) if sa | sb else 0.0
    assert a.jaccard(b) == pytest.approx(expected)
    assert b.jaccard(a) == a.jaccard(b)


def test_kmv_jaccard_estimate():
    a, b = KMV(256), KMV(256)
    a.update(xx(i) for i in range(0, 6000))
    b.update(xx(i) for i in range(3000, 9000))  # J = 3000 / 9000
    assert abs(a.jaccard(b) - 1 / 3) < 0.1
    small = KMV(32)
    small.update(xx(i) for i in range(3000, 9000))
    assert a.jaccard(small) == small.jaccard(a)  # compared at k = 32
    assert 0.0 <= a.jaccard(small) <= 1.0


def test_kmv_accepts_numpy_and_validates():
    s = KMV(4)
    s.add(np.uint64(2**63 + 5))
    s.add(3)
    assert s.hashes() == [3, 2**63 + 5] and all(type(h) is int for h in s.hashes())
    s.to_bytes()
    with pytest.raises(ValueError, match="64-bit"):
        s.add(-1)
    with pytest.raises(ValueError, match="64-bit"):
        s.add(2**64)
    with pytest.raises(TypeError):
        s.add(1.5)
    s.update([10, 11])  # now full
    with pytest.raises(ValueError, match="64-bit"):
        s.add(2**64)
    with pytest.raises(ValueError, match="64-bit"):
        s.update([1, 2**64])
    with pytest.raises(ValueError, match="64-bit"):
        s.add(-1)
    for bad_k in (0, 1, 2**16):
        with pytest.raises(ValueError, match="k"):
            KMV(bad_k)
    with pytest.raises(ValueError, match="same k"):
        KMV(4).merge(KMV(8))
    with pytest.raises(TypeError):
        KMV(4).merge(HeavyHitters())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        KMV.union([])


def test_kmv_rejects_bad_bytes():
    good = kmv_of([5, 1, 3], 4).to_bytes()
    for bad in (
        b"",
        b"\x21" + good[1:],  # LogHistogram tag
        good[:-1],  # truncated
        struct.pack("<BH3Q", 0x11, 4, 5, 1, 3),  # not ascending
        struct.pack("<BH3Q", 0x11, 4, 1, 1, 3),  # duplicate
        struct.pack("<BH3Q", 0x11, 2, 1, 3, 5),  # more than k
    ):
        with pytest.raises(ValueError, match="KMV"):
            KMV.from_bytes(bad)


# ---------------------------------------------------------------------------------------------
# LogHistogram
# ---------------------------------------------------------------------------------------------

values = st.one_of(
    st.floats(0, 1e12, allow_nan=False, allow_infinity=False),
    st.integers(0, 2**40),
    st.sampled_from([0, 0.5, 1, 2, 2**22 - 1, 2**22, 2**23, 1023.999]),
)
value_lists = st.lists(values, max_size=150)


def hist_of(xs, n_bins: int = 24) -> LogHistogram:
    h = LogHistogram(n_bins)
    for x in xs:
        h.add(x)
    return h


@PROPS
@given(value_lists)
def test_hist_bins_are_right(xs):
    h = hist_of(xs)
    expected = [0] * 24
    for x in xs:
        i = LogHistogram.bin_index(x)
        lo, hi = LogHistogram.bin_bounds(i)
        assert lo <= x and (x < hi or i == 23)
        expected[i] += 1
    assert list(h.counts) == expected and h.count == len(xs)
    bulk = LogHistogram()
    bulk.update(xs)
    assert bulk == h


def test_hist_bin_edges():
    idx = LogHistogram.bin_index
    assert [idx(x) for x in (0, 0.999, 1, 1.5, 2, 3.999, 4)] == [0, 0, 1, 1, 2, 2, 3]
    for e in range(1, 22):
        assert idx(2**e) == e + 1 and idx(2.0**e) == e + 1 and idx(2**e - 1e-9) == e
    assert idx(2**22) == 23 and idx(10**30) == 23 and idx(1e300) == 23
    assert idx(2**40, n_bins=64) == 41


@PROPS
@given(value_lists, value_lists, value_lists)
def test_hist_merge_equals_concatenated_stream(xs, ys, zs):
    a, b, c = hist_of(xs), hist_of(ys), hist_of(zs)
    ab = a.copy()
    ab.merge(b)
    assert ab.counts == hist_of(xs + ys).counts
    ba = b.copy()
    ba.merge(a)
    assert ba == ab
    ab.merge(c)
    bc = b.copy()
    bc.merge(c)
    a.merge(bc)
    assert a == ab == hist_of(xs + ys + zs)


@PROPS
@given(st.lists(values, min_size=1, max_size=150), st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_hist_quantile_monotone_in_q(xs, qs):
    h = hist_of(xs)
    out = [h.quantile(q) for q in sorted(qs)]
    assert all(a <= b for a, b in zip(out, out[1:]))
    assert h.quantile(0.0) <= min(out) and max(out) <= h.quantile(1.0)


@PROPS
@given(st.lists(values, min_size=1, max_size=150), st.floats(0, 1))
def test_hist_quantile_lands_in_bin_of_true_quantile(xs, q):
    h = hist_of(xs)
    ordered = sorted(xs)
    rank = max(1, math.ceil(q * len(xs)))  # 1-based rank of the true q-quantile
    true = ordered[rank - 1]
    lo, hi = LogHistogram.bin_bounds(LogHistogram.bin_index(true))
    assert lo <= h.quantile(q) <= hi


def test_hist_quantiles_known_data():
    h = LogHistogram()
    h.update(range(1, 1001))
    assert 256 <= h.quantile(0.5) <= 512  # true median 500
    assert 512 <= h.quantile(0.9) <= 1024  # true 900
    assert 1 <= h.quantile(0.001) <= 2  # true 1
    assert h.quantile(1.0) == 1024.0  # upper edge of the max's bin
    g = LogHistogram()
    g.update([100] * 10)
    assert all(64 <= g.quantile(q) <= 128 for q in (0, 0.25, 0.5, 0.75, 1))
    z = LogHistogram()
    z.update([0, 0, 0.5, 0.5])
    assert 0 <= z.quantile(0.5) < 1


def test_hist_empty_and_invalid():
    h = LogHistogram()
    assert math.isnan(h.quantile(0.5)) and h.count == 0
    for bad in (-1, -0.5, math.inf, math.nan, -math.inf):
        with pytest.raises(ValueError):
            h.add(bad)
        with pytest.raises(ValueError):
            h.update([1, bad])
    for q in (-0.1, 1.1, math.nan):
        with pytest.raises(ValueError, match="q"):
            h.quantile(q)
    for n in (1, 65):
        with pytest.raises(ValueError, match="n_bins"):
            LogHistogram(n)
    with pytest.raises(ValueError, match="same n_bins"):
        LogHistogram(24).merge(LogHistogram(16))
    h.add(np.float64(3.5))
    h.add(np.int64(3))
    assert h.counts[2] == 2


@PROPS
@given(value_lists, st.sampled_from([2, 8, 24, 64]))
def test_hist_round_trip(xs, n_bins):
    h = hist_of(xs, n_bins)
    data = h.to_bytes()
    assert data[0] == 0x21
    back = LogHistogram.from_bytes(data)
    assert back == h and back.n_bins == n_bins and back.counts == h.counts


def test_hist_sizes_and_wide_counts():
    assert len(LogHistogram().to_bytes()) == 6  # header + 3-byte bitmap, no counts
    h = LogHistogram()
    h.update([0.5] + [2**i for i in range(23)])  # all 24 bins, counts < 256
    assert len(h.to_bytes()) == 6 + 24
    h.merge(h.copy())
    for c in (300, 70_000, 5_000_000_000):
        big = LogHistogram.from_bytes(h.to_bytes())
        big._c[5] = c  # white-box: exercise the 2-, 4- and 8-byte count widths
        assert LogHistogram.from_bytes(big.to_bytes()) == big


def test_hist_rejects_bad_bytes():
    good = hist_of([1, 2, 3]).to_bytes()
    for bad in (b"", b"\x11" + good[1:], good[:-1], good + b"\x00", struct.pack("<BBB", 0x21, 1, 0) + b"\x00"):
        with pytest.raises(ValueError, match="LogHistogram"):
            LogHistogram.from_bytes(bad)


# ---------------------------------------------------------------------------------------------
# HeavyHitters
# ---------------------------------------------------------------------------------------------

weighted = st.lists(st.tuples(st.one_of(st.sampled_from(POOL), st.integers(0, MAX64)), st.integers(1, 5)), max_size=150)
ms = st.sampled_from([1, 2, 8])


def hh_of(stream, m: int = 8) -> HeavyHitters:
    s = HeavyHitters(m)
    for h, w in stream:
        s.add(h, w)
    return s


def true_counts(stream) -> dict[int, int]:
    c: dict[int, int] = {}
    for h, w in stream:
        c[h] = c.get(h, 0) + w
    return c


def assert_bounds(s: HeavyHitters, stream) -> None:
    truth = true_counts(stream)
    total = sum(truth.values())
    assert s.total == total
    assert len(s) <= s.m
    for h, est in s.top():
        assert truth[h] - total / (s.m + 1) <= est <= truth[h]  # the guarantee as stated
    for h, t in truth.items():  # the tighter one, for every item, tracked or not
        assert t - s.error_bound() <= s.estimate(h) <= t
    for h, t in truth.items():  # anything heavier than total/(m+1) is tracked
        if t > total / (s.m + 1):
            assert s.estimate(h) > 0


@PROPS
@given(weighted, ms)
def test_hh_error_bound_after_adds(stream, m):
    assert_bounds(hh_of(stream, m), stream)


@PROPS
@given(st.lists(weighted, min_size=1, max_size=5), ms, st.randoms(use_true_random=False))
def test_hh_error_bound_after_merges_in_any_order(parts, m, rnd):
    sks = [hh_of(p, m) for p in parts]
    order = list(range(len(sks)))
    rnd.shuffle(order)
    acc = sks[order[0]].copy()
    for i in order[1:]:
        acc.merge(sks[i])
    assert_bounds(acc, [x for p in parts for x in p])


@PROPS
@given(weighted, weighted, ms)
def test_hh_merge_commutative(xs, ys, m):
    a, b = hh_of(xs, m), hh_of(ys, m)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab == ba and ab.to_bytes() == ba.to_bytes()


@PROPS
@given(st.lists(weighted, min_size=2, max_size=4), st.integers(0, MAX64))
def test_hh_top1_merge_order_independent_when_one_dominates(parts, hot):
    # Give `hot` more than half of every part's weight: it must come out on top whatever the order.
    parts = [p + [(hot, 1 + sum(w for _, w in p))] for p in parts]
    sks = [hh_of(p) for p in parts]
    tops = set()
    for order in itertools.permutations(range(len(sks))):
        acc = sks[order[0]].copy()
        for i in order[1:]:
            acc.merge(sks[i])
        tops.add(acc.top(1)[0][0])
    assert tops == {hot}


def test_hh_top_order_and_ties():
    s = HeavyHitters(8)
    for h, w in ((30, 2), (10, 2), (20, 5), (40, 1)):
        s.add(h, w)
    assert s.top() == [(20, 5), (10, 2), (30, 2), (40, 1)]
    assert s.top(2) == [(20, 5), (10, 2)] and s.top(0) == []


def test_hh_skewed_stream():
    s = HeavyHitters(8)
    hot = xx(42)
    for i in range(100_000):
        s.add(hot if i % 3 else xx(i))
    (h, c), *_ = s.top(1)
    assert h == hot and 66_666 - s.error_bound() <= c <= 66_667
    assert s.total == 100_000


@PROPS
@given(weighted, ms)
def test_hh_round_trip(stream, m):
    s = hh_of(stream, m)
    data = s.to_bytes()
    assert data[0] == 0x31
    back = HeavyHitters.from_bytes(data)
    assert back == s and back.top() == s.top() and back.total == s.total and back.m == m
    assert hh_of(list(reversed(stream)), m).to_bytes() == HeavyHitters.from_bytes(
        hh_of(list(reversed(stream)), m).to_bytes()
    ).to_bytes()


def test_hh_bytes_are_canonical_and_sized():
    a, b = HeavyHitters(8), HeavyHitters(8)
    for h in range(1, 9):
        a.add(h, h)
    for h in range(8, 0, -1):
        b.add(h, h)
    assert a.to_bytes() == b.to_bytes()
    assert len(a.to_bytes()) == 12 + 8 * (8 + 1)
    a.add(1, 1 << 40)
    assert len(a.to_bytes()) == 12 + 8 * (8 + 8)
    assert HeavyHitters.from_bytes(a.to_bytes()) == a


def test_hh_validation():
    s = HeavyHitters(2)
    for bad_w in (0, -3):
        with pytest.raises(ValueError, match="positive"):
            s.add(1, bad_w)
    with pytest.raises(TypeError):
        s.add(1, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="64-bit"):
        s.add(-1)
    with pytest.raises(ValueError, match="64-bit"):
        s.add(2**64)
    s.add(np.uint64(7), np.int64(2))
    assert s.top() == [(7, 2)] and s.total == 2
    with pytest.raises(ValueError, match="same m"):
        s.merge(HeavyHitters(3))
    for bad_m in (0, 2**16):
        with pytest.raises(ValueError, match="m"):
            HeavyHitters(bad_m)


def test_hh_rejects_bad_bytes():
    good = hh_of([(1, 2), (5, 1)], 2).to_bytes()
    for bad in (
        b"",
        b"\x11" + good[1:],
        good[:-1],
        struct.pack("<BHQB2Q2B", 0x31, 2, 3, 0, 5, 1, 1, 2),  # hashes not ascending
        struct.pack("<BHQB2Q2B", 0x31, 2, 3, 0, 1, 5, 0, 2),  # zero count
        struct.pack("<BHQB2Q2B", 0x31, 2, 2, 0, 1, 5, 2, 1),  # counts exceed total
        struct.pack("<BHQB2Q2B", 0x31, 1, 3, 0, 1, 5, 2, 1),  # more items than m
    ):
        with pytest.raises(ValueError, match="HeavyHitters"):
            HeavyHitters.from_bytes(bad)
