"""The compiled kernels (``detector/native``) against their Python references, byte for byte.

``make install`` builds the kernels, so these tests fail (not skip) when they are missing. Inputs:
hypothesis texts built from the pieces the byte passes and slot patterns react to, every string in
the shared prompt corpora and in the real gateway samples (read in place), and whole simulated
traffic, where the features of every event and the window state of every key must not change
when the kernel replaces the reference.
"""

from __future__ import annotations

import dataclasses
import gc
import gzip
import json
import random
from datetime import date
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.text as text_module
from detector import chunks, compiled, domains, features, parse, signals
from detector.adapters import FORMATS, parse_input
from detector.chunks import input_chunks
from detector.features import extract
from detector.offline.replay import open_lines, parse_lines
from detector.offline.simulate import simulate
from detector.pipeline import Detector
from detector.record import Event, Message
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
    codes = expected[3]
    assert text_module.KERNEL.skeleton_fp(codes) == reference_fingerprint(text_module._readable_raw(codes))
    assert text_module.KERNEL.fingerprint(cap(text).casefold()) in (None, reference_fingerprint(text))


def reference_fingerprint(text: str) -> int:
    with compiled.python_reference():
        return text_module.fingerprint(text)


def test_the_kernels_are_built_and_in_use() -> None:
    assert compiled.built(), "make install builds detector/native; DETECTOR_NATIVE=0 turns it off"
    assert text_module.KERNEL is not None and domains.KERNEL is not None and parse._KERNEL is not None
    assert signals.KERNEL is not None and features._KERNEL is not None
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


# chains of the marks whose passes run in order (line break, "! ", ": ", ". ", "? "): each pass
# sees the spaces the earlier ones wrote
@pytest.mark.parametrize("t", ["a?. b", "a.? b", "a!: b", "a:! b", "x!!\ny", ":.?!\n", "?\n", "!.:? z", "q?.:!", "1.\n2?!",
                               "a ... b", "what?!? ok", "see: http://x.y/z. ok", "mail a@b.c? yes"])
def test_kernel_equals_reference_on_mark_chains(t: str) -> None:
    assert_same(t)


# the token table is looked up by key length (up to 4, 8 and 24 bytes, longer): table tokens of every
# length, a byte short of one and a byte past one, at every offset around the 64-byte chunks the
# byte passes read
TABLE_TOKENS = sorted(text_module._CODES, key=lambda t: (len(t.encode()), t))
BY_LENGTH = [t for n in range(1, 40) for t in [x for x in TABLE_TOKENS if len(x.encode()) == n][:6]]
NEAR = BY_LENGTH + [t[:-1] for t in BY_LENGTH if len(t) > 1] + [t + "q" for t in BY_LENGTH] + ["y" * 25, "z" * 40]


@PROPS
@given(st.lists(st.tuples(st.integers(0, 70), st.sampled_from(NEAR), st.sampled_from(SEPARATORS)), max_size=60).map(
    lambda parts: "".join(" " * pad + t + sep for pad, t, sep in parts)))
def test_kernel_equals_reference_on_table_tokens_of_every_length_across_chunks(t: str) -> None:
    assert_same(t)


# normalisation reads 64-byte chunks and looks one byte past each: every Python whitespace
# character (and the bytes that start one) before, on and after a chunk's last byte, and at the end
WHITESPACE = [" ", "  ", "\n", "\t", "\x1c", "\x85", "\xa0", "\u1680", "\u2000", "\u2028", "\u3000", "\u3001", "\u2030", "ᚁ"]


@PROPS
@given(st.lists(st.tuples(st.integers(0, 130), st.sampled_from(WHITESPACE)), max_size=12).map(
    lambda parts: "".join("w" * n + ws for n, ws in parts)))
def test_kernel_equals_reference_on_whitespace_around_chunk_ends(t: str) -> None:
    assert_same(t)


@PROPS
@given(st.lists(st.sampled_from(sorted(text_module._READABLE_OF)), max_size=1500).map("".join))
def test_skeleton_fingerprint_equals_reference_up_to_and_past_the_cap(codes: str) -> None:
    """Readable skeletons of up to ~7,000 characters: the analysis cap (head, line break, tail)
    applies to them too."""
    assert text_module.READABLE_FOLDED
    assert text_module.KERNEL.skeleton_fp(codes) == reference_fingerprint(text_module._readable_raw(codes))


@pytest.mark.parametrize("n_codes", [700, 800, 900, 1000, 1500, 4000])
def test_skeleton_fingerprint_of_long_skeletons(n_codes: int) -> None:
    rng = random.Random(n_codes)
    readable = sorted(text_module._READABLE_OF)
    for _ in range(20):
        codes = "".join(rng.choice(readable) for _ in range(n_codes))
        assert text_module.KERNEL.skeleton_fp(codes) == reference_fingerprint(text_module._readable_raw(codes))


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
    kernel = domains.KERNEL
    assert kernel is not None, "the compiled kernel is not built: run `make install`"
    assert domains.Marks(*kernel.marks(b)) == domains.ReferenceMarks(b).as_marks(), b[:200]


@PROPS
@given(marked)
def test_domain_marks_equal_reference_on_code_words_and_options(b: bytes) -> None:
    assert_same_marks(b)


# the scan ends at byte 512: "python" ending there counts, unless the scan is moved by one byte
@pytest.mark.parametrize("b", [b"x" * 505 + b" pythons", b"x" * 504 + b" pythons", b"x" * 506 + b" python",
                               b"c++11", b"c++ code", b"use node.js", b"(a) or (b)", b""])
def test_domain_marks_at_the_scan_limit_and_odd_word_edges(b: bytes) -> None:
    assert_same_marks(b)


