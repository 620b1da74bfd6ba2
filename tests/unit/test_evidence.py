"""Evidence rules fire on behaviour extraction cannot avoid, never on one trait a benign customer has."""

from __future__ import annotations

import doctest

import detector.evidence as evidence_module
import detector.shape as shape_module
from detector.calibration import Calibration
from detector.evidence import (STRETCH, STRETCH_FROM, calibrated, cluster_evidence, combine, families_strong,
                               key_evidence, raw_key_evidence, rescale)
from detector.shape import conf, harvest_shape, people_discount, ramp

NONE = Calibration("test")


def window(**kw: float) -> dict[str, float]:
    """A window of one caller; defaults are a short-answer, conversational key."""
    base = {"n": 0.0, "distinct_prompt_ratio": 0.3, "distinct_prompts": 0.0, "conversations": 0.0,
            "out_new_in_ratio": 0.5, "out_tokens_mean": 100.0, "out_tokens_sum": 0.0, "depth_mean": 2.0,
            "end_user_share": 0.0, "end_users": 0.0, "end_user_repeat": 0.0, "hours_active": 8.0, "domains": 1.0}
    base.update(kw)
    if "distinct_prompts" not in kw:
        base["distinct_prompts"] = base["distinct_prompt_ratio"] * base["n"]
    if "out_tokens_sum" not in kw:
        base["out_tokens_sum"] = base["out_tokens_mean"] * base["n"]
    return base


def harvester(n: float, **kw: float) -> dict[str, float]:
    """Distinct single-shot prompts with long answers."""
    return window(**{"n": n, "distinct_prompt_ratio": 1.0, "conversations": n, "out_new_in_ratio": 8.0,
                     "out_tokens_mean": 2200.0, "rate_single_shot": 1.0, **kw})


def names(ev: list) -> set[str]:  # type: ignore[type-arg]
    return {e.signal for e in ev}


def test_doctests() -> None:
    assert doctest.testmod(evidence_module).failed == 0
    assert doctest.testmod(shape_module).failed == 0


def test_ramp_and_conf() -> None:
    assert ramp(0.0, 0.1, 0.3) == 0.0 and abs(ramp(0.2, 0.1, 0.3) - 0.5) < 1e-9 and ramp(1.0, 0.1, 0.3) == 1.0
    assert conf(10, 40) == 0.25 and conf(400, 40) == 1.0


def test_harvest_shape_needs_long_answers_new_items_and_new_conversations() -> None:
    assert harvest_shape(harvester(200)) == 1.0
    assert harvest_shape(harvester(200, out_tokens_mean=150.0, out_new_in_ratio=0.3)) == 0.0     # short answers
    assert harvest_shape(harvester(200, distinct_prompt_ratio=0.2, distinct_prompts=40.0)) == 0.0  # repeats
    assert harvest_shape(harvester(200, conversations=30.0)) == 0.0  # follow-ups in a few long conversations
    # a window larger than the corpus: few distinct per request, many distinct in all
    assert harvest_shape(harvester(20_000, distinct_prompt_ratio=0.3, distinct_prompts=6000.0,
                                   conversations=6000.0)) == 1.0


def test_broad_bulk_harvest_is_strong_in_two_families() -> None:
    s = harvester(900, domains=4.0, rate_system_explain=1.0)
    ev = key_evidence({"1h": s}, calibration=NONE)
    assert next(e for e in ev if e.signal == "harvest").strength >= 0.95
    assert combine(ev) > 0.95
    assert families_strong(ev) >= 2    # economics + answer volume: enough for a block


def test_narrow_app_with_long_answers_and_cot_wording_stays_below_throttle() -> None:
    # a content SaaS: one area, a step-by-step system prompt, ~1.4k-token answers, moderate volume
    saas = harvester(80, domains=1.0, out_tokens_mean=1400.0, rate_system_explain=1.0, rate_cot=1.0)
    ev = key_evidence({"1h": saas, "24h": harvester(400, domains=1.0, out_tokens_mean=1400.0,
                                                      rate_system_explain=1.0)}, calibration=NONE)
    assert combine(ev) < 0.8 and families_strong(ev) <= 1


