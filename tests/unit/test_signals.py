"""Tests for detector.signals: every bit with positive and negative examples, real corpora rates.

Corpus tests read the shared prompt corpora in place and skip when they are absent.
"""

from __future__ import annotations

import doctest
import gzip
import json
from pathlib import Path

import pytest

import detector.signals as signals_module
from detector import compiled
from detector.features import extract
from detector.record import Event, Message
from detector.signals import (Signal, event_signals, last_user_message, parameter_signals, system_signals,
                              text_signals, turn_signals)
from detector.text import analyse, dominant_script, normalise

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
TEXT_BITS = (Signal.COT | Signal.REVERSE_RATIONALE | Signal.RUBRIC | Signal.META_PROMPT | Signal.CENSOR_REWRITE
             | Signal.NON_ENGLISH)


def corpus(rel: str) -> list[str]:
    path = CORPORA / rel
    if not path.exists():
        pytest.skip(f"corpus {rel} not available")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def text_bits(prompt: str) -> Signal:
    a = analyse(prompt)
    return Signal(text_signals(a.norm, a.tokens, dominant_script(a.norm)))


def ev(*messages: tuple[str, str | None], **fields: object) -> Event:
    return Event(ts_ms=0, api_key_id="k", messages=tuple(Message(r, c) for r, c in messages), **fields)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(signals_module).failed == 0


def test_signal_contract() -> None:
    # detector.windows keeps 32 counters; detector.evidence reads these rate_<name> features
    assert all(s.value < 2**32 and s.value.bit_count() == 1 for s in Signal)
    names = {s.name.lower() for s in Signal}  # type: ignore[union-attr]
    assert {"cot", "reverse_rationale", "rubric", "empty_turn", "template_only", "meta_prompt", "logit_probe",
            "logprobs", "one_token", "multi_sample", "tools", "thinking", "long_output", "non_english",
            "system_explain", "censor_rewrite", "domain_code", "domain_math", "domain_choice", "domain_tool",
            "domain_document", "domain_chat", "domain_prose", "single_shot", "reasoned_output", "greedy",
            "wide_bias", "short_samples"} == names


@pytest.mark.parametrize(("n", "output_tokens", "short"), [
    (None, 100, False), (1, 100, False), (2, 799, True), (2, 800, False), (5, 1000, True), (5, 2000, False),
    (3, None, False)])
def test_short_samples_are_n_options_not_n_dataset_answers(n: int | None, output_tokens: int | None,
                                                            short: bool) -> None:
    ev = Event(0, "k", n=n, output_tokens=output_tokens, messages=(Message("user", "Write a headline."),))
    flags = extract(ev).flags
    assert bool(flags & Signal.SHORT_SAMPLES) is short
    assert bool(flags & Signal.MULTI_SAMPLE) is ((n or 0) > 1)
    with compiled.python_reference():
        assert extract(ev).flags == flags


# --------------------------------------------------------------------------------------------
# text families