# ------------------------------------------------------------------------------ user-turn features
# What the text signals, the script and the domain react to: every anchor word and rule phrase,
# the function words of both lists, "step by step" in other scripts, letters of every script
# class, code and maths marks, template markers; systems that set bits of their own or none.
INTL_COT = ["一步一步", "逐步", "шаг за шагом", "ステップバイステップ", "단계별", "خطوة بخطوة", "चरण दर चरण"]
PHRASES = INTL_COT + [
    "step by step", "step-by-step guide", "think step by step", "show your steps", "explain each step",
    "reasoning process", "explain your reasoning", "thought process", "chain of thought", "chain-of-thoughts",
    "justify your answer", "think aloud", "think out loud", "show your work", "show all the working", "show your working",
    "explain your thinking", "thinking process", "paso a paso", "étape par étape", "schritt für schritt",
    "passo dopo passo", "given the correct answer", "given this answer, explain", "backwards from the final answer",
    "the reasoning that leads to this answer", "explanation behind it", "correct answer is 42. explain why",
    "final answer: x derive", "here is the answer. explain", "here’s a solution with reasoning", "imagine the reasoning",
    "reconstruct a plausible rationale", "arrives at this answer", "rubric", "scale of 1 to 10", "score the responses",
    "rate the quality", "which response is better", "evaluate the assistant's answers", "grade the following essays",
    "act as an impartial judge", "reward model", "final verdict", "[[a]]", "[[tie]]", "[[10]]",
    "come up with 20 diverse instructions", "generate 5 new tasks", "list of 10 tasks", "requirements: 1.",
    "will be given to a gpt", "diverse task instructions", "rewrite this in a neutral way", "politically sensitive, rephrase",
    "censorship-safe", "censorship compliant", "<|im_start|>", "[inst]", "### instruction:", "user:", "<s>", "def f(x): return x", "```py", "python",
    "(a)", "(b)", "options:", "true and false or", "1 + 2 = 3", "$4", "12", "3.5",
    # casefolded by the kernel (ASCII) or by str.casefold (the rest, some of it changing length)
    "STEP BY STEP", "Show Your Work", "RUBRIC", "De La Que", "ẞ", "ß", "ﬁ", "İ", "Σσς", "ǅ", "ΐ", "Straße",
]
SCRIPT_PIECES = ["abc", "é", "жук", "αβγ", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "汉字", "한국어", "ひらがな", "カタカナ", "ա", "ꀀ", "ߊ",
                 "ⴰ", "४२", "٣", "…", "—", "①", "²"]
TURN_PIECES = (PHRASES + SCRIPT_PIECES + sorted(signals._FOREIGN_WORDS) + sorted(signals._ENGLISH_WORDS)
               + sorted({w for _, rules in signals._FAMILIES for r in rules for g in r.gate
                         for w in text_module.KEEP_WORDS if text_module._CODES[w] in g})
               + ["alpha", "bravo", "charlie", "delta", "echo"] * 6)
turn_texts = st.lists(st.tuples(st.sampled_from(TURN_PIECES), st.sampled_from(SEPARATORS)), max_size=60).map(
    lambda parts: "".join(p + s for p, s in parts))
SYSTEMS = ("", "You are a helpful assistant.", "Think step by step and justify your steps.",
           "Rate the quality of the response on a scale of 1 to 10.", "  \n  ", "Переведи текст. " * 40)


def assert_same_turn(user: str, system: str = "", tools: bool = False) -> None:
    view = features._system_view(cap(system))
    native = features._KERNEL.turn(cap(user), view.part, tools, len(user))
    with compiled.python_reference():
        reference = features._turn(user, view, tools)
    assert native is not None, f"the kernel did not take {user[:200]!r}"
    assert native == reference, f"kernel and reference differ on {user[:200]!r} (system {system[:40]!r})"


@PROPS
@given(turn_texts, st.sampled_from(SYSTEMS), st.booleans())
def test_turn_features_equal_reference_on_phrases_scripts_and_function_words(t: str, system: str, tools: bool) -> None:
    assert_same_turn(t, system, tools)


# mostly one script, or Latin function words of two languages: the script and NON_ENGLISH decisions
script_texts = st.lists(st.tuples(st.sampled_from(SCRIPT_PIECES * 4 + INTL_COT + sorted(signals._FOREIGN_WORDS)
                                                  + sorted(signals._ENGLISH_WORDS) + ["1", "?", "x"]),
                                  st.sampled_from(" \n、")), max_size=40).map(lambda parts: "".join(p + s for p, s in parts))


@PROPS
@given(script_texts)
def test_turn_features_equal_reference_on_scripts_and_function_words(t: str) -> None:
    assert_same_turn(t)


@PROPS
@given(texts, st.sampled_from(SYSTEMS))
def test_turn_features_equal_reference_on_structured_text(t: str, system: str) -> None:
    assert_same_turn(t, system)


@PROPS
@given(st.text(max_size=400))
def test_turn_features_equal_reference_on_any_text(t: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in t):  # a lone surrogate: the reference decides
        test_turn_features_fall_back_on_a_lone_surrogate(t)
    else:
        assert_same_turn(t)


# the script sample ends at character 320 (a tie goes to the script first in the reference's order);
# chat ends at 240 characters, a document starts at 3,000
@pytest.mark.parametrize("t", ["x" * 10_000, "step by step " * 500, "a\u0301 show your work\u0301", "show your work_",
                               # a phrase past more than four places its start literal occurs, after non-ASCII text
                               "é step " * 6 + "step by step", "step " * 4 + "ж step-by-step",
                               "ж give me 3 jokes, list " * 5 + "write 10 diverse instructions",
                               "字 given that " * 3 + "given the correct answer",
                               "show your working²", "ʼ" * 5, "de la que " * 3 + "and", "   ", "", "字" * 400 + "ア" * 100,
                               "ж" * 160 + "a" * 161, "a" * 160 + "ж" * 161, "ж" * 161 + "a" * 160, "字" * 80 + "a" * 241,
                               "x" * 240, "x" * 241, "x" * 2999, "x" * 3000])
def test_turn_features_at_the_edges(t: str) -> None:
    for system in SYSTEMS:
        assert_same_turn(t, system)


# the kernel casefolds text whose non-ASCII characters casefold to themselves (its table comes from
# str.casefold); any other text goes through str.casefold, astral characters included
@PROPS
@given(st.lists(st.sampled_from(["STEP BY STEP", "Show Your Work", "RATE", " ", "\n"])
                | st.characters(exclude_categories=("Cs",)), max_size=80).map("".join))
def test_turn_features_equal_reference_on_upper_case_ascii_beside_any_character(t: str) -> None:
    assert_same_turn(t)


@pytest.mark.parametrize("t", ["Don’t STOP — Think Step By Step…", "東京 IS BIG 😀 SHOW YOUR WORK", "« RATE THIS » 「Q」\u00a0OK",
                               "Straße STEP", "ÉTAPE PAR ÉTAPE", "𐐀 Deseret SHOW YOUR WORK", "ΣΊΣΥΦΟΣ step", "ǅ Ǆ ǆ STEP",
                               "\u0130STANBUL", "ﬁ FINAL VERDICT"])