def test_single_benign_traits_do_not_fire() -> None:
    eval_harness = window(n=2000, distinct_prompt_ratio=1.0, conversations=2000.0, out_new_in_ratio=0.2,
                          out_tokens_mean=160, rate_logprobs=1.0, rate_cot=0.5, rate_greedy=1.0, domains=2.0)
    batch_job = window(n=5000, distinct_prompt_ratio=1.0, conversations=5000.0, out_new_in_ratio=0.02,
                       out_tokens_mean=3)
    translation = window(n=800, distinct_prompt_ratio=1.0, conversations=800.0, out_new_in_ratio=1.1,
                         out_tokens_mean=700)
    judge = window(n=1600, distinct_prompt_ratio=1.0, conversations=1600.0, out_new_in_ratio=0.3, out_tokens_mean=240,
                   rate_rubric=1.0, domains=4.0, rate_greedy=1.0)
    classifier = window(n=15_000, distinct_prompt_ratio=0.2, out_tokens_mean=1.0, rate_logit_probe=1.0,
                        rate_one_token=1.0, rate_logprobs=1.0, bias_sets=1.0)
    for w in (eval_harness, batch_job, translation, judge, classifier):
        assert combine(key_evidence({"1h": w, "24h": w}, calibration=NONE)) < 0.5, w


def test_end_user_ids_discount_only_when_they_behave_like_people_and_never_alone() -> None:
    population = {"end_user_share": 1.0, "end_users": 400.0, "end_user_repeat": 4.0}
    sessions = {"end_user_share": 1.0, "end_users": 60.0, "end_user_repeat": 9.0, "end_user_session_len": 3.0}
    fresh_every_time = {"end_user_share": 1.0, "end_users": 400.0, "end_user_repeat": 1.0,
                        "end_user_session_len": 1.0}
    small_pool = {"end_user_share": 1.0, "end_users": 20.0, "end_user_repeat": 250.0, "end_user_session_len": 1.1}
    assert people_discount(population) == people_discount(sessions) == 0.5    # at most halved
    assert people_discount(fresh_every_time) == 1.0 and people_discount(small_pool) == 1.0
    app = harvester(200, domains=1.0, out_tokens_mean=1400.0, hours_active=24.0)
    served = key_evidence({"1h": dict(app, **population), "24h": dict(app, **population)}, calibration=NONE)
    faked = key_evidence({"1h": dict(app, **fresh_every_time), "24h": dict(app, **fresh_every_time)},
                         calibration=NONE)
    assert combine(served) < combine(faked)
    bulk = harvester(900, domains=4.0)
    assert combine(key_evidence({"1h": dict(bulk, **population), "24h": dict(bulk, **population)},
                                calibration=NONE)) > 0.8      # real-looking ids cannot hide a sweep


def test_logit_probe_needs_a_sweep_and_volume() -> None:
    probe = window(n=500, rate_logit_probe=0.95, rate_one_token=0.95, rate_logprobs=1.0, rate_wide_bias=1.0,
                   bias_sets=40.0, distinct_prompt_ratio=0.01)    # a handful of prompts, read again and again
    ev = key_evidence({"1h": probe}, calibration=NONE)
    assert {"logit_probe", "bias_sweep"} <= names(ev) and ev[0].blockable and ev[0].strength == 1.0
    assert families_strong(ev) == 2
    label_set = dict(probe, rate_wide_bias=0.0, bias_sets=1.0)    # a classifier biasing its two labels
    assert key_evidence({"1h": label_set}, calibration=NONE) == []
    few = dict(probe, n=4.0)
    assert all(e.strength < 0.2 for e in key_evidence({"1h": few}, calibration=NONE))


