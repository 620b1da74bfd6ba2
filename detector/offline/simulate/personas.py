"""Benign personas: the legitimate traffic the detector must leave alone, look-alikes included.

Each builder takes a :class:`~.context.SimContext` and returns one :class:`~.context.Actor` whose
keys carry the ``benign`` label. Volumes are per key per day at ``scale=1``; ``scale`` multiplies
the number of keys (each persona keeps a small minimum so look-alikes exist in short test runs).

Modelling assumptions, per persona:

* ``chat`` — individuals: 5–60 requests/day (log-normal), sessions of multi-turn conversations in
  the key's own time zone (quiet at night), prompts from hh-rlhf, MT-bench/Vicuna, Self-Instruct
  user tasks, some GSM8K, coding and forbidden questions; SDK and app user agents; home IPs in
  spread-out /24s, some sessions from a mobile carrier's shared NAT pool; accounts months old.
* ``eval_harness`` — 1–3 finite runs per day, each 2k–8k requests in 30–120 min over benchmark
  items in fixed few-shot templates (GSM8K 5-shot, BBH chain-of-thought 3-shot, HumanEval,
  MT-bench), temperature 0, ``max_tokens`` ≤ 256; half the runs on ``/v1/completions`` with
  logprobs (some log-likelihood scoring with 1-token answers); never ``logit_bias``. Runs start at
  item 0, so items repeat across runs. A run after the ``claude-x-2`` release benchmarks it half of
  the time (release-day evaluation).
* ``batch_job`` — one enterprise template (Natural Instructions definition + instance) behind a
  fixed system prompt, 3k–20k/day in 1–3 nightly bursts, 1–20 output tokens, temperature 0.
* ``agentic_coding`` — a coding agent in a live repository, around the clock, 8–40 tools, growing
  conversations with real tool results (see :mod:`.tooltrace`), ``claude-code/1.x``.
* ``tutoring`` — an education app: GSM8K questions with "step by step" wording from hundreds of
  students (``end_user_id``), school-hours rhythm, short follow-ups.
* ``reseller`` — a router: hundreds of end users per key (``end_user_id`` sent), a mix of chat,
  coding and eval-like prompts, users in several time zones, a known router user agent.
* ``ci_fleet`` — one enterprise account, many keys on one runner /24 and one UA, firing the same
  smoke-test prompts on a shared cron (hourly plus deploys): synchronised timing, benignly.
* ``synthetic_data`` — a contracted synthetic-data customer (allow-listed): templated
  chain-of-thought generation with long outputs at 3k–6k/day per key.
* ``proxy_customers`` — paying customers of a commercial proxy reseller: chat-like traffic,
  15–30/day per key, through the proxy's /24s and UA (the same ones the hydra campaign uses).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .clock import (
    HOUR_MS, MINUTE_MS, PROFILE_AROUND_THE_CLOCK, PROFILE_HUMAN, PROFILE_SCHOOL, SECOND_MS, Turn,
    in_time_order, local_days, poisson_times, session_plan, strictly_increasing, uniform_times,
)
from .context import Actor, SimContext
from .corpora import Item, TextBank
from .identity import (
    ENDPOINT_FOR_FAMILY, KeyIdentity, account_id, carrier_pools, cloud_ips, created_before,
    end_user_id, host, key_id, proxy_network, residential_ip, sdk_user_agent,
)
from .records import (
    MODEL_1, MODEL_2, NEVER, Emitted, Message, assistant, early_adopter, lognormal_int,
    reasoning_for, user,
)
from .tooltrace import CODE_TOOLS, MCP_TOOLS, CodingSession, Workspace

FOLLOW_UPS = (
    "thanks! can you expand on the second point?", "can you make that shorter?",
    "ok, and what would you recommend for a beginner?", "why?", "can you give me an example?",
    "that doesn't sound right to me", "put that in a table", "what are the downsides?",
    "great, thank you", "how long would that take?", "ok what else", "rewrite it more casually",
)
CHAT_SYSTEMS = (
    "You are a helpful assistant.",
    "You are a friendly assistant inside a note-taking app. Keep answers concise.",
    "You are Max, a cheerful personal assistant. Use simple language.",
    "Answer as briefly as possible unless asked for detail.",
)
_GSM_WRAPS = ("", "can you help me with this? ", "My kid got this homework, how do we solve it: ")
TIMEZONES = (-8, -7, -6, -5, -5, -4, -3, 0, 0, 1, 1, 2, 3, 5.5, 7, 8, 8, 9, 10)


class Conversation:
    """A multi-turn chat. User turns come from ``turns``, then from ``follow_ups``; the model's
    earlier answers are rendered (as filler prose of the right length) only when re-sent."""

    def __init__(self, turns: tuple[str, ...], follow_ups: tuple[str, ...] = FOLLOW_UPS,
                 refusal: bool = False) -> None:
        self.turns = turns
        self.follow_ups = follow_ups
        self.refusal = refusal
        self.messages: list[Message] = []
        self._last_answer_tokens = 0

    def ask(self, rng: random.Random, bank: TextBank) -> list[Message]:
        if self.messages:
            n_chars = min(4 * self._last_answer_tokens, 1_500)
            self.messages.append(assistant(bank.prose.text(rng, n_chars)))
        k = len(self.messages) // 2
        if k < len(self.turns):
            text = self.turns[k]
        else:
            text = rng.choice(self.follow_ups)
            if text == self.messages[-2]["content"]:  # people rarely repeat themselves verbatim
                text = self.follow_ups[(self.follow_ups.index(text) + 1) % len(self.follow_ups)]
        self.messages.append(user(text))
        return self.messages

    def answered(self, output_tokens: int) -> None:
        self._last_answer_tokens = max(40, output_tokens)


def chat_conversation(bank: TextBank, rng: random.Random) -> Conversation:
    """What a person opens a chat with: mostly everyday and red-team-ish questions."""
    r = rng.random()
    if r < 0.50:
        return Conversation(bank.pick("chat", rng).turns)
    if r < 0.60:
        return Conversation(bank.pick("mtbench", rng).turns)
    pool = ("vicuna" if r < 0.68 else "user_instructions" if r < 0.80 else "roleplay" if r < 0.84
            else "gsm8k" if r < 0.90 else "codegen" if r < 0.94 else "forbidden")
    text = bank.pick(pool, rng).text
    if pool == "gsm8k":
        text = rng.choice(_GSM_WRAPS) + text
    elif pool == "forbidden" and rng.random() < 0.25:
        text = bank.pick("jailbreak", rng).text + "\n\n" + text
    return Conversation((text,), refusal=pool == "forbidden")


def render_sessions(plan: list[Turn], open_session: Callable[[int], Any],
              render: Callable[[Any, int, int], Emitted]) -> Iterator[Emitted]:
    """Render a session plan in time order, keeping per-session state until its last turn."""
    states: dict[int, Any] = {}
    for ts, s, k, last in plan:
        state = states.get(s)
        if state is None:
            state = states[s] = open_session(ts)
        yield render(state, ts, k)
        if last:
            del states[s]


def gap_ms(rng: random.Random, lo_s: float, hi_s: float) -> Callable[[], int]:
    return lambda: int(rng.uniform(lo_s, hi_s) * SECOND_MS)


def with_thinking(params: dict[str, Any], rng: random.Random, p: float,
              budgets: tuple[int, ...]) -> tuple[dict[str, Any], int]:
    """With probability ``p``, the same params plus a thinking budget, and the tokens used."""
    if rng.random() >= p:
        return params, 0
    budget = rng.choice(budgets)
    return {**params, "thinking_budget": budget}, reasoning_for(rng, budget)


# --------------------------------------------------------------------------------------- chat

def chat(ctx: SimContext) -> Actor:
    actor = Actor("chat", "benign", None)
    carriers = carrier_pools(ctx.rngs("chat", "carriers")[0], 12)
    families = ("openai-python", "anthropic-python", "anthropic-typescript", "openai-js",
                "browser", "mobile-app")
    for i in range(ctx.n_keys(2000, 20)):
        rng, nrng = ctx.rngs("chat", i)
        family = rng.choices(families, weights=(25, 15, 15, 10, 20, 15))[0]
        key = KeyIdentity(key_id(ctx.seed, "chat", i), account_id(ctx.seed, "chat", i),
                          created_before(rng, ctx.span.start_ms, 30, 900),
                          sdk_user_agent(rng, family), ENDPOINT_FOR_FAMILY[family],
                          (residential_ip(rng),))
        actor.keys.append(key)
        actor.streams.append(_chat_stream(ctx, key, rng, nrng, carriers))
    return actor


def chat_params(rng: random.Random, endpoint: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if endpoint == "/v1/messages" or rng.random() < 0.5:
        params["max_tokens"] = rng.choice((1024, 2048, 4096, 8192))
    if rng.random() < 0.4:
        params["temperature"] = rng.choice((0.2, 0.5, 0.7, 1.0))
    if rng.random() < 0.7:
        params["stream"] = True
    return params


def _chat_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                 nrng: np.random.Generator, carriers: tuple[str, ...]) -> Iterator[Emitted]:
    tz = rng.choice(TIMEZONES)
    per_day = lognormal_int(rng, 15, 0.6, 5, 60)
    system = rng.choice(CHAT_SYSTEMS) if rng.random() < 0.35 else None
    params = chat_params(rng, key.endpoint)
    adoption = early_adopter(rng, ctx.span.release_ms) if rng.random() < 0.25 else NEVER
    thinking_p = 0.3 if rng.random() < 0.1 else 0.0
    mobile_p = 0.3 if rng.random() < 0.4 else 0.0
    carrier = rng.choice(carriers)
    plan = session_plan(nrng, ctx.span, per_day / 2.6, lambda: min(12, 1 + int(rng.expovariate(0.6))),
                        lambda: int((15 + rng.lognormvariate(3.8, 0.7)) * SECOND_MS),
                        PROFILE_HUMAN, tz)

    def open_session(ts: int) -> tuple[Conversation, str, str]:
        ip = host(rng, carrier) if rng.random() < mobile_p else key.ips[0]
        return chat_conversation(ctx.bank, rng), ip, adoption.model(ts, rng)

    def render(state: tuple[Conversation, str, str], ts: int, k: int) -> Emitted:
        conv, ip, model = state
        messages = conv.ask(rng, ctx.bank)
        p, reasoning = with_thinking(params, rng, thinking_p, (2048, 4096, 8192))
        if conv.refusal and rng.random() < 0.6:
            out, finish = lognormal_int(rng, 50, 0.4, 15, 200), "refusal"
        else:
            out, finish = lognormal_int(rng, 280, 0.8, 5, 6000), "stop"
        conv.answered(out)
        return ctx.factory.emit(key, ts, rng, messages, out, model=model, params=p, system=system,
                                client_ip=ip, finish_reason=finish, reasoning_tokens=reasoning)

    return render_sessions(plan, open_session, render)


# ------------------------------------------------------------------------------ eval_harness

class Benchmarks:
    """Benchmark items in the fixed templates an evaluation harness wraps them in."""

    def __init__(self, bank: TextBank) -> None:
        gsm = bank.pool("gsm8k")
        shots = gsm[:5]
        self.gsm_items = gsm[5:]
        self.gsm_prefix = "".join(f"Question: {s.text}\nAnswer: {s.answer}\n\n" for s in shots)
        self.bbh_items = bank.pool("bbh")
        self.cot = {it.group: it.text for it in bank.pool("bbh_cot")}
        self.targets: dict[str, list[str]] = {}
        for it in self.bbh_items:
            self.targets.setdefault(it.group, []).append(it.answer)
        self.humaneval = bank.pool("humaneval")
        self.mtbench = bank.pool("mtbench")

    def requests(self, task: str, quota: int, rng: random.Random) -> list[tuple[str, Item, str]]:
        """The first ``quota`` requests of ``task`` as ``(task, item, extra)``; items in file
        order, so every run of the same task repeats the same items."""
        if task == "gsm8k":
            return [(task, it, "") for it in self.gsm_items[:quota]]
        if task == "bbh":
            return [(task, it, "") for it in self.bbh_items[:quota]]
        if task == "humaneval":
            return [(task, it, "") for it in self.humaneval[:quota]]
        if task == "mtbench":
            return [(task, it, str(t)) for it in self.mtbench[: quota // 2] for t in (0, 1)]
        out: list[tuple[str, Item, str]] = []  # "bbh_ll": score each answer choice
        for it in self.bbh_items:
            choices = sorted(set(self.targets[it.group]) - {it.answer})
            choices = [it.answer] + rng.sample(choices, min(3, len(choices)))
            out.extend((task, it, c) for c in sorted(choices))
            if len(out) >= quota:
                break
        return out[:quota]

    def prompt(self, task: str, item: Item, extra: str, rng: random.Random,
               bank: TextBank) -> tuple[list[Message], int]:
        """The request messages and a typical answer length for one benchmark request."""
        if task == "gsm8k":
            return [user(f"{self.gsm_prefix}Question: {item.text}\nAnswer:")], \
                lognormal_int(rng, 120, 0.4, 20, 400)
        if task == "bbh":
            prefix = self.cot.get(item.group, "")
            return [user(f"{prefix}\n\nQ: {item.text}\nA: Let's think step by step.")], \
                lognormal_int(rng, 160, 0.4, 20, 400)
        if task == "humaneval":
            return [user(item.text)], lognormal_int(rng, 90, 0.5, 10, 400)
        if task == "mtbench":
            turns = item.turns
            if extra == "0" or len(turns) < 2:
                return [user(turns[0])], lognormal_int(rng, 220, 0.3, 40, 400)
            return [user(turns[0]), assistant(bank.prose.text(rng, 900)), user(turns[1])], \
                lognormal_int(rng, 200, 0.3, 40, 400)
        return [user(f"Q: {item.text}\nA: {extra}")], 1


def eval_harness(ctx: SimContext) -> Actor:
    actor = Actor("eval_harness", "benign", None)
    bench = Benchmarks(ctx.bank)
    for i in range(ctx.n_keys(5, 1)):
        rng, nrng = ctx.rngs("eval_harness", i)
        family = rng.choice(("python-requests", "openai-python", "anthropic-python"))
        key = KeyIdentity(key_id(ctx.seed, "eval_harness", i), account_id(ctx.seed, "eval_harness", i),
                          created_before(rng, ctx.span.start_ms, 200, 1000),
                          sdk_user_agent(rng, family), ENDPOINT_FOR_FAMILY[family],
                          cloud_ips(rng, 2))
        actor.keys.append(key)
        actor.streams.append(_eval_stream(ctx, key, rng, nrng, bench, guaranteed=i == 0))
    return actor


def _eval_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                 nrng: np.random.Generator, bench: Benchmarks, guaranteed: bool) -> Iterator[Emitted]:
    span = ctx.span
    plan: list[tuple[int, int, int]] = []  # (ts, run, request index)
    runs: list[tuple[str, dict[str, Any], str, list[tuple[str, Item, str]]]] = []
    for b in range(rng.choice((1, 2, 3))):
        if not (guaranteed and b == 0) and rng.random() >= min(1.0, span.days):
            continue
        mode = rng.choice(("chat", "chat", "logprobs", "loglik"))
        if mode == "loglik":
            tasks = ["bbh_ll"]
        else:  # BBH (6.5k items) last, topping the run up to its size
            optional = ["gsm8k", "humaneval"] + (["mtbench"] if mode == "chat" else [])
            tasks = rng.sample(optional, rng.randint(0, len(optional))) + ["bbh"]
        target = rng.randint(2000, 8000)
        reqs: list[tuple[str, Item, str]] = []
        for t in tasks:
            quota = target - len(reqs) if t == tasks[-1] else target // len(tasks)
            reqs += bench.requests(t, quota, rng)
        params: dict[str, Any] = {"temperature": 0.0,
                                  "max_tokens": 1 if mode == "loglik" else rng.choice((128, 256))}
        if mode != "chat":
            params.update(logprobs=True, top_logprobs=1 if mode == "loglik" else 5)
        if rng.random() < 0.5:
            params["seed"] = 1234
        chat_endpoint = "/v1/chat/completions" if key.endpoint == "/v1/completions" else key.endpoint
        endpoint = "/v1/completions" if mode != "chat" else chat_endpoint
        t0 = span.start_ms + int(rng.random() * span.length_ms * 0.9)
        duration = min(120 * MINUTE_MS, max(30 * MINUTE_MS, int(len(reqs) / rng.uniform(1, 4) * 1000)))
        model = MODEL_2 if t0 >= span.release_ms and rng.random() < 0.5 else MODEL_1
        runs.append((endpoint, params, model, reqs))
        times = uniform_times(nrng, t0, t0 + duration, len(reqs))
        plan.extend((t, len(runs) - 1, j) for j, t in enumerate(times) if t < span.end_ms)
    for t, (_, run, j) in in_time_order(plan):
        endpoint, params, model, reqs = runs[run]
        task, item, extra = reqs[j]
        messages, out = bench.prompt(task, item, extra, rng, ctx.bank)
        yield ctx.factory.emit(key, t, rng, messages, out, model=model, params=params,
                               endpoint=endpoint)


# --------------------------------------------------------------------------------- batch_job

_COMPANIES = ("Northwind Grocers", "Helix Health Analytics", "Brightwave Media", "Contoso Retail",
              "Fabrikam Labs", "Tailspin Logistics", "Lumen Legal", "Adatum Insurance",
              "Proseware", "Wingtip Foods")
_BATCH_FORMATS = ("{definition}\n\nInput: {input}\nOutput:",
                  "### Instruction\n{definition}\n\n### Record {n}\n{input}\n\n### Answer",
                  "<task>{definition}</task>\n<input>{input}</input>")


def batch_job(ctx: SimContext) -> Actor:
    actor = Actor("batch_job", "benign", None)
    ni = ctx.bank.pool("ni")
    tasks = sorted({it.group for it in ni})
    for i in range(ctx.n_keys(10, 1)):
        rng, nrng = ctx.rngs("batch_job", i)
        family = rng.choice(("anthropic-python", "openai-python"))
        key = KeyIdentity(key_id(ctx.seed, "batch_job", i), account_id(ctx.seed, "batch_job", i // 2),
                          created_before(ctx.rngs("batch_job", "account", i // 2)[0],
                                         ctx.span.start_ms, 200, 1200),
                          sdk_user_agent(rng, family), ENDPOINT_FOR_FAMILY[family],
                          cloud_ips(rng, 3))
        items = [it for it in ni if it.group == tasks[i % len(tasks)]]
        actor.keys.append(key)
        actor.streams.append(_batch_stream(ctx, key, rng, nrng, items, _COMPANIES[i % len(_COMPANIES)]))
    return actor


def _batch_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                  nrng: np.random.Generator, items: list[Item], company: str) -> Iterator[Emitted]:
    tz = rng.choice((-8, -5, 0, 1, 9))
    per_day = rng.uniform(3000, 20000)
    system = (f"You are the {company} data-labelling service. Follow the task definition exactly and "
              f"reply with the answer only, no explanation.")
    fmt = rng.choice(_BATCH_FORMATS)
    params = {"temperature": 0.0, "max_tokens": 32}
    times: list[int] = []
    for midnight in local_days(ctx.span, tz):
        bursts = rng.randint(1, 3)
        for _ in range(bursts):
            t0 = midnight + int(rng.uniform(0.5, 4.5) * HOUR_MS)
            t1 = t0 + int(rng.uniform(20, 90) * MINUTE_MS)
            n = int(nrng.poisson(per_day / bursts))
            times.extend(t for t in uniform_times(nrng, t0, t1, n)
                         if ctx.span.start_ms <= t < ctx.span.end_ms)
    for n, ts in enumerate(strictly_increasing(times)):
        item = items[int(rng.random() * len(items))]
        text = fmt.format(definition=item.instruction, input=item.input, n=n + 1)
        out = max(1, min(20, len(item.answer) // 4 + rng.randint(0, 2)))
        yield ctx.factory.emit(key, ts, rng, [user(text)], out, params=params, system=system)


# ---------------------------------------------------------------------------- agentic_coding

_AGENT_SYSTEM = ("You are an interactive CLI tool that helps users with software engineering "
                 "tasks. Use the instructions below and the tools available to you to assist the "
                 "user. Prefer small, verifiable changes; run the tests after editing; never "
                 "commit unless asked.")
_INTERJECTIONS = ("also add type hints while you're there", "please don't touch the public API",
                  "run the linter too", "stop, use the existing helper in utils instead",
                  "looks good, now update the changelog")


def agentic_coding(ctx: SimContext) -> Actor:
    actor = Actor("agentic_coding", "benign", None)
    for i in range(ctx.n_keys(30, 2)):
        rng, nrng = ctx.rngs("agentic_coding", i)
        ips = (residential_ip(rng),) if rng.random() < 0.7 else cloud_ips(rng, 1)
        key = KeyIdentity(key_id(ctx.seed, "agentic_coding", i),
                          account_id(ctx.seed, "agentic_coding", i),
                          created_before(rng, ctx.span.start_ms, 60, 700),
                          f"claude-code/1.0.{rng.randrange(30, 120)}", "/v1/messages", ips)
        actor.keys.append(key)
        actor.streams.append(_agentic_stream(ctx, key, rng, nrng))
    return actor


def _agentic_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                    nrng: np.random.Generator) -> Iterator[Emitted]:
    ws = Workspace(rng, rng.choice(("dev", "alex", "sam", "jlee", "mk", "build")))
    system = ws.system_prompt(_AGENT_SYSTEM)
    n_core = rng.randint(8, len(CODE_TOOLS))
    n_tools = min(40, n_core + (rng.randint(0, len(MCP_TOOLS)) if rng.random() < 0.6 else 0))
    params = {"max_tokens": 32000, "temperature": 1.0, "stream": True, "tools": n_tools}
    thinking_p = rng.choice((0.0, 0.3, 0.6))
    adoption = early_adopter(rng, ctx.span.release_ms) if rng.random() < 0.5 else NEVER
    per_day = rng.uniform(200, 2000)
    plan = session_plan(nrng, ctx.span, per_day / 17, lambda: rng.randint(4, 30),
                        lambda: int((rng.uniform(2, 25) + rng.expovariate(1 / 8)) * SECOND_MS),
                        PROFILE_AROUND_THE_CLOCK, rng.choice(TIMEZONES))

    def open_session(ts: int) -> tuple[CodingSession, list[Message], str]:
        session = CodingSession(rng, ws, ctx.bank)
        return session, [session.opening(rng)], adoption.model(ts, rng)

    def render(state: tuple[CodingSession, list[Message], str], ts: int, k: int) -> Emitted:
        session, messages, model = state
        if k:
            messages.extend(session.step(rng))
            if rng.random() < 0.05:
                messages.append(user(rng.choice(_INTERJECTIONS)))
            if len(messages) > 60:
                summary = user("This session is being continued from a previous conversation that "
                               "ran out of context. Summary: " + ctx.bank.prose.text(rng, 800))
                messages[:] = [summary] + messages[-10:]
        p, reasoning = with_thinking(params, rng, thinking_p, (4000, 10000, 31999))
        if rng.random() < 0.12:
            out, finish = lognormal_int(rng, 300, 0.7, 20, 4000), "stop"
        elif rng.random() < 0.15:
            out, finish = lognormal_int(rng, 900, 0.6, 100, 8000), "tool_use"
        else:
            out, finish = lognormal_int(rng, 120, 0.8, 15, 2000), "tool_use"
        return ctx.factory.emit(key, ts, rng, messages, out, model=model, params=p, system=system,
                                finish_reason=finish, reasoning_tokens=reasoning)

    return render_sessions(plan, open_session, render)


# --------------------------------------------------------------------------------- tutoring

_TUTOR_APPS = ("MathPal", "StepWise", "Homework Hero", "Numbly", "TutorBee")
_TUTOR_ASKS = ("Can you explain step by step how to solve this? {q}",
               "{q}\n\nExplain step by step please",
               "help me with my homework: {q} (explain each step)",
               "Question: {q}\nPlease walk me through the solution step by step.",
               "{q}")
_TUTOR_FOLLOW_UPS = ("I don't get step 2", "why do we multiply there?", "is the answer {a}?",
                     "can you give me a similar problem to practice?", "can you explain it simpler",
                     "what does 'remainder' mean here?", "ok I think I got it. thanks!")


def tutoring(ctx: SimContext) -> Actor:
    actor = Actor("tutoring", "benign", None)
    for i in range(ctx.n_keys(10, 1)):
        rng, nrng = ctx.rngs("tutoring", i)
        key = KeyIdentity(key_id(ctx.seed, "tutoring", i), account_id(ctx.seed, "tutoring", i),
                          created_before(rng, ctx.span.start_ms, 300, 1000),
                          sdk_user_agent(rng, "anthropic-typescript"), "/v1/messages",
                          cloud_ips(rng, 2))
        actor.keys.append(key)
        actor.streams.append(tutoring_stream(ctx, key, rng, nrng, _TUTOR_APPS[i % len(_TUTOR_APPS)]))
    return actor


def tutoring_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                    nrng: np.random.Generator, app: str, end_users: bool = True,
                    answer: tuple[float, float, int, int] = (350, 0.5, 60, 1500),
                    max_tokens: int = 1024) -> Iterator[Emitted]:
    """A tutoring app's sessions; ``end_users`` False drops the per-student ids, ``answer`` is the
    answer length (median, sigma, min, max tokens)."""
    system = (f"You are {app}, a patient math tutor for students aged 10 to 14. Explain step by "
              f"step, check understanding with a guiding question, and never just give the answer.")
    params = {"max_tokens": max_tokens, "temperature": rng.choice((0.3, 0.5)), "stream": True}
    n_students = rng.randint(150, 900)
    per_day = 10 ** rng.uniform(2.48, 3.48)
    plan = session_plan(nrng, ctx.span, per_day / 2, lambda: rng.choice((1, 1, 2, 2, 3, 4)),
                        gap_ms(rng, 30, 180), PROFILE_SCHOOL, rng.choice((-8, -6, -5, -5, 0, 1)))

    def open_session(ts: int) -> tuple[Conversation, str]:
        item = ctx.bank.pick("gsm8k", rng)
        first = rng.choice(_TUTOR_ASKS).format(q=item.text)
        follow = tuple(f.format(a=item.final_answer) for f in _TUTOR_FOLLOW_UPS)
        student = int(n_students * rng.random() ** 2)
        return Conversation((first,), follow), end_user_id(ctx.seed, key.api_key_id, student)

    def render(state: tuple[Conversation, str], ts: int, k: int) -> Emitted:
        conv, student = state
        messages = conv.ask(rng, ctx.bank)
        out = lognormal_int(rng, *answer)
        conv.answered(out)
        return ctx.factory.emit(key, ts, rng, messages, out, params=params, system=system,
                                end_user_id=student if end_users else None)

    return render_sessions(plan, open_session, render)


# --------------------------------------------------------------------------------- reseller

ROUTER_UAS = ("litellm/1.55.2", "OpenRouter/1.0 (+https://openrouter.ai)",
               "vercel-ai-gateway/1.0", "portkey-gateway/1.9.3", "helicone-proxy/2.1")


def reseller(ctx: SimContext) -> Actor:
    actor = Actor("reseller", "benign", None)
    for i in range(ctx.n_keys(5, 1)):
        rng, nrng = ctx.rngs("reseller", i)
        key = KeyIdentity(key_id(ctx.seed, "reseller", i), account_id(ctx.seed, "reseller", i),
                          created_before(rng, ctx.span.start_ms, 300, 900),
                          ROUTER_UAS[i % len(ROUTER_UAS)], "/v1/chat/completions",
                          cloud_ips(rng, 6))
        actor.keys.append(key)
        actor.streams.append(reseller_stream(ctx, key, rng, nrng))
    return actor


def _routed_request(bank: TextBank, rng: random.Random) -> tuple[Conversation, dict[str, Any]]:
    """One end user's session through a router: chat, coding or eval-like."""
    r = rng.random()
    if r < 0.6:
        return chat_conversation(bank, rng), chat_params(rng, "/v1/chat/completions")
    if r < 0.85:
        item = bank.pick("codegen" if rng.random() < 0.7 else "humaneval", rng)
        params: dict[str, Any] = {"max_tokens": 4096, "stream": True}
        if rng.random() < 0.4:
            params["tools"] = rng.randint(3, 10)
        return Conversation((item.text,)), params
    item = bank.pick(rng.choice(("mtbench", "vicuna", "gsm8k")), rng)
    return Conversation(item.turns), {"temperature": 0.0, "max_tokens": 1024}


