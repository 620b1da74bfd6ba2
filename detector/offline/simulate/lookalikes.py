"""Benign personas that resemble extraction on one behaviour or another (they must not be blocked).

Volumes are per key per day; ``scale`` multiplies key counts with small minimums, so every run has
each of them. Modelling assumptions, per persona:

* ``yes_no_classifier`` — a moderation vendor: one yes/no question over user messages, the same 2
  tokens in ``logit_bias``, ``logprobs``, ``max_tokens`` 1, 5k–15k/day around the clock.
* ``label_vendor`` — a labelling platform running its customers' classification tasks through one
  key each: every task asks for one label from its own set of 2–6 single-token labels (sentiment,
  ticket routing, 1–5 ratings, A–D choices, or a customer's own categories; 12 banking intents
  and the 28 GoEmotions labels are the wide ones), biased in
  ``logit_bias`` and read back with ``logprobs``, ``max_tokens`` 1; 1–40 tasks per key (common
  label sets such as Yes/No recur across tasks), 3k–20k/day around the clock, the busiest tasks
  taking most of the traffic, every item a new text.
* ``emotion_tagger`` — a social-media analytics company tagging posts with the 28 GoEmotions labels
  (one token each, all biased, ``logprobs``, ``max_tokens`` 1): one wide label set, 5k–30k/day.
* ``llm_judge`` — several judge services (one organisation each) running the public MT-bench judge
  prompts (FastChat ``judge_prompts.jsonl``, single-v1 and pair-v2, Apache-2.0) all day: rubric
  prompts, ``[[rating]]`` verdicts, temperature 0.
* ``release_mover`` — a writing app that moves ALL its traffic to ``claude-x-2`` within an hour of
  its release (end-user ids sent).
* ``content_saas`` — a content-marketing SaaS: a "think step by step, outline first" system prompt
  and ~1.4k-token articles for its customers' users.
* ``variants_app`` — a copywriting tool that shows its users several versions of each piece: every
  request asks for ``n`` = 2–5 samples (fixed per key) of a short product description, headline
  or post (~180 tokens each), temperature 1, one system prompt, 1k–6k/day in its users' hours;
  half of the keys send end-user ids.
* ``regression_suite`` — product teams' prompt regression suites run by CI (promptfoo-style): a
  fixed suite of 40–400 of the app's own test prompts (a fifth of them short conversations) under
  the app's system prompt, each case sent 1–5 times a run at the production temperature to catch
  flaky answers; 2–12 runs on each working day (pushes) plus a nightly one, each a burst of
  10–40 minutes; app-length answers; no end-user ids. A third of the teams run every
  case on both models once the new one is out, to compare them.
* ``tutoring_anon`` — a tutoring app with long worked explanations and NO end-user ids.
* ``cot_eval`` — evaluation harnesses running chain-of-thought benchmarks (GSM8K, BBH) with
  thinking budgets: finite runs of 500–3000 items, long reasoning.
* ``translation`` — a localisation service: long texts into many languages, output length close to
  input length.
* ``saas_fleet`` — one organisation with one key (and account) per tenant, one system prompt, long
  answers, tenants in their own time zones.
* ``router_org`` — a router organisation: several keys under one account, each carrying many end
  users' traffic with per-end-user ids (the ``router_hidden`` variant hides a harvester in some).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import xxhash

from .clock import (
    HOUR_MS, MINUTE_MS, PROFILE_AROUND_THE_CLOCK, PROFILE_HUMAN, PROFILE_OFFICE, SECOND_MS, local_days,
    in_time_order, poisson_times, session_plan, strictly_increasing, uniform_times, weekdays_only,
)
from .context import Actor, SimContext
from .identity import (
    ENDPOINT_FOR_FAMILY, KeyIdentity, account_id, cloud_ips, created_before, end_user_id, hex_id,
    key_id, sdk_user_agent,
)
from .personas import (
    ROUTER_UAS, TIMEZONES, Benchmarks, Conversation, chat_conversation, gap_ms, render_sessions,
    reseller_stream, tutoring_stream,
)
from .records import MODEL_1, MODEL_2, Adoption, Emitted, Message, assistant, lognormal_int, reasoning_for, user

ROUTER_KEYS = 5  # keys of the router organisation (``router_hidden`` harvests through 3 of them)
ROUTER_HARVESTED = 3
ROUTER_RATE = (1500.0, 4000.0)  # end-user requests per key per day


def _business_key(ctx: SimContext, persona: str, i: int, family: str, min_days: float = 200,
                  max_days: float = 1000, account: str | None = None) -> tuple[KeyIdentity, random.Random,
                                                                              np.random.Generator]:
    """Key ``i`` of a business persona calling from its cloud egress, and its RNGs."""
    rng, nrng = ctx.rngs(persona, i)
    key = KeyIdentity(key_id(ctx.seed, persona, i), account or account_id(ctx.seed, persona, i),
                      created_before(rng, ctx.span.start_ms, min_days, max_days),
                      sdk_user_agent(rng, family), ENDPOINT_FOR_FAMILY[family], cloud_ips(rng, 3))
    return key, rng, nrng


def _steady(ctx: SimContext, key: KeyIdentity, rng: random.Random, nrng: np.random.Generator,
            per_day: float, profile: tuple[float, ...], render: Any) -> Iterator[Emitted]:
    """Independent requests at ``per_day`` shaped by ``profile``; ``render(ts)`` emits each."""
    times = poisson_times(nrng, ctx.span.start_ms, ctx.span.end_ms, per_day, profile,
                          rng.choice(TIMEZONES))
    return (render(ts) for ts in strictly_increasing(times))


# ------------------------------------------------------------------------- yes_no_classifier

_CLASSIFIER_QUESTIONS = (
    "Does the following message contain a request for medical advice? Answer Yes or No.",
    "Is the following customer message a complaint? Answer Yes or No.",
    "Does this text contain personal contact information? Answer Yes or No.",
)
_YES_NO_TOKENS = {"9642": 100, "2822": 100}  # the tokenizer ids of "Yes" and "No"


def yes_no_classifier(ctx: SimContext) -> Actor:
    actor = Actor("yes_no_classifier", "benign", None)
    for i in range(ctx.n_keys(3, 1)):
        key, rng, nrng = _business_key(ctx, "yes_no_classifier", i, "openai-python")
        question = _CLASSIFIER_QUESTIONS[i % len(_CLASSIFIER_QUESTIONS)]
        params = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": 2,
                  "logit_bias": _YES_NO_TOKENS, "logit_bias_size": len(_YES_NO_TOKENS)}
        actor.keys.append(key)
        actor.streams.append(_labelling(ctx, key, rng, nrng, lambda q=question, p=params: (q, p), "Message", 0.7,
                                        rng.uniform(5000, 15000)))
    return actor


def _labelling(ctx: SimContext, key: KeyIdentity, rng: random.Random, nrng: np.random.Generator,
               task: Callable[[], tuple[str, dict[str, Any]]], field: str, chat_share: float,
               per_day: float) -> Iterator[Emitted]:
    """One-token labelling around the clock: ``task()`` gives each request's instruction and
    parameters; the text labelled is a chat message (``chat_share``) or a forbidden question."""
    def render(ts: int) -> Emitted:
        instruction, params = task()
        text = ctx.bank.pick("chat" if rng.random() < chat_share else "forbidden", rng).text
        return ctx.factory.emit(key, ts, rng, [user(f"{instruction}\n\n{field}: {text}")], 1,
                                params=params, client_ip=rng.choice(key.ips))

    return _steady(ctx, key, rng, nrng, per_day, PROFILE_AROUND_THE_CLOCK, render)


# ------------------------------------------------------------------------------ label_vendor

# The GoEmotions label set (Demszky et al. 2020): 27 emotions and neutral, one token each.
_GO_EMOTIONS = ("admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
                "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
                "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
                "remorse", "sadness", "surprise", "neutral")
_EMOTION_TASK = (f"Which emotion does this message express most? Answer with one of: {', '.join(_GO_EMOTIONS)}.",
                 _GO_EMOTIONS)
# (instruction, labels): everyday classification tasks, each label one token.
_LABEL_TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Classify the sentiment of this review. Answer positive, negative or neutral.",
     ("positive", "negative", "neutral")),
    ("Which team should handle this support ticket? Answer billing, technical, sales, account, "
     "shipping or other.", ("billing", "technical", "sales", "account", "shipping", "other")),
    ("Rate how toxic this comment is, from 1 (not at all) to 5 (severe). Answer with the number.",
     ("1", "2", "3", "4", "5")),
    ("Is this message spam? Answer Yes or No.", ("Yes", "No")),
    ("Does this text contain personal data such as a phone number or address? Answer Yes or No.",
     ("Yes", "No")),
    ("What language is this text in? Answer en, es, fr, de, pt or it.", ("en", "es", "fr", "de", "pt", "it")),
    ("What does the customer want? Answer question, complaint, praise, request or cancel.",
     ("question", "complaint", "praise", "request", "cancel")),
    ("Which section does this article belong in? Answer sports, politics, business, technology, "
     "health or culture.", ("sports", "politics", "business", "technology", "health", "culture")),
    ("Does the passage support the claim? Answer A (supported), B (refuted) or C (not enough "
     "information).", ("A", "B", "C")),
    ("How urgent is this ticket? Answer low, medium or high.", ("low", "medium", "high")),
    ("Which option answers the question? Answer A, B, C or D.", ("A", "B", "C", "D")),
    ("Is the statement in this message true? Answer True or False.", ("True", "False")),
    ("Is this product listing allowed under our marketplace policy? Answer allowed, restricted or "
     "banned.", ("allowed", "restricted", "banned")),
    ("Is this review about the product, the delivery or the price? Answer product, delivery or "
     "price.", ("product", "delivery", "price")),
    ("Which intent does this banking chat message have? Answer balance, transfer, card, loan, fraud, "
     "fees, statement, address, pin, limit, dispute or other.",
     ("balance", "transfer", "card", "loan", "fraud", "fees", "statement", "address", "pin", "limit",
      "dispute", "other")),
    _EMOTION_TASK,
)


# The categories a customer of the platform may define for its own task (2-6 of them per task).
_CATEGORIES = ("electronics", "clothing", "furniture", "grocery", "toys", "books", "garden", "beauty",
               "sports", "automotive", "travel", "finance", "legal", "medical", "education", "housing",
               "refund", "delay", "damage", "missing", "fraud", "feedback", "joy", "anger", "fear",
               "sadness", "surprise", "disgust", "urgent", "routine", "lead", "partner", "press",
               "recruiting", "vendor", "internal", "positive", "negative", "neutral", "mixed")


def _label_token(label: str) -> str:
    """A fixed tokenizer id for a label word (the same word always has the same id)."""
    return str(1000 + xxhash.xxh3_64_intdigest(label.encode()) % 99000)


def _label_tasks(rng: random.Random) -> list[tuple[str, tuple[str, ...]]]:
    """One key's tasks: some of the common ones, then customers' own category sets."""
    n = rng.randint(1, 40)
    common = rng.sample(_LABEL_TASKS, min(n, rng.randint(1, len(_LABEL_TASKS))))
    own = []
    for _ in range(n - len(common)):
        labels = tuple(rng.sample(_CATEGORIES, rng.randint(2, 6)))
        own.append((f"Classify this message into one of these categories: {', '.join(labels)}. "
                    "Answer with the category only.", labels))
    return common + own


def label_vendor(ctx: SimContext) -> Actor:
    actor = Actor("label_vendor", "benign", None)
    for i in range(ctx.n_keys(3, 2)):
        key, rng, nrng = _business_key(ctx, "label_vendor", i, "openai-python")
        tasks = _label_tasks(rng)
        rng.shuffle(tasks)
        weights = [1.0 / (rank + 1) for rank in range(len(tasks))]  # the busiest tasks dominate
        setups = [(instruction, _label_params(labels)) for instruction, labels in tasks]
        actor.keys.append(key)
        actor.streams.append(_labelling(ctx, key, rng, nrng,
                                        lambda r=rng, s=setups, w=weights: r.choices(s, w)[0], "Text", 0.8,
                                        rng.uniform(3000, 20000)))
    return actor


def _label_params(labels: tuple[str, ...]) -> dict[str, Any]:
    """One label token out of ``labels``: each biased, their logprobs read back (at most 20)."""
    return {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": min(len(labels), 20),
            "logit_bias": {_label_token(w): 100 for w in labels}, "logit_bias_size": len(labels)}


def emotion_tagger(ctx: SimContext) -> Actor:
    actor = Actor("emotion_tagger", "benign", None)
    instruction, labels = _EMOTION_TASK
    params = _label_params(labels)
    for i in range(ctx.n_keys(2, 1)):
        key, rng, nrng = _business_key(ctx, "emotion_tagger", i, "openai-python")
        actor.keys.append(key)
        actor.streams.append(_labelling(ctx, key, rng, nrng, lambda: (instruction, params), "Post", 0.9,
                                        rng.uniform(5000, 30000)))
    return actor


# --------------------------------------------------------------------------------- llm_judge

# FastChat's MT-bench judge prompts (lm-sys/FastChat, fastchat/llm_judge/data/judge_prompts.jsonl).
MT_BENCH_SINGLE_SYSTEM = "You are a helpful assistant."
MT_BENCH_SINGLE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response "
    "provided by an AI assistant to the user question displayed below. Your evaluation should "
    "consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of "
    "detail of the response. Begin your evaluation by providing a short explanation. Be as "
    "objective as possible. After providing your explanation, you must rate the response on a scale "
    "of 1 to 10 by strictly following this format: \"[[rating]]\", for example: \"Rating: [[5]]\"."
    "\n\n[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of "
    "Assistant's Answer]")
MT_BENCH_PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI "
    "assistants to the user question displayed below. You should choose the assistant that follows "
    "the user's instructions and answers the user's question better. Your evaluation should "
    "consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of "
    "detail of their responses. Begin your evaluation by comparing the two responses and provide a "
    "short explanation. Avoid any position biases and ensure that the order in which the responses "
    "were presented does not influence your decision. Do not allow the length of the responses to "
    "influence your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly following "
    "this format: \"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better, and "
    "\"[[C]]\" for a tie.")
MT_BENCH_PAIR = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n[The End of "
    "Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n[The End of "
    "Assistant B's Answer]")


def llm_judge(ctx: SimContext) -> Actor:
    actor = Actor("llm_judge", "benign", None)
    for i in range(ctx.n_keys(10, 3)):
        key, rng, nrng = _business_key(ctx, "llm_judge", i, ("openai-python", "anthropic-python")[i % 2],
                                      60, 700)
        pair_share = rng.choice((0.0, 0.3, 1.0))
        params = {"max_tokens": 2048, "temperature": 0.0}

        def render(ts: int, key: KeyIdentity = key, rng: random.Random = rng,
                   pair_share: float = pair_share) -> Emitted:
            question = ctx.bank.pick(rng.choice(("mtbench", "vicuna", "user_instructions")), rng).text
            if rng.random() < pair_share:
                text = MT_BENCH_PAIR.format(question=question,
                                            answer_a=ctx.bank.prose.text(rng, rng.randint(300, 2500)),
                                            answer_b=ctx.bank.prose.text(rng, rng.randint(300, 2500)))
                system = MT_BENCH_PAIR_SYSTEM
            else:
                text = MT_BENCH_SINGLE.format(question=question,
                                              answer=ctx.bank.prose.text(rng, rng.randint(300, 3000)))
                system = MT_BENCH_SINGLE_SYSTEM
            return ctx.factory.emit(key, ts, rng, [user(text)], lognormal_int(rng, 220, 0.4, 40, 900),
                                    params=params, system=system, client_ip=rng.choice(key.ips))

        actor.keys.append(key)
        actor.streams.append(_steady(ctx, key, rng, nrng, rng.uniform(800, 3000),
                                     PROFILE_AROUND_THE_CLOCK, render))
    return actor


# ----------------------------------------------------------------------------- release_mover

_APP_SYSTEM = ("You are Inkwell, a writing assistant. Improve the user's text or draft what they ask "
               "for. Match their tone.")


def release_mover(ctx: SimContext) -> Actor:
    actor = Actor("release_mover", "benign", None)
    for i in range(ctx.n_keys(3, 1)):
        key, rng, nrng = _business_key(ctx, "release_mover", i, "anthropic-python")
        switch = Adoption(ctx.span.release_ms + int(rng.uniform(5, 55) * MINUTE_MS), p0=1.0, cap=1.0)
        params = {"max_tokens": 4096, "temperature": 0.7, "stream": True}

        def render(ts: int, key: KeyIdentity = key, rng: random.Random = rng,
                   switch: Adoption = switch) -> Emitted:
            text = ctx.bank.pick(rng.choice(("user_instructions", "vicuna", "chat")), rng).text
            return ctx.factory.emit(key, ts, rng, [user(text)], lognormal_int(rng, 450, 0.7, 20, 4000),
                                    model=switch.model(ts, rng), params=params, system=_APP_SYSTEM,
                                    client_ip=rng.choice(key.ips),
                                    end_user_id=end_user_id(ctx.seed, key.api_key_id,
                                                            int(2000 * rng.random() ** 2)))

        actor.keys.append(key)
        actor.streams.append(_steady(ctx, key, rng, nrng, rng.uniform(3000, 8000), PROFILE_HUMAN,
                                     render))
    return actor


# ------------------------------------------------------------------------------ content_saas

_CONTENT_SYSTEM = ("You are Copyforge, a content strategist. Think step by step: first outline the "
                   "piece, then reason about the audience, then write the full article in "
                   "Markdown.")
_CONTENT_ASKS = ("Write a blog post about: {q}", "Draft a long-form article. Brief: {q}",
                 "Write an SEO-friendly guide (1000+ words) answering: {q}", "{q}")


def content_saas(ctx: SimContext) -> Actor:
    actor = Actor("content_saas", "benign", None)
    for i in range(ctx.n_keys(3, 1)):
        key, rng, nrng = _business_key(ctx, "content_saas", i, "openai-python")
        params = {"max_tokens": 4096, "temperature": 0.8}

        def render(ts: int, key: KeyIdentity = key, rng: random.Random = rng) -> Emitted:
            q = ctx.bank.pick(rng.choice(("user_instructions", "vicuna", "roleplay")), rng).text
            return ctx.factory.emit(key, ts, rng, [user(rng.choice(_CONTENT_ASKS).format(q=q))],
                                    lognormal_int(rng, 1400, 0.25, 600, 4096), params=params,
                                    system=_CONTENT_SYSTEM, client_ip=rng.choice(key.ips),
                                    end_user_id=end_user_id(ctx.seed, key.api_key_id,
                                                            int(600 * rng.random() ** 1.5)))

        actor.keys.append(key)
        actor.streams.append(_steady(ctx, key, rng, nrng, rng.uniform(1500, 4000), PROFILE_HUMAN,
                                     render))
    return actor


# ------------------------------------------------------------------------------ variants_app

_VARIANTS_SYSTEM = ("You are Quillkit, a copywriting assistant. Write one version of what the user asks "
                    "for: short, punchy and on brand, with no preamble.")
_VARIANTS_ASKS = ("Write a product description for: {q}", "Write an ad headline and one line of body copy "
                  "for: {q}", "Write a short social media post about: {q}", "Make this sound friendlier: {q}",
                  "{q}")


def variants_app(ctx: SimContext) -> Actor:
    actor = Actor("variants_app", "benign", None)
    for i in range(ctx.n_keys(3, 2)):
        key, rng, nrng = _business_key(ctx, "variants_app", i, "openai-python")
        samples = rng.choice((2, 3, 3, 4, 5))
        params = {"max_tokens": 400, "temperature": 1.0, "n": samples}
        users = rng.random() < 0.5

        def render(ts: int, key: KeyIdentity = key, rng: random.Random = rng, params: dict[str, Any] = params,
                   samples: int = samples, users: bool = users) -> Emitted:
            q = ctx.bank.pick(rng.choice(("user_instructions", "vicuna", "chat")), rng).text
            out = sum(lognormal_int(rng, 180, 0.4, 30, 400) for _ in range(samples))
            eu = end_user_id(ctx.seed, key.api_key_id, int(2000 * rng.random() ** 2)) if users else None
            return ctx.factory.emit(key, ts, rng, [user(rng.choice(_VARIANTS_ASKS).format(q=q))], out,
                                    params=params, system=_VARIANTS_SYSTEM, client_ip=rng.choice(key.ips),
                                    end_user_id=eu)

        actor.keys.append(key)
        actor.streams.append(_steady(ctx, key, rng, nrng, rng.uniform(1000, 6000), PROFILE_HUMAN, render))
    return actor


# -------------------------------------------------------------------------- regression_suite

_SUITE_APPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("You are Harbor, the support assistant of an online bank. Answer the customer's question "
     "politely and briefly; never ask for passwords or card numbers.", ("chat",)),
    ("You are a coding assistant inside an IDE. Answer with working code and a short explanation.",
     ("codegen", "humaneval")),
    ("You are Draftwise, the document assistant of a law firm. Edit the text you are given or draft "
     "what is asked for, in plain and precise English.", ("user_instructions", "vicuna")),
)
_SUITE_RUN_MS = (10 * MINUTE_MS, 40 * MINUTE_MS)   # a CI job's time budget for one suite run


def _suite_case(ctx: SimContext, rng: random.Random, pools: tuple[str, ...]) -> list[Message]:
    """One test case: a prompt from the app's pools, or (a fifth) a short conversation ending in one."""
    text = ctx.bank.pick(rng.choice(pools), rng).text
    if rng.random() >= 0.2:
        return [user(text)]
    opening = ctx.bank.pick(rng.choice(pools), rng).text
    return [user(opening), assistant(ctx.bank.prose.text(rng, rng.randint(200, 900))), user(text)]