def test_turn_features_casefolded_in_the_kernel_or_by_python(t: str) -> None:
    for system in SYSTEMS:
        assert_same_turn(t, system)


@pytest.mark.parametrize("t", ["Think step by step \ud83d"])
def test_turn_features_fall_back_on_a_lone_surrogate(t: str) -> None:
    view = features._system_view("")
    assert features._KERNEL.turn(cap(t), view.part, False, len(t)) is None
    native = features._turn(t, view, False)
    with compiled.python_reference():
        assert native == features._turn(t, view, False)


# Whole requests: the message structures turn_signals, shape_signals and the head fingerprint
# read (prefill, tool results, empty and unlogged turns, template markers, repeated openings),
# every parameter rule on both sides of its bound, logged answers with and without worked
# steps, and identifiers with a lone surrogate.
ROLES = ("user", "assistant", "tool", "system", "developer")
CONTENTS = (None, "", "   ", "<|im_start|>user", "[INST]", "### Instruction:", "user:", "Think step by step.",
            "Fix the failing test in utils.py", "x" * 5000, "Rate this answer 1-10: \ud83d", "東京について教えて")
OUTPUTS = (None, "", "Paris.", "1. add\n2. carry\n3. done", "<think>a</think>", "x = 1\ny = 2\nz = 3")
messages_st = st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(CONTENTS) | turn_texts), max_size=5).map(
    lambda ms: tuple(Message(r, c) for r, c in ms))
small = st.none() | st.integers(0, 3) | st.integers(1020, 1030) | st.integers(0, 5000)
events = st.builds(
    Event, ts_ms=st.integers(0, 2**41), api_key_id=st.sampled_from(["k1", "key_\u00e9"]),
    request_id=st.none() | st.sampled_from(["r-1", "", "r-\ud800"]), account_id=st.none() | st.just("a1"),
    end_user_id=st.none() | st.sampled_from(["u1", "", "u-\udfff", "ü"]),
    client_ip=st.none() | st.sampled_from(["203.0.113.9", "2001:db8::1", "::ffff:10.0.0.1", "bad", ""]),
    user_agent=st.none() | st.sampled_from(["openai-python/1.2.3", "Mozilla/5.0 (X11)", "", "curl"]),
    model=st.none() | st.sampled_from(["", "m-1"]), status=st.none() | st.sampled_from([0, 200, 429]),
    input_tokens=small, output_tokens=small, reasoning_tokens=small, max_tokens=small, n=small, tools=small,
    thinking_budget=small, top_logprobs=small, logit_bias_size=small,
    temperature=st.none() | st.sampled_from([0.0, 0.1, 0.1000001, 1.0]), logprobs=st.none() | st.booleans(),
    system=st.none() | st.sampled_from(SYSTEMS + ("sys \ud800",)), messages=messages_st,
    output=st.sampled_from(OUTPUTS),
    logit_bias_ids=st.lists(st.integers(-(2**70), 2**70), max_size=12).map(lambda ids: tuple(sorted(ids))))


@PROPS
@given(events)
def test_request_kernel_equals_reference_on_any_request(ev: Event) -> None:
    native = extract(ev)
    with compiled.python_reference():
        reference = extract(ev)
    assert native == reference


def test_request_kernel_takes_plain_requests() -> None:
    ev = Event(1_000, "k", client_ip="203.0.113.9", user_agent="openai-python/1.2.3", end_user_id="u1",
               request_id="r1", output="1. a\n2. b\n3. c", logit_bias_ids=(5, 9), logprobs=True,
               messages=(Message("user", "hi"), Message("assistant", "hello"), Message("user", "Think step by step")))
    f = features._REQUEST.extract(ev)
    assert f == extract(ev) and (f.input_chunks, f.input_samples) == input_chunks(ev) and f.input_chunks == 3
    lone = Event(1_000, "k", messages=(Message("user", "Rate this \ud83d"),))
    assert features._REQUEST.extract(lone) is None  # a lone surrogate: the reference decides
    assert extract(lone).prompt_chars == 11


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def chunks_of(system: str | None, turns: list[str]) -> tuple[Any, Any]:
    """``input_chunks`` of a request with this system prompt and these turns: the kernel's and the reference's."""
    ev = Event(0, "k", system=system, messages=tuple(Message(("user", "assistant", "tool")[i % 3], t or None)
                                                     for i, t in enumerate(turns)))
    native = input_chunks(ev)
    with compiled.python_reference():
        return native, input_chunks(ev)


