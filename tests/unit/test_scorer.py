"""Scorer: alert once per escalation, refresh, tombstone on expiry, allow-list, no poisoning."""

from __future__ import annotations

from detector.alerts import validate_alert, validate_decision
from detector.config import Config
from detector.scorer import Scorer
from detector.summary import WindowSummary

MIN = 60_000
PROBE = {"n": 500.0, "rate_logit_probe": 0.95, "rate_one_token": 0.95, "rate_logprobs": 1.0,
         "rate_wide_bias": 1.0, "bias_sets": 40.0,
         "distinct_prompt_ratio": 0.1, "distinct_skeleton_ratio": 0.1, "top_skeleton_share": 0.9,
         "out_in_ratio": 0.01, "out_new_in_ratio": 0.01, "out_tokens_mean": 1.0, "depth_mean": 1.0, "end_user_share": 0.0,
         "end_users": 0.0, "hours_active": 3.0}
QUIET = dict(PROBE, rate_logit_probe=0.0, rate_one_token=0.0, rate_logprobs=0.0, rate_wide_bias=0.0, bias_sets=0.0,
             n=20.0)


def summ(key: str, epoch: int, stats: dict[str, float], account: str = "acct") -> WindowSummary:
    return WindowSummary(api_key_id=key, epoch_ms=epoch, account_id=account, account_created_ms=None,
                         stats={"10m": stats, "1h": stats, "24h": stats}, models_1h={"m": 1}, models_24h={"m": 1})


def test_alert_once_per_escalation_then_tombstone_on_expiry() -> None:
    cfg = Config()
    sc = Scorer(cfg)
    outs = [sc.close_epoch(e * 10 * MIN, [summ("k", e * 10 * MIN, PROBE)]) for e in range(1, 7)]
    alerts = [a for o in outs for a in o.alerts]
    assert len(alerts) == 1 and alerts[0]["action"] == "block" and alerts[0]["api_key_ids"] == ["k"]
    validate_alert(alerts[0])
    for o in outs:
        for _, d in o.decisions:
            assert d is not None
            validate_decision(d)
    expiry = 10 * MIN + cfg.ttl_s["block"] * 1000
    quiet = sc.close_epoch(expiry + 10 * MIN, [])
    assert ("key:k", None) in quiet.decisions


def test_same_input_same_alert_ids() -> None:
    def run() -> list[str]:
        sc = Scorer(Config())
        return [a["alert_id"] for e in range(1, 4) for a in
                sc.close_epoch(e * 10 * MIN, [summ("k", e * 10 * MIN, PROBE), summ("j", e * 10 * MIN, QUIET)]).alerts]
    assert run() == run() and len(run()) == 1


def test_allowlisted_accounts_are_never_actioned() -> None:
    sc = Scorer(Config().with_allowlist(["partner"]))
    out = sc.close_epoch(10 * MIN, [summ("k", 10 * MIN, PROBE, account="partner")])
    assert out.alerts == [] and out.decisions == []


def test_flagged_windows_are_not_learned() -> None:
    sc = Scorer(Config())
    sc.close_epoch(10 * MIN, [summ("k", 10 * MIN, PROBE)])
    assert sc.anomaly.learned["1h"] == 0
    sc.close_epoch(20 * MIN, [summ("j", 20 * MIN, QUIET)])
    assert sc.anomaly.learned["1h"] == 1


def test_checkpoint_round_trip_continues_identically() -> None:
    a = Scorer(Config())
    a.close_epoch(10 * MIN, [summ("j", 10 * MIN, QUIET)])
    b = Scorer.from_bytes(a.to_bytes(), Config())
    nxt = [summ("k", 20 * MIN, PROBE)]
    assert a.close_epoch(20 * MIN, nxt).alerts == b.close_epoch(20 * MIN, nxt).alerts


def test_a_throttled_cluster_is_realerted_when_unnamed_keys_join() -> None:
    """The rate limiter enforces what the alert names: a key joining a throttled cluster must be
    named, however small the cluster's growth (a hydra could otherwise add keys a few at a time)."""
    from detector.evidence import Evidence
    from detector.scorer import ScorerOutput

    sc = Scorer(Config())
    evidence = [Evidence("cluster_harvest", 0.8, 1.0, 0.25, "24h", False, "economics")]
    members = [f"k{i:02d}" for i in range(48)]

    def decide(keys: list[str], epoch: int) -> list[dict]:
        out = ScorerOutput()
        accounts = sorted({f"a{k[1:]}" for k in keys})
        sc._decide(out, "cluster", "xc_1", keys, accounts, 0.8, evidence, {"24h": {"n": 900.0}}, epoch * 10 * MIN,
                   False)
        return out.alerts

    first = decide(members, 1)
    assert [a["action"] for a in first] == ["throttle"] and len(first[0]["api_key_ids"]) == 48
    assert decide(list(reversed(members)), 2) == [] and decide(members[:40], 3) == []
    grown = decide(members[:40] + ["k48"], 4)      # one key joins while eight drift out
    assert len(grown) == 1 and grown[0]["action"] == "throttle"
    assert grown[0]["api_key_ids"] == members + ["k48"]    # the drifting keys stay named
    assert grown[0]["account_ids"] == [f"a{i:02d}" for i in range(49)]    # and so do their accounts
    assert decide(members + ["k48"], 5) == [] and decide(members[:10], 6) == []


def test_a_checkpointed_member_count_restores_as_nothing_named() -> None:
    from detector.scorer import SubjectState

    sc = Scorer(Config())
    sc.subjects["cluster:xc_1"] = SubjectState(level=2, alert_id="xa_1", named=47)  # type: ignore[arg-type]
    restored = Scorer.from_bytes(sc.to_bytes(), Config())
    assert restored.subjects["cluster:xc_1"].named == ()


def test_a_checkpoint_from_before_named_accounts_restores_with_none_named() -> None:
    import pickle

    from detector.scorer import SubjectState

    sc = Scorer(Config())
    sc.subjects["cluster:xc_1"] = SubjectState(level=2, alert_id="xa_1", named=("k1",))
    state = pickle.loads(sc.to_bytes())
    old = SubjectState.__new__(SubjectState)    # what a checkpoint pickled before the accounts field
    for name, value in (("level", 2), ("alert_id", "xa_1"), ("expires_ms", 0), ("named", ("k1",)),
                        ("decision", None)):
        setattr(old, name, value)
    state["subjects"] = {"cluster:xc_1": old}
    restored = Scorer.from_bytes(pickle.dumps(state), Config())
    assert restored.subjects["cluster:xc_1"].named == ("k1",)
    assert restored.subjects["cluster:xc_1"].named_accounts == ()
