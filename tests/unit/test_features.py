"""Tests for detector.features.extract: field definitions, privacy, determinism, robustness."""

from __future__ import annotations

import dataclasses
import doctest
import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.features as features_module
from detector.features import EventFeatures, extract
from detector.record import Event, Message
from detector.signals import Signal, event_signals
from detector.text import Script, fingerprint, hash_str, normalise, simhash, skeleton

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
PROPS = settings(max_examples=100, deadline=None, derandomize=True)


def corpus(rel: str) -> list[str]:
    path = CORPORA / rel
    if not path.exists():
        pytest.skip(f"corpus {rel} not available")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def full_event(user: str | None = "Question: Who wrote Hamlet?\nThink step by step.", **fields: object) -> Event:
    base: dict[str, object] = dict(
        ts_ms=1_764_165_787_412, api_key_id="key_7f3a", request_id="req-1", account_id="acct-9",
        account_created_ms=1_700_000_000_000, end_user_id="enduser-42", client_ip="2001:db8:abcd:12::1",
        user_agent="OpenAI/Python 1.35.0", model="model-x", endpoint="/v1/messages", status=200,
        input_tokens=None, output_tokens=None, system="You are  a helpful assistant.",
        messages=(Message("user", "earlier question"), Message("assistant", "earlier answer"), Message("user", user)),
    )
    base.update(fields)
    return Event(**base)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(features_module).failed == 0


def test_extract_follows_the_field_definitions() -> None:
    user = "Question: Who wrote Hamlet?\nThink step by step."
    e = full_event(user)
    f = extract(e)
    system = e.system or ""
    assert f.ts_ms == e.ts_ms and f.api_key_id == e.api_key_id
    assert (f.account_id, f.account_created_ms) == (e.account_id, e.account_created_ms)
    assert f.prompt_fp == fingerprint(system + "\n" + user)
    assert f.skeleton_fp == fingerprint(skeleton(user))
    assert f.skeleton_sig == simhash(system, user)
    assert f.system_fp == fingerprint(system)
    assert f.flags == event_signals(e, normalise(user), normalise(system))
    assert f.script == Script.LATIN
    assert f.prompt_chars == len(user)
    assert f.input_tokens == len(user) // 4 and f.output_tokens == 0
    assert f.depth == 3 and f.model == "model-x" and f.status == 200
    assert f.ip_prefix == "2001:db8:abcd::/48" and f.user_agent == "openai/python/1"
    assert f.end_user_fp == hash_str("enduser-42")


def test_absent_fields_get_neutral_values() -> None:
    f = extract(Event(ts_ms=5, api_key_id="k"))
    assert (f.prompt_chars, f.input_tokens, f.output_tokens, f.depth, f.system_fp, f.end_user_fp, f.status) == \
        (0, 0, 0, 0, 0, 0, 0)
    assert (f.model, f.ip_prefix, f.user_agent, f.skeleton_sig, f.script) == ("", "", "", 0, Script.NONE)
    assert f.prompt_fp == fingerprint("") and f.flags == 0


def test_last_user_turn_is_the_prompt() -> None:
    e = Event(ts_ms=0, api_key_id="k", messages=(Message("user", "first"), Message("assistant", "reply"),
                                                   Message("user", "Second   ONE"), Message("tool", "result")))
    assert extract(e).prompt_fp == fingerprint("second one")
    not_logged = full_event(None)
    f = extract(not_logged)
    assert f.prompt_chars == 0 and Signal.EMPTY_TURN not in Signal(f.flags)
    assert Signal.EMPTY_TURN in Signal(extract(full_event("   ")).flags)


def test_logged_token_counts_win_over_the_estimate() -> None:
    f = extract(full_event("x" * 400, input_tokens=7, output_tokens=3000))
    assert (f.input_tokens, f.output_tokens) == (7, 3000)
    assert Signal.LONG_OUTPUT in Signal(f.flags)


def test_no_prompt_text_survives() -> None:
    canary = "zebracanary"
    f = extract(full_event(f"Tell me about {canary} and Hamlet", system=f"{canary} system"))
    text_fields = {fl.name: getattr(f, fl.name) for fl in dataclasses.fields(f) if isinstance(getattr(f, fl.name), str)}
    assert set(text_fields) <= {"api_key_id", "account_id", "model", "ip_prefix", "user_agent"}
    assert canary not in repr(f)


def test_extract_is_deterministic_across_processes() -> None:
    code = ("import dataclasses; from detector.features import extract; from tests.unit.test_features import full_event;"
            "print(dataclasses.astuple(extract(full_event())))")
    outs = set()
    for seed in ("3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                                cwd=Path(__file__).resolve().parents[2]).stdout)
    assert len(outs) == 1


def test_templated_campaign_shares_skeleton_across_keys() -> None:
    questions = random.Random(3).sample(corpus("gsm8k-test/gsm8k_test.jsonl.gz"), 200)
    feats = [extract(Event(ts_ms=i, api_key_id=f"key-{i % 50}", messages=(
        Message("user", f"Question: {q}\nAnswer step by step and give the final answer."),)))
        for i, q in enumerate(questions)]
    assert len({f.prompt_fp for f in feats}) == len(feats)
    assert sum(f.skeleton_fp == feats[0].skeleton_fp for f in feats) >= 0.95 * len(feats)
    assert all(Signal.COT in Signal(f.flags) for f in feats)


def test_system_prompt_changes_prompt_and_signature_not_skeleton() -> None:
    user = "Summarise the following report in three bullet points."
    a, b = extract(full_event(user, system="You are terse.")), extract(full_event(user, system="You are verbose."))
    assert a.skeleton_fp == b.skeleton_fp
    assert a.prompt_fp != b.prompt_fp and a.system_fp != b.system_fp
    assert extract(full_event(user, system=" \n ")).system_fp == 0


@pytest.mark.parametrize("user", [
    "a" * 10**6,
    "1." * 500_000,
    "`" * 10**6,
    '"' + "open quote " * 100_000,
    "step by step " * 100_000,
])
def test_huge_prompts_finish(user: str) -> None:
    f = extract(full_event(user, system=user))
    assert f.prompt_chars == len(user)
    assert f.input_tokens == len(user) // 4
    assert isinstance(f, EventFeatures)


roles = st.sampled_from(["user", "assistant", "system", "tool"])
contents = st.one_of(st.none(), st.text(max_size=80))


@PROPS
@given(st.lists(st.tuples(roles, contents), max_size=5), st.one_of(st.none(), st.text(max_size=60)),
       st.one_of(st.none(), st.integers(0, 10**6)), st.one_of(st.none(), st.integers(0, 10**6)))
def test_extract_never_fails(messages: list[tuple[str, str | None]], system: str | None, inp: int | None,
                             out: int | None) -> None:
    e = Event(ts_ms=1, api_key_id="k", system=system, input_tokens=inp, output_tokens=out,
              messages=tuple(Message(r, c) for r, c in messages))
    f = extract(e)
    assert 0 <= f.prompt_fp < 2**64 and 0 <= f.skeleton_fp < 2**64 and 0 <= f.skeleton_sig < 2**64
    assert f.flags == f.flags & ((1 << len(Signal)) - 1)
    assert f.depth == len(messages)