def _suite_runs(ctx: SimContext, rng: random.Random, nrng: np.random.Generator, per_day: float,
                tz: float) -> list[int]:
    """Start instants of the suite's runs: pushes in working hours on weekdays, and one nightly run
    at 02:00 local every day."""
    pushes = weekdays_only(poisson_times(nrng, ctx.span.start_ms, ctx.span.end_ms, per_day, PROFILE_OFFICE, tz), tz)
    nightly = [day + 2 * HOUR_MS + int(rng.random() * 10 * MINUTE_MS) for day in local_days(ctx.span, tz)]
    return sorted(pushes + [t for t in nightly if ctx.span.start_ms <= t < ctx.span.end_ms])


def regression_suite(ctx: SimContext) -> Actor:
    actor = Actor("regression_suite", "benign", None)
    for i in range(ctx.n_keys(4, 2)):
        key, rng, nrng = _business_key(ctx, "regression_suite", i, ("openai-python", "anthropic-python")[i % 2])
        system, pools = rng.choice(_SUITE_APPS)
        suite = [_suite_case(ctx, rng, pools) for _ in range(rng.randint(40, 400))]
        repeat = rng.choice((1, 2, 3, 3, 5))
        compare = rng.random() < 1 / 3
        params = {"max_tokens": 1024, "temperature": rng.choice((0.2, 0.5, 0.7, 0.7, 1.0))}
        actor.keys.append(key)
        actor.streams.append(_suite_stream(ctx, key, rng, nrng, system, suite, repeat, compare, params))
    return actor


