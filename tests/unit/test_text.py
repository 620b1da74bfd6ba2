"""Tests for detector.text: normalisation, skeletons, SimHash, scripts, client attributes.

Corpus tests read the shared prompt corpora in place (gzip JSONL with a ``text`` field) and skip
when they are absent. Pathological inputs only have to finish with sane values: no timings here.
"""

from __future__ import annotations

import doctest
import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.text as text_module
from detector.text import (MAX_ANALYSED_CHARS, SEED, Script, analyse, cap, content_tokens, dominant_script,
                           fingerprint, hamming, hash_str, ip_prefix, joined_fingerprint, keep_word_codes,
                           normalise, signature, simhash, skeleton, skeleton_fp, skeleton_of, ua_family)

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
PROPS = settings(max_examples=200, deadline=None, derandomize=True)
TEMPLATE = "Question: {}\nAnswer step by step and give the final answer."

# every character str.split() treats as whitespace, plus a few look-alikes that are not
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
texts = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(WHITESPACE + "\u200b\ufeff`\"'“”«»:.?!0123456789")),
                max_size=300)


def corpus(rel: str) -> list[str]:
    path = CORPORA / rel
    if not path.exists():
        pytest.skip(f"corpus {rel} not available")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def test_doctests() -> None:
    assert doctest.testmod(text_module).failed == 0


# --------------------------------------------------------------------------------------------
# cap, normalise, fingerprint


def test_cap_keeps_head_and_tail() -> None:
    t = "h" * 5000 + "t" * 5000
    c = cap(t)
    assert len(c) == MAX_ANALYSED_CHARS
    assert c.startswith("h" * 3072) and c.endswith("t" * 1023) and c[3072] == "\n"
    assert cap("x" * MAX_ANALYSED_CHARS) == "x" * MAX_ANALYSED_CHARS


@PROPS
@given(texts)
def test_normalise_is_casefold_split_join(t: str) -> None:
    assert normalise(t) == " ".join(cap(t).casefold().split())


@PROPS
@given(texts)
def test_normalise_is_idempotent_and_analyse_agrees(t: str) -> None:
    n = normalise(t)
    assert normalise(n) == n
    a = analyse(t)
    assert a.norm == n and a.norm_bytes == n.encode("utf-8", "surrogatepass")
    assert skeleton_of(a) == skeleton(t)


def test_fingerprint_is_seeded_xxh3_of_normalised_text() -> None:
    assert fingerprint("  Hello\n\tWORLD ") == xxhash.xxh3_64_intdigest(b"hello world", SEED)
    assert fingerprint("hello world") != fingerprint("hello  world!")
    assert hash_str("user-1") == xxhash.xxh3_64_intdigest(b"user-1", SEED)


def test_joined_fingerprint_matches_fingerprint_of_joined_text() -> None:
    sys_prompt, user = "You are  terse.", "What is 2+2?"
    assert joined_fingerprint(analyse(sys_prompt), analyse(user)) == fingerprint(sys_prompt + "\n" + user)
    assert joined_fingerprint(analyse(""), analyse(user)) == fingerprint(user)
    assert joined_fingerprint(analyse(" \n"), analyse("")) == fingerprint("")


def test_hashes_do_not_depend_on_the_process_hash_seed() -> None:
    code = ("from detector.text import fingerprint, simhash, skeleton, ip_prefix;"
            "t='Question: Janet has 16 eggs.\\nAnswer step by step.';"
            "print(fingerprint(t), simhash(t), fingerprint(skeleton(t)), ip_prefix('10.1.2.3'))")
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(outs) == 1


# --------------------------------------------------------------------------------------------
# skeleton


@pytest.mark.parametrize("prompt, expected", [
    ("Please find the total: 1,250 + $3.75 = ?", "please find the <w> : <n> + <n> = ?"),
    ('Translate "good morning" into French.', "translate <q> into <w> ."),
    ("Translate 'good morning' into French.", "translate <q> into <w> ."),
    ("Translate “good morning” or «bonjour»", "translate <q> or <q>"),
    ("Don't panic, it's fine", "don't <w>"),
    ("Fix `foo()` in:\n```python\nprint(1)\n```\nthen explain.", "<w> <code> in : <nl> <code> <nl> then explain ."),
    ("Unclosed ```python\nprint(1)\nmore code", "<w> <code>"),
    ("Summarise https://example.com/a?b=1 and send it to bob@example.org", "summarise <url> and <w> it to <url>"),
    ("Summarise:\n1. apples\n2. pears\n3. plums\n4. figs\n5. kiwis",
     "summarise : <nl> <n> . <w> <nl> <n> . <w> <nl> <n> . <w> <nl> <more>"),
    ("", ""),
])
def test_skeleton_masks_slots(prompt: str, expected: str) -> None:
    assert skeleton(prompt) == expected