def reseller_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                    nrng: np.random.Generator,
                    per_day_range: tuple[float, float] = (3000, 15000)) -> Iterator[Emitted]:
    """A router key's end users (per-end-user ids on 97% of sessions) in three regions."""
    n_users = rng.randint(300, 1000)
    per_day = rng.uniform(*per_day_range)
    adoption = early_adopter(rng, ctx.span.release_ms)

    def turns() -> int:
        return min(6, 1 + int(rng.expovariate(0.8)))

    plan: list[Turn] = []
    for region, (tz, share) in enumerate(((-5, 0.45), (1, 0.35), (8, 0.2))):
        plan += session_plan(nrng, ctx.span, per_day * share / 2.2, turns, gap_ms(rng, 15, 150),
                             PROFILE_HUMAN, tz, first_session=region * 10_000_000)
    plan = [(t, s, k, last) for t, (_, s, k, last) in in_time_order(plan)]

    def open_session(ts: int) -> tuple[Conversation, dict[str, Any], str | None, str]:
        conv, params = _routed_request(ctx.bank, rng)
        uid = int(n_users * rng.random() ** 1.5)
        eu = end_user_id(ctx.seed, key.api_key_id, uid) if rng.random() < 0.97 else None
        return conv, params, eu, adoption.model(ts, rng)

    def render(state: tuple[Conversation, dict[str, Any], str | None, str], ts: int,
               k: int) -> Emitted:
        conv, params, eu, model = state
        messages = conv.ask(rng, ctx.bank)
        out = lognormal_int(rng, 300, 0.8, 5, 6000)
        conv.answered(out)
        return ctx.factory.emit(key, ts, rng, messages, out, model=model, params=params,
                                client_ip=rng.choice(key.ips), end_user_id=eu)

    return render_sessions(plan, open_session, render)