def assert_same_chunks(s: str) -> None:
    native, reference = chunks_of(s, [s[::-1], s * (4096 // max(len(s), 1) + 1)])   # past the cap, capped
    assert native == reference, s[:80]


@PROPS
@given(st.none() | st.text(alphabet=st.sampled_from("ab cd\t\n\x0b\x0c\r\x1c\u00a0\u3000数学\udfff")
                             | st.characters(), max_size=300),
       st.lists(st.text(alphabet=st.sampled_from("ab cd\t\n\x0b\x0c\r\x1c\u00a0\u3000数学\udfff")
                        | st.characters(), max_size=600), max_size=4),
       st.lists(st.integers(0, 20_000), max_size=24))
def test_chunk_kernel_equals_reference_on_any_request(system: str | None, texts: list[str], repeats: list[int]) -> None:
    """Any text, and fields repeated past the 4,096-character cap and the 65,536 a request reads."""
    turns = texts + [(texts[i % len(texts)] if texts else "ab é ") * (r // 4 + 1) for i, r in enumerate(repeats)]
    native, reference = chunks_of(system, turns)
    assert native == reference


def test_chunk_kernel_reads_up_to_the_budget_exactly() -> None:
    """Turns that fill the 65,536 characters a request reads to the last one, then one past it."""
    turns = [" ".join(f"t{t}w{w}" for w in range(900))[:chunks.MAX_INPUT_CHARS // 16] for t in range(16)]
    for system in (None, "", "s"):
        native, reference = chunks_of(system, ["an older turn", *turns])
        assert native == reference and native[0] > 0
    everything, _ = chunks_of(None, turns)
    one_less, _ = chunks_of("s", turns)   # a one-character system prompt leaves no room for the oldest turn
    assert one_less[0] < everything[0]


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
                    assert_same_turn(s, SYSTEMS[seen % len(SYSTEMS)], seen % 7 == 0)
                    assert_same_chunks(s)
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
                    assert_same_turn(s, SYSTEMS[seen % len(SYSTEMS)])
                    assert_same_chunks(s)
                    seen += 1
    assert seen > 500


# ---------------------------------------------------------------------------------- record checks
# Valid records near every rule's edge, then at most one field replaced by a value of another form,
# type or range, so that both the fast path and the deferral to the reference are exercised.
_DIGITS = st.integers(0, 9).map(str)
_FRACTION = st.one_of(st.just(""), st.integers(1, 9).flatmap(
    lambda n: st.lists(_DIGITS, min_size=n, max_size=n).map(lambda d: "." + "".join(d))))
_OFFSET = st.sampled_from(["Z", "z", "+00:00", "+01:00", "-05:30", "+23:59", "-00:00"])
_RFC3339 = st.builds(lambda day, h, mi, sec, frac, off, sep: f"{day.isoformat()}{sep}{h:02d}:{mi:02d}:{sec:02d}{frac}{off}",
                     st.dates(date(2015, 1, 2), date(2099, 12, 30)), st.integers(0, 23), st.integers(0, 59),
                     st.integers(0, 59), _FRACTION, _OFFSET, st.sampled_from(["T", "T", "T", "t", " "]))
_TS = st.one_of(_RFC3339, st.integers(parse.TS_MIN_MS, parse.TS_MAX_MS - 1),
                st.floats(parse.TS_MIN_MS, parse.TS_MAX_MS - 1))
_BAD_TS = st.one_of(st.sampled_from(["2026-02-30T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T14:03:60Z",
                                     "2026-11-26T14:03:07", "2026-11-26T14:03:07+24:00", "2026-11-26T14:03:07+0100",
                                     "2026-11-26", "not a time", "2014-12-31T23:59:59Z", "2100-01-01T00:00:00Z"]),
                    st.integers(), st.floats(), st.booleans())
_ID = st.one_of(st.text(max_size=20), st.text(min_size=parse.MAX_ID_CHARS - 1, max_size=parse.MAX_ID_CHARS))
_TOKENS = st.integers(0, parse.MAX_TOKENS)
_PARAMS = {"temperature": st.one_of(st.integers(0, 5), st.floats(0, 5)), "top_p": st.floats(0, 1),
           "max_tokens": _TOKENS, "n": st.integers(1, 1000), "seed": st.integers(-(2**63), 2**64 - 1),
           "stream": st.booleans(), "logprobs": st.booleans(), "top_logprobs": st.integers(0, 1000),
           "logit_bias_size": st.integers(0, 1_000_000), "tools": st.integers(0, 100_000), "thinking_budget": _TOKENS}
_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "tool", "function", "system", "developer"])},
                                 optional={"content": st.one_of(st.text(max_size=30), st.none())})
_VALID = st.fixed_dictionaries(
    {"ts": _TS, "api_key_id": st.one_of(st.text(min_size=1, max_size=8),
                                        st.text(min_size=parse.MAX_API_KEY_ID_CHARS, max_size=parse.MAX_API_KEY_ID_CHARS))},
    optional={
        "request_id": _ID, "account_id": _ID, "end_user_id": _ID, "user_agent": _ID, "model": _ID, "endpoint": _ID,
        "finish_reason": _ID, "account_created_at": _TS, "status": st.integers(100, 599),
        "latency_ms": st.one_of(st.integers(0, 7 * 86_400_000), st.floats(0, 7 * 86_400_000)),
        "output": st.text(max_size=30),
        "client_ip": st.sampled_from(["203.0.113.7", "203.0.113.7, 10.0.0.2", " , 10.0.0.2", "\u3000a ,b", "2001:db8::1"]),
        "usage": st.fixed_dictionaries({}, optional={k: _TOKENS for k in ("input_tokens", "output_tokens", "reasoning_tokens")}),
        "params": st.fixed_dictionaries({}, optional={**_PARAMS, "logit_bias": st.dictionaries(
            st.integers(0, 10**19).map(str) | st.sampled_from(["007", "0", "x"]),
            st.integers(-100, 100) | st.floats(-100, 100), max_size=12)}),
        "system": st.one_of(st.text(max_size=20), st.none()),
        "messages": st.lists(_MESSAGE, max_size=4),
    })
# one field's replacement: another type, out of range, another form, or a shape only the reference reads
_ODD = st.one_of(
    st.tuples(st.sampled_from(["ts", "account_created_at"]), _BAD_TS),
    st.tuples(st.sampled_from(["api_key_id", "request_id", "model", "output", "client_ip"]),
              st.one_of(st.just(""), st.text(min_size=parse.MAX_API_KEY_ID_CHARS + 1, max_size=parse.MAX_API_KEY_ID_CHARS + 2),
                        st.text(min_size=parse.MAX_ID_CHARS + 1, max_size=parse.MAX_ID_CHARS + 2), st.integers(), st.none())),
    st.tuples(st.sampled_from(["status", "latency_ms"]),
              st.one_of(st.sampled_from([99, 600, -1, 7 * 86_400_001, True, "200", 1.5]), st.floats())),
    st.tuples(st.sampled_from(["usage", "params"]), st.one_of(st.integers(), st.lists(st.none(), max_size=1),
              st.dictionaries(st.sampled_from([*_PARAMS, "input_tokens", "logit_bias"]),
                              st.one_of(st.sampled_from([-1, 2**64, -(2**63) - 1, 1001, 5.01, True, None, "1"]),
                                        st.dictionaries(st.sampled_from(["5", "x"]), st.integers(-9, 9), max_size=2)),
                              min_size=1, max_size=2))),
    st.tuples(st.just("system"), st.one_of(st.integers(), st.lists(st.text(max_size=4), max_size=2))),
    st.tuples(st.just("messages"), st.one_of(st.text(max_size=3), st.lists(st.one_of(
        st.just("hi"), st.fixed_dictionaries({"role": st.sampled_from(["robot", "User", 7])}),
        st.fixed_dictionaries({"role": st.just("user"), "content": st.one_of(st.integers(), st.lists(
            st.one_of(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=9)}),
                      st.text(max_size=5)), max_size=2))})), min_size=1, max_size=2))),
)
_RECORDS = st.builds(lambda record, odd: {**record, **dict(odd)}, _VALID, st.lists(_ODD, max_size=1))