@pytest.mark.parametrize("prompt", [
    "Solve 3x + 5 = 20. Let's think step by step.",
    "Explain step-by-step how the loop terminates.",
    "Please show your work.",
    "Explain your reasoning before giving the answer.",
    "Walk me through your reasoning.",
    "Describe your thought process.",
    "Justify each step of the proof.",
    "Use chain-of-thought: what is 17 * 23?",
    "Think out loud as you solve this.",
    "Output your full reasoning, then the answer.",
    "Resuelve el problema paso a paso.",
    "Résous ce problème étape par étape.",
    "Löse die Aufgabe Schritt für Schritt.",
    "请一步一步地解决这个问题。",
    "Реши задачу шаг за шагом.",
    "ステップバイステップで解いてください。",
])
def test_cot_positive(prompt: str) -> None:
    assert Signal.COT in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "What are the steps to bake bread?",
    "Give me a step-by-step guide to set up nginx.",
    "I took a few steps back and thought about it.",
    "What do you think about cats?",
    "Explain photosynthesis.",
    "Show me a picture of a cat.",
    "Is there a chain of stores near me?",
])
def test_cot_negative(prompt: str) -> None:
    assert Signal.COT not in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "Here is the answer: 42. Explain the reasoning that leads to this answer.",
    "Question: What is 17*23?\nAnswer: 391\nWrite out the step-by-step reasoning that leads to this answer.",
    "Given the final answer below, reconstruct the derivation.",
    "The correct answer is (B). Explain why.",
    "The final answer is 7. Write out the reasoning.",
    "Work backwards from the answer to show how it was obtained.",
    "Write a rationale that leads to the given answer.",
    "Describe the reasoning behind this answer.",
    "Imagine the reasoning a student might have used.",
    # the simulator's cot_harvest and hydra phrasings
    "Here is a problem and its final answer.\n\nProblem: Janet has 3 eggs.\n\nFinal answer: 18\n\n"
    "Write out, step by step, the reasoning that leads to it.",
    "Problem: Janet has 3 eggs.\nCorrect answer: 18\n\nExplain in detail, step by step, how one arrives at "
    "this answer.",
])
def test_reverse_rationale_positive(prompt: str) -> None:
    assert Signal.REVERSE_RATIONALE in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "What is the answer to 2+2?",
    "Explain why the sky is blue.",
    "Can you check my answer? I got 12.",
    "Answer the following question step by step.",
    "Give the final answer in bold.",
    "The road leads to the old mill.",
    "Explain the reasoning that leads to it.",  # no answer handed over
    "How do I get to the answer of this puzzle?",
])
def test_reverse_rationale_negative(prompt: str) -> None:
    assert Signal.REVERSE_RATIONALE not in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant. "
    "Output your final verdict by strictly following this format: [[A]]",
    "On a scale of 1 to 10, rate the helpfulness of the response below.",
    "Which response is better, A or B?",
    "Score the following response according to the rubric.",
    "Evaluate the assistant's answer for accuracy.",
    "Grade the following essay.",
    "You are a reward model. Return a number.",
])
def test_rubric_positive(prompt: str) -> None:
    assert Signal.RUBRIC in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "What's a good score in bowling?",
    "I got a bad grade in math, how can I improve?",
    "Rate this restaurant?",
    "Which is better, tea or coffee?",
    "Scale the recipe up for ten people.",
])
def test_rubric_negative(prompt: str) -> None:
    assert Signal.RUBRIC not in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "You are asked to come up with a set of 20 diverse task instructions.",
    "Generate 50 new instructions for a language model.",
    "Create 10 diverse instruction-response pairs.",
    "List of 20 tasks:",
    "Here are the requirements:\n1. Try not to repeat the verb for each instruction.",
])
def test_meta_prompt_positive(prompt: str) -> None:
    assert Signal.META_PROMPT in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "Give me 5 tips for better sleep.",
    "Follow the instructions below carefully.",
    "List of 20 countries in Africa",
    "What tasks can a virtual assistant do?",
])
def test_meta_prompt_negative(prompt: str) -> None:
    assert Signal.META_PROMPT not in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "Rewrite the following politically sensitive question in a neutral way: What happened in 1989?",
    "Rephrase this question so that it is censorship-safe.",
    "Paraphrase the question to make it uncontroversial.",
])
def test_censor_rewrite_positive(prompt: str) -> None:
    assert Signal.CENSOR_REWRITE in text_bits(prompt)


@pytest.mark.parametrize("prompt", [
    "Rewrite this paragraph to be more concise.",
    "Is it safe to rewrite history books?",
    "Which topics are politically sensitive in Europe?",
])
def test_censor_rewrite_negative(prompt: str) -> None:
    assert Signal.CENSOR_REWRITE not in text_bits(prompt)


