"""Campaigns that exist only in their own variant (:mod:`.variants`): each harvests what
extraction needs (many long, reasoning-rich answers) while dodging a different obvious mark.

* ``router_hidden`` — a harvester buying through a router: its traffic rides on 3 of the router
  organisation's 5 keys (:func:`.lookalikes.router_keys`), ~2k/day per key beside the router's
  real end users, each request with a made-up ``end_user_id``. The 3 keys are labelled attack.
* ``domain_clone`` — one domain harvested systematically (grade-school maths from GSM8K, or code
  from GPTeacher/HumanEval, drawn per seed): 2 keys of one account at ~3k/day each walk the items
  in order, every pass with other wrappers, long reasoning answers with a thinking budget.
* ``broad_sweep`` — one key, ~15k requests in 4 hours (~62/min) over every domain, long
  reasoning answers, paraphrased and non-English wrappers.
* ``sample_harvest`` — rejection-sampling distillation: one key, ~1k requests a day, each asking
  for ``n`` = 4 or 8 samples (~900 tokens each) of a worked answer to a maths, reasoning or code
  item, temperature 1, so the harvester can keep the samples that reach the right answer.

Wrappers come from the context's wording family, so the campaigns carry no fixed phrase.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .campaigns import Request, campaign_start, independent, made_up_end_users
from .clock import HOUR_MS
from .context import Actor, SimContext
from .identity import (ENDPOINT_FOR_FAMILY, KeyIdentity, account_id, cloud_ips, created_before, key_id,
                       sdk_user_agent)
from .lookalikes import ROUTER_HARVESTED, router_keys, router_stream
from .records import lognormal_int, reasoning_for, user
from .wording import choose

EVERY_DOMAIN = ("gsm8k", "bbh", "codegen", "humaneval", "seed_tasks", "user_instructions", "vicuna",
                "mtbench", "roleplay", "toolformer", "ni")
DOMAINS: dict[str, tuple[str, ...]] = {"maths": ("gsm8k",), "code": ("codegen", "humaneval")}


def distill_requests(ctx: SimContext, rng: random.Random, pools: tuple[str, ...], *,
                     in_order: bool = False, stride: tuple[int, int] = (0, 1),
                     thinking: int = 0, system_p: float = 0.5) -> Callable[[int], Request]:
    """Requests wrapping items of ``pools`` in the wording family's distillation wrappers, with a
    system prompt demanding explanations on a share ``system_p`` and long answers. ``in_order``
    walks the items of ``pools`` in file order (``stride``: offset and step, to split them over
    keys) instead of sampling them."""
    w = ctx.wording
    wrappers = w.distill + w.casual
    params = {"max_tokens": 8192, "temperature": 0.7}
    if thinking:
        params["thinking_budget"] = thinking
    items = [it for p in pools for it in ctx.bank.pool(p)] if in_order else []
    cursor = [stride[0]]

    def build(ts: int) -> Request:
        if in_order:
            q = items[cursor[0] % len(items)].text
            cursor[0] += stride[1]
        else:
            q = ctx.bank.pick(pools[int(rng.random() * len(pools))], rng).text
        kw = {"params": params}
        if rng.random() < system_p:
            kw["system"] = choose(rng, w.distill_systems)
        if thinking:
            kw["reasoning_tokens"] = reasoning_for(rng, thinking)
        return [user(choose(rng, wrappers).format(q=q))], lognormal_int(rng, 2200, 0.3, 900, 4000), kw

    return build


def router_hidden(ctx: SimContext) -> Actor:
    name = "router_hidden"
    actor = Actor(name, "attack", name)
    for i, (key, rng, nrng) in enumerate(router_keys(ctx)[:ROUTER_HARVESTED]):
        actor.keys.append(key)
        actor.streams.append(router_stream(ctx, key, rng, nrng))
        hrng, hnrng = ctx.rngs(name, i)
        actor.streams.append(independent(ctx, key, hrng, hnrng, hrng.uniform(1500, 2500),
                                         campaign_start(ctx, hrng),
                                         distill_requests(ctx, hrng, EVERY_DOMAIN),
                                         end_user=made_up_end_users(ctx, key.api_key_id)))
    return actor


def domain_clone(ctx: SimContext) -> Actor:
    name = "domain_clone"
    rng, _ = ctx.rngs(name)
    pools = DOMAINS[rng.choice(sorted(DOMAINS))]
    acct = account_id(ctx.seed, name, 0)
    created = created_before(rng, ctx.span.start_ms, 20, 90)
    ua = sdk_user_agent(rng, "openai-python")
    ips = cloud_ips(rng, 2)
    t0 = campaign_start(ctx, rng)
    actor = Actor(name, "attack", name)
    for i in range(2):
        krng, nrng = ctx.rngs(name, i)
        key = KeyIdentity(key_id(ctx.seed, name, i), acct, created, ua, "/v1/chat/completions", ips)
        actor.keys.append(key)
        actor.streams.append(independent(
            ctx, key, krng, nrng, 3000 * krng.uniform(0.9, 1.1), t0,
            distill_requests(ctx, krng, pools, in_order=True, stride=(i, 2), thinking=4096,
                             system_p=0.8)))
    return actor


def _harvest_key(ctx: SimContext, name: str, rng: random.Random, family: str, days: tuple[float, float]) -> KeyIdentity:
    """The one key of campaign ``name``: an account ``days`` old, an SDK of ``family``, two cloud IPs."""
    return KeyIdentity(key_id(ctx.seed, name, 0), account_id(ctx.seed, name, 0),
                       created_before(rng, ctx.span.start_ms, *days), sdk_user_agent(rng, family),
                       ENDPOINT_FOR_FAMILY[family], cloud_ips(rng, 2))


def broad_sweep(ctx: SimContext) -> Actor:
    name = "broad_sweep"
    rng, nrng = ctx.rngs(name)
    key = _harvest_key(ctx, name, rng, "anthropic-python", (10, 60))
    t0 = campaign_start(ctx, rng)
    stream = independent(ctx, key, rng, nrng, 15_000 * 6 * rng.uniform(0.95, 1.05), t0,
                         distill_requests(ctx, rng, EVERY_DOMAIN, thinking=2048),
                         until_ms=t0 + 4 * HOUR_MS)
    return Actor(name, "attack", name, [key], [stream])


def sample_harvest(ctx: SimContext) -> Actor:
    name = "sample_harvest"
    rng, nrng = ctx.rngs(name)
    key = _harvest_key(ctx, name, rng, "openai-python", (20, 120))
    wrappers = ctx.wording.distill + ctx.wording.casual
    pools = ("gsm8k", "bbh", "codegen", "humaneval")

    def build(ts: int) -> Request:
        q = ctx.bank.pick(pools[int(rng.random() * len(pools))], rng).text
        samples = rng.choice((4, 8))
        out = sum(lognormal_int(rng, 900, 0.3, 300, 2000) for _ in range(samples))
        params = {"max_tokens": 2048, "temperature": 1.0, "n": samples}
        return [user(choose(rng, wrappers).format(q=q))], out, {"params": params}

    stream = independent(ctx, key, rng, nrng, 1000 * rng.uniform(0.9, 1.1), campaign_start(ctx, rng), build)
    return Actor(name, "attack", name, [key], [stream])


BUILDERS: dict[str, Callable[[SimContext], Actor]] = {
    "router_hidden": router_hidden,
    "domain_clone": domain_clone,
    "broad_sweep": broad_sweep,
    "sample_harvest": sample_harvest,
}
