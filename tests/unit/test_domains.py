"""Task domains read from text structure, and breadth over a window."""

from __future__ import annotations

import doctest
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

import detector.domains as domains_module
from detector.domains import Domain, domain_of
from detector.summary import breadth
from detector.text import analyse

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def dom(text: str, tools: bool = False) -> Domain:
    return Domain(domain_of(analyse(text), tools=tools, chars=len(text)))


def test_doctests() -> None:
    assert doctest.testmod(domains_module).failed == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("```python\nprint(1)\n```", Domain.CODE),
    ("Write a Python function that reverses a linked list.", Domain.CODE),
    ("写一个 Python 函数来反转链表。", Domain.CODE),                      # a language name survives translation
    ("Return the class of this object", Domain.CHAT),                  # code words without code marks are prose
    ("A farmer has 12 cows and buys 7 more. Each gives 3 litres. How many litres?", Domain.MATH),
    ("Which is larger? Options: (A) 5 (B) 7", Domain.CHOICE),
    ("not ( True ) and ( False ) or True is", Domain.CHOICE),
    ("Summarise: " + "The committee met to discuss the budget. " * 100, Domain.DOCUMENT),
    ("What's a good name for a cat?", Domain.CHAT),
    ("Write a persuasive essay on why cities should invest in libraries, public parks and community "
     "centres, and say what residents lose when these places close. Use a warm, optimistic tone and "
     "give three concrete examples from mid-sized towns, with the year each one opened or closed and "
     "what the closure cost the neighbourhood in visits, jobs and events.", Domain.PROSE),
    ("", Domain.NONE),
])
def test_domains(text: str, expected: Domain) -> None:
    assert dom(text) == expected


def test_tools_win_over_text() -> None:
    assert dom("def f(): pass", tools=True) == Domain.TOOL


def test_corpora_land_in_their_domain() -> None:
    def share(rel: str, d: Domain) -> float:
        path = CORPORA / rel
        assert path.exists(), f"corpus {rel} missing (read in place from ../shared/corpora)"
        rows = [json.loads(line)["text"] for line in gzip.open(path, "rt")][:300]
        return Counter(dom(t) for t in rows)[d] / len(rows)
    assert share("humaneval/humaneval_prompts.jsonl.gz", Domain.CODE) > 0.95
    assert share("gsm8k-test/gsm8k_test.jsonl.gz", Domain.MATH) > 0.6
    assert share("big-bench-hard/bbh_task_inputs.jsonl.gz", Domain.CHOICE) > 0.8
    assert share("hh-rlhf-harmless-base/hh_rlhf_harmless_base_test_human_turns.jsonl.gz", Domain.CHAT) > 0.9


def test_breadth_counts_areas_with_a_real_share() -> None:
    assert breadth({"n": 100.0, "rate_domain_code": 0.3, "rate_domain_math": 0.3, "rate_domain_choice": 0.2,
                    "rate_domain_chat": 0.1, "rate_domain_prose": 0.1}) == 4.0
    assert breadth({"n": 100.0, "rate_domain_chat": 0.6, "rate_domain_prose": 0.35, "rate_domain_code": 0.05}) == 1.0
    assert breadth({"n": 10.0, "rate_domain_code": 0.5, "rate_domain_math": 0.2, "rate_domain_chat": 0.3}) == 2.0
    assert breadth({"n": 0.0}) == 0.0