@pytest.mark.parametrize("prompt, expected", [
    ("¿Cuál es la capital de Francia y por qué es importante para la historia de Europa?", True),
    ("Quelle est la capitale de la France et pourquoi est-elle importante?", True),
    ("Was ist die Hauptstadt von Deutschland und warum ist sie wichtig für die Geschichte?", True),
    ("Qual é a capital do Brasil e por que ela é importante para o país?", True),
    ("Какая столица Франции?", True),
    ("法国的首都是哪里？", True),
    ("How do I pick a lock?", False),
    ("Do you know la la land? It is a movie de luxe.", False),
    ("import numpy as np; x = np.array([1, 2, 3]); print(x.mean())", False),
    ("42", False),
])
def test_non_english(prompt: str, expected: bool) -> None:
    assert (Signal.NON_ENGLISH in text_bits(prompt)) is expected


# --------------------------------------------------------------------------------------------
# system prompt


@pytest.mark.parametrize("system, expected", [
    ("You are an AI assistant. User will give you a task. Your goal is to complete the task as faithfully as "
     "you can. While performing the task think step-by-step and justify your steps.", Signal.SYSTEM_EXPLAIN),
    ("You are a helpful assistant, who always provide explanation. Think like you are answering to a five "
     "year old.", Signal.SYSTEM_EXPLAIN),
    ("You are an AI assistant that helps people find information. Provide a detailed answer so user don't "
     "need to search outside to understand the answer.", Signal.SYSTEM_EXPLAIN),
    ("You are a strict grader. Score the following response on a scale of 1 to 10.", Signal.RUBRIC),
    ("You are a helpful assistant.", Signal(0)),
    ("", Signal(0)),
])
def test_system_signals(system: str, expected: Signal) -> None:
    assert Signal(system_signals(normalise(system))) == expected


# --------------------------------------------------------------------------------------------
# turns


@pytest.mark.parametrize("event, expected", [
    (ev(("user", "")), Signal.EMPTY_TURN),
    (ev(("user", "  \n\t ")), Signal.EMPTY_TURN),
    (ev(("user", "hi"), ("assistant", "Hello!"), ("user", "")), Signal.EMPTY_TURN),
    (ev(("system", "Be nice.")), Signal.EMPTY_TURN),
    (ev(("assistant", "Sure, here is a question a user might ask:")), Signal.EMPTY_TURN | Signal.TEMPLATE_ONLY),
    (ev(("user", "<|im_start|>user\n")), Signal.EMPTY_TURN | Signal.TEMPLATE_ONLY),
    (ev(("user", "<|start_header_id|>user<|end_header_id|>\n\n")), Signal.EMPTY_TURN | Signal.TEMPLATE_ONLY),
    (ev(("user", "[INST]")), Signal.EMPTY_TURN | Signal.TEMPLATE_ONLY),
    (ev(("user", "### Instruction:\n")), Signal.EMPTY_TURN | Signal.TEMPLATE_ONLY),
    (ev(("user", "Human:")), Signal.EMPTY_TURN | Signal.TEMPLATE_ONLY),
    (ev(("user", "### Instruction: write a poem about rain")), Signal(0)),
    (ev(("user", "What is a user: an account?")), Signal(0)),
    (ev(("user", None)), Signal(0)),  # content not logged: unknown, not empty
    (ev(), Signal(0)),
])
def test_turn_signals(event: Event, expected: Signal) -> None:
    last = last_user_message(event)
    text = normalise(last.content or "") if last is not None else ""
    assert Signal(turn_signals(event, text)) == expected