def test_many_narrow_label_sets_sweep_only_over_prompts_asked_again() -> None:
    # 40 label sets of at most 8 tokens each: a sweep when the same few prompts are read under them...
    narrow = window(n=800, rate_logit_probe=1.0, rate_one_token=1.0, rate_logprobs=1.0, rate_wide_bias=0.0,
                    bias_sets=40.0, out_tokens_mean=1.0, distinct_prompt_ratio=0.02)
    ev = key_evidence({"1h": narrow, "24h": narrow}, calibration=NONE)
    assert {"logit_probe", "bias_sweep"} <= names(ev) and families_strong(ev) == 2
    # ...a labelling platform when every item is a new text under its task's own label set
    platform = dict(narrow, distinct_prompt_ratio=0.95, distinct_prompts=760.0)
    assert key_evidence({"1h": platform, "24h": platform}, calibration=NONE) == []
    # a day of a platform whose items partly recur (60% distinct) still is not a sweep
    recurring = dict(narrow, distinct_prompt_ratio=0.6, distinct_prompts=480.0)
    assert combine(key_evidence({"1h": platform, "24h": recurring}, calibration=NONE)) < 0.5
    # wide maps sweep the vocabulary over prompts asked again...
    wide = dict(narrow, rate_wide_bias=1.0, bias_sets=5.0)
    assert key_evidence({"1h": wide}, calibration=NONE)[0].strength == 1.0
    # ...an emotion tagger's one 28-label set over posts does not, reposts and spam included
    tagger = dict(wide, bias_sets=1.0, distinct_prompts=0.95 * 800)
    day = dict(tagger, n=30_000.0, distinct_prompts=4_000.0)   # 7.5 asks per distinct text
    assert key_evidence({"1h": tagger, "24h": day}, calibration=NONE) == []
    # hundreds of sets sweep the vocabulary even over new prompts
    spread = dict(platform, bias_sets=400.0)
    ev = key_evidence({"1h": spread}, calibration=NONE)
    assert {"logit_probe", "bias_sweep"} <= names(ev) and families_strong(ev) == 2


def test_release_pivot_needs_a_split_not_a_migration() -> None:
    s = harvester(300)
    pivot = [e for e in key_evidence({"1h": s, "24h": s}, new_model_share=0.6, old_model_share_24h=0.8,
                                     calibration=NONE) if e.signal == "release_pivot"]
    assert pivot and pivot[0].strength > 0.9
    moved = [e for e in key_evidence({"1h": s, "24h": s}, new_model_share=1.0, old_model_share_24h=0.8,
                                     calibration=NONE) if e.signal == "release_pivot"]
    assert not moved


def test_wording_alone_never_reaches_throttle() -> None:
    s = window(n=600, distinct_prompt_ratio=1.0, rate_reverse_rationale=1.0, rate_rubric=1.0, rate_meta_prompt=1.0)
    ev = key_evidence({"1h": s, "24h": s}, calibration=NONE)
    assert ev and all(e.family == "wording" and e.strength <= 0.35 for e in ev)


def test_calibration_floor_rescales_above_the_benign_extreme() -> None:
    raw = raw_key_evidence({"1h": harvester(60, domains=4.0)}, calibration=NONE)
    h = next(e for e in raw if e.signal == "harvest")
    assert 0.3 < h.strength < 0.9
    high_floor = Calibration("t", floors={"harvest": h.strength + 0.01})
    assert "harvest" not in names(calibrated(raw, high_floor))
    low_floor = Calibration("t", floors={"harvest": h.strength / 2})
    assert next(e for e in calibrated(raw, low_floor) if e.signal == "harvest").strength > h.strength


def test_rescale_is_continuous_in_the_floor() -> None:
    # a benign trace of a rule (a floor near 0) must not make the rule stronger than no trace at all
    for raw in (0.2, 0.57, 0.9):
        assert rescale(raw, 0.0) == raw
        assert abs(rescale(raw, 1e-6) - raw) < 1e-4
        assert abs(rescale(raw, STRETCH_FROM - 1e-9) - rescale(raw, STRETCH_FROM)) < 1e-6
        below = [rescale(raw, f / 100) for f in range(0, 10)]
        assert all(abs(a - b) < 0.05 for a, b in zip(below, below[1:]))
    # at and above STRETCH_FROM: full strength STRETCH of the way from the floor to 1
    assert rescale(0.2 + 0.8 * STRETCH, 0.2) == 1.0 and rescale(0.2, 0.2) == 0.0


