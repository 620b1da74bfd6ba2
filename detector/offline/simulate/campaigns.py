"""Attack campaigns: model-extraction traffic as described in the public record.

Each builder returns one :class:`~.context.Actor` labelled ``attack`` with its campaign name.
Volumes are per key per day; every campaign starts 10–20% of the way into the span (so it fits
any span of an hour or more) and runs to its end. Key counts do not depend on ``scale`` except
for ``hydra`` (80 keys at scale 1, never fewer than 50).

* ``bulk_distill`` — one key, ~20k/day, one skeleton wrapping diverse questions (GPTeacher,
  Self-Instruct, GSM8K, BBH) with chain-of-thought wording, a thinking budget and 1.5k–4k output
  tokens; machine timing (Poisson, 24/7); starts at ~10% of the span.
* ``cot_harvest`` — ~5k/day of reverse rationalisation: a GSM8K problem with its final answer,
  asking for the step-by-step reasoning that leads to it.
* ``rubric_grading`` — ~3k/day of grader prompts (the model as a reward model) embedding other
  models' answers.
* ``logit_stealing`` — ~10k/day on ``/v1/completions``: 1-token answers with logprobs,
  ``top_logprobs`` 5–20 and ``logit_bias`` maps of 1–300 entries, a handful of prompts each
  repeated through a sweep of bias maps (Carlini et al. 2024; Finlayson et al. 2024).
* ``magpie`` — ~5k/day of empty or chat-template-only user turns with long outputs.
* ``self_instruct`` — ~2k/day of the Alpaca meta-prompt with 3 rotating seed tasks, temperature
  1, long numbered-list outputs.
* ``low_and_slow`` — ~300/day spread evenly over all 24 hours (no diurnal rhythm), templated CoT
  distillation, long outputs, from a home IP with a common SDK.
* ``release_pivot`` — one account, 4 keys at ~3k/day each harvesting synthetic tool-use traces on
  ``claude-x-1``; within an hour of the ``claude-x-2`` release about two thirds of its traffic
  moves to the new model.
* ``hydra`` — many farmed accounts (all created within one hour, ~7 days before the span), each
  at 20–30 requests/day, scheduled centrally in round-robin batches (synchronised), a few shared
  skeletons, routed through the same proxy /24s and UA as the benign ``proxy_customers``.

The wrappers around the harvested content come from the context's wording family
(:mod:`.wording`); the variants of :mod:`.variants` change one thing each: fake end-user ids on
every campaign, hydra infrastructure or per-key wording, low-and-slow office hours.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .clock import (
    DAY_MS, HOUR_MS, MINUTE_MS, PROFILE_HUMAN, PROFILE_OFFICE, in_time_order, iso_s, poisson_times,
    strictly_increasing, weekdays_only,
)
from .context import Actor, SimContext
from .identity import (
    COMMON_USER_AGENTS, ENDPOINT_FOR_FAMILY, KeyIdentity, account_id, cloud_ips, created_before,
    end_user_id, hex_id, key_id, proxy_network, residential_ip, sdk_user_agent,
)
from .personas import TIMEZONES
from .records import Adoption, Emitted, Message, lognormal_int, reasoning_for, user
from .tooltrace import SYNTHETIC_TOOLS, synthetic_transcript
from .wording import Wording, choose

# What one request needs beyond its key and time: messages, output tokens, other emit() arguments.
Request = tuple[list[Message], int, dict[str, Any]]

_DISTILL_POOLS = ("codegen", "codegen", "seed_tasks", "user_instructions", "gsm8k", "gsm8k",
                  "bbh", "bbh")
OFFICE_TZ = 8.0  # the working_hours variant's office: UTC+8, weekdays 09-18
HYDRA_PAYMENT_POOL = 3  # farmed hydra accounts share this many payment instruments


def campaign_start(ctx: SimContext, rng: random.Random, lo: float = 0.10, hi: float = 0.20) -> int:
    return ctx.span.at(rng.uniform(lo, hi))


def _single_key(ctx: SimContext, name: str, rng: random.Random, family: str,
                ips: tuple[str, ...], min_days: float = 20, max_days: float = 120) -> KeyIdentity:
    return KeyIdentity(key_id(ctx.seed, name, 0), account_id(ctx.seed, name, 0),
                       created_before(rng, ctx.span.start_ms, min_days, max_days),
                       sdk_user_agent(rng, family), ENDPOINT_FOR_FAMILY[family], ips)


def made_up_end_users(ctx: SimContext, api_key_id: str) -> Callable[[], str]:
    """Made-up ``end_user_id``s for one key: a new one per request, or a small fake pool."""
    rng, _ = ctx.rngs("fake-end-users", api_key_id)
    if rng.random() < 0.5:
        return lambda: f"user-{rng.getrandbits(64):016x}"
    pool = [f"usr_{hex_id(10, ctx.seed, api_key_id, i)}" for i in range(rng.randint(5, 40))]
    return lambda: pool[int(rng.random() * len(pool))]


def people_like_end_users(ctx: SimContext, api_key_id: str) -> Callable[[], str]:
    """Made-up ``end_user_id``s for one key shaped like an app's users, by a harvester that read how
    ids are judged: a population of 200-800 ids, the busiest reused most, each visit a short
    session of 1-4 requests in a row."""
    rng, _ = ctx.rngs("people-like-ids", api_key_id)
    size = rng.randint(200, 800)
    current, left = "", 0   # the id of this visit and the requests left in it

    def next_id() -> str:
        nonlocal current, left
        if left <= 0:
            current = end_user_id(ctx.seed, api_key_id, int(size * rng.random() ** 1.5))
            left = rng.randint(1, 4)
        left -= 1
        return current

    return next_id


def fake_end_users(ctx: SimContext, api_key_id: str) -> Callable[[], str | None]:
    """The ``end_user_id`` a campaign key sends: none, except in the ``fake_end_users`` and
    ``people_like_ids`` variants."""
    if ctx.variant == "people_like_ids":
        return people_like_end_users(ctx, api_key_id)
    if ctx.variant != "fake_end_users":
        return lambda: None
    return made_up_end_users(ctx, api_key_id)


def independent(ctx: SimContext, key: KeyIdentity, rng: random.Random, nrng: np.random.Generator,
                per_day: float, start_ms: int, build: Callable[[int], Request],
                office_tz: float | None = None, until_ms: int | None = None,
                end_user: Callable[[], str | None] | None = None) -> Iterator[Emitted]:
    """Poisson arrivals at ``per_day`` from ``start_ms`` to ``until_ms`` (default: the span's end;
    only in office hours when ``office_tz`` is given; in the ``human_hours`` variant, shaped like a
    person's day in one time zone), each request built by ``build(ts)`` and
    sent with ``end_user()`` (default: :func:`fake_end_users`)."""
    end = ctx.span.end_ms if until_ms is None else min(until_ms, ctx.span.end_ms)
    if office_tz is None and ctx.variant == "human_hours":
        tz = ctx.rngs("human-hours", key.api_key_id)[0].choice(TIMEZONES)
        times = poisson_times(nrng, start_ms, end, per_day, PROFILE_HUMAN, tz)
    elif office_tz is None:
        times = poisson_times(nrng, start_ms, end, per_day)
    else:
        times = weekdays_only(poisson_times(nrng, start_ms, end, per_day, PROFILE_OFFICE,
                                            office_tz), office_tz)
    end_user = end_user or fake_end_users(ctx, key.api_key_id)
    padded = padded_requests(ctx, key.api_key_id) if ctx.variant == "padded_inputs" else None
    for ts in strictly_increasing(times):
        messages, out, kw = build(ts)
        if padded is not None:
            out, kw = padded(out, kw)
        yield ctx.factory.emit(key, ts, rng, messages, out, end_user_id=end_user(), **kw)


_PADDING_POOLS = ("gsm8k", "user_instructions", "codegen")


def padded_requests(ctx: SimContext, api_key_id: str) -> Callable[[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
    """The ``padded_inputs`` change to one key's requests, by a harvester that read how answer
    economics are judged: a fixed few-shot header (three worked examples, ~460 tokens) in front of
    every system prompt, so answers are no longer long against the input, and answers asked to be
    concise (150-900 tokens). Draws from its own random stream, so the rest of the request is as
    it would be."""
    rng, _ = ctx.rngs("padded-inputs", api_key_id)
    examples = [ctx.bank.pick(pool, rng) for pool in _PADDING_POOLS]
    header = ("Answer in the style of these examples: complete, but concise.\n\n"
              + "\n\n".join(f"Q: {it.text}\nA: {it.answer or ctx.bank.prose.text(rng, 600)}" for it in examples))

    def pad(out: int, kw: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        system = kw.get("system")
        cap = min(900, max(150, int(rng.lognormvariate(6.4, 0.3))))   # median ~600 tokens
        return min(out, cap), dict(kw, system=header + ("\n\n" + system if system else ""))

    return pad


def _one_key_campaign(ctx: SimContext, name: str, family: str, per_day: float,
                      make: Callable[[SimContext, random.Random], Callable[[int], Request]],
                      start: tuple[float, float] = (0.10, 0.20), home: bool = False,
                      office_tz: float | None = None) -> Actor:
    """A single-key campaign whose requests are independent Poisson arrivals."""
    rng, nrng = ctx.rngs(name)
    ips = (residential_ip(rng),) if home else cloud_ips(rng, 2)
    key = _single_key(ctx, name, rng, family, ips)
    t0 = campaign_start(ctx, rng, *start)
    stream = independent(ctx, key, rng, nrng, per_day * rng.uniform(0.9, 1.1), t0, make(ctx, rng),
                          office_tz)
    return Actor(name, "attack", name, [key], [stream])


# ------------------------------------------------------------------------------ bulk_distill

def _bulk_distill_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    params = {"max_tokens": 8192, "temperature": 1.0, "thinking_budget": 4096}
    w = ctx.wording

    def build(ts: int) -> Request:
        q = ctx.bank.pick(_DISTILL_POOLS[int(rng.random() * len(_DISTILL_POOLS))], rng).text
        text = choose(rng, w.distill).format(q=q)
        return ([user(text)], lognormal_int(rng, 2500, 0.25, 1500, 4000),
                {"params": params, "system": choose(rng, w.distill_systems),
                 "reasoning_tokens": reasoning_for(rng, 4096)})

    return build


def bulk_distill(ctx: SimContext) -> Actor:
    return _one_key_campaign(ctx, "bulk_distill", "anthropic-python", 20_000,
                             _bulk_distill_requests, start=(0.09, 0.11))


# ------------------------------------------------------------------------------- cot_harvest

def _cot_harvest_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    params = {"max_tokens": 4096, "temperature": 0.7}

    def build(ts: int) -> Request:
        item = ctx.bank.pick("gsm8k", rng)
        text = choose(rng, ctx.wording.reverse).format(q=item.text, a=item.final_answer)
        return [user(text)], lognormal_int(rng, 1200, 0.3, 500, 3000), {"params": params}

    return build


def cot_harvest(ctx: SimContext) -> Actor:
    return _one_key_campaign(ctx, "cot_harvest", "openai-python", 5_000, _cot_harvest_requests)


# ---------------------------------------------------------------------------- rubric_grading

def _rubric_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    params = {"max_tokens": 1024, "temperature": 0.0}
    w = ctx.wording

    def build(ts: int) -> Request:
        r = rng.random()
        if r < 0.4:
            item = ctx.bank.pick("gsm8k", rng)
            question, response = item.text, item.answer
        elif r < 0.7:
            item = ctx.bank.pick(rng.choice(("seed_tasks", "user_instructions")), rng)
            question, response = item.text, item.answer or ctx.bank.prose.text(rng, 400)
        else:
            question = ctx.bank.pick(rng.choice(("vicuna", "codegen", "chat")), rng).text
            response = ctx.bank.prose.text(rng, rng.randint(300, 2000))
        rubric = w.rubrics[int(rng.random() * len(w.rubrics))]
        text = choose(rng, w.rubric).format(rubric=rubric, question=question, response=response)
        return [user(text)], lognormal_int(rng, 250, 0.4, 30, 800), {"params": params}

    return build


def rubric_grading(ctx: SimContext) -> Actor:
    return _one_key_campaign(ctx, "rubric_grading", "openai-python", 3_000, _rubric_requests)


# ---------------------------------------------------------------------------- logit_stealing

_PROBES = ("The", "Once upon a time", "My favourite colour is", "import numpy as",
           "Q: What is the capital of France?\nA:", "The quick brown fox", "1, 2, 3,",
           "Dear Sir or Madam,")


def _logit_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    prompts = rng.sample(_PROBES, 5)
    sweep = rng.randint(48, 160)  # requests per prompt before moving to the next one
    count = [0]

    def build(ts: int) -> Request:
        prompt = prompts[(count[0] // sweep) % len(prompts)]
        count[0] += 1
        r = rng.random()
        bias = 300 if r < 0.6 else 1 if r < 0.7 else rng.randint(2, 299)
        params = {"max_tokens": 1, "temperature": 0.0, "logprobs": True,
                  "top_logprobs": rng.choice((5, 10, 20)), "logit_bias_size": bias}
        return [user(prompt)], 1, {"params": params}

    return build


def logit_stealing(ctx: SimContext) -> Actor:
    return _one_key_campaign(ctx, "logit_stealing", "python-requests", 10_000, _logit_requests)


# ------------------------------------------------------------------------------------ magpie

_MAGPIE_TURNS = ("", " ", "\n", "<|start_header_id|>user<|end_header_id|>",
                 "<|start_header_id|>user<|end_header_id|>\n\n", "<|im_start|>user\n", "[INST] ",
                 "\n\nHuman:")


def _magpie_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    params = {"max_tokens": 4096, "temperature": 1.0, "top_p": 1.0}

    def build(ts: int) -> Request:
        system = "You are a helpful assistant." if rng.random() < 0.4 else None
        return ([user(_MAGPIE_TURNS[int(rng.random() * len(_MAGPIE_TURNS))])],
                lognormal_int(rng, 1200, 0.5, 300, 4096), {"params": params, "system": system})

    return build


def magpie(ctx: SimContext) -> Actor:
    return _one_key_campaign(ctx, "magpie", "openai-python", 5_000, _magpie_requests)


# ----------------------------------------------------------------------------- self_instruct

def _self_instruct_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    metas = ctx.wording.meta or (ctx.bank.pool("alpaca_prompt")[0].text,)
    seeds = ctx.bank.pool("seed_tasks")
    params = {"max_tokens": 3072, "temperature": 1.0, "top_p": 1.0}

    def build(ts: int) -> Request:
        parts = [choose(rng, metas), "\n"]
        for n, task in enumerate(rng.sample(seeds, 3), 1):
            parts.append(f"###\n{n}. Instruction: {task.instruction or task.text}\n{n}. Input:\n"
                         f"{task.input or '<noinput>'}\n{n}. Output:\n{task.answer}\n")
        parts.append("###\n4. Instruction:")
        return [user("".join(parts))], lognormal_int(rng, 2000, 0.2, 1200, 3072), {"params": params}

    return build


def self_instruct(ctx: SimContext) -> Actor:
    return _one_key_campaign(ctx, "self_instruct", "python-requests", 2_000,
                             _self_instruct_requests)


# ------------------------------------------------------------------------------ low_and_slow

def _low_and_slow_requests(ctx: SimContext, rng: random.Random) -> Callable[[int], Request]:
    params = {"max_tokens": 4096, "temperature": 0.7}
    pools = ("gsm8k", "bbh", "user_instructions", "codegen")

    def build(ts: int) -> Request:
        q = ctx.bank.pick(pools[int(rng.random() * len(pools))], rng).text
        text = choose(rng, ctx.wording.casual).format(q=q)
        return [user(text)], lognormal_int(rng, 2200, 0.3, 1000, 4000), {"params": params}

    return build


def low_and_slow(ctx: SimContext) -> Actor:
    office = OFFICE_TZ if ctx.variant == "working_hours" else None
    return _one_key_campaign(ctx, "low_and_slow", "openai-python", 300, _low_and_slow_requests,
                             home=True, office_tz=office)


# ----------------------------------------------------------------------------- release_pivot

def release_pivot(ctx: SimContext) -> Actor:
    name = "release_pivot"
    rng, _ = ctx.rngs(name)
    acct = account_id(ctx.seed, name, 0)
    created = created_before(rng, ctx.span.start_ms, 15, 60)
    ua = sdk_user_agent(rng, "anthropic-python")
    ips = cloud_ips(rng, 4)
    t0 = campaign_start(ctx, rng)
    pivot = Adoption(ctx.span.release_ms + int(rng.uniform(10, 50) * MINUTE_MS),
                     p0=rng.uniform(0.6, 0.75), growth_per_hour=0.01, cap=0.9)
    actor = Actor(name, "attack", name)
    for i in range(4):
        krng, nrng = ctx.rngs(name, i)
        key = KeyIdentity(key_id(ctx.seed, name, i), acct, created, ua, "/v1/messages", ips)
        tools = krng.randint(20, 60)
        params = {"max_tokens": 16000, "temperature": 1.0, "tools": tools, "thinking_budget": 8000}
        system = choose(krng, ctx.wording.agent_systems)

        def build(ts: int, krng: random.Random = krng, params: dict[str, Any] = params,
                  ip: str = ips[i % len(ips)], system: str = system) -> Request:
            messages = synthetic_transcript(krng, ctx.bank, krng.randint(1, 6), SYNTHETIC_TOOLS)
            finish = "tool_use" if krng.random() < 0.7 else "stop"
            return messages, lognormal_int(krng, 1500, 0.4, 300, 4000), {
                "params": params, "system": system, "model": pivot.model(ts, krng),
                "finish_reason": finish, "reasoning_tokens": reasoning_for(krng, 8000),
                "client_ip": ip}

        actor.keys.append(key)
        actor.streams.append(independent(ctx, key, krng, nrng, 3000 * krng.uniform(0.9, 1.1), t0,
                                          build))
    return actor


# ------------------------------------------------------------------------------------- hydra

HYDRA_BATCH = 8  # keys fired together per dispatch
HYDRA_ATTEMPTS_PER_DAY = 30  # per key: the dispatcher's ceiling
_HYDRA_PERSONAS = ("Ava", "Orion", "Mika", "Leo", "Nova", "Iris", "Kai", "Zoe", "Atlas", "Luna",
                   "Felix", "Mira", "Theo", "Sol", "Yuki", "Omar", "Lena", "Ravi", "Ines", "Tomas")


@dataclass(frozen=True, slots=True)
class HydraStyle:
    """What a hydra key wraps its requests in: skeleton options drawn per request, and the system
    prompt sent with the question skeletons (none in the shared wording)."""

    cot: tuple[str, ...]
    reverse: tuple[str, ...]
    agent_systems: tuple[str, ...]
    system: str | None = None


def hydra_style(w: Wording, rng: random.Random | None = None) -> HydraStyle:
    """The campaign's shared style, or (given ``rng``) one key's own: one skeleton of each kind and
    its own persona system prompt, drawn from every wrapper of the family."""
    if rng is None:
        return HydraStyle(w.hydra, w.hydra_reverse, w.agent_systems)
    return HydraStyle((choose(rng, w.hydra + w.casual + w.distill),),
                      (choose(rng, w.hydra_reverse + w.reverse),), (choose(rng, w.agent_systems),),
                      f"You are {choose(rng, _HYDRA_PERSONAS)}. {choose(rng, w.distill_systems)}")


def hydra(ctx: SimContext) -> Actor:
    name = "hydra"
    rng, _ = ctx.rngs(name)
    net = proxy_network(ctx.seed)
    stealth = ctx.variant == "hydra_stealth"
    farmed_from = ctx.span.start_ms - 7 * DAY_MS - int(rng.uniform(0, 6) * HOUR_MS)
    payments = [f"pm_{hex_id(16, ctx.seed, name, 'payment', j)}" for j in range(HYDRA_PAYMENT_POOL)]
    actor = Actor(name, "attack", name)
    for i in range(max(50, int(round(80 * ctx.scale)))):
        created = iso_s(farmed_from + int(rng.uniform(0, 59) * MINUTE_MS))
        acct = account_id(ctx.seed, name, i)
        if stealth:  # bought aged accounts, each on its own home line with a stock SDK
            krng, _ = ctx.rngs(name, "stealth", i)
            ua, endpoint = COMMON_USER_AGENTS[int(krng.random() * len(COMMON_USER_AGENTS))]
            key = KeyIdentity(key_id(ctx.seed, name, i), acct,
                              created_before(krng, ctx.span.start_ms, 30, 400), ua, endpoint,
                              (residential_ip(krng),))
            payment = f"pm_{hex_id(16, ctx.seed, name, 'own-payment', i)}"
        else:
            key = KeyIdentity(key_id(ctx.seed, name, i), acct, created, net.user_agent,
                              "/v1/chat/completions", (net.ip(rng),))
            payment = payments[i % len(payments)]
        actor.keys.append(key)
        actor.profiles[acct] = {"payment_fp": payment, "tier": "paid", "verified": False}
    styles = [hydra_style(ctx.wording, ctx.rngs(name, "wording", i)[0])
              if ctx.variant == "hydra_own_wording" else hydra_style(ctx.wording)
              for i in range(len(actor.keys))]
    actor.streams.append(_hydra_stream(ctx, actor.keys, styles, rng, campaign_start(ctx, rng),
                                       own_ip=stealth))
    return actor


def _hydra_request(ctx: SimContext, rng: random.Random, style: HydraStyle) -> Request:
    params: dict[str, Any] = {"max_tokens": 4096, "temperature": 0.8}
    skeleton = rng.randrange(3)
    kw: dict[str, Any] = {} if style.system is None else {"system": style.system}
    if skeleton == 0:
        q = ctx.bank.pick(rng.choice(("gsm8k", "bbh", "user_instructions")), rng).text
        messages = [user(choose(rng, style.cot).format(q=q))]
    elif skeleton == 1:
        item = ctx.bank.pick("gsm8k", rng)
        messages = [user(choose(rng, style.reverse).format(q=item.text, a=item.final_answer))]
    else:
        messages = synthetic_transcript(rng, ctx.bank, rng.randint(1, 3), SYNTHETIC_TOOLS)
        params = {**params, "tools": 24}
        kw = {"system": choose(rng, style.agent_systems), "finish_reason": "tool_use"}
    return messages, lognormal_int(rng, 2000, 0.35, 800, 4000), {"params": params, **kw}


def _hydra_stream(ctx: SimContext, keys: list[KeyIdentity], styles: list[HydraStyle],
                  rng: random.Random, start_ms: int, own_ip: bool) -> Iterator[Emitted]:
    """A central dispatcher: every period it fires the next batch of keys in round-robin order,
    a fraction of a second apart. Each key has a daily quota of 20–30 of its 30 turns and skips
    turns evenly (credit scheme) to stay on it. Requests leave through the shared proxy, or (with
    ``own_ip``) from each key's own address."""
    n = len(keys)
    use = [rng.uniform(20, HYDRA_ATTEMPTS_PER_DAY) / HYDRA_ATTEMPTS_PER_DAY for _ in keys]
    credit = [rng.random() for _ in keys]
    period = DAY_MS * HYDRA_BATCH / (n * HYDRA_ATTEMPTS_PER_DAY)
    net = proxy_network(ctx.seed)
    end_users = [fake_end_users(ctx, k.api_key_id) for k in keys]
    plan: list[tuple[int, int]] = []
    tick, cursor = float(start_ms), 0
    while tick < ctx.span.end_ms:
        offset = 0
        for j in range(HYDRA_BATCH):
            k = (cursor + j) % n
            offset += rng.randint(40, 300)
            credit[k] += use[k]
            if credit[k] >= 1.0:
                credit[k] -= 1.0
                plan.append((int(tick) + offset, k))
        cursor = (cursor + HYDRA_BATCH) % n
        tick += period * rng.uniform(0.97, 1.03)
    for ts, (_, k) in in_time_order([p for p in plan if p[0] < ctx.span.end_ms]):
        messages, out, kw = _hydra_request(ctx, rng, styles[k])
        ip = keys[k].ips[0] if own_ip else net.ip(rng)
        yield ctx.factory.emit(keys[k], ts, rng, messages, out, client_ip=ip,
                               end_user_id=end_users[k](), **kw)


BUILDERS: dict[str, Callable[[SimContext], Actor]] = {
    "bulk_distill": bulk_distill,
    "cot_harvest": cot_harvest,
    "rubric_grading": rubric_grading,
    "logit_stealing": logit_stealing,
    "magpie": magpie,
    "self_instruct": self_instruct,
    "low_and_slow": low_and_slow,
    "release_pivot": release_pivot,
    "hydra": hydra,
}