def test_list_folding_makes_list_length_irrelevant() -> None:
    items = [f"- item number {i} is {chr(97 + i)}" for i in range(9)]
    base = "Rank these options:\n"
    assert skeleton(base + "\n".join(items[:4])) == skeleton(base + "\n".join(items))
    assert skeleton(base + "\n".join(items[:3])) != skeleton(base + "\n".join(items))


@PROPS
@given(texts)
def test_skeleton_is_normalised_text(t: str) -> None:
    s = skeleton(t)
    assert normalise(s) == s
    assert skeleton_fp(analyse(t)) == fingerprint(s)


def test_template_with_gsm8k_slots_yields_one_skeleton() -> None:
    questions = random.Random(7).sample(corpus("gsm8k-test/gsm8k_test.jsonl.gz"), 500)
    skeletons = Counter(skeleton(TEMPLATE.format(q)) for q in questions)
    top, count = skeletons.most_common(1)[0]
    assert top == "question : <w> <nl> answer step by step and give the final answer ."
    assert count >= 0.95 * len(questions)  # measured 0.98
    assert len(skeletons) <= 0.05 * len(questions)  # measured 0.012


@pytest.mark.parametrize("template", [
    "{} Let's think step by step.",
    "Here is a problem: {}\n\nThe final answer is 42. Write out the reasoning that leads to this answer.",
])
def test_other_templates_collapse_too(template: str) -> None:
    questions = random.Random(8).sample(corpus("gsm8k-test/gsm8k_test.jsonl.gz"), 300)
    skeletons = Counter(skeleton(template.format(q)) for q in questions)
    assert skeletons.most_common(1)[0][1] >= 0.9 * len(questions)


def test_free_chat_keeps_many_distinct_skeletons() -> None:
    turns = random.Random(9).sample(corpus("hh-rlhf-harmless-base/hh_rlhf_harmless_base_test_human_turns.jsonl.gz"),
                                    500)
    skeletons = Counter(skeleton(t) for t in turns)
    assert len(skeletons) >= 0.5 * len(turns)  # measured 0.63
    assert skeletons.most_common(1)[0][1] <= 0.1 * len(turns)  # measured 0.05


def test_batch_job_prompts_collapse_per_task() -> None:
    rows = corpus("natural-instructions-sample/ni_instances.jsonl.gz")
    assert len({skeleton(t) for t in rows}) <= 0.1 * len(rows)  # 3 tasks; measured 0.05


# --------------------------------------------------------------------------------------------
# SimHash


def test_simhash_near_templates_are_closer_than_unrelated_prompts() -> None:
    questions = random.Random(10).sample(corpus("gsm8k-test/gsm8k_test.jsonl.gz"), 40)
    chat = random.Random(11).sample(corpus("hh-rlhf-harmless-base/hh_rlhf_harmless_base_test_human_turns.jsonl.gz"), 40)
    a = [simhash(TEMPLATE.format(q)) for q in questions]
    b = [simhash(("Question: {}\nAnswer step by step, then give the final answer in bold.").format(q))
         for q in questions]
    near = sum(hamming(x, y) for x, y in zip(a, b)) / len(a)
    far = sum(hamming(simhash(x), simhash(y)) for x, y in zip(chat, chat[1:])) / (len(chat) - 1)
    assert near < 12 < far


def test_simhash_pools_fields_and_is_zero_for_nothing() -> None:
    assert simhash() == 0 and simhash("") == 0
    sys_prompt, user = "You are a grader.", "Score the following response."
    assert simhash(sys_prompt, user) == signature(analyse(sys_prompt), analyse(user))
    assert 0 <= simhash(user) < 2**64
    assert hamming(0, 2**64 - 1) == 64 and hamming(5, 5) == 0


# --------------------------------------------------------------------------------------------
# scripts


