"""Extraction evidence: what a key's (or a cluster's) windows show that harvesting cannot avoid.

Each rule turns window statistics into an :class:`Evidence` -- a strength in [0, 1], the observed
value, the benign baseline it is compared with, and the *family* of behaviour it reads. Rules are
built on what an extraction campaign has to do whatever its wording, IPs or SDKs:

* **economics** (``harvest``): many *distinct*, *single-shot* prompts with *long answers* -- a
  dataset being generated -- that either sweep several task areas (a general distillation), or go
  far beyond the benign population's answer volume in one area (a domain clone), or run around
  the clock. Reasoning-eliciting wording is only a weak extra (it is cheap to change).
* **volume** (``answer_volume``): answer tokens per window against the benign population.
* **parameters** (``logit_probe``): logprobs at one-token outputs with a logit bias that sweeps the
  vocabulary (wide token sets or many sets) over prompts asked again and again -- a classifier
  biasing its own labels never does, however many, nor a labelling platform with a label set per
  task (each item is a new prompt).
* **structure** (``empty_turn_harvest``, ``prompt_resampling``): empty/template-only user turns
  with long answers (Magpie); one prompt resampled over and over for long answers (Self-Instruct),
  or a whole item set asked again for new answers (several rationales per public problem).
* **model** (``release_pivot``): harvest-shaped traffic that *splits* onto a just-released model
  while it keeps the old one (a migrating customer moves everything).
* **wording** (``reverse_rationale``, ``rubric_grading``, ``meta_prompt``): phrase rules, capped
  low: one weak input, never enough for a throttle on their own.
* **account** (``young_account``): a harvest-shaped key on an account days old.

Benign look-alikes share single traits (eval harnesses: distinct single-shot prompts; tutoring and
content apps: long answers; judges: rubric wording; classifiers: logprobs with a logit bias), which
is why every rule is a product of traits and volume confidence. End-user ids discount a key only
when they behave like a population of people (many ids, repeat visits); ids that are new on every
request, or a handful reused thousands of times, are ignored.

Raw strengths are mapped through a :class:`~detector.calibration.Calibration`: the benign
population's own extreme (its 99.9th percentile per rule) becomes the floor, so a rule fires only
beyond what benign keys do. A ``block`` needs two families strong at once (see
:func:`families_strong`).

Cost: a few dozen float operations per window.

>>> s = {"n": 800.0, "rate_logit_probe": 0.9, "rate_one_token": 0.9, "rate_wide_bias": 1.0,
...      "distinct_prompts": 8.0}
>>> round(key_evidence({"1h": s})[0].strength, 2)
1.0
>>> vendor = {"n": 800.0, "rate_logit_probe": 1.0, "rate_one_token": 1.0, "bias_sets": 40.0,
...           "rate_wide_bias": 0.3, "distinct_prompts": 760.0}
>>> key_evidence({"1h": vendor})
[]
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.calibration import Calibration
from detector.levels import Horizon
from detector.shape import conf, economics, harvest_shape, harvested_tokens, people_discount, ramp, reasoning_share


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason behind a score."""

    signal: str
    strength: float
    value: float
    baseline: float
    horizon: str
    blockable: bool = False   # specific enough to take part in a block
    family: str = ""          # behaviour it reads: economics, volume, parameters, structure, ...


# Volume needed before a window's shape counts: (requests for zero, requests for full confidence).
VOLUME = {Horizon.HOUR: (15.0, 100.0), Horizon.DAY: (30.0, 150.0)}
# Harvested answer tokens per window that count as deep at the least, whatever the calibration says.
HARVESTED_TOKENS = {Horizon.HOUR: 2e5, Horizon.DAY: 1e6}


def _deep(cal: Calibration, horizon: str) -> float:
    """Harvested tokens beyond which a window is deep: the benign extreme, at least the floor."""
    return max(cal.feature_quantile(horizon, "harvested_tokens", 0.999, 0.0), HARVESTED_TOKENS[horizon])