def test_record_kernel_agrees_with_the_reference_or_defers() -> None:
    """Whatever the kernel accepts, the reference accepts with the same Event; it takes most valid
    records and defers on the odd ones (both paths are exercised)."""
    kernel = parse._KERNEL
    assert kernel is not None, "the compiled kernel is not built: run `make install`"
    paths = [0, 0]   # deferred, taken

    @settings(max_examples=3000, deadline=None, derandomize=True)
    @given(_RECORDS, st.sampled_from([None, 1_795_701_787_412]))
    def check(record: dict, reference_ms: int | None) -> None:
        values = kernel.check(record, reference_ms)
        try:
            expected = parse.check_record_reference(record, reference_ms=reference_ms)
        except parse.RecordError:
            assert values is None, "the kernel accepted a record the reference rejects"
        else:
            if values is not None:
                assert parse.Event(*values) == expected
        paths[values is not None] += 1

    check()
    assert paths[1] > 800 and paths[0] > 300, paths


_BASE = {"ts": "2026-11-26T14:03:07.412Z", "api_key_id": "k", "messages": [{"role": "user", "content": "hi"}]}
_EDGES = [
    {"request_id": "r" * parse.MAX_ID_CHARS}, {"request_id": "r" * (parse.MAX_ID_CHARS + 1)},
    {"api_key_id": "k" * parse.MAX_API_KEY_ID_CHARS}, {"api_key_id": "k" * (parse.MAX_API_KEY_ID_CHARS + 1)},
    {"api_key_id": ""}, {"status": 100}, {"status": 99}, {"status": 599}, {"status": 600}, {"status": True},
    {"latency_ms": 0}, {"latency_ms": -0.5}, {"latency_ms": 604_800_000}, {"latency_ms": 604_800_000.5},
    {"ts": "2026-11-26T14:03:07.123456Z"}, {"ts": "2026-11-26T14:03:07.1234567Z"}, {"ts": "2026-11-26T14:03:07.9+05:30"},
    {"ts": "2024-02-29T23:59:59-00:01"}, {"ts": "2023-02-29T00:00:00Z"}, {"ts": "2026-11-26 14:03:07Z"},
    {"ts": parse.TS_MIN_MS}, {"ts": parse.TS_MIN_MS - 1}, {"ts": parse.TS_MAX_MS - 1}, {"ts": parse.TS_MAX_MS},
    {"ts": 1_795_701_787_412.9}, {"ts": -1.5}, {"account_created_at": "2020-01-01T00:00:00+01:00"},
    {"usage": {"output_tokens": parse.MAX_TOKENS}}, {"usage": {"output_tokens": parse.MAX_TOKENS + 1}},
    {"params": {"temperature": 5}}, {"params": {"temperature": 5.000001}}, {"params": {"top_p": 0}},
    {"params": {"n": 0}}, {"params": {"n": 1000}}, {"params": {"seed": 2**64 - 1}}, {"params": {"seed": 2**64}},
    {"params": {"seed": -(2**63)}}, {"params": {"stream": 1}}, {"params": {"logit_bias": {"5": 1}}},
    {"client_ip": "203.0.113.7 ,10.0.0.2"}, {"client_ip": "\u2003, 10.0.0.2"}, {"client_ip": "::1"},
    {"system": ["a"]}, {"messages": [{"role": "developer", "content": "d"}, {"role": "system", "content": "s"}]},
    {"messages": [{"role": "function", "content": None}]}, {"messages": [{"role": "user", "content": ["a"]}]},
    {"messages": [{"role": "robot", "content": "x"}]}, {"output": 7}, {"end_user_id": None},
    # logit-bias maps: the kernel takes short decimal ids with number values, the reference the rest
    {"params": {"logit_bias": {}}}, {"params": {"logit_bias": {"7": 1, "07": 2, "3": -100.5}}},
    {"params": {"logit_bias": {"9" * 18: 1}}}, {"params": {"logit_bias": {"9" * 19: 1}}},
    {"params": {"logit_bias": {"x": 1}}}, {"params": {"logit_bias": {"": 1}}}, {"params": {"logit_bias": {"\u0663": 1}}},
    {"params": {"logit_bias": {"5": True}}}, {"params": {"logit_bias": {"5": "1"}}}, {"params": {"logit_bias": {"5": None}}},
    {"params": {"logit_bias": [5]}}, {"params": {"logit_bias": None, "logit_bias_size": 3}},
    {"params": {"logit_bias": {"5": 1, "6": 1}, "logit_bias_size": 40}},
    {"params": {"logit_bias": {"5": 1}, "logit_bias_size": None}},
    {"params": {"logit_bias": {str(i): 1 for i in range(parse.MAX_LOGIT_BIAS_IDS + 5, 0, -1)}}},
]


@pytest.mark.parametrize("edge", _EDGES, ids=[repr(e)[:40] for e in _EDGES])
def test_record_kernel_at_each_rule_edge(edge: dict) -> None:
    record = {**_BASE, **edge}
    values = parse._KERNEL.check(record)
    try:
        expected = parse.check_record_reference(record)
    except parse.RecordError:
        assert values is None
    else:
        assert values is None or parse.Event(*values) == expected


def test_record_kernel_takes_the_plain_records() -> None:
    """The fast path must actually be taken for ordinary records (it defers only on the unusual)."""
    record = {"ts": "2026-11-26T14:03:07.412Z", "api_key_id": "k", "client_ip": "203.0.113.7, 10.0.0.2",
              "usage": {"input_tokens": 3, "output_tokens": 900}, "params": {"temperature": 1, "stream": True},
              "system": "be brief", "messages": [{"role": "developer", "content": "no lists"},
                                                 {"role": "user", "content": "hi"}, {"role": "assistant"}]}
    values = parse._KERNEL.check(record)
    assert values is not None
    event = parse.Event(*values)
    assert event == parse.check_record_reference(record)
    assert (event.client_ip, event.system, event.temperature) == ("203.0.113.7", "be brief\n\nno lists", 1.0)
    classifier = {**record, "params": {"logprobs": True, "max_tokens": 1, "logit_bias": {"9642": 100, "2822": 100}}}
    values = parse._KERNEL.check(classifier)
    assert values is not None
    event = parse.Event(*values)
    assert event == parse.check_record_reference(classifier)
    assert (event.logit_bias_ids, event.logit_bias_size) == ((2822, 9642), 2)