# --------------------------------------------------------------------------------- ci_fleet

_SMOKE_PROMPTS = ("Reply with exactly: pong", "What is 2 + 2? Answer with the number only.",
                  'Return the JSON object {"ok": true} and nothing else.',
                  "Translate 'hello' into French. One word.")


def ci_fleet(ctx: SimContext) -> Actor:
    actor = Actor("ci_fleet", "benign", None)
    rng, nrng = ctx.rngs("ci_fleet")
    acct = account_id(ctx.seed, "ci_fleet", 0)
    created = created_before(rng, ctx.span.start_ms, 500, 900)
    ua = sdk_user_agent(rng, "anthropic-python")
    runners = cloud_ips(rng, 6)
    n = ctx.n_keys(60, 10)
    actor.keys = [KeyIdentity(key_id(ctx.seed, "ci_fleet", i), acct, created, ua, "/v1/messages",
                              runners) for i in range(n)]
    actor.streams.append(_ci_stream(ctx, actor.keys, rng, nrng))
    return actor


def _ci_stream(ctx: SimContext, keys: list[KeyIdentity], rng: random.Random,
               nrng: np.random.Generator) -> Iterator[Emitted]:
    """A shared cron: every key fires at the top of each hour and on each deploy pipeline."""
    span = ctx.span
    hourly_p = [min(1.0, max(0.2, (rng.uniform(10, 30) - 4.5) / 24)) for _ in keys]
    ticks = [(t, True) for t in range(span.start_ms - span.start_ms % HOUR_MS + HOUR_MS,
                                      span.end_ms, HOUR_MS)]
    for midnight in local_days(span, -5):
        ticks += [(t, False) for t in poisson_times(nrng, midnight + 9 * HOUR_MS,
                                                    midnight + 18 * HOUR_MS, 4.5 * 24 / 9)]
    plan: list[tuple[int, int, int]] = []
    for tick, hourly in ticks:
        for k in range(len(keys)):
            if rng.random() < (hourly_p[k] if hourly else 0.9):
                t = tick + int(rng.uniform(0.5, 20) * SECOND_MS)
                plan.append((t, k, rng.randrange(len(_SMOKE_PROMPTS))))
    params = {"temperature": 0.0, "max_tokens": 20}
    for t, (_, k, prompt) in in_time_order([p for p in plan if span.start_ms <= p[0] < span.end_ms]):
        key = keys[k]
        yield ctx.factory.emit(key, t, rng, [user(_SMOKE_PROMPTS[prompt])], rng.randint(1, 8),
                               params=params, client_ip=rng.choice(key.ips))