def _suite_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random, nrng: np.random.Generator,
                  system: str, suite: list[list[Message]], repeat: int, compare: bool,
                  params: dict[str, Any]) -> Iterator[Emitted]:
    """Every run sends each case ``repeat`` times (on both models when ``compare`` and the new one
    is out) in shuffled order, spread over the run's time budget."""
    plan: list[tuple[int, int, str]] = []
    for start in _suite_runs(ctx, rng, nrng, rng.uniform(2, 12), rng.choice(TIMEZONES)):
        models = (MODEL_1, MODEL_2) if compare and start >= ctx.span.release_ms else (MODEL_1,)
        jobs = [(case, model) for case in range(len(suite)) for model in models for _ in range(repeat)]
        rng.shuffle(jobs)
        times = uniform_times(nrng, start, start + int(rng.uniform(*_SUITE_RUN_MS)), len(jobs))
        plan.extend((t, case, model) for t, (case, model) in zip(times, jobs) if t < ctx.span.end_ms)
    for t, (_, case, model) in in_time_order(plan):
        yield ctx.factory.emit(key, t, rng, suite[case], lognormal_int(rng, 400, 0.5, 20, 1024), model=model,
                               params=params, system=system, client_ip=rng.choice(key.ips))


# ----------------------------------------------------------------------------- tutoring_anon

