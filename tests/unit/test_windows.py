"""Window arithmetic: buckets merge exactly, horizons cover exactly the closed buckets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.config import Config
from detector.windows import Bucket, KeyWindows
from tests.unit.helpers import feat

CFG = Config()
FINE, COARSE = CFG.fine_bucket_ms, CFG.coarse_bucket_ms

events_st = st.lists(
    st.tuples(st.integers(0, 5 * 3_600_000 - 1), st.integers(0, 7), st.integers(0, 3), st.integers(1, 5000)),
    min_size=1, max_size=120,
)


def _bucket_of(evs: list[tuple[int, int, int, int]]) -> Bucket:
    b = Bucket()
    for ts, flags, prompt, out in sorted(evs):
        b.add(feat(ts, flags=flags, prompt=prompt, out_tok=out), -1)
    return b


@given(events_st)
@settings(max_examples=60, deadline=None)
def test_horizons_equal_direct_aggregation(evs: list[tuple[int, int, int, int]]) -> None:
    kw = KeyWindows("k1")
    for ts, flags, prompt, out in sorted(evs):
        kw.add(feat(ts, flags=flags, prompt=prompt, out_tok=out), FINE)
    last = max(ts for ts, *_ in evs)
    start = 0
    while start <= last:
        end = start + FINE
        merged = kw.close(start, FINE, COARSE, CFG.horizons_ms)
        hour_start = start - start % COARSE
        want_10m = _bucket_of([e for e in evs if start <= e[0] < end])
        want_1h = _bucket_of([e for e in evs if end - 3_600_000 <= e[0] < end])
        want_24h = _bucket_of([e for e in evs if hour_start - 23 * 3_600_000 <= e[0] < end])
        for got, want in ((merged["10m"], want_10m), (merged["1h"], want_1h), (merged["24h"], want_24h)):
            assert (got.n, got.out_tok, got.flag_counts, got.hours) == (want.n, want.out_tok, want.flag_counts, want.hours)
            assert got.prompts.estimate() == want.prompts.estimate()
        start = end


@given(events_st, events_st)
@settings(max_examples=40, deadline=None)
def test_bucket_merge_is_order_independent(a: list, b: list) -> None:
    x, y = _bucket_of(a), _bucket_of(b)
    xy, yx = x.copy(), y.copy()
    xy.merge(y)
    yx.merge(x)
    assert xy.to_bytes() == yx.to_bytes() or (xy.n, xy.flag_counts, xy.prompts.hashes()) == (
        yx.n, yx.flag_counts, yx.prompts.hashes())
    assert xy.n == len(a) + len(b)


@given(events_st)
@settings(max_examples=30, deadline=None)
def test_serialisation_round_trip(evs: list) -> None:
    kw = KeyWindows("k1", account_id="a", account_created_ms=5)
    for ts, flags, prompt, out in sorted(evs):
        kw.add(feat(ts, flags=flags, prompt=prompt, out_tok=out), FINE)
    back = KeyWindows.from_bytes(kw.to_bytes())
    assert back.to_bytes() == kw.to_bytes()
    assert sorted(back.fine) == sorted(kw.fine)


def test_state_is_bounded_for_a_busy_key() -> None:
    kw = KeyWindows("busy")
    ts = 0
    for i in range(30_000):   # ~3 days at one request every 9 s
        ts = i * 9_000
        kw.add(feat(ts, prompt=i, skeleton=i % 50, flags=i % 4), FINE)
        if ts % FINE > (ts + 9_000) % FINE:   # crossed a fine boundary
            kw.close(ts - ts % FINE, FINE, COARSE, CFG.horizons_ms)
    assert len(kw.fine) <= 7
    assert len(kw.coarse) <= 25
    assert kw.state_bytes() < 64_000


def test_window_counts_conversations_and_bias_sets() -> None:
    kw = KeyWindows("k")
    for i in range(6):
        kw.add(feat(i * 1000, head=1 + i // 3, bias=7 if i < 4 else 8), FINE)
    b = kw.fine[0]
    assert b.heads.estimate() == 2.0 and b.bias_sets.estimate() == 2.0 and b.slots == 1
    assert Bucket.from_bytes(b.to_bytes()).to_bytes() == b.to_bytes()