def harvest(s: dict[str, float], day: dict[str, float], horizon: str, cal: Calibration, *,
            shape: float | None = None, people: float | None = None) -> tuple[float, float]:
    """(strength, what drove it) of dataset generation in one window.

    The shape must be there (alone it scores 0.25 at full volume); it counts fully when the window
    also sweeps task areas (>= 3.5), or its harvested answer tokens are a multiple of the benign
    extreme, or (24 h) it runs around the clock; reasoning wording adds at most a quarter of that.
    ``shape`` (:func:`harvest_shape` of ``s``) and ``people`` (:func:`people_discount` of ``day``)
    are computed here unless the caller has them already."""
    lo, hi = VOLUME[horizon]
    volume = ramp(s.get("n", 0.0), lo, hi)
    if shape is None:
        shape = harvest_shape(s)
    if volume <= 0.0 or shape <= 0.0:
        return 0.0, 0.0
    coverage = ramp(s.get("domains", 0.0), 2.0, 3.5)
    q = _deep(cal, horizon)
    depth = ramp(harvested_tokens(s, shape), q, 4.0 * q)
    clock = ramp(s.get("hours_active", 0.0), 19.0, 23.0) if horizon == Horizon.DAY else 0.0
    drive = max(coverage, depth, 0.6 * clock, 0.25 * reasoning_share(s))
    greedy = 1.0 - 0.3 * s.get("rate_greedy", 0.0)
    if people is None:
        people = people_discount(day)
    return shape * (0.25 + 0.75 * drive) * volume * people * greedy, drive


def _rule(name: str, strength: float, value: float, baseline: float, horizon: str, family: str,
          blockable: bool = False) -> Evidence | None:
    return Evidence(name, strength, value, baseline, horizon, blockable, family) if strength > 0.0 else None


