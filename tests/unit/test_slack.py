"""Slack rendering (Block Kit limits, privacy, replay command) and the notify flow-control policy."""

from __future__ import annotations

import json
import shlex
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.outputs.slack import (
    MAX_HEADER_TEXT,
    NotifyPolicy,
    TokenBucket,
    build_digest,
    build_message,
    check_limits,
    enforce_limits,
    replay_command,
)

ALERT_SCHEMA = json.loads(files("detector").joinpath("schemas/alert.v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(ALERT_SCHEMA, format_checker=jsonschema.FormatChecker())
CANARY = "CANARY-prompt-7f3a9-sk-live-secret"
REPLAY = "--topic gateway-logs"


def make_alert(n: int = 0, *, kind: str = "key", n_keys: int = 1, n_reasons: int = 3, **over: Any) -> dict[str, Any]:
    """A schema-valid alert; ``over`` replaces top-level fields."""
    keys = [f"key_{n}_{i:04d}" for i in range(n_keys)]
    alert: dict[str, Any] = {
        "schema": "extraction.alert/v1",
        "alert_id": f"xa_{n:032x}",
        "kind": kind,
        "subject_id": keys[0] if kind == "key" else f"xc_{n:08x}",
        "api_key_ids": keys,
        "account_ids": [f"acct_{n}_{i}" for i in range(min(n_keys, 40))],
        "severity": "high",
        "action": "throttle",
        "ttl_s": 6 * 3600,
        "score": 0.91,
        "detected_at": "2026-02-01T10:10:00Z",
        "window": {"start": "2026-02-01T09:10:00Z", "end": "2026-02-01T10:10:00Z"},
        "reasons": [
            {"signal": f"template_share_{i}", "value": 0.9 - i / 100, "baseline": 0.05, "horizon": "1h"}
            for i in range(n_reasons)
        ],
        "requests": 12_345,
        "model_version": "xd-1.0",
    }
    alert.update(over)
    VALIDATOR.validate(alert)
    return alert


def all_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """Top-level text and every mrkdwn text object (the strings Slack parses for mentions/links)."""
    out = [payload["text"]]
    for block in payload["blocks"]:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                out.append(obj["text"])
    return out


def section_with(payload: dict[str, Any], needle: str) -> str:
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    return next(t for t in texts if needle in t)


# ------------------------------------------------------------------ build_message


def test_key_alert_message_is_complete_and_within_limits() -> None:
    alert = make_alert(1, severity="critical", action="block", ttl_s=86_400)
    msg = build_message(alert, replay_hint=REPLAY)
    assert check_limits(msg) == []
    header = msg["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"] == ":red_circle: Model extraction: key key_1_0000"
    fields = " ".join(f["text"] for f in msg["blocks"][1]["fields"])
    window = "2026-02-01T09:10:00Z \N{EN DASH} 2026-02-01T10:10:00Z"
    for expected in ("critical", "block · TTL 24h", "acct_1_0", "12,345", window, "0.910"):
        assert expected in fields
    reasons = section_with(msg, "Top reasons")
    assert "• `template_share_0`: 0.9 vs baseline 0.05 (1h)" in reasons
    investigate = section_with(msg, "Investigate")
    assert (
        "```detector replay --topic gateway-logs --since 2026-02-01T09:10:00Z "
        "--until 2026-02-01T10:10:00Z --key key_1_0000```"
    ) in investigate
    assert msg["text"].startswith("CRITICAL model extraction: key key_1_0000")


def test_cluster_of_500_keys_and_12_reasons_fits_every_limit() -> None:
    alert = make_alert(2, kind="cluster", n_keys=500, n_reasons=12, subject_id="xc_" + "f" * 297)
    msg = build_message(alert, replay_hint=REPLAY)
    assert check_limits(msg) == []
    header = msg["blocks"][0]["text"]["text"]
    assert len(header) <= MAX_HEADER_TEXT and header.endswith("(500 keys)")
    reasons = section_with(msg, "Top reasons")
    assert reasons.count("• ") == 5 and "+7 more" in reasons
    investigate = section_with(msg, "Investigate")
    command = investigate.split("```")[1]
    argv = shlex.split(command)
    assert argv.count("--key") == 10
    assert argv[argv.index("--key") + 1] == "key_2_0000"
    assert "… +490 more keys not listed" in investigate


def test_unknown_fields_and_prompt_text_are_never_rendered() -> None:
    alert = make_alert(3, kind="cluster", n_keys=20)
    # Not schema-valid any more: consumers must ignore unknown fields, and must never render them.
    alert["prompt"] = CANARY
    alert["messages"] = [{"role": "user", "content": CANARY}]
    alert["window"]["note"] = CANARY
    alert["reasons"][0]["example"] = CANARY
    for payload in (build_message(alert, replay_hint=REPLAY), build_digest([alert, make_alert(4)])):
        assert CANARY not in all_text(payload)


def test_alert_strings_cannot_mention_or_link() -> None:
    evil = "<!channel> <https://evil.example|click> & co"
    alert = make_alert(5, subject_id=evil, api_key_ids=[evil], account_ids=["<@U123>"])
    for payload in (build_message(alert, replay_hint=REPLAY), build_digest([alert])):
        assert check_limits(payload) == []
        for text in mrkdwn_texts(payload):
            assert "<!channel>" not in text and "<@U123>" not in text and "<https://" not in text
        assert "&lt;!channel&gt;" in section_with(payload, "Investigate")


def test_replay_command_quotes_odd_keys_and_respects_budget() -> None:
    cmd, left_out = replay_command(REPLAY, "2026-02-01T09:10:00Z", "2026-02-01T10:10:00Z", ["a b", "c'd"])
    assert shlex.split(cmd)[-4:] == ["--key", "a b", "--key", "c'd"] and left_out == 0
    long_keys = [f"{i}" + "k" * 255 for i in range(10)]
    cmd, left_out = replay_command(REPLAY, "s", "e", long_keys)
    assert left_out > 0 and len(cmd) <= 2500


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["key", "cluster"]),
    n_keys=st.integers(1, 600),
    n_reasons=st.integers(1, 12),
    subject=st.text(min_size=1, max_size=300),
    account=st.text(max_size=256),
    value=st.floats(allow_nan=False, allow_infinity=False),
)
def test_any_valid_alert_renders_within_limits(
    kind: str, n_keys: int, n_reasons: int, subject: str, account: str, value: float
) -> None:
    keys = [f"{subject[:200]}_{i}" for i in range(n_keys)] if kind == "cluster" else [subject]
    alert = make_alert(6, kind=kind, n_keys=n_keys, n_reasons=n_reasons)
    alert.update(subject_id=subject, api_key_ids=keys, account_ids=[account, account + "x"] if account else [])
    alert["reasons"][0]["value"] = value
    assert check_limits(build_message(alert, replay_hint=REPLAY)) == []
    assert check_limits(build_digest([alert] * 3)) == []