def test_every_sample_record_parses_the_same_in_every_format() -> None:
    files = sorted((SHARED / "samples").rglob("*.jsonl"))
    assert files
    parsed = 0
    for path in files:
        data = path.read_bytes()
        for raw in [data, *data.splitlines()]:
            for fmt in FORMATS:
                with_kernel = parse_input(raw, fmt)
                with compiled.python_reference():
                    reference = parse_input(raw, fmt)
                assert with_kernel == reference, (path.name, fmt)
                parsed += sum(isinstance(item, Event) for item in with_kernel)
    assert parsed > 100


# ------------------------------------------------------------------------ fused decode + check
# The bytes of a record, written with every JSON spelling orjson reads alike (white space, escapes,
# number forms) and with what it reads otherwise or refuses (duplicate keys, big or infinite
# numbers, lone surrogates, invalid UTF-8, trailing bytes, another top level). The oracle is
# always orjson.loads + the Python reference on the same bytes.
class _Raw:
    """A number spelled as given (what orjson reads otherwise or refuses)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_WS = ["", "", "", " ", "\n", "\t", " \r\n  "]
_JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=6), st.sampled_from(["1e400", "-1e400", "1e-400", "-0.0", "1E2", "0.1", "-0", "2.5e-308",
                                                    "18446744073709551616", "9223372036854775808", "1.0e+2"]).map(_Raw)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)


def _dump_str(s: str, rnd: random.Random) -> str:
    out = []
    for ch in s:
        code = ord(ch)
        how = rnd.choice(["plain", "plain", "plain", "u", "U"])
        if ch in '"\\' or code < 0x20 or how != "plain":
            if code > 0xFFFF:
                hi, lo = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
                out.append(f"\\u{hi:04x}\\u{lo:04X}" if how == "U" else f"\\u{hi:04X}\\u{lo:04x}")
            elif how == "plain" and ch in '"\\\n\t':
                out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}[ch])
            else:
                out.append(f"\\u{code:04x}" if how == "u" else f"\\u{code:04X}")
        elif ch == "/" and rnd.random() < 0.5:
            out.append("\\/")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _dump_number(x: int | float, rnd: random.Random) -> str:
    if type(x) is int:
        return rnd.choice([str(x), str(x), f"{x}.0", f"{x}e0", f"{x}E+0"])
    return rnd.choice([repr(x), f"{x:.17g}", f"{x:e}", f"{x:E}"])


def _dump(value: object, rnd: random.Random) -> str:
    """``value`` as JSON text, each token spelled one of the ways JSON allows."""
    kind = type(value)
    if kind is _Raw:
        return value.text  # type: ignore[attr-defined]
    if value is None or kind is bool:
        return orjson.dumps(value).decode()
    if kind in (int, float):
        return _dump_number(value, rnd)  # type: ignore[arg-type]
    if kind is str:
        return _dump_str(value, rnd)  # type: ignore[arg-type]
    if kind is list:
        return "[" + ",".join(rnd.choice(_WS) + _dump(v, rnd) + rnd.choice(_WS) for v in value) + "]"  # type: ignore[attr-defined]
    items = [rnd.choice(_WS) + _dump_str(k, rnd) + rnd.choice(_WS) + ":" + rnd.choice(_WS) + _dump(v, rnd) + rnd.choice(_WS)
             for k, v in value.items()]  # type: ignore[attr-defined]
    return "{" + ",".join(items) + "}"


@st.composite
def _record_bytes(draw: Any) -> bytes:
    record = draw(_RECORDS)
    if draw(st.integers(0, 3)) == 0:
        try:
            return orjson.dumps(record)
        except TypeError:  # an int outside 64 bits, which orjson does not write
            pass
    record, rnd = dict(record), draw(st.randoms(use_true_random=False))
    if draw(st.booleans()):
        record[draw(st.sampled_from(["extra", "meta", "x-trace"]))] = draw(_JUNK)
    text = _dump(record, rnd)
    edit = draw(st.sampled_from(["none"] * 6 + ["dup", "dup_nested", "trailing", "array", "scalar", "utf8", "lone",
                                                "control", "bom", "unclosed"]))
    if edit == "dup" and record:
        key = draw(st.sampled_from(sorted(record)))
        member = _dump_str(key, rnd) + ":" + _dump(draw(st.sampled_from([record[key], None, 7, "x", "2026-11-26T14:03:07Z"])), rnd)
        text = "{" + member + "," + text[1:] if draw(st.booleans()) or text == "{}" else text[:-1] + "," + member + "}"
    elif edit == "dup_nested":
        text = text.replace('"usage":{', '"usage":{"input_tokens":1,', 1).replace('"params":{', '"params":{"n":2,"n":3,', 1)
        text = text.replace('"role":', '"role":"user","role":', 1)
    elif edit == "trailing":
        text += draw(st.sampled_from([" x", "{}", ",", "\x00", " \n ", "\f"]))
    elif edit == "array":
        text = "[" + text + "]"
    elif edit == "scalar":
        text = draw(st.sampled_from(["1", '"s"', "null", "[]", "true"]))
    elif edit == "lone":
        text = text.replace('"', '"\\ud83d', 2) if '"' in text else text
    elif edit == "control":
        text = text.replace('":"', '":"\x01', 1)
    elif edit == "bom":
        text = "\ufeff" + text
    elif edit == "unclosed":
        text = text[:-1]
    raw = rnd.choice(_WS).encode() + text.encode("utf-8", "surrogatepass") + rnd.choice(_WS).encode()
    if edit == "utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])) + raw[at:]
    return raw


def _oracle(raw: bytes, reference_ms: int | None) -> Event | None:
    """What orjson + the Python reference make of ``raw``; None when that is not an Event."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    try:
        return parse.check_record_reference(obj, reference_ms=reference_ms)
    except parse.RecordError:
        return None