def raw_key_evidence(stats: dict[str, dict[str, float]], *, new_model_share: float = 0.0,
                     old_model_share_24h: float = 0.0, account_age_d: float = -1.0,
                     calibration: Calibration | None = None) -> list[Evidence]:
    """Every rule's uncalibrated strength for one key (``stats``: horizon -> window features)."""
    cal = calibration or Calibration.default()
    day = stats.get(Horizon.DAY) or {}
    out: list[Evidence | None] = []
    shapes: dict[str, float] = {}   # harvest_shape of every window there is, computed once
    day_people = people_discount(day) if day else 1.0   # read from the 24 h window when there is one
    for horizon in (Horizon.HOUR, Horizon.DAY):
        s = stats.get(horizon)
        if not s:
            continue
        shape = shapes[horizon] = harvest_shape(s)
        if s.get("n", 0.0) <= 0:
            continue
        g = s.get
        n = g("n", 0.0)
        fast = conf(n, 40.0 if horizon == Horizon.HOUR else 60.0)
        people = day_people if day else people_discount(s)
        h, drive = harvest(s, day or s, horizon, cal, shape=shape, people=people)
        out.append(_rule("harvest", h, drive, 0.25, horizon, "economics", True))
        q = _deep(cal, horizon)
        tokens = harvested_tokens(s, shape)
        out.append(_rule("answer_volume", ramp(tokens, 2.0 * q, 8.0 * q), tokens, q,
                         horizon, "volume", True))   # volume is volume, however many end users it serves
        probe = min(g("rate_logit_probe", 0.0), max(g("rate_one_token", 0.0), g("rate_logprobs", 0.0)))
        # Reading a logit vector means asking the same prompt under other biases (other ids, or other
        # values for the same ids) again and again: an API returns at most 20 logprobs a request, so
        # even a slice of the vocabulary takes ~50 asks of one prompt. A classifier asks each item
        # once under its own label set, however wide the set or many the tasks; duplicate texts
        # (reposts, spam) leave it far below 10 asks per distinct prompt on average. So a sweep --
        # wide maps or many sets -- counts over prompts asked 10-50 times each; and hundreds of sets
        # (a platform runs tens of tasks) sweep whatever the prompts.
        resampled = ramp(n / max(g("distinct_prompts", 0.0), 1.0), 10.0, 50.0)
        sets = g("bias_sets", 0.0)
        vocabulary = ramp(sets, 100.0, 300.0)
        sweep = max(max(g("rate_wide_bias", 0.0), ramp(sets, 3.0, 30.0)) * resampled, vocabulary)
        probing = ramp(probe, 0.05, 0.3)
        out.append(_rule("logit_probe", probing * sweep * fast, probe, 0.05, horizon, "parameters", True))
        out.append(_rule("bias_sweep", max(ramp(sets, 10.0, 30.0) * resampled, vocabulary) * probing * fast,
                         sets, 10.0, horizon, "structure", True))
        # Magpie's answers to empty turns are the instructions it harvests: any real text counts
        empty = g("rate_empty_turn", 0.0) * ramp(g("out_tokens_mean", 0.0), 20.0, 60.0)
        out.append(_rule("empty_turn_harvest", ramp(empty, 0.1, 0.4) * fast, empty, 0.1, horizon, "structure", True))
        # the same single-shot request again; a dialogue repeats its user turn while the rest grows
        repeats = max((1.0 - g("distinct_prompt_ratio", 1.0)) * ramp(g("rate_single_shot", 0.0), 0.6, 0.95),
                      g("rate_multi_sample", 0.0) - g("rate_short_samples", 0.0))   # n long samples of it
        # or a whole item set asked again for new answers (several rationales per item): many items,
        # most of them repeated
        reasked = ramp(repeats, 0.5, 0.7) * ramp(g("distinct_prompts", 0.0), 200.0, 600.0)
        out.append(_rule("prompt_resampling", max(ramp(repeats, 0.8, 0.97), reasked)
                         * ramp(g("out_tokens_mean", 0.0), 300.0, 800.0) * ramp(n, 30.0, 200.0) * people,
                         repeats, 0.8, horizon, "structure", True))
        novel = ramp(g("distinct_prompt_ratio", 0.0), 0.4, 0.8) * people * fast
        for name, rate in (("reverse_rationale", g("rate_reverse_rationale", 0.0)),
                           ("rubric_grading", g("rate_rubric", 0.0)), ("meta_prompt", g("rate_meta_prompt", 0.0))):
            out.append(_rule(name, 0.35 * ramp(rate, 0.1, 0.5) * novel, rate, 0.1, horizon, "wording"))
        if account_age_d >= 0:
            young = ramp(30.0 - account_age_d, 0.0, 25.0) * shape * ramp(n, *VOLUME[horizon])
            out.append(_rule("young_account", 0.5 * young, account_age_d, 30.0, horizon, "account"))
    s1 = stats.get(Horizon.HOUR)
    if s1 and new_model_share > 0:
        split = ramp(new_model_share, 0.25, 0.45) * (1.0 - ramp(new_model_share, 0.85, 0.98))
        shape = max(shapes[Horizon.HOUR], shapes[Horizon.DAY]) if day else shapes[Horizon.HOUR]
        pivot = (split * ramp(old_model_share_24h, 0.3, 0.6) * shape
                 * ramp((day or s1).get("n", 0.0), 50.0, 300.0) * (day_people if day else people_discount(s1)))
        out.append(_rule("release_pivot", pivot, new_model_share, 0.25, Horizon.HOUR, "model"))
    return _strongest(e for e in out if e is not None)


def _strongest(evidence: object) -> list[Evidence]:
    best: dict[str, Evidence] = {}
    for e in evidence:  # type: ignore[attr-defined]
        if e.signal not in best or e.strength > best[e.signal].strength:
            best[e.signal] = e
    return sorted(best.values(), key=lambda e: (-e.strength, e.signal))


# A cluster's pooled window is judged by the key rule; benign keys give its floor.
_SAME_RULE = {"cluster_harvest": "harvest"}


STRETCH = 0.6
"""Above a floor of :data:`STRETCH_FROM` or more, a rule is at full strength this share of the way
from its floor to 1."""

STRETCH_FROM = 0.1
"""Floors below this stretch less, in proportion, down to none at a floor of 0: such a floor is
the benign population barely touching the rule (its top one or two keys, read through a
percentile), and stretching above it would make a rule stronger for having a benign trace at all
than for having none."""


