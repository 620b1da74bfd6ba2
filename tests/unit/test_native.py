"""The compiled kernels (``detector/native``) against their Python references, byte for byte.

``make install`` builds the kernels, so these tests fail (not skip) when they are missing. Inputs:
hypothesis texts built from the pieces the byte passes and slot patterns react to, every string in
the shared prompt corpora and in the real gateway samples (read in place), and whole simulated
traffic, where the features of every event and the window state of every key must not change
when the kernel replaces the reference.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.text as text_module
from detector import compiled, domains
from detector.features import extract
from detector.offline.replay import open_lines, parse_lines
from detector.offline.simulate import simulate
from detector.pipeline import Detector
from detector.record import Event
from detector.text import KEEP_WORDS, analyse, analyse_folded, cap

SHARED = Path(__file__).resolve().parents[3] / "shared"
PROPS = settings(max_examples=600, deadline=None, derandomize=True)

# What the passes and patterns react to: keep words, slot words, numbers and bullets, quotes of
# every kind (with and without their closing mark), code spans, URLs and e-mail addresses, line
# breaks, colons and sentence marks, every Python whitespace character, placeholders' own names.
PIECES = (list(dict.fromkeys(KEEP_WORDS))[:80] + [
    "foo", "bar", "zebra", "x" * 70, "a" * 20 + "@b.c", "a" * 70 + "@b.c", "http://x.y/z", "abcdefghijklmnop://q",
    "mailto:a@b", "'q'", "'quote here'", "'open", "\"dq\"", "\"open", "“x”", "“", "‘y’s", "‘z’", "«g»", "「h」", "`c`",
    "```py\nx=1\n```", "```", "1.", "2)", "10.", "-", "*", "+", "#", "12", "3.5", "$4", "(a)", "**answer:**", "don't",
    "don’t", ":", ".", "?", "!", ",", "\n", "\n\n", "\n1. ", "\n- ", "\n* item ", "—", "…", "\t", "\x85", "\xa0",
    "\u1680", "\u2003", "\u2028", "\u202f", "\u205f", "\u3000", "\u200b", "é", "字", "Ω", "ß", "İ", "<nl>", "<w>",
    "<more>", "\x01", "\x04", "\x00", "\x7f", "'", "\"", "`", "::", "//", "@", "0"]
    # slot fillers, weighted so that lines of about a dozen content words are common
    + ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"] * 8
    # every bounded repetition on both sides of its bound
    + ["`" + "y" * n + "`" for n in (199, 200, 201)] + ['"' + "q" * n + '"' for n in (399, 400, 401)]
    + ["'" + "q" * n + "'" for n in (199, 200, 201)] + ["“" + "q" * n + "”" for n in (399, 400, 401)]
    + ["‘" + "q" * n + "’" for n in (199, 200, 201)]
    + ["a" * n + "@b.c" for n in (63, 64, 65)] + ["x@" + "d" * n for n in (252, 253, 254)]
    + ["h" * n + "://x" for n in (1, 2, 15, 16, 17)])
SEPARATORS = (" ", "", "\n", " ", " ", ": ", ". ")
texts = st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), max_size=120).map(
    lambda parts: "".join(p + s for p, s in parts))


def native_fields(text: str) -> tuple[Any, ...] | None:
    kernel = text_module.KERNEL
    assert kernel is not None, "the compiled kernel is not built: run `make install`"
    out = kernel.analyse(cap(text).casefold())
    return None if out is None else tuple(out)


def assert_same(text: str) -> None:
    expected = tuple(analyse_folded(cap(text).casefold()))
    assert native_fields(text) == expected, f"kernel and reference differ on {text[:200]!r}"


def test_the_kernels_are_built_and_in_use() -> None:
    assert compiled.built(), "make install builds detector/native; DETECTOR_NATIVE=0 turns it off"
    assert text_module.KERNEL is not None and domains._KERNEL is not None
    assert compiled.ON
    with compiled.python_reference():
        assert not compiled.ON
    assert compiled.ON


@PROPS
@given(texts)
def test_kernel_equals_reference_on_structured_text(t: str) -> None:
    assert_same(t)


@PROPS
@given(st.text(max_size=400))
def test_kernel_equals_reference_on_any_text(t: str) -> None:
    if native_fields(t) is None:   # only a lone surrogate may fall back
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in t)
    else:
        assert_same(t)


def test_lone_surrogates_fall_back_to_the_reference() -> None:
    t = "Answer: 'x' \ud83d and more"
    assert native_fields(t) is None
    assert analyse(t) == analyse_folded(cap(t).casefold())


def test_long_text_is_capped_the_same_way() -> None:
    t = ("1. Write a function: 'x'\n" * 400) + "the end"
    assert len(t) > text_module.MAX_ANALYSED_CHARS
    assert_same(t)


WORD_PIECES = (list(domains._LANGUAGES) + list(domains._CODE_WORDS) + list(domains._OPTIONS)
               + [b" ", b"_", b"x", b"1", b"+", b"{", b";", b"=", b".", b"#", b"(", b")", b"\xc3\xa9"])
marked = st.lists(st.sampled_from(WORD_PIECES), max_size=200).map(b"".join)


def assert_same_marks(b: bytes) -> None:
    kernel = domains._KERNEL
    assert kernel is not None, "the compiled kernel is not built: run `make install`"
    assert domains.Marks(*kernel.marks(b)) == domains.marks_reference(b), b[:200]


@PROPS
@given(marked)
def test_domain_marks_equal_reference_on_code_words_and_options(b: bytes) -> None:
    assert_same_marks(b)


# the scan ends at byte 512: "python" ending there counts, unless the scan is moved by one byte
@pytest.mark.parametrize("b", [b"x" * 505 + b" pythons", b"x" * 504 + b" pythons", b"x" * 506 + b" python",
                               b"c++11", b"c++ code", b"use node.js", b"(a) or (b)", b""])
def test_domain_marks_at_the_scan_limit_and_odd_word_edges(b: bytes) -> None:
    assert_same_marks(b)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_kernel_equals_reference_on_every_corpus_prompt() -> None:
    files = sorted((SHARED / "corpora").rglob("*.jsonl.gz"))
    assert files, "the shared corpora are required"
    seen = 0
    for path in files:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                for s in _strings(orjson.loads(line)):
                    assert_same(s)
                    assert_same_marks(analyse(s).norm_bytes)
                    seen += 1
    assert seen > 10_000


def test_kernel_equals_reference_on_every_string_in_the_gateway_samples() -> None:
    files = sorted((SHARED / "samples").rglob("*.jsonl"))
    assert files, "the shared gateway samples are required"
    seen = 0
    for path in files:
        for line in path.read_bytes().splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue   # e.g. the lone-surrogate sample: the parser's tests cover it
            for s in _strings(record):
                if native_fields(s) is not None:
                    assert_same(s)
                    seen += 1
    assert seen > 500


@pytest.fixture(scope="module")
def sim_events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    out = tmp_path_factory.mktemp("native-sim")
    simulate(out, seed=5, scenario="all", hours=3, corpora=SHARED / "corpora", scale=0.05)
    return [e for e in parse_lines(open_lines(out / "events.jsonl.gz"), "canonical") if isinstance(e, Event)]


def test_features_of_every_event_are_identical(sim_events: list[Event]) -> None:
    assert len(sim_events) > 2_000
    native = [extract(e) for e in sim_events]
    with compiled.python_reference():
        reference = [extract(e) for e in sim_events]
    assert native == reference


def test_window_state_and_decisions_are_identical(sim_events: list[Event]) -> None:
    def run() -> tuple[dict[str, bytes], list[Any]]:
        d = Detector()
        results = list(d.feed(sim_events)) + list(d.finish())
        state = {key: kw.to_bytes() for key, kw in d.partition.keys.items()}
        return state, [(r.epoch_ms, r.alerts, r.decisions) for r in results]

    native = run()
    with compiled.python_reference():
        reference = run()
    assert native[0] and native[0] == reference[0]
    assert native[1] == reference[1]
