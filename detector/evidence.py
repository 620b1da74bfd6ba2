"""Extraction evidence: rule-like signals computed from window features.

Each rule turns window statistics into an :class:`Evidence` — a strength in [0, 1], the observed
value and the benign baseline it is compared with — named after the extraction technique it
recognises. Rules are deliberately *conjunctive*: a single trait shared with benign traffic
(templated prompts, chain-of-thought wording, logprobs, volume) never fires on its own; it takes
the combination that characterises harvesting (templated *and* diverse content *and* output-heavy
*and* reasoning-eliciting, with enough volume), because every single trait has a benign look-alike
(evaluation harnesses, batch jobs, tutoring apps; see ``reference/detection.md`` §5).

Strength ramps are linear between a benign baseline and a saturation point, multiplied by a
volume confidence ``min(1, n / n0)`` so small samples cannot saturate. Multi-user applications
that send per-end-user ids are discounted in proportion to how many distinct end users they
carry, which is what separates a tutoring app or router from a single harvester.

Assumes rates in the stats are fractions of the window's requests. Costs a few dozen float
operations per window.

>>> s = {"n": 800.0, "rate_logit_probe": 0.9, "rate_one_token": 0.9}
>>> round(key_evidence({"1h": s}, new_model_share=0.0)[0].strength, 2)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason behind a score."""

    signal: str
    strength: float
    value: float
    baseline: float
    horizon: str
    blockable: bool = False   # strong and specific enough to justify a block


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear in between."""
    if x <= lo:
        return 0.0
    if x >= hi:
        return 1.0
    return (x - lo) / (hi - lo)


def conf(n: float, n0: float) -> float:
    """Volume confidence: how much a window of ``n`` requests can be trusted."""
    return min(1.0, n / n0)


def multi_user_discount(s: dict[str, float]) -> float:
    """1 for a single-caller key; toward 0 for an app that attributes traffic to many end users."""
    return 1.0 - s.get("end_user_share", 0.0) * ramp(s.get("end_users", 0.0), 3.0, 25.0)


def output_heavy(s: dict[str, float]) -> float:
    """Long answers to short prompts: the economics of dataset generation (signal 18)."""
    return max(ramp(s.get("out_in_ratio", 0.0), 3.0, 8.0), ramp(s.get("out_tokens_mean", 0.0), 800.0, 2000.0))


def reasoning_share(s: dict[str, float]) -> float:
    """Share of requests eliciting reasoning traces (CoT wording, thinking budgets, reverse
    rationalisation, explanation system prompts, or shallow synthetic tool-use transcripts)."""
    return max(s.get("rate_cot", 0.0), s.get("rate_reverse_rationale", 0.0), s.get("rate_thinking", 0.0),
               s.get("rate_system_explain", 0.0), s.get("rate_tools", 0.0) * ramp(2.5 - s.get("depth_mean", 1.0), 0.0, 1.0))


def distillation_strength(s: dict[str, float], n0: float, base: float = 0.4) -> float:
    """Output-heavy, reasoning-eliciting traffic from one caller at volume, more so when templated
    and content-diverse (a prompt factory filling slots)."""
    n = s.get("n", 0.0)
    if n < 3:
        return 0.0
    templated = max(ramp(s.get("top_skeleton_share", 0.0), 0.1, 0.3),
                    ramp(1.0 - s.get("distinct_skeleton_ratio", 1.0), 0.5, 0.8))
    diverse = ramp(s.get("distinct_prompt_ratio", 0.0), 0.3, 0.6)
    factory = base + (1.0 - base) * (templated + diverse) / 2.0
    return (output_heavy(s) * (0.3 + 0.7 * reasoning_share(s)) * factory * conf(n, n0)
            * multi_user_discount(s))


def _rate_rule(name: str, s: dict[str, float], horizon: str, rate: float, lo: float, hi: float,
               n0: float, blockable: bool) -> Evidence | None:
    strength = ramp(rate, lo, hi) * conf(s.get("n", 0.0), n0)
    if strength <= 0.0:
        return None
    return Evidence(name, strength, rate, lo, horizon, blockable)


def key_evidence(stats: dict[str, dict[str, float]], *, new_model_share: float,
                 old_model_share_24h: float = 0.0) -> list[Evidence]:
    """All evidence for one key's windows (``stats``: horizon -> features), strongest first."""
    out: list[Evidence] = []
    for horizon, n0_fast, n0_slow in (("1h", 40.0, 300.0), ("24h", 60.0, 250.0)):
        s = stats.get(horizon)
        if not s or s.get("n", 0.0) <= 0:
            continue
        g = s.get
        probe = min(g("rate_logit_probe", 0.0), max(g("rate_one_token", 0.0), g("rate_logprobs", 0.0)))
        rules = [
            _rate_rule("logit_probe", s, horizon, probe, 0.05, 0.3, n0_fast, True),
            _rate_rule("reverse_rationale", s, horizon, g("rate_reverse_rationale", 0.0) * multi_user_discount(s),
                       0.05, 0.3, n0_fast, True),
            _rate_rule("rubric_grading", s, horizon,
                       g("rate_rubric", 0.0) * ramp(g("distinct_prompt_ratio", 0.0), 0.4, 0.8) * multi_user_discount(s),
                       0.1, 0.5, 2 * n0_fast, False),
            _rate_rule("empty_turn_harvest", s, horizon,
                       g("rate_empty_turn", 0.0) * ramp(g("out_tokens_mean", 0.0), 100.0, 400.0),
                       0.1, 0.4, n0_fast, True),
            _rate_rule("meta_prompt", s, horizon, g("rate_meta_prompt", 0.0), 0.1, 0.4, n0_fast / 2, True),
        ]
        out.extend(r for r in rules if r is not None)
        if horizon == "24h":   # around-the-clock harvesting below hourly volumes: low and slow
            d = distillation_strength(s, 120.0, base=0.6) * ramp(g("hours_active", 0.0), 10.0, 18.0)
        else:
            d = distillation_strength(s, n0_slow)
        if d > 0:
            out.append(Evidence("distillation_template", d, g("distinct_prompt_ratio", 0.0), 0.5, horizon,
                                d >= 0.9 and g("n", 0.0) >= 2000))
        if horizon == "1h" and new_model_share > 0:
            pivot = (ramp(new_model_share, 0.25, 0.5) * ramp(old_model_share_24h, 0.2, 0.5)
                     * conf(s["n"], 100.0) * output_heavy(s) * multi_user_discount(s))
            if pivot > 0:
                out.append(Evidence("release_pivot", pivot, new_model_share, 0.05, horizon, False))
    best: dict[str, Evidence] = {}
    for e in out:
        if e.signal not in best or e.strength > best[e.signal].strength:
            best[e.signal] = e
    return sorted(best.values(), key=lambda e: (-e.strength, e.signal))