def tutoring_anon(ctx: SimContext) -> Actor:
    actor = Actor("tutoring_anon", "benign", None)
    for i in range(ctx.n_keys(3, 1)):
        key, rng, nrng = _business_key(ctx, "tutoring_anon", i, "anthropic-typescript", 100, 800)
        actor.keys.append(key)
        actor.streams.append(tutoring_stream(ctx, key, rng, nrng, "LearnLoop", end_users=False,
                                             answer=(900, 0.4, 200, 3000), max_tokens=4096))
    return actor


# ---------------------------------------------------------------------------------- cot_eval

def cot_eval(ctx: SimContext) -> Actor:
    actor = Actor("cot_eval", "benign", None)
    bench = Benchmarks(ctx.bank)
    for i in range(ctx.n_keys(5, 2)):
        key, rng, nrng = _business_key(ctx, "cot_eval", i, "anthropic-python", 100, 900)
        actor.keys.append(key)
        actor.streams.append(_cot_eval_stream(ctx, key, rng, nrng, bench))
    return actor


def _cot_eval_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                     nrng: np.random.Generator, bench: Benchmarks) -> Iterator[Emitted]:
    """1–2 runs per day, each one benchmark at one thinking budget, items in file order."""
    span = ctx.span
    plan: list[tuple[int, int, int]] = []
    runs: list[tuple[dict[str, Any], list[tuple[str, Any, str]]]] = []
    for r in range(rng.choice((1, 2))):
        if r and rng.random() >= min(1.0, span.days):
            continue
        task = rng.choice(("gsm8k", "bbh"))
        budget = rng.choice((2048, 4096, 8000, 16000))
        reqs = bench.requests(task, rng.randint(500, 3000), rng)
        runs.append(({"max_tokens": budget + 2048, "temperature": 1.0, "thinking_budget": budget},
                     reqs))
        t0 = span.start_ms + int(rng.random() * span.length_ms * 0.8)
        duration = int(len(reqs) / rng.uniform(0.3, 1.0) * SECOND_MS)
        plan.extend((t, len(runs) - 1, j)
                    for j, t in enumerate(uniform_times(nrng, t0, t0 + duration, len(reqs)))
                    if t < span.end_ms)
    for t, (_, run, j) in in_time_order(plan):
        params, reqs = runs[run]
        task, item, extra = reqs[j]
        messages, _ = bench.prompt(task, item, extra, rng, ctx.bank)
        yield ctx.factory.emit(key, t, rng, messages, lognormal_int(rng, 350, 0.5, 40, 1500),
                               params=params, reasoning_tokens=reasoning_for(rng, params["thinking_budget"]),
                               client_ip=rng.choice(key.ips))


