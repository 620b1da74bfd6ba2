"""NotifyPolicy state handed from one notifier process to the next (``last_notified`` / ``restore``)."""

from __future__ import annotations

from detector.outputs.slack import SEVERITY_RANK, NotifyPolicy
from tests.unit.test_slack import make_alert

SUBJECT = {"subject_id": "key_x", "api_key_ids": ["key_x"]}


def test_a_restored_policy_gives_the_verdicts_the_first_one_would_have() -> None:
    first = NotifyPolicy(cooldown_s=900)
    assert first.offer(make_alert(1, severity="high", **SUBJECT), now=1000) == "queued"
    first.flush(now=1010)
    saved = first.last_notified("key_x")
    assert saved == (1000, SEVERITY_RANK["high"])

    second = NotifyPolicy(cooldown_s=900)
    second.restore([make_alert(1)["alert_id"]], {"key_x": saved})
    assert second.offer(make_alert(1, severity="high", **SUBJECT), now=1500) == "duplicate"
    assert second.offer(make_alert(2, severity="high", **SUBJECT), now=1500) == "cooldown"
    assert second.offer(make_alert(3, severity="critical", **SUBJECT), now=1500) == "queued"
    # 1000 + 900 has passed, but the escalation at 1500 restarted the cooldown
    assert second.offer(make_alert(4, severity="high", **SUBJECT), now=1900) == "cooldown"


def test_restore_keeps_the_later_state_and_is_idempotent() -> None:
    policy = NotifyPolicy(cooldown_s=900)
    policy.offer(make_alert(1, severity="medium", **SUBJECT), now=2000)
    for _ in range(2):
        policy.restore([], {"key_x": (1000.0, SEVERITY_RANK["critical"])})
    assert policy.last_notified("key_x") == (2000, SEVERITY_RANK["medium"])
    policy.restore([], {"key_x": (2000.0, SEVERITY_RANK["high"])})
    assert policy.last_notified("key_x") == (2000, SEVERITY_RANK["high"])
    assert policy.last_notified("key_unknown") is None


def test_restored_ids_stay_within_the_dedupe_capacity() -> None:
    policy = NotifyPolicy(dedupe_capacity=3, cooldown_s=0)
    policy.restore([make_alert(i)["alert_id"] for i in range(5)], {})
    assert policy.offer(make_alert(4), now=0) == "duplicate"
    assert policy.offer(make_alert(0), now=0) == "queued"  # the oldest restored ids were evicted