def combine(evidence: list[Evidence]) -> float:
    """Noisy-OR of the strengths: independent pieces of evidence reinforce each other."""
    p = 1.0
    for e in evidence:
        p *= 1.0 - min(1.0, max(0.0, e.strength))
    return 1.0 - p


def cluster_evidence(s: dict[str, float]) -> list[Evidence]:
    """Evidence for a linked group of keys from its pooled 24-hour window, strongest first.

    The pooled window is judged like one key (harvesting shows in the pool even when every member
    is a light user), plus coordination: many accounts created within hours of each other, young.
    """
    out: list[Evidence] = []
    keys = s.get("keys", 0.0)
    light = ramp(120.0 - s.get("n_per_key", 0.0), 0.0, 60.0)   # each member looks like a light user
    pooled = dict(s, end_users=0.0, end_user_share=0.0)
    d = distillation_strength(pooled, 150.0) * ramp(keys, 3.0, 10.0)
    if d > 0:
        out.append(Evidence("cluster_distillation", d, s.get("distinct_prompt_ratio", 0.0), 0.5, "24h", False))
    reasoning = max(s.get("rate_cot", 0.0), s.get("rate_reverse_rationale", 0.0), s.get("rate_rubric", 0.0))
    spread = s.get("creation_spread_h", -1.0)
    age = s.get("account_age_d", -1.0)
    if spread >= 0 and age >= 0 and s.get("accounts", 0.0) >= 5:
        coord = (ramp(24.0 - spread, 0.0, 22.0) * ramp(60.0 - age, 0.0, 45.0) * ramp(keys, 5.0, 20.0)
                 * max(light, 0.5) * ramp(s.get("distinct_prompt_ratio", 0.0), 0.3, 0.7))
        if coord > 0:
            out.append(Evidence("coordinated_accounts", 0.5 * coord, spread, 24.0 * 30, "24h", False))
    if reasoning > 0 and d > 0:
        out.append(Evidence("cluster_reasoning_harvest", 0.3 * reasoning * d, reasoning, 0.05, "24h", False))
    return sorted(out, key=lambda e: (-e.strength, e.signal))