# --------------------------------------------------------------------------- synthetic_data

_SYNTH_TEMPLATES = (
    "Write a detailed worked solution to the problem below. Explain every step of the reasoning, "
    "then give the final answer on the last line as 'Answer: <value>'.\n\nProblem: {q}",
    "Create a training example for a tutoring model. Task: {q}\n\nProduce a step-by-step "
    "explanation suitable for a high-school student, followed by a one-sentence summary.",
)


def synthetic_data(ctx: SimContext) -> Actor:
    rng, _ = ctx.rngs("synthetic_data")
    acct = account_id(ctx.seed, "synthetic_data", 0)
    created = created_before(rng, ctx.span.start_ms, 300, 600)
    ips = cloud_ips(rng, 4)
    actor = Actor("synthetic_data", "benign", None, allowlisted_accounts=(acct,))
    for i in range(2):
        krng, nrng = ctx.rngs("synthetic_data", i)
        key = KeyIdentity(key_id(ctx.seed, "synthetic_data", i), acct, created,
                          sdk_user_agent(krng, "anthropic-python"), "/v1/messages", ips)
        actor.keys.append(key)
        actor.streams.append(_synthetic_stream(ctx, key, krng, nrng))
    return actor


def _synthetic_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                      nrng: np.random.Generator) -> Iterator[Emitted]:
    system = "You generate high-quality, varied training data for Lattice Labs' internal models."
    params = {"max_tokens": 4096, "temperature": 0.9}
    pools = ("gsm8k", "seed_tasks", "user_instructions", "codegen")
    for ts in strictly_increasing(poisson_times(nrng, ctx.span.start_ms, ctx.span.end_ms,
                                                rng.uniform(3000, 6000))):
        q = ctx.bank.pick(pools[int(rng.random() * len(pools))], rng).text
        text = _SYNTH_TEMPLATES[int(rng.random() * len(_SYNTH_TEMPLATES))].format(q=q)
        yield ctx.factory.emit(key, ts, rng, [user(text)], lognormal_int(rng, 1600, 0.4, 400, 4096),
                               params=params, system=system, client_ip=rng.choice(key.ips))


