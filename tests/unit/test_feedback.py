"""Analyst feedback: dismissals silence a subject, confirmations teach the supervised model."""

from __future__ import annotations

import pytest

from detector.config import Config
from detector.feedback import Label, SupervisedModel
from detector.scorer import Scorer
from tests.unit.test_scorer import PROBE, QUIET, summ

MIN = 60_000
HARVEST = dict(QUIET, n=400.0, out_new_in_ratio=12.0, out_tokens_mean=2500.0, rate_cot=0.9, rate_thinking=0.9,
               distinct_prompt_ratio=0.95, top_skeleton_share=0.6)
CHAT = dict(QUIET, n=30.0, out_new_in_ratio=1.0, out_tokens_mean=300.0, distinct_prompt_ratio=0.9, depth_mean=3.0)


def test_label_message_round_trip_and_validation() -> None:
    lb = Label("key", "k1", "dismissed", 1_764_000_000_000, 3600, "eval lab")
    assert Label.from_json(lb.to_json()) == lb
    with pytest.raises(ValueError):
        Label.from_json(b'{"schema": "extraction.label/v1", "kind": "key", "subject_id": "k", "verdict": "maybe",'
                        b' "effective_at": "2026-11-20T00:00:00Z"}')


def test_dismissed_subject_is_not_realerted_until_the_label_lapses() -> None:
    sc = Scorer(Config())
    first = sc.close_epoch(10 * MIN, [summ("k", 10 * MIN, PROBE)])
    assert [a["action"] for a in first.alerts] == ["block"]
    sc.subjects.clear()   # the block lapsed
    sc.add_label(Label("key", "k", "dismissed", 15 * MIN, 3600))
    for e in range(2, 7):
        assert sc.close_epoch(e * 10 * MIN, [summ("k", e * 10 * MIN, PROBE)]).alerts == []
    later = sc.close_epoch(80 * MIN, [summ("k", 80 * MIN, PROBE)])
    assert [a["action"] for a in later.alerts] == ["block"]


def test_confirmations_raise_the_supervised_score_on_similar_windows() -> None:
    m = SupervisedModel()
    before = None
    for i in range(30):
        m.learn(HARVEST, True)
        m.learn(CHAT, False)
        if i == 0:
            before = m.proba(dict(HARVEST, n=350.0))
    after = m.proba(dict(HARVEST, n=350.0))
    assert before is not None and after > before and after > 0.8
    assert m.proba(CHAT) < 0.3


def test_scorer_learns_from_confirmed_subject_windows() -> None:
    sc = Scorer(Config())
    sc.close_epoch(10 * MIN, [summ("bad", 10 * MIN, HARVEST), summ("good", 10 * MIN, CHAT)])
    sc.add_label(Label("key", "bad", "confirmed", 10 * MIN, 86400))
    sc.add_label(Label("key", "good", "dismissed", 10 * MIN, 86400))
    for e in range(2, 12):
        sc.close_epoch(e * 10 * MIN, [summ("bad", e * 10 * MIN, HARVEST), summ("good", e * 10 * MIN, CHAT)])
    assert sc.supervised.ready
    assert sc.supervised.proba(HARVEST) > 0.7 > 0.3 > sc.supervised.proba(CHAT)