def test_cluster_of_light_coordinated_harvesters() -> None:
    pooled = harvester(2000, domains=3.0, keys=80.0, n_per_key=25.0, accounts=80.0, creation_spread_h=1.0,
                       account_age_d=7.0, coactivity=0.9, payment_share=0.8)
    ev = cluster_evidence(pooled, NONE)
    assert {"cluster_harvest", "synchronised_keys", "shared_payment", "coordinated_accounts"} <= names(ev)
    assert combine(ev) >= 0.95 and families_strong(ev) >= 2
    fleet = dict(pooled, one_org=1.0, domains=1.0, coactivity=0.0, out_tokens_mean=1300.0)   # one SaaS customer
    assert names(cluster_evidence(fleet, NONE)) <= {"cluster_harvest"}
    ci_fleet = dict(pooled, distinct_prompt_ratio=0.01, distinct_prompts=20.0, out_new_in_ratio=0.1, out_tokens_mean=20)
    assert combine(cluster_evidence(ci_fleet, NONE)) < 0.5


def test_an_agent_loop_repeating_its_task_turn_is_not_resampling() -> None:
    # every step of a coding task repeats the user's task; tool turns grow the request
    agent = window(n=1000, distinct_prompt_ratio=0.1, conversations=70.0, out_new_in_ratio=11.0,
                   out_tokens_mean=1300.0, rate_single_shot=0.07, rate_tools=1.0, hours_active=24.0)
    assert key_evidence({"1h": agent, "24h": agent}, calibration=NONE) == []
    self_instruct = window(n=1000, distinct_prompt_ratio=0.01, out_new_in_ratio=3.0, out_tokens_mean=1500.0,
                           rate_single_shot=1.0)
    assert "prompt_resampling" in names(key_evidence({"1h": self_instruct}, calibration=NONE))


def test_n_samples_count_as_a_harvest_only_when_each_is_a_long_answer() -> None:
    # a copywriting tool showing its users four ~240-token options per request: ~950 tokens a request
    options = window(n=3000, distinct_prompt_ratio=0.9, conversations=2700.0, out_new_in_ratio=9.0,
                     out_tokens_mean=950.0, rate_single_shot=1.0, domains=3.0, rate_multi_sample=1.0,
                     rate_short_samples=1.0)
    assert key_evidence({"1h": options, "24h": options}, calibration=NONE) == []
    # the same requests for four long reasoning answers each (rejection-sampling distillation)
    samples = dict(options, out_tokens_mean=4 * 900.0, out_new_in_ratio=36.0, rate_short_samples=0.0)
    ev = {e.signal: e.strength for e in key_evidence({"1h": samples, "24h": samples}, calibration=NONE)}
    assert ev["prompt_resampling"] == 1.0 and ev["harvest"] == 1.0


def test_empty_turns_answered_with_short_instructions_are_magpie() -> None:
    magpie = window(n=5000, rate_empty_turn=1.0, out_tokens_mean=160.0, out_new_in_ratio=160.0)
    ev = key_evidence({"1h": magpie}, calibration=NONE)
    assert ev[0].signal == "empty_turn_harvest" and ev[0].strength == 1.0
    errors = window(n=5000, rate_empty_turn=0.02, out_tokens_mean=160.0)   # a client bug now and then
    assert "empty_turn_harvest" not in names(key_evidence({"1h": errors}, calibration=NONE))


def test_an_item_set_asked_again_for_new_answers_is_resampling_a_busy_app_is_not() -> None:
    # a harvester working through ~1,300 public problems, each asked about three times in a day
    reasked = harvester(4000, distinct_prompt_ratio=0.3, conversations=1200.0, out_tokens_mean=1240.0)
    strength = {e.signal: e.strength for e in raw_key_evidence({"24h": reasked}, calibration=NONE)}
    assert strength["prompt_resampling"] == 1.0
    # a content app: as many distinct long-answer prompts, few of them repeated
    app = harvester(4000, distinct_prompt_ratio=0.85, out_tokens_mean=1400.0)
    assert "prompt_resampling" not in names(raw_key_evidence({"24h": app}, calibration=NONE))
    # a few prompts re-asked: too few items to be a set, left to the one-prompt rule (>= 80% repeats)
    few = harvester(300, distinct_prompt_ratio=0.3, conversations=90.0)
    assert "prompt_resampling" not in names(raw_key_evidence({"24h": few}, calibration=NONE))