# -------------------------------------------------------------------------- proxy_customers

def proxy_customers(ctx: SimContext) -> Actor:
    actor = Actor("proxy_customers", "benign", None)
    net = proxy_network(ctx.seed)
    for i in range(ctx.n_keys(120, 20)):
        rng, nrng = ctx.rngs("proxy_customers", i)
        key = KeyIdentity(key_id(ctx.seed, "proxy_customers", i),
                          account_id(ctx.seed, "proxy_customers", i),
                          created_before(rng, ctx.span.start_ms, 20, 500), net.user_agent,
                          "/v1/chat/completions", (net.ip(rng),))
        actor.keys.append(key)
        actor.streams.append(_proxy_customer_stream(ctx, key, rng, nrng))
    return actor


def _proxy_customer_stream(ctx: SimContext, key: KeyIdentity, rng: random.Random,
                           nrng: np.random.Generator) -> Iterator[Emitted]:
    net = proxy_network(ctx.seed)
    params = chat_params(rng, key.endpoint)
    plan = session_plan(nrng, ctx.span, rng.uniform(15, 30) / 2.0,
                        lambda: min(6, 1 + int(rng.expovariate(1.0))), gap_ms(rng, 20, 200),
                        PROFILE_HUMAN, rng.choice((8, 8, 9, 3, 1, 7)))

    def open_session(ts: int) -> Conversation:
        if rng.random() < 0.7:
            return chat_conversation(ctx.bank, rng)
        return Conversation((ctx.bank.pick(rng.choice(("roleplay", "codegen")), rng).text,))

    def render(conv: Conversation, ts: int, k: int) -> Emitted:
        messages = conv.ask(rng, ctx.bank)
        out = lognormal_int(rng, 300, 0.8, 5, 6000)
        conv.answered(out)
        return ctx.factory.emit(key, ts, rng, messages, out, params=params, client_ip=net.ip(rng))

    return render_sessions(plan, open_session, render)


BUILDERS: dict[str, Callable[[SimContext], Actor]] = {
    "chat": chat,
    "eval_harness": eval_harness,
    "batch_job": batch_job,
    "agentic_coding": agentic_coding,
    "tutoring": tutoring,
    "reseller": reseller,
    "ci_fleet": ci_fleet,
    "synthetic_data": synthetic_data,
    "proxy_customers": proxy_customers,
}
