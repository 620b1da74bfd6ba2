"""Tests of the evaluation matrix's scoring, aggregation and regression gate on hand-made alerts."""

from __future__ import annotations

import pytest

from detector.offline.matrix import Cell, Settings, baseline_of, cells, regressions, score_run, summarise
from detector.offline.simulate.variants import VARIANTS

H = 3_600_000
LABELS = {"a1": ("attack", "camp"), "a2": ("attack", "camp"), "s1": ("attack", "solo"),
          "b1": ("benign", "judge"), "b2": ("benign", "judge"), "b3": ("benign", "chat")}
TIMES = {"a1": [0, H, 2 * H], "a2": [H // 2, 3 * H], "s1": [0, 10], "b1": [5], "b2": [6], "b3": [7]}


def _alert(at_h: float, action: str, *keys: str) -> dict:
    ms = int(at_h * H)
    return {"detected_at": f"1970-01-01T{ms // H:02d}:{ms % H // 60_000:02d}:00Z", "action": action,
            "api_key_ids": list(keys)}


def test_campaign_detected_only_by_throttle_or_block_naming_its_keys() -> None:
    alerts = [_alert(0.5, "observe", "s1", "b1"), _alert(1, "throttle", "a1"),
              _alert(3, "block", "a1", "a2"), _alert(2, "throttle", "b2")]
    r = score_run(LABELS, TIMES, alerts)
    camp = r["campaigns"]["camp"]
    assert camp["detected"] and camp["keys"] == 2 and camp["keys_named"] == 2 and camp["share"] == 1.0
    assert camp["requests_to_detect"] == 3 and camp["hours_to_detect"] == 1.0  # 0, H/2, H
    assert camp["best_action"] == "block" and camp["requests"] == 5
    solo = r["campaigns"]["solo"]
    assert not solo["detected"] and solo["requests_to_detect"] is None and solo["best_action"] == "observe"
    assert r["personas"]["judge"] == {"keys": 2, "observed": 1, "throttled": 1, "blocked": 0}
    assert r["personas"]["chat"] == {"keys": 1, "observed": 0, "throttled": 0, "blocked": 0}


def test_only_requested_campaigns_and_active_keys_are_reported() -> None:
    times = {k: v for k, v in TIMES.items() if k != "a2"}
    r = score_run(LABELS, times, [_alert(1, "throttle", "a1")], campaigns={"camp"})
    assert set(r["campaigns"]) == {"camp"} and r["campaigns"]["camp"]["keys"] == 1


def _run(split: str, variant: str, detected: bool, share: float, throttled: int = 0,
         blocked: int = 0) -> dict:
    return {"split": split, "variant": variant,
            "campaigns": {"camp": {"keys": 4, "share": share, "detected": detected,
                                   "requests_to_detect": 10 if detected else None,
                                   "hours_to_detect": 1.0 if detected else None,
                                   "best_action": "throttle" if detected else "none"}},
            "personas": {"judge": {"keys": 3, "observed": 0, "throttled": throttled, "blocked": blocked}}}


def test_summary_aggregates_runs_per_split() -> None:
    s = summarise([_run("heldout", "default", True, 0.5), _run("heldout", "default", False, 0.0, 1),
                   _run("tuning", "default", True, 1.0)])
    row = s["heldout"]["campaigns"]["camp|default"]
    assert row["runs"] == 2 and row["detected_runs"] == 1 and row["share"] == 0.25
    assert row["actions"] == {"throttle": 1, "none": 1} and row["requests_to_detect"] == 10
    assert s["heldout"]["personas"]["judge"] == {"keys": 6, "observed": 0, "throttled": 1, "blocked": 0}
    assert s["tuning"]["campaigns"]["camp|default"]["detected_runs"] == 1


def _baseline(*runs: dict) -> dict:
    todo = [Cell("heldout", r["variant"], "heldout", 11) for r in runs]
    return baseline_of(summarise(list(runs)), Settings(hours=6, scale=0.05), todo)


def test_gate_passes_on_equal_or_better_results() -> None:
    base = _baseline(_run("heldout", "default", True, 0.5, throttled=1))
    assert regressions(_baseline(_run("heldout", "default", True, 0.45, throttled=1)), base) == []
    assert regressions(_baseline(_run("heldout", "default", True, 1.0)), base) == []
    assert base["matrix"] == {"split": "heldout", "hours": 6, "scale": 0.05, "seeds": [11],
                              "variants": ["default"]}


@pytest.mark.parametrize("now, why", [
    (_run("heldout", "default", False, 0.0, throttled=1), "detected in 0 runs"),
    (_run("heldout", "default", True, 0.35, throttled=1), "keys named 35%"),
    (_run("heldout", "default", True, 0.5, throttled=2), "benign keys throttled: 2"),
    (_run("heldout", "default", True, 0.5, throttled=1, blocked=1), "benign keys blocked: 1"),
    (_run("heldout", "other", True, 0.5, throttled=1), "no longer in the matrix"),
])
def test_gate_fails_on_each_kind_of_regression(now: dict, why: str) -> None:
    base = _baseline(_run("heldout", "default", True, 0.5, throttled=1))
    problems = regressions(_baseline(now), base)
    assert problems and why in problems[0]


def test_cells_follow_the_fixed_split() -> None:
    tuning = cells("tuning", ["default"])
    assert {(c.wording, c.seed) for c in tuning} == {("classic", 1), ("classic", 2), ("tuning", 1),
                                                     ("tuning", 2)}
    held = cells("heldout", ["default", "broad_sweep"])
    assert {(c.variant, c.wording, c.seed) for c in held} == {
        (v, "heldout", s) for v in ("default", "broad_sweep") for s in (11, 12)}
    # every variant: 4 tuning cells (two wordings, two seeds) and 2 held-out ones
    assert len(cells("all")) == len(VARIANTS) * 6 and {c.seed for c in cells("heldout", seeds=[3])} == {3}
    for bad in ({"split": "nope"}, {"variants": ["nope"]}):
        with pytest.raises(ValueError):
            cells(**bad)

