"""The compiled key windows (``detector_native.KeyWindows``) against :class:`detector.windows.KeyWindows`.

After every event, close and reload of random sequences, both must hold the same state byte for
byte (``to_bytes``, the Redis format) and close into the same summary (``WindowSummary.to_json``,
so every float bit for bit). Inputs aim at the edges: empty and k-full sketches, hashes near
2**64, token sums past 2**53 (where int division needs care), more models, IP prefixes, user
agents and signatures than kept, retries past the dedupe ring, out-of-order events, idle gaps
and closes in any order, and state written by one side read by the other.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector import compiled, partition, summary, windows
from detector.config import Config
from detector.features import FEATURE_FIELDS, EventFeatures
from detector.levels import Horizon
from detector.partition import PartitionState, TOP_SKELETONS, _reference_parts, load_windows, new_windows
from detector.summary import WindowSummary
from detector.windows import KeyWindows

HOUR = 3_600_000
CFG = Config()
# no "24h" and no "1h": the day is the longest horizon and the hour falls back to it
ODD = Config(horizons_ms={"10m": CFG.fine_bucket_ms, "2h": 2 * HOUR, "6h": 6 * HOUR})
PROPS = settings(max_examples=300, deadline=None, derandomize=True)

hashes = st.one_of(st.integers(0, 40), st.integers(2**64 - 40, 2**64 - 1), st.integers(0, 2**64 - 1))
nonzero = st.one_of(st.just(0), hashes)
names = st.sampled_from(["", "m1", "m2", "m3", "m4", "m5", "~other", "é模型", "m\x1d"])
links = st.sampled_from(["", "10.0.0.0/24", "10.0.1.0/24", "2001:db8::/48", "x/1", "y/2", "ü/3", "~other"])
tokens = st.one_of(st.integers(0, 5000), st.integers(0, 2**56))


@st.composite
def features(draw: Any, key: str = "k1") -> EventFeatures:
    return EventFeatures(
        ts_ms=draw(st.integers(0, 30 * HOUR)), api_key_id=key,
        account_id=draw(st.sampled_from([None, "a1", "a2", "ü"])),
        account_created_ms=draw(st.one_of(st.none(), st.integers(0, 2**50))),
        prompt_fp=draw(hashes), skeleton_fp=draw(st.one_of(st.integers(0, 12), hashes)),
        skeleton_sig=draw(st.one_of(st.integers(0, 8), hashes)), system_fp=0,
        flags=draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 1 << 31, 1 << 26]))),
        script=draw(st.integers(0, 11)), prompt_chars=draw(st.one_of(st.integers(0, 300), st.integers(0, 2**40))),
        input_tokens=draw(tokens), output_tokens=draw(tokens), depth=draw(st.integers(0, 60)), model=draw(names),
        ip_prefix=draw(links), user_agent=draw(links), end_user_fp=draw(nonzero),
        status=draw(st.sampled_from([0, 200, 399, 400, 429, 500])), bias_fp=draw(nonzero), head_fp=draw(nonzero),
        request_fp=draw(st.one_of(st.integers(0, 24), hashes)))


def burst(base: EventFeatures, n: int, step_ms: int) -> list[EventFeatures]:
    """``n`` events like ``base``, ``step_ms`` apart, each with new hashes (fills the sketches)."""
    out = []
    for i in range(n):
        fp = (base.prompt_fp * 7919 + i * 0x9E3779B97F4A7C15) % 2**64
        out.append(replace(base, ts_ms=base.ts_ms + i * step_ms, prompt_fp=fp, skeleton_fp=fp ^ 0x5555,
                           end_user_fp=(fp >> 3) * (i % 2), request_fp=(fp + 1) % 2**64))
    return out


bursts = st.tuples(features(), st.integers(2, 80), st.sampled_from([1, 997, 60_000])).map(lambda t: burst(*t))

# One step on both sides: an event, a burst of events, the close of any fine bucket or of one that
# holds events (the ``n``-th, cyclically), or both sides reloaded from the other side's bytes.
steps = st.one_of(
    features().map(lambda f: ("event", f)),
    bursts.map(lambda fs: ("events", fs)),
    st.integers(0, 30 * 6).map(lambda i: ("close", i * CFG.fine_bucket_ms)),
    st.integers(0, 7).map(lambda n: ("close_held", n)),
    st.just(("swap", None)),
)


def parts_json(key: str, end: int, kw: Any, parts: tuple) -> bytes:
    stats, m1, m24, skeletons, ip, ua, sigs, activity = parts
    return WindowSummary(key, end, kw.account_id, kw.account_created_ms, stats, m1, m24, skeletons, ip, ua, sigs,
                         activity).to_json()


def as_row(f: EventFeatures) -> list[Any]:
    """``f`` as a decoded keyed row ``[offset, index, pre, *values]``."""
    return [5, 0, -1, *(getattr(f, n) for n in FEATURE_FIELDS)]


def run_both(ops: list[tuple[str, Any]], cfg: Config) -> None:
    kernel = partition._KERNEL
    assert kernel is not None, "the compiled kernel is not built: run `make install`"
    spans = cfg.horizons_ms
    day = Horizon.DAY if Horizon.DAY in spans else max(spans, key=spans.__getitem__)
    hour = Horizon.HOUR if Horizon.HOUR in spans else day
    native, ref = kernel.key("k1"), KeyWindows("k1")
    seen = 0
    for op, arg in ops:
        if op in ("event", "events"):
            for f in [arg] if op == "event" else arg:  # by attribute or as a keyed row, on each side
                seen += 1
                n = native.observe_row(as_row(f), cfg.fine_bucket_ms) if seen % 2 else native.observe(f, cfg.fine_bucket_ms)
                r = ref.observe_row(as_row(f), cfg.fine_bucket_ms) if seen % 3 else ref.observe(f, cfg.fine_bucket_ms)
                assert n == r
        elif op.startswith("close"):
            if op == "close_held":
                held = sorted(ref.fine)
                arg = held[arg % len(held)] if held else 0
            got = native.summarise(arg, cfg.fine_bucket_ms, cfg.coarse_bucket_ms, spans, day, hour, TOP_SKELETONS)
            want = _reference_parts(ref, arg, cfg, day, hour)
            end = arg + cfg.fine_bucket_ms
            assert parts_json("k1", end, native, got) == parts_json("k1", end, ref, want)
            assert got == want
        else:
            native, ref = kernel.load(ref.to_bytes()), KeyWindows.from_bytes(native.to_bytes())
        assert native.to_bytes() == ref.to_bytes()
        assert (native.last_ts, native.account_id, native.account_created_ms) == (
            ref.last_ts, ref.account_id, ref.account_created_ms)
    assert native.state_bytes() == ref.state_bytes()


@PROPS
@given(st.lists(steps, max_size=60))
def test_state_and_summaries_equal_the_reference(ops: list[tuple[str, Any]]) -> None:
    run_both(ops, CFG)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(steps, max_size=60))
def test_state_and_summaries_equal_the_reference_on_other_horizons(ops: list[tuple[str, Any]]) -> None:
    run_both(ops, ODD)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.one_of(features().map(lambda f: [f]), bursts), min_size=1, max_size=12), st.integers(1, 40))
def test_a_day_of_closes_in_time_order(groups: list[list[EventFeatures]], idle_hours: int) -> None:
    """Events, then every fine bucket closed in order past an idle gap (coarse buckets age out)."""
    evs = [f for g in groups for f in g]
    last = max(f.ts_ms for f in evs) + idle_hours * HOUR
    ops: list[tuple[str, Any]] = [("event", f) for f in sorted(evs, key=lambda f: f.ts_ms)]
    ops += [("close", s) for s in range(0, last, CFG.fine_bucket_ms)]
    run_both(ops, CFG)


def test_k_full_sketches_near_the_top_of_the_hash_space() -> None:
    base = EventFeatures(ts_ms=HOUR, api_key_id="k1", account_id=None, account_created_ms=None,
                         prompt_fp=2**64 - 1, skeleton_fp=2**64 - 2, skeleton_sig=2**64 - 3, system_fp=0, flags=3,
                         script=1, prompt_chars=5_000_000, input_tokens=2**55, output_tokens=2**55 + 1, depth=2,
                         model="m", ip_prefix="p", user_agent="u", end_user_fp=2**64 - 5, status=500)
    evs = burst(base, 200, 1_000)
    for f in evs:
        f.prompt_fp = 2**64 - 1 - f.prompt_fp % 2**40   # all within 2**40 of 2**64
    ops: list[tuple[str, Any]] = [("events", evs), ("swap", None)]
    run_both(ops + [("close", s) for s in range(0, 30 * HOUR, CFG.fine_bucket_ms)], CFG)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["k1", "k2", "k3", "ü"]), features()), max_size=120),
       st.integers(0, 120))
def test_partition_runs_equal_the_reference_and_restore_across(evs: list[tuple[str, EventFeatures]], cut: int) -> None:
    """A partition fed in event-time order with the watermark advancing, stored at ``cut`` and
    restored, gives the same summaries and stored bytes whichever implementation runs each part."""
    feed = []
    for key, f in sorted(evs, key=lambda kf: kf[1].ts_ms):
        f.api_key_id = key
        feed.append(f)

    def run(natives: tuple[bool, bool]) -> tuple[list[bytes], dict[str, bytes]]:
        out: list[bytes] = []
        state = PartitionState(CFG)
        for phase, (part, native) in enumerate(zip((feed[:cut], feed[cut:]), natives)):
            with nullcontext() if native else compiled.python_reference():
                if phase:
                    blobs = {k: kw.to_bytes() for k, kw in state.keys.items()}
                    state = PartitionState.restore(CFG, state.meta_bytes(), blobs)
                for i, f in enumerate(part):
                    state.add_row(as_row(f)) if i % 2 else state.add(f)
                    out += [s.to_json() for e in state.advance() for s in e.summaries]
                assert all(isinstance(kw, KeyWindows) != native for kw in state.keys.values())
        out += [s.to_json() for e in state.flush() for s in e.summaries]
        return out, {k: kw.to_bytes() for k, kw in state.keys.items()}

    reference = run((False, False))
    assert run((True, True)) == reference
    assert run((True, False)) == reference
    assert run((False, True)) == reference


def test_the_compiled_windows_are_in_use() -> None:
    assert type(new_windows("k")).__module__ == "detector_native"
    with compiled.python_reference():
        assert isinstance(new_windows("k"), KeyWindows)
        assert isinstance(load_windows(KeyWindows("k").to_bytes()), KeyWindows)


def test_rows_must_have_the_compiled_layout() -> None:
    """The kernel reads rows by position: it refuses features whose fields are not its own, and
    rows of another length."""
    with pytest.raises(ValueError, match="not the compiled keyed row"):
        compiled.kernel("WindowKernel", *windows.compiled_layout(), *summary.compiled_tables(),
                        (orjson.dumps, orjson.loads), list(reversed(FEATURE_FIELDS)))
    f = EventFeatures(ts_ms=0, api_key_id="k1", account_id=None, account_created_ms=None, prompt_fp=1,
                      skeleton_fp=2, skeleton_sig=3, system_fp=0, flags=0, script=0, prompt_chars=4,
                      input_tokens=1, output_tokens=1, depth=1, model="m", ip_prefix="", user_agent="",
                      end_user_fp=0, status=200)
    with pytest.raises(ValueError, match="items, expected"):
        partition._KERNEL.key("k1").observe_row(as_row(f)[:-1], CFG.fine_bucket_ms)


@pytest.mark.parametrize("bad", [b"", b"\x01\x00\x00\x00[", b"\x02\x00\x00\x00[]"])
def test_bad_bytes_raise(bad: bytes) -> None:
    with pytest.raises(ValueError):
        partition._KERNEL.load(bad)


def test_a_model_name_holding_a_separator_does_not_read_back_on_either_side() -> None:
    """The bucket format joins models with \\x1e and \\x1f: both sides write such a name and
    both refuse to read it back (a limitation of the stored format, not of either side)."""
    native, ref = partition._KERNEL.key("k1"), KeyWindows("k1")
    f = next(iter(burst(EventFeatures(ts_ms=0, api_key_id="k1", account_id=None, account_created_ms=None,
                                      prompt_fp=1, skeleton_fp=2, skeleton_sig=3, system_fp=0, flags=0, script=0,
                                      prompt_chars=4, input_tokens=1, output_tokens=1, depth=1, model="a\x1fb",
                                      ip_prefix="", user_agent="", end_user_fp=0, status=200), 1, 1)))
    native.observe(f, CFG.fine_bucket_ms)
    ref.observe(f, CFG.fine_bucket_ms)
    assert native.to_bytes() == ref.to_bytes()
    with pytest.raises(ValueError):
        KeyWindows.from_bytes(ref.to_bytes())
    with pytest.raises(ValueError):
        partition._KERNEL.load(ref.to_bytes())


def test_sketch_sizes_of_another_build_are_refused() -> None:
    kw = KeyWindows("k1")
    kw.add(EventFeatures(ts_ms=0, api_key_id="k1", account_id=None, account_created_ms=None, prompt_fp=1,
                         skeleton_fp=2, skeleton_sig=3, system_fp=0, flags=0, script=0, prompt_chars=4,
                         input_tokens=1, output_tokens=1, depth=1, model="m", ip_prefix="", user_agent="",
                         end_user_fp=0, status=200), CFG.fine_bucket_ms)
    data = kw.to_bytes()
    assert partition._KERNEL.load(data).to_bytes() == data
    k32 = (32).to_bytes(2, "little")
    with pytest.raises(ValueError, match="sketch sizes"):
        partition._KERNEL.load(data.replace(b"\x11" + k32, b"\x11" + (31).to_bytes(2, "little"), 1))
