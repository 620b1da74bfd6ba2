"""Pure enforcement state: parsing, precedence, idempotence, expiry, tombstones, cluster expansion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from detector.outputs.enforcement import Delete, EnforcementState, InvalidDecision, Put, parse_decision

T0 = 1_800_000_000_000  # epoch ms "now" of the tests
RPM = {"observe": None, "throttle": 6, "block": 0}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def raw(subject: str, keys: list[str], action: str = "block", *, n: int = 1, expires_ms: int = T0 + 3_600_000,
        rpm: int | str | None = "auto", **extra: Any) -> bytes:
    doc = {
        "schema": "extraction.decision/v1",
        "subject": subject,
        "kind": subject.split(":", 1)[0],
        "api_key_ids": keys,
        "action": action,
        "severity": "high",
        "rate_limit_rpm": RPM[action] if rpm == "auto" else rpm,
        "decided_at": iso(T0),
        "expires_at": iso(expires_ms),
        "alert_id": f"xa_{n:032x}",
    }
    doc.update(extra)
    return orjson.dumps(doc)


def apply(state: EnforcementState, subject: str, value: bytes | None, now: int = T0) -> list[Any]:
    return state.apply(subject, None if value is None else parse_decision(subject, value), now)


def redis_view(state: EnforcementState) -> dict[str, Any]:
    return {k: (orjson.loads(p.value), p.expire_at_ms) for k, p in state.desired().items()}


def test_key_block_becomes_one_record_with_pxat() -> None:
    state = EnforcementState()
    writes = apply(state, "key:k1", raw("key:k1", ["k1"]))
    assert writes == [Put("xd:enf:key:k1", writes[0].value, T0 + 3_600_000)]
    assert orjson.loads(writes[0].value) == {
        "action": "block", "rate_limit_rpm": 0, "expires_at": iso(T0 + 3_600_000),
        "subject": "key:k1", "alert_id": f"xa_{1:032x}",
    }


def test_redelivery_is_a_no_op() -> None:
    state = EnforcementState()
    apply(state, "cluster:xc_1", raw("cluster:xc_1", ["a", "b"]))
    before = redis_view(state)
    assert apply(state, "cluster:xc_1", raw("cluster:xc_1", ["a", "b"])) == []
    assert redis_view(state) == before


def test_cluster_expands_to_members_and_tombstone_lifts_all() -> None:
    state = EnforcementState()
    writes = apply(state, "cluster:xc_1", raw("cluster:xc_1", ["a", "b", "c"], "throttle"))
    assert {w.key for w in writes} == {"xd:enf:cluster:xc_1", "xd:enf:key:a", "xd:enf:key:b", "xd:enf:key:c"}
    assert orjson.loads(state.desired()["xd:enf:cluster:xc_1"].value)["api_key_ids"] == ["a", "b", "c"]
    writes = apply(state, "cluster:xc_1", None)
    assert set(writes) == {Delete(f"xd:enf:{k}") for k in ("cluster:xc_1", "key:a", "key:b", "key:c")}
    assert state.desired() == {} and state.active_subjects == 0


def test_new_cluster_decision_drops_members_that_left() -> None:
    state = EnforcementState()
    apply(state, "cluster:xc_1", raw("cluster:xc_1", ["a", "b"]))
    writes = apply(state, "cluster:xc_1", raw("cluster:xc_1", ["b", "c"], n=2))
    assert Delete("xd:enf:key:a") in writes
    assert set(redis_view(state)) == {"xd:enf:cluster:xc_1", "xd:enf:key:b", "xd:enf:key:c"}


@pytest.mark.parametrize("order", [("key", "cluster"), ("cluster", "key")])
def test_stronger_action_wins_whatever_the_order(order: tuple[str, str]) -> None:
    state = EnforcementState()
    records = {
        "key": ("key:k", raw("key:k", ["k"], "throttle", n=1)),
        "cluster": ("cluster:xc_9", raw("cluster:xc_9", ["k", "other"], "block", n=2)),
    }
    for name in order:
        apply(state, *records[name])
    view = redis_view(state)
    assert view["xd:enf:key:k"][0]["action"] == "block"
    assert view["xd:enf:key:k"][0]["subject"] == "cluster:xc_9"
    # lifting the cluster falls back to the key's own throttle
    apply(state, "cluster:xc_9", None)
    assert redis_view(state)["xd:enf:key:k"][0]["action"] == "throttle"
    assert "xd:enf:key:other" not in redis_view(state)


def test_same_action_lower_rpm_wins() -> None:
    state = EnforcementState()
    apply(state, "key:k", raw("key:k", ["k"], "throttle", rpm=10))
    apply(state, "cluster:xc_1", raw("cluster:xc_1", ["k"], "throttle", rpm=3, n=2))
    assert redis_view(state)["xd:enf:key:k"][0]["rate_limit_rpm"] == 3


def test_expired_on_arrival_is_skipped_and_lifts_the_previous_one() -> None:
    state = EnforcementState()
    assert apply(state, "key:k", raw("key:k", ["k"], expires_ms=T0 - 1)) == []
    apply(state, "key:k", raw("key:k", ["k"]))
    assert apply(state, "key:k", raw("key:k", ["k"], n=2, expires_ms=T0)) == [Delete("xd:enf:key:k")]


def test_expiry_sweep_falls_back_to_the_longer_decision() -> None:
    state = EnforcementState()
    apply(state, "key:k", raw("key:k", ["k"], "block", expires_ms=T0 + 1000))
    apply(state, "cluster:xc_1", raw("cluster:xc_1", ["k"], "throttle", n=2, expires_ms=T0 + 5000))
    assert state.next_expiry_ms() == T0 + 1000
    assert state.expire(T0 + 999) == []
    (put,) = state.expire(T0 + 1000)
    assert orjson.loads(put.value)["action"] == "throttle" and put.expire_at_ms == T0 + 5000
    assert set(state.expire(T0 + 5000)) == {Delete("xd:enf:cluster:xc_1"), Delete("xd:enf:key:k")}
    assert state.next_expiry_ms() is None


def test_replaced_decision_leaves_no_stale_expiry() -> None:
    state = EnforcementState()
    apply(state, "key:k", raw("key:k", ["k"], expires_ms=T0 + 1000))
    apply(state, "key:k", raw("key:k", ["k"], n=2, expires_ms=T0 + 9000))
    assert state.next_expiry_ms() == T0 + 9000
    assert state.expire(T0 + 1000) == []


def test_tombstone_for_unknown_subject_is_harmless() -> None:
    assert EnforcementState().apply("cluster:nope", None, T0) == []


def test_custom_prefix() -> None:
    state = EnforcementState(prefix="t1:")
    apply(state, "key:k", raw("key:k", ["k"]))
    assert list(state.desired()) == ["t1:key:k"]


@pytest.mark.parametrize(
    ("subject", "value"),
    [
        ("key:k", b"{not json"),
        ("key:k", b"[1]"),
        ("key:k", raw("key:other", ["other"])),  # record key != value subject
        ("key:k", raw("key:k", ["k", "j"])),  # key decision covering another key
        ("cluster:c", raw("cluster:c", ["a"], kind="key")),  # kind/subject mismatch
        ("key:k", raw("key:k", ["k"], action="deny", rpm=0)),
        ("key:k", raw("key:k", ["k"], expires_at="2026-02-01T10:00:00")),  # no time zone
    ],
)
def test_off_contract_records_are_rejected(subject: str, value: bytes) -> None:
    with pytest.raises(InvalidDecision):
        parse_decision(subject, value)


def test_unknown_extra_fields_are_tolerated() -> None:
    assert parse_decision("key:k", raw("key:k", ["k"], reason_codes=["x"])).action == "block"