# ------------------------------------------------------------------------------- translation

_LANGUAGES = ("French", "German", "Spanish", "Italian", "Portuguese (Brazil)", "Japanese",
              "Korean", "Simplified Chinese", "Traditional Chinese", "Russian", "Polish", "Dutch",
              "Turkish", "Arabic", "Hindi", "Vietnamese", "Indonesian", "Swedish")


def translation(ctx: SimContext) -> Actor:
    actor = Actor("translation", "benign", None)
    for i in range(ctx.n_keys(3, 1)):
        key, rng, nrng = _business_key(ctx, "translation", i, "anthropic-python")
        params = {"max_tokens": 8192, "temperature": 0.2}

        def render(ts: int, key: KeyIdentity = key, rng: random.Random = rng) -> Emitted:
            lang = rng.choice(_LANGUAGES)
            source = ctx.bank.prose.text(rng, rng.randint(400, 9000)) if rng.random() < 0.7 else \
                ctx.bank.pick(rng.choice(("vicuna", "roleplay", "user_instructions")), rng).text
            system = (f"You are a professional translator. Translate the user's text from English into "
                      f"{lang}. Preserve formatting, placeholders and tone. Output only the "
                      f"translation.")
            out = max(5, int(len(source) / 4 * rng.uniform(0.9, 1.5)))
            return ctx.factory.emit(key, ts, rng, [user(source)], out, params=params, system=system,
                                    client_ip=rng.choice(key.ips))

        actor.keys.append(key)
        actor.streams.append(_steady(ctx, key, rng, nrng, rng.uniform(2000, 6000),
                                     PROFILE_AROUND_THE_CLOCK, render))
    return actor