# ------------------------------------------------------------------ digest


def test_digest_counts_subjects_and_one_replay_hint() -> None:
    severities = ["critical", "high", "high", "medium", "low", "high"]
    alerts = [make_alert(i, severity=sev) for i, sev in enumerate(severities)]
    wide = {"start": "2026-02-01T08:00:00Z", "end": "2026-02-01T10:30:00Z"}
    alerts.append(make_alert(99, kind="cluster", n_keys=500, n_reasons=12, severity="critical", action="block",
                             score=0.99, window=wide))
    alerts += [make_alert(100 + i, severity="medium") for i in range(30)]
    digest = build_digest(alerts)
    assert check_limits(digest) == []
    assert digest["blocks"][0]["text"]["text"] == ":red_circle: Model extraction: 37 alerts"
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in digest["blocks"][1]["fields"]}
    assert fields["*:red_circle: critical*"] == "2"
    assert fields["*:large_orange_circle: high*"] == "3"
    assert fields["*:large_yellow_circle: medium*"] == "31"
    assert fields["*Actions*"] == "block 1 · throttle 36"
    assert digest["text"] == "37 model-extraction alerts: 2 critical, 3 high, 31 medium, 1 low"
    top = section_with(digest, "Top subjects")
    assert top.splitlines()[1].startswith("• :red_circle: cluster xc_00000063 (500 keys)")
    assert "+27 more alerts" in top
    replays = [b for b in digest["blocks"] if "```detector replay" in b.get("text", {}).get("text", "")]
    assert len(replays) == 1
    argv = shlex.split(replays[0]["text"]["text"].split("```")[1])
    # union window; round-robin: the first key of each top subject comes first
    assert argv[argv.index("--since") + 1] == "2026-02-01T08:00:00Z"
    assert argv[argv.index("--until") + 1] == "2026-02-01T10:30:00Z"
    keys = [argv[i + 1] for i, a in enumerate(argv) if a == "--key"]
    assert keys[:2] == ["key_99_0000", "key_0_0000"] and len(keys) == 10


def test_digest_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        build_digest([])


# ------------------------------------------------------------------ limits


def test_enforce_limits_repairs_an_oversized_payload() -> None:
    payload = {
        "text": "x" * 50_000,
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 400}}]
        + [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 5000},
            "fields": [{"type": "mrkdwn", "text": "f" * 2500}] * 14} for _ in range(60)]
        + [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 12}],
    }
    problems = check_limits(payload)
    assert any("blocks: 62" in p for p in problems) and any("header" in p for p in problems)
    assert any("fields: 14" in p for p in problems) and any("all block text" in p for p in problems)
    fixed = enforce_limits(payload)
    assert check_limits(fixed) == []
    assert fixed["blocks"][0]["text"]["text"].endswith("…")
    assert len(payload["blocks"]) == 62  # input untouched


