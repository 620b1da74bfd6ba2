"""Evidence rules fire on the combination that marks harvesting, not on any single benign trait."""

from __future__ import annotations

from detector.evidence import cluster_evidence, combine, conf, key_evidence, ramp


def window(**kw: float) -> dict[str, float]:
    base = {"n": 0.0, "distinct_prompt_ratio": 0.3, "distinct_skeleton_ratio": 0.5, "top_skeleton_share": 0.1,
            "out_in_ratio": 0.5, "out_tokens_mean": 100.0, "depth_mean": 2.0, "end_user_share": 0.0,
            "end_users": 0.0, "hours_active": 8.0}
    base.update(kw)
    return base


BULK = window(n=800, distinct_prompt_ratio=1.0, distinct_skeleton_ratio=0.05, top_skeleton_share=0.9,
              out_in_ratio=8.0, out_tokens_mean=2500, rate_cot=1.0, rate_thinking=0.8, hours_active=24)


def test_ramp_and_conf() -> None:
    assert ramp(0.0, 0.1, 0.3) == 0.0 and abs(ramp(0.2, 0.1, 0.3) - 0.5) < 1e-9 and ramp(1.0, 0.1, 0.3) == 1.0
    assert conf(10, 40) == 0.25 and conf(400, 40) == 1.0


def test_bulk_distillation_scores_high() -> None:
    ev = key_evidence({"1h": BULK}, new_model_share=0.0)
    assert ev[0].signal == "distillation_template"
    assert combine(ev) > 0.9


def test_single_benign_traits_do_not_fire() -> None:
    eval_harness = window(n=2000, distinct_prompt_ratio=1.0, top_skeleton_share=1.0, distinct_skeleton_ratio=0.01,
                          out_in_ratio=0.05, out_tokens_mean=10, rate_logprobs=1.0, rate_cot=0.5)
    batch_job = window(n=5000, distinct_prompt_ratio=1.0, top_skeleton_share=1.0, out_in_ratio=0.02,
                       out_tokens_mean=3)
    chatty = window(n=30, distinct_prompt_ratio=1.0, out_in_ratio=6.0, out_tokens_mean=600, rate_cot=0.2)
    for w in (eval_harness, batch_job, chatty):
        assert combine(key_evidence({"1h": w}, new_model_share=0.0)) < 0.5


def test_tutoring_app_with_many_end_users_is_discounted() -> None:
    tutoring = dict(BULK, end_user_share=1.0, end_users=300.0)
    assert combine(key_evidence({"1h": tutoring}, new_model_share=0.0)) < 0.2


def test_logit_probe_is_blockable_and_needs_volume() -> None:
    probe = window(n=500, rate_logit_probe=0.95, rate_one_token=0.95, rate_logprobs=1.0)
    ev = key_evidence({"1h": probe}, new_model_share=0.0)
    assert ev[0].signal == "logit_probe" and ev[0].blockable and ev[0].strength == 1.0
    few = dict(probe, n=4.0)
    assert key_evidence({"1h": few}, new_model_share=0.0)[0].strength < 0.2


def test_release_pivot_needs_a_shift_and_output_heavy_use() -> None:
    s = window(n=300, out_in_ratio=9.0, out_tokens_mean=2100)
    pivot = [e for e in key_evidence({"1h": s}, new_model_share=0.6, old_model_share_24h=0.8)
             if e.signal == "release_pivot"]
    assert pivot and pivot[0].strength > 0.9
    new_user = [e for e in key_evidence({"1h": s}, new_model_share=1.0, old_model_share_24h=0.0)
                if e.signal == "release_pivot"]
    assert not new_user


def test_cluster_of_light_coordinated_harvesters() -> None:
    pooled = dict(BULK, n=2000.0, keys=80.0, n_per_key=25.0, accounts=80.0, creation_spread_h=1.0,
                  account_age_d=7.0, top_skeleton_share=0.9)
    ev = cluster_evidence(pooled)
    assert {e.signal for e in ev} >= {"cluster_distillation", "coordinated_accounts"}
    assert combine(ev) >= 0.8
    ci_fleet = dict(pooled, distinct_prompt_ratio=0.01, out_in_ratio=0.1, out_tokens_mean=20, rate_cot=0.0,
                    rate_thinking=0.0, account_age_d=400.0, creation_spread_h=0.0)
    assert combine(cluster_evidence(ci_fleet)) < 0.5