def test_fused_decode_agrees_with_orjson_and_the_reference_or_defers() -> None:
    """Whatever bytes the fused path takes, orjson + the reference make the same Event of them
    (compared by repr, so 1 / 1.0 / True and 0.0 / -0.0 differ); it takes most spellings of the
    valid records and defers on the rest. parse_line and parse_message give the same with and
    without it."""
    fused = parse._FUSED
    assert fused is not None, "the compiled kernel is not built: run `make install`"
    paths = [0, 0]   # deferred, taken

    @settings(max_examples=2000, deadline=None, derandomize=True)
    @given(_record_bytes(), st.sampled_from([None, 1_795_701_787_412]))
    def check(raw: bytes, reference_ms: int | None) -> None:
        values = fused(raw, reference_ms)
        if values is not None:
            expected = _oracle(raw, reference_ms)
            assert expected is not None, "the fused path took bytes orjson + the reference do not make an Event of"
            assert repr(parse.Event(*values)) == repr(expected)
            assert repr(parse.parse_line(raw, reference_ms=reference_ms)) == repr(expected)
            assert repr(parse.parse_message(raw, reference_ms=reference_ms)) == repr([expected])
        with compiled.python_reference():
            reference = parse.parse_line(raw, reference_ms=reference_ms), parse.parse_message(raw, reference_ms=reference_ms)
        assert repr((parse.parse_line(raw, reference_ms=reference_ms),
                     parse.parse_message(raw, reference_ms=reference_ms))) == repr(reference)
        paths[values is not None] += 1

    check()
    assert paths[1] > 500 and paths[0] > 800, paths


def test_fused_decode_of_ndjson_lines_gives_what_the_orjson_path_gives() -> None:
    """A message of several lines: each line the fused path takes is that line's Event, the others
    decode (or are salvaged and rejected) as before, in input order."""
    taken = [0]

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(_record_bytes(), min_size=2, max_size=4).map(b"\n".join), st.sampled_from([None, 1_795_701_787_412]))
    def check(raw: bytes, reference_ms: int | None) -> None:
        with compiled.python_reference():
            reference = parse.parse_message(raw, reference_ms=reference_ms)
        assert repr(parse.parse_message(raw, reference_ms=reference_ms)) == repr(reference)
        taken[0] += any(parse._FUSED(line, reference_ms) is not None for line in raw.splitlines())

    check()
    assert taken[0] > 100, taken


@pytest.mark.parametrize("raw", [
    b'{"ts":1795701787412,"api_key_id":"k","x":1e400}', b'{"ts":1795701787412,"api_key_id":"k","x":18446744073709551616}',
    b'{"ts":1795701787412,"api_key_id":"k","api_key_id":"j"}', b'{"ts":1795701787412,"api_key_id":"k\\ud83d"}',
    b'{"ts":1795701787412,"api_key_id":"k\xff"}', b'{"ts":1795701787412,"api_key_id":"k"} x',
    b'[{"ts":1795701787412,"api_key_id":"k"}]', b'{"ts":1795701787412,"api_key_id":"k"}\n{"ts":1795701787412,"api_key_id":"j"}',
    b'{"ts":1795701787412,"api_key_id":"k","usage":{"input_tokens":1,"input_tokens":2}}',
    b'{"ts":1795701787412,"api_key_id":"k","params":{"logit_bias":{"5":1,"5":2}}}',
    b'{"ts":1795701787412,"api_key_id":"k","messages":[{"role":"user","role":"tool","content":"x"}]}',
    b'\xef\xbb\xbf{"ts":1795701787412,"api_key_id":"k"}', b'{"ts":1795701787412,"api_key_id":"\x01"}',
    # serde_json: an int above i64, an integral float that may have been written as an integer beyond u64,
    # a negative zero read as a number (orjson makes an int of -0, serde_json the float -0.0), nesting past 127
    b'{"ts":1795701787412,"api_key_id":"k","params":{"seed":9223372036854775808}}',
    b'{"ts":1795701787412,"api_key_id":"k","x":-9223372036854775809}', b'{"ts":1795701787412,"api_key_id":"k","x":1e19}',
    b'{"ts":1795701787412,"api_key_id":"k","params":{"temperature":-0}}',
    b'{"ts":1795701787412,"api_key_id":"k","params":{"temperature":-0.0}}', b'{"ts":1795701787412,"api_key_id":"k","status":-0}',
    b'{"ts":1795701787412,"api_key_id":"k","x":' + b"[" * 129 + b"]" * 129 + b"}",
])
def test_fused_decode_defers_on_what_orjson_reads_otherwise_or_refuses(raw: bytes) -> None:
    assert parse._FUSED(raw, None) is None
    with compiled.python_reference():
        reference = parse.parse_line(raw), parse.parse_message(raw)
    assert (parse.parse_line(raw), parse.parse_message(raw)) == reference


def test_fused_decode_takes_the_plain_records() -> None:
    """The fused path must actually be taken for ordinary records, in any JSON spelling."""
    record = {"ts": "2026-11-26T14:03:07.412Z", "api_key_id": "k", "client_ip": "203.0.113.7, 10.0.0.2",
              "usage": {"input_tokens": 3, "output_tokens": 900}, "params": {"temperature": 0.7, "stream": True,
                                                                             "logit_bias": {"9642": 100, "2822": -1.5}},
              "system": "be brief", "messages": [{"role": "developer", "content": "no lists"},
                                                 {"role": "user", "content": "h\u00e9 \"/\\ \U0001f600\n"},
                                                 {"role": "assistant"}], "unknown": [{"a": [1.5, None, {}]}, -0.0]}
    expected = parse.check_record_reference(record)
    for raw in [orjson.dumps(record), json.dumps(record).encode(), json.dumps(record, indent=2, ensure_ascii=False).encode(),
                b" \r\n" + json.dumps(record).replace("/", "\\/").encode() + b"\n"]:
        values = parse._FUSED(raw, None)
        assert values is not None, raw
        assert repr(parse.Event(*values)) == repr(expected)
        assert parse._FUSED(raw, 1_795_701_787_412 + 8 * 86_400_000) is None  # the reference window


def test_fused_decode_takes_a_negative_zero_it_does_not_read_as_a_number() -> None:
    """``-0`` and ``-0.0`` are taken where only their being a number counts (a member the check does
    not read, a logit_bias value), and nesting 127 levels deep (serde_json's limit) is read."""
    for raw in [b'{"ts":1795701787412,"api_key_id":"k","x":[-0,-0.0,{"y":-0}]}',
                b'{"ts":1795701787412,"api_key_id":"k","params":{"logit_bias":{"5":-0,"7":-0.0}}}',
                b'{"ts":1795701787412,"api_key_id":"k","x":' + b"[" * 126 + b"]" * 126 + b"}"]:
        values = parse._FUSED(raw, None)
        assert values is not None, raw
        assert repr(parse.Event(*values)) == repr(_oracle(raw, None))