# -------------------------------------------------------------------------------- saas_fleet

_FLEET_SYSTEM = ("You are the assistant built into Notable Docs. Answer the workspace member's "
                 "request thoroughly, with headings and examples where they help.")


def saas_fleet(ctx: SimContext) -> Actor:
    name = "saas_fleet"
    rng, _ = ctx.rngs(name)
    org = "org_" + hex_id(12, ctx.seed, "org", name)
    ua = sdk_user_agent(rng, "anthropic-python")
    egress = cloud_ips(rng, 4)
    actor = Actor(name, "benign", None)
    for i in range(ctx.n_keys(40, 6)):
        krng, nrng = ctx.rngs(name, i)
        acct = account_id(ctx.seed, name, i)
        key = KeyIdentity(key_id(ctx.seed, name, i), acct,
                          created_before(krng, ctx.span.start_ms, 30, 700), ua, "/v1/messages", egress)
        actor.keys.append(key)
        actor.profiles[acct] = {"org_id": org, "tier": "enterprise", "verified": True}
        actor.streams.append(_fleet_stream(ctx, key, krng, nrng))
    return actor


def _fleet_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                  nrng: np.random.Generator) -> Iterator[Emitted]:
    params = {"max_tokens": 4096, "temperature": 0.5, "stream": True}
    n_users = rng.randint(5, 300)
    plan = session_plan(nrng, ctx.span, 10 ** rng.uniform(1.5, 2.8) / 1.8,
                        lambda: rng.choice((1, 1, 2, 3)), gap_ms(rng, 30, 300), PROFILE_HUMAN,
                        rng.choice(TIMEZONES))

    def open_session(ts: int) -> tuple[Conversation, str]:
        return chat_conversation(ctx.bank, rng), end_user_id(ctx.seed, key.api_key_id,
                                                             int(n_users * rng.random()))

    def render(state: tuple[Conversation, str], ts: int, k: int) -> Emitted:
        conv, member = state
        messages: list[Message] = conv.ask(rng, ctx.bank)
        out = lognormal_int(rng, 1100, 0.4, 200, 4096)
        conv.answered(out)
        return ctx.factory.emit(key, ts, rng, messages, out, params=params, system=_FLEET_SYSTEM,
                                client_ip=rng.choice(key.ips), end_user_id=member)

    return render_sessions(plan, open_session, render)