# --------------------------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize("fields, input_tokens, expected", [
    ({"logit_bias_size": 300, "logprobs": True, "max_tokens": 1}, 10,
     Signal.LOGIT_PROBE | Signal.LOGPROBS | Signal.ONE_TOKEN),
    ({"logit_bias_size": 300, "top_logprobs": 0}, 10, Signal(0)),
    ({"logit_bias_size": 0, "top_logprobs": 5}, 10, Signal.LOGPROBS),
    ({"max_tokens": 2}, 10, Signal.ONE_TOKEN),
    ({"max_tokens": 3}, 10, Signal(0)),
    ({"max_tokens": 0}, 10, Signal.ONE_TOKEN),
    ({"n": 4}, 10, Signal.MULTI_SAMPLE),
    ({"n": 1}, 10, Signal(0)),
    ({"tools": 3}, 10, Signal.TOOLS),
    ({"tools": 0}, 10, Signal(0)),
    ({"thinking_budget": 1024}, 10, Signal.THINKING),
    ({"thinking_budget": 1023}, 10, Signal(0)),
    ({"reasoning_tokens": 1}, 10, Signal.THINKING),
    ({"output_tokens": 200}, 10, Signal.LONG_OUTPUT),     # floor: 4 * 50
    ({"output_tokens": 199}, 10, Signal(0)),
    ({"output_tokens": 800}, 200, Signal.LONG_OUTPUT),
    ({"output_tokens": 799}, 200, Signal(0)),
    ({}, 10, Signal(0)),
])
def test_parameter_signals(fields: dict[str, object], input_tokens: int, expected: Signal) -> None:
    assert Signal(parameter_signals(ev(**fields), input_tokens)) == expected


def test_event_signals_combines_everything_and_estimates_missing_input_tokens() -> None:
    prompt = "Question: 2+2?\nLet's think step by step." + " pad" * 100  # 440 chars: 110 estimated tokens
    event = ev(("user", prompt), system="Think step by step and justify your steps.", output_tokens=600,
               logprobs=True, logit_bias_size=5, max_tokens=1)
    bits = Signal(event_signals(event, normalise(prompt), normalise(event.system or "")))
    assert bits == (Signal.COT | Signal.SYSTEM_EXPLAIN | Signal.LOGPROBS | Signal.LOGIT_PROBE | Signal.ONE_TOKEN
                    | Signal.LONG_OUTPUT | Signal.DOMAIN_PROSE | Signal.SINGLE_SHOT)
    event = ev(("user", prompt), output_tokens=400)  # 400 < 4 * 110
    assert Signal.LONG_OUTPUT not in Signal(event_signals(event, normalise(prompt), ""))


# --------------------------------------------------------------------------------------------
# real corpora


def test_bbh_cot_fewshot_prompts_fire_cot() -> None:
    prompts = corpus("big-bench-hard/bbh_cot_fewshot_prompts.jsonl.gz")
    fired = sum(Signal.COT in text_bits(p) for p in prompts)
    assert fired >= 0.9 * len(prompts)  # measured 27/27


def test_alpaca_meta_prompt_fires_meta_prompt() -> None:
    path = CORPORA / "stanford-alpaca-prompt" / "alpaca_generate_instruction_prompt.txt"
    if not path.exists():
        pytest.skip("alpaca prompt not available")
    assert Signal.META_PROMPT in text_bits(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("rel, max_rate", [
    ("hh-rlhf-harmless-base/hh_rlhf_harmless_base_test_human_turns.jsonl.gz", 0.01),  # measured 1/2312
    ("gsm8k-test/gsm8k_test.jsonl.gz", 0.01),                                          # measured 0
    ("big-bench-hard/bbh_task_inputs.jsonl.gz", 0.01),                                 # measured 0
    ("gpteacher/gpteacher_codegen_instruct.jsonl.gz", 0.02),                           # measured 0.002
])
def test_benign_corpora_rarely_fire_text_signals(rel: str, max_rate: float) -> None:
    prompts = corpus(rel)
    fired = sum(bool(text_bits(p) & TEXT_BITS) for p in prompts)
    assert fired <= max_rate * len(prompts)


def test_pathological_text_finishes() -> None:
    for prompt in ("step " * 300_000, "answer is " * 200_000, "rewrite " + "x" * 10**6, "<|im_start|>" * 100_000,
                   "\u0434\u0435 " * 300_000):
        bits = text_bits(prompt)
        assert bits == bits & TEXT_BITS
