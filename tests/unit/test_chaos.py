"""The pure parts of ``detector bench chaos`` (:mod:`detector.offline.chaos`): kill schedule, content
comparison of checkpoints, alert dedupe, final decisions. The live runs are in
``tests/integration/test_bench_chaos.py``."""

from __future__ import annotations

import pickle

import orjson

from detector.offline.chaos import (canonical, category, final_decisions, kill_thresholds, same_value,
                           summarize_alerts)


def test_kills_are_spread_evenly_inside_the_run() -> None:
    t = kill_thresholds(20)
    assert len(t) == 20 and t == sorted(t)
    assert 0 < t[0] and t[-1] < 1
    assert kill_thresholds(0) == []


def test_pickles_compare_by_content_not_by_bytes() -> None:
    a, b = pickle.dumps({"x": 1, "y": {"k": [1, 2]}}), pickle.dumps({"y": {"k": [1, 2]}, "x": 1})
    assert a != b
    assert same_value(a, b) == (True, True)
    assert same_value(a, a) == (True, False)
    assert same_value(a, pickle.dumps({"x": 2, "y": {"k": [1, 2]}})) == (False, False)
    assert same_value(b"plain", b"other") == (False, False)
    assert canonical({3, 1, 2}) == canonical({2, 3, 1}) == [1, 2, 3]


def test_alert_redeliveries_are_duplicates_not_differences() -> None:
    one = orjson.dumps({"alert_id": "xa_1", "severity": "high", "api_key_ids": ["k"]})
    same_reordered = orjson.dumps({"api_key_ids": ["k"], "severity": "high", "alert_id": "xa_1"})
    other = orjson.dumps({"alert_id": "xa_2"})
    s = summarize_alerts([one, None, other, same_reordered, one])
    assert (s.records, s.distinct, s.duplicates, s.conflicting) == (4, 2, 2, set())
    clash = summarize_alerts([one, orjson.dumps({"alert_id": "xa_1", "severity": "low", "api_key_ids": ["k"]})])
    assert clash.conflicting == {"xa_1"}


def test_final_decisions_follow_the_last_record_per_subject() -> None:
    d = final_decisions([(b"key:a", b'{"action": "throttle"}'), (b"key:b", b'{"action": "block"}'),
                         (b"key:a", b'{"action": "block"}'), (b"key:b", None)])
    assert list(d) == ["key:a"]
    assert d == final_decisions([(b"key:a", b'{"action":"block"}')])


def test_redis_keys_are_categorised_by_the_store_layout() -> None:
    assert category("xd:{p3}:k:key_abc") == "window blob"
    assert category("xd:{p0}:keys") == "key set"
    assert category("xd:{p12}:meta") == "partition meta"
    assert category("xd:{scorer}:state") == "scorer checkpoint"
    assert category("something:else") == "other"