# -------------------------------------------------------------------------------- router_org

def router_keys(ctx: SimContext) -> list[tuple[KeyIdentity, random.Random, np.random.Generator]]:
    """The router organisation's keys (one reseller account) with their RNGs."""
    acct = account_id(ctx.seed, "router_org", 0)
    created = created_before(ctx.rngs("router_org")[0], ctx.span.start_ms, 200, 600)
    out = []
    for i in range(ROUTER_KEYS):
        rng, nrng = ctx.rngs("router_org", i)
        out.append((KeyIdentity(key_id(ctx.seed, "router_org", i), acct, created,
                                ROUTER_UAS[0], "/v1/chat/completions", cloud_ips(rng, 4)), rng, nrng))
    return out


def router_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                  nrng: np.random.Generator) -> Iterator[Emitted]:
    """One router key's benign end-user traffic."""
    return reseller_stream(ctx, key, rng, nrng, ROUTER_RATE)


def router_org(ctx: SimContext) -> Actor:
    actor = Actor("router_org", "benign", None)
    harvested = ROUTER_HARVESTED if ctx.variant == "router_hidden" else 0
    for i, (key, rng, nrng) in enumerate(router_keys(ctx)):
        if i >= harvested:
            actor.keys.append(key)
            actor.streams.append(router_stream(ctx, key, rng, nrng))
    if actor.keys:
        actor.profiles[actor.keys[0].account_id] = {"tier": "reseller", "verified": True}
    return actor