@pytest.mark.parametrize("sample, script", [
    ("What is the capital of Peru?", Script.LATIN),
    ("¿Cuál es la capital del Perú? Explícalo paso a paso.", Script.LATIN),
    ("Какая столица Перу? Объясни шаг за шагом.", Script.CYRILLIC),
    ("Ποια είναι η πρωτεύουσα του Περού;", Script.GREEK),
    ("ما هي عاصمة بيرو؟", Script.ARABIC),
    ("מהי בירת פרו?", Script.HEBREW),
    ("पेरू की राजधानी क्या है?", Script.DEVANAGARI),
    ("秘鲁的首都是哪里？请一步一步地解释。", Script.CJK),
    ("ペルーの首都はどこですか？ステップバイステップで説明してください。", Script.KANA),
    ("페루의 수도는 어디입니까?", Script.HANGUL),
    ("เมืองหลวงของเปรูคืออะไร", Script.THAI),
    ("ეს არის ქართული ტექსტი", Script.OTHER),
    ("1234 + 5678 = ?", Script.NONE),
    ("", Script.NONE),
    ("请解释 this code: def f(): return 1", Script.LATIN),  # letters outweigh three ideographs
])
def test_dominant_script(sample: str, script: Script) -> None:
    assert dominant_script(sample) == script


# --------------------------------------------------------------------------------------------
# client attributes


@pytest.mark.parametrize("ua, family", [
    ("anthropic-python/0.34.2", "anthropic-python/0"),
    ("Anthropic/Python 0.40.0", "anthropic/python/0"),
    ("OpenAI/Python 1.35.0", "openai/python/1"),
    ("python-requests/2.31.0", "python-requests/2"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0", "mozilla/5"),
    ("curl/8.4.0", "curl/8"),
    ("  Go-http-client/1.1", "go-http-client/1"),
    ("litellm", "litellm"),
    ("", ""),
    (None, ""),
    ("%%%", ""),
    ("a" * 500 + "/1", ("a" * 49)[:64]),
])
def test_ua_family(ua: str | None, family: str) -> None:
    assert ua_family(ua) == family
    assert len(ua_family(ua)) <= 64


@pytest.mark.parametrize("ip, prefix", [
    ("203.0.113.77", "203.0.113.0/24"),
    (" 10.1.2.3 ", "10.1.2.0/24"),
    ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
    ("::ffff:198.51.100.7", "198.51.100.0/24"),
    ("fe80::1%eth0", "fe80::/48"),
    ("999.1.1.1", ""),
    ("10.0.0.1:443", ""),
    ("not-an-ip", ""),
    ("", ""),
    (None, ""),
])
def test_ip_prefix(ip: str | None, prefix: str) -> None:
    assert ip_prefix(ip) == prefix


# --------------------------------------------------------------------------------------------
# vocabulary helpers


def test_keep_word_codes_and_content_tokens() -> None:
    assert len(keep_word_codes(["step", "rubric"])) == 2
    with pytest.raises(KeyError):
        keep_word_codes(["photosynthesis"])
    assert content_tokens(analyse("the quick brown fox").tokens) == 3


# --------------------------------------------------------------------------------------------
# attacker-controlled input: must finish, bounded outputs


@pytest.mark.parametrize("name, prompt", [
    ("letters", "a" * 10**6),
    ("numbered", "1." * 500_000),
    ("spaced numbers", "1. " * 300_000),
    ("backticks", "`" * 10**6),
    ("fence", "```" + "x " * 500_000),
    ("double quotes", '"' * 10**6),
    ("open quote", '"' + "word " * 200_000),
    ("apostrophes", "'a " * 300_000),
    ("curly", "“" * 300_000 + "x"),
    ("newlines", "\n" * 10**6),
    ("list", "- item\n" * 150_000),
    ("colons", ": " * 500_000),
    ("url", "http://" + "a/" * 500_000),
    ("emails", "a@" * 500_000),
    ("mixed", "Привет 你好 مرحبا שלום " * 40_000),
    ("surrogates", "\ud800x" * 1000),
])
def test_pathological_inputs_finish_with_sane_values(name: str, prompt: str) -> None:
    a = analyse(prompt)
    assert len(a.norm) <= 4 * MAX_ANALYSED_CHARS
    assert len(a.codes) <= len(a.tokens) <= 2 * MAX_ANALYSED_CHARS
    sk = skeleton(prompt)
    assert skeleton_fp(a) == fingerprint(sk)
    assert 0 <= simhash(prompt) < 2**64
    assert 0 <= fingerprint(prompt) < 2**64
    assert isinstance(dominant_script(prompt), Script)