def _record_kernel(message: Any) -> Any:
    """A RecordKernel like :data:`detector.parse._KERNEL`, with ``message`` for Message."""
    return compiled.kernel(
        "RecordKernel", [(f.name, None if f.default is dataclasses.MISSING else f.default) for f in dataclasses.fields(Event)],
        parse._kernel_specs(parse._TOP), parse._kernel_specs(parse._USAGE), parse._kernel_specs(parse._PARAMS), parse._ROLES,
        message, (parse.TS_MIN_MS, parse.TS_MAX_MS, parse.REFERENCE_WINDOW_MS, parse.MAX_ID_CHARS,
                  parse.MAX_API_KEY_ID_CHARS, parse.MAX_LOGIT_BIAS_IDS))


_TURNS = orjson.dumps({"ts": 1795701787412, "api_key_id": "k", "messages": [
    {"role": "user", "content": "hi"}, {"role": "assistant", "content": None}, {"role": "system", "content": "s"}]})


def test_message_turns_are_made_without_calling_message() -> None:
    """The kernel makes ``Message`` turns as its call would (``object.__new__``, then each slot set
    as its generated ``__init__`` does) only while Message is a plain frozen slots dataclass of
    (role, content): when this fails because Message changed, the kernel calls it (correct, slower);
    review ``plain_slots`` in ``detector/native/src/record.rs`` with the change."""
    assert [f.name for f in dataclasses.fields(Message)] == ["role", "content"]
    assert Message.__slots__ == ("role", "content") and Message.__bases__ == (object,) and type(Message) is type
    assert Message.__new__ is object.__new__ and not hasattr(Message, "__post_init__")
    assert Message.__dataclass_params__.init and Message.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert parse._KERNEL.plain_turns
    turns = parse.Event(*parse._KERNEL.check(_TURNS)).messages
    assert turns == (Message("user", "hi"), Message("assistant", None))
    assert all(type(t) is Message and gc.is_tracked(t) == gc.is_tracked(Message("a", "b")) for t in turns)
    assert {hash(t) for t in turns} == {hash(Message("user", "hi")), hash(Message("assistant", None))}
    with pytest.raises(dataclasses.FrozenInstanceError):
        turns[0].role = "tool"  # type: ignore[misc]


def test_a_message_class_that_is_not_plain_is_called() -> None:
    """A field more, ``__post_init__``, ``__new__``, a hand-written ``__init__``, a base class, no
    ``__slots__``, or no class at all: the kernel calls it for every turn."""
    calls: list[tuple[object, ...]] = []

    @dataclasses.dataclass(slots=True, frozen=True)
    class Extra:
        role: str
        content: str | None
        tag: str = "t"

    @dataclasses.dataclass(slots=True, frozen=True)
    class PostInit:
        role: str
        content: str | None

        def __post_init__(self) -> None:
            calls.append(("post_init", self.role))

    @dataclasses.dataclass(slots=True, frozen=True)
    class New:
        role: str
        content: str | None

        def __new__(cls, *args: object) -> Any:
            calls.append(("new", *args))
            return object.__new__(cls)

    @dataclasses.dataclass(slots=True, frozen=True, init=False)
    class Init:
        role: str
        content: str | None

        def __init__(self, role: str, content: str | None) -> None:
            calls.append(("init", role))
            object.__setattr__(self, "role", role.upper())
            object.__setattr__(self, "content", content)

    @dataclasses.dataclass(slots=True, frozen=True)
    class Sub(Message):
        def __post_init__(self) -> None:
            calls.append(("sub", self.role))

    @dataclasses.dataclass(frozen=True)
    class Dict:
        role: str
        content: str | None

    def function(role: str, content: str | None) -> tuple[str, str | None]:
        return role, content

    for cls in [Extra, PostInit, New, Init, Sub, Dict, function]:
        kernel = _record_kernel(cls)
        assert not kernel.plain_turns, cls
        calls.clear()
        turns = parse.Event(*kernel.check(_TURNS)).messages
        assert len(calls) == (2 if cls in (PostInit, New, Init, Sub) else 0), (cls, calls)
        assert turns == (cls("user", "hi"), cls("assistant", None)), cls

    @dataclasses.dataclass(slots=True, frozen=True)
    class Plain:
        role: str
        content: str | None

    assert _record_kernel(Plain).plain_turns


def test_every_sample_line_parses_the_same_with_and_without_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted((SHARED / "samples").rglob("*.jsonl"))
    raws = [raw for path in files for data in [path.read_bytes()] for raw in [data, *data.splitlines()]]
    fused = [(parse.parse_line(raw), parse.parse_message(raw)) for raw in raws]
    monkeypatch.setattr(parse, "_FUSED", None)
    assert [(parse.parse_line(raw), parse.parse_message(raw)) for raw in raws] == fused
    with compiled.python_reference():
        assert [(parse.parse_line(raw), parse.parse_message(raw)) for raw in raws] == fused


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native-sim")
    simulate(out, seed=5, scenario="all", hours=3, corpora=SHARED / "corpora", scale=0.05)
    return out


@pytest.fixture(scope="module")
def sim_events(sim_dir: Path) -> list[Event]:
    return [e for e in parse_lines(open_lines(sim_dir / "events.jsonl.gz"), "canonical") if isinstance(e, Event)]


def test_simulated_records_parse_the_same(sim_events: list[Event], sim_dir: Path) -> None:
    with compiled.python_reference():
        reference = [e for e in parse_lines(open_lines(sim_dir / "events.jsonl.gz"), "canonical")
                     if isinstance(e, Event)]
    assert sim_events == reference


def test_simulated_records_take_the_fused_path(sim_events: list[Event], sim_dir: Path) -> None:
    lines = list(open_lines(sim_dir / "events.jsonl.gz"))
    taken = [parse._FUSED(raw) for raw in lines]
    assert sum(v is not None for v in taken) >= 0.99 * len(lines)
    assert [parse.Event(*v) for v in taken if v is not None] == [parse.Event(*parse._KERNEL.check(orjson.loads(raw)))
                                                                  for raw, v in zip(lines, taken) if v is not None]


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