def rescale(raw: float, floor: float) -> float:
    """A raw strength re-scaled above ``floor``, continuous in both.

    >>> rescale(0.5, 0.0), round(rescale(0.5, 0.2), 3), round(rescale(0.5, 0.01), 3)
    (0.5, 0.625, 0.516)
    """
    reach = 1.0 - (1.0 - STRETCH) * min(1.0, floor / STRETCH_FROM)
    return ramp(raw, floor, floor + (1.0 - floor) * reach)


def calibrated(evidence: list[Evidence], cal: Calibration) -> list[Evidence]:
    """Strengths re-scaled above the benign population's extreme of each rule (its floor,
    :func:`rescale`)."""
    out = []
    for e in evidence:
        floor = max(cal.floor(e.signal), cal.floor(_SAME_RULE.get(e.signal, e.signal)))
        strength = rescale(e.strength, floor)
        if strength > 0:
            out.append(Evidence(e.signal, strength, e.value, e.baseline, e.horizon, e.blockable, e.family))
    return sorted(out, key=lambda e: (-e.strength, e.signal))


def key_evidence(stats: dict[str, dict[str, float]], *, new_model_share: float = 0.0,
                 old_model_share_24h: float = 0.0, account_age_d: float = -1.0,
                 calibration: Calibration | None = None) -> list[Evidence]:
    """All calibrated evidence for one key's windows, strongest first."""
    cal = calibration or Calibration.default()
    raw = raw_key_evidence(stats, new_model_share=new_model_share, old_model_share_24h=old_model_share_24h,
                           account_age_d=account_age_d, calibration=cal)
    return calibrated(raw, cal)


def combine(evidence: list[Evidence]) -> float:
    """Noisy-OR of the strengths: independent pieces of evidence reinforce each other."""
    p = 1.0
    for e in evidence:
        p *= 1.0 - min(1.0, max(0.0, e.strength))
    return 1.0 - p


def families_strong(evidence: list[Evidence], at: float = 0.7) -> int:
    """How many behaviour families have evidence of at least ``at`` (a block needs two)."""
    return len({e.family for e in evidence if e.strength >= at and e.family})


def raw_cluster_evidence(s: dict[str, float], calibration: Calibration | None = None) -> list[Evidence]:
    """Uncalibrated evidence for a linked group of keys from its pooled 24-hour window.

    The pool is judged like one key (harvesting shows in the pool even when every member is a
    light user): its harvest shape and drive at pooled volume. Coordination adds to it: accounts
    created within hours of each other, keys active in the same 5-minute slots, shared payment
    instruments across accounts."""
    cal = calibration or Calibration.default()
    keys = s.get("keys", 0.0)
    out: list[Evidence | None] = []
    h, drive = harvest(s, dict(s, end_users=0.0, end_user_share=0.0), Horizon.DAY, cal)
    out.append(_rule("cluster_harvest", h * ramp(keys, 3.0, 8.0), drive, 0.25, Horizon.DAY, "economics", True))
    shape = harvest_shape(s) * (1.0 - s.get("one_org", 0.0))   # one organisation's fleet is one customer
    spread = s.get("creation_spread_h", -1.0)
    if spread >= 0 and s.get("accounts", 0.0) >= 5:
        burst = ramp(48.0 - spread, 0.0, 36.0) * ramp(keys, 5.0, 20.0) * shape
        out.append(_rule("coordinated_accounts", 0.6 * burst, spread, 48.0, Horizon.DAY, "account"))
    sync = s.get("coactivity", 0.0)
    out.append(_rule("synchronised_keys", ramp(sync, 0.3, 0.7) * ramp(keys, 5.0, 20.0) * shape, sync, 0.3, Horizon.DAY,
                     "timing", True))
    shared_pay = s.get("payment_share", 0.0)
    out.append(_rule("shared_payment", 0.8 * ramp(shared_pay, 0.3, 0.8) * ramp(keys, 5.0, 20.0) * shape,
                     shared_pay, 0.3, Horizon.DAY, "account", True))
    return _strongest(e for e in out if e is not None)


def cluster_evidence(s: dict[str, float], calibration: Calibration | None = None) -> list[Evidence]:
    """Calibrated evidence for a cluster's pooled window, strongest first."""
    cal = calibration or Calibration.default()
    return calibrated(raw_cluster_evidence(s, cal), cal)
