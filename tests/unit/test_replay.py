"""Replay end to end on simulated traffic: deterministic, schema-valid, detects, never leaks text."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.alerts import validate_alert, validate_decision
from detector.config import Config
from detector.offline.replay import alerts_jsonl, replay_files, replay_lines
from detector.offline.simulate import simulate

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(out, seed=3, scenario="all", hours=6, corpora=CORPORA, scale=0.1)
    return out


def test_replaying_the_same_file_twice_gives_identical_alerts(sim: Path) -> None:
    a = replay_files([sim / "events.jsonl.gz"], Config())
    b = replay_files([sim / "events.jsonl.gz"], Config())
    assert a.alerts, "a 6-hour mix with every campaign must raise alerts"
    assert alerts_jsonl(a.alerts) == alerts_jsonl(b.alerts)
    assert a.decisions == b.decisions


def test_every_alert_and_decision_matches_the_contract(sim: Path) -> None:
    r = replay_files([sim / "events.jsonl.gz"], Config())
    for alert in r.alerts:
        validate_alert(alert)
    for _, decision in r.decisions:
        if decision is not None:
            validate_decision(decision)


def test_no_prompt_text_in_alerts(sim: Path) -> None:
    canary = "ZEBRA-CANARY-7781"
    lines = [
        b'{"ts": %d, "api_key_id": "canary-key", "messages": [{"role": "user", "content": "%s step by step"}],'
        b' "params": {"logit_bias_size": 40, "logprobs": true, "max_tokens": 1}}' % (1_764_000_000_000 + i * 5000,
                                                                                  canary.encode())
        for i in range(1500)
    ]
    r = replay_lines(lines, Config())
    assert any("canary-key" in a["api_key_ids"] for a in r.alerts)
    assert canary.encode() not in alerts_jsonl(r.alerts)


def test_bad_lines_are_counted_and_do_not_disturb_good_ones() -> None:
    good = [b'{"ts": %d, "api_key_id": "k%d"}' % (1_764_000_000_000 + i * 1000, i % 3) for i in range(300)]
    bad = [b"\xff\xfe", b"not json", b"[1, 2]", b'{"api_key_id": "x"}', b'{"ts": "yesterday", "api_key_id": "x"}']
    mixed = [x for pair in zip(good, bad * 60) for x in pair]
    clean = replay_lines(good, Config())
    dirty = replay_lines(mixed, Config())
    assert dirty.counts["events"] == clean.counts["events"] == 300
    assert sum(dirty.rejections.values()) >= 300
    assert alerts_jsonl(dirty.alerts) == alerts_jsonl(clean.alerts)