def test_check_limits_flags_empty_payload() -> None:
    assert check_limits({}) == ["payload has neither text nor blocks"]


# ------------------------------------------------------------------ NotifyPolicy


def test_threshold_and_dedupe() -> None:
    policy = NotifyPolicy()
    assert policy.offer(make_alert(1, severity="low"), now=0) == "below_threshold"
    assert policy.offer(make_alert(2, severity="medium"), now=0) == "queued"
    assert policy.offer(make_alert(2, severity="medium"), now=1) == "duplicate"
    assert policy.pending == 1


def test_gather_window_then_individual_messages_most_severe_first() -> None:
    policy = NotifyPolicy(gather_s=10, digest_over=5)
    policy.offer(make_alert(1, severity="medium"), now=100)
    policy.offer(make_alert(2, severity="critical"), now=105)
    assert policy.next_flush_at() == 110
    assert policy.flush(now=109.9) == []
    out = policy.flush(now=110)
    assert [n.kind for n in out] == ["alert", "alert"]
    assert [n.alerts[0]["severity"] for n in out] == ["critical", "medium"]
    assert policy.pending == 0 and policy.next_flush_at() is None and policy.flush(now=200) == []


def test_more_than_k_pending_become_one_digest() -> None:
    policy = NotifyPolicy(digest_over=5)
    for i in range(5):
        policy.offer(make_alert(i), now=0)
    assert [n.kind for n in policy.flush(now=10)] == ["alert"] * 5
    for i in range(10, 16):
        policy.offer(make_alert(i), now=20)
    (digest,) = policy.flush(now=30)
    assert digest.kind == "digest" and len(digest.alerts) == 6


def test_cooldown_per_subject_with_escalation() -> None:
    policy = NotifyPolicy(cooldown_s=900)
    subject = {"subject_id": "key_x", "api_key_ids": ["key_x"]}
    assert policy.offer(make_alert(1, severity="high", **subject), now=0) == "queued"
    policy.flush(now=10)
    assert policy.offer(make_alert(2, severity="high", **subject), now=60) == "cooldown"
    assert policy.offer(make_alert(3, severity="medium", **subject), now=60) == "cooldown"
    assert policy.offer(make_alert(4, severity="critical", **subject), now=120) == "queued"
    # escalation restarts the cooldown at the higher severity
    assert policy.offer(make_alert(5, severity="critical", **subject), now=900) == "cooldown"
    assert policy.offer(make_alert(6, severity="high", **subject), now=120 + 900) == "queued"
    # other subjects are unaffected
    assert policy.offer(make_alert(7, severity="high"), now=130) == "queued"


def test_pending_alert_is_replaced_by_its_escalation() -> None:
    policy = NotifyPolicy()
    subject = {"subject_id": "key_y", "api_key_ids": ["key_y"]}
    policy.offer(make_alert(1, severity="medium", **subject), now=0)
    policy.offer(make_alert(2, severity="critical", **subject), now=1)
    (only,) = policy.flush(now=10)
    assert only.alerts[0]["alert_id"] == make_alert(2)["alert_id"]


def test_dedupe_memory_is_bounded() -> None:
    policy = NotifyPolicy(dedupe_capacity=3, cooldown_s=0)
    for i in range(5):
        policy.offer(make_alert(i), now=i)
    assert policy.offer(make_alert(4), now=10) == "duplicate"
    assert policy.offer(make_alert(0), now=10) == "queued"  # forgotten: oldest id evicted


def test_invalid_threshold_is_rejected() -> None:
    with pytest.raises(ValueError):
        NotifyPolicy(min_severity="urgent")


# ------------------------------------------------------------------ TokenBucket


def test_token_bucket_spaces_posts_one_per_second() -> None:
    bucket = TokenBucket(rate_per_s=1.0, capacity=1.0)
    now, sent = 0.0, []
    for _ in range(5):
        now += bucket.wait_s(now)
        bucket.take(now)
        sent.append(now)
    assert sent == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert bucket.wait_s(10.0) == 0.0  # refilled, but never more than capacity
    bucket.take(10.0)
    assert bucket.wait_s(10.0) == 1.0


def test_token_bucket_pause_until_retry_after() -> None:
    bucket = TokenBucket()
    bucket.take(0.0)
    bucket.pause_until(5.0)
    assert bucket.wait_s(1.0) == 4.0
    assert bucket.wait_s(5.0) == 0.0
    bucket.take(5.0)
    assert bucket.wait_s(5.0) == 1.0
