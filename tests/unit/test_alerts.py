"""Alert and decision contracts: shipped schemas, deterministic ids, no text."""

from __future__ import annotations

import jsonschema
import pytest

from detector.alerts import alert_id, build_alert, build_decision, refresh_decision, rfc3339, validate_alert, \
    validate_decision
from detector.evidence import Evidence

EV = [Evidence("logit_probe", 1.0, 0.9, 0.05, "1h", True), Evidence("anomalous_window", 0.2, 0.4, 0.0, "24h")]


def make(level: int = 2, keys: list[str] | None = None) -> dict:
    return build_alert(kind="key", subject="k1", api_key_ids=keys or ["k1"], account_ids=["a1"], level=level,
                       score=0.97, epoch_ms=1_764_000_000_000, horizon_ms=3_600_000, requests=812, evidence=EV,
                       ttl_s=3600, model_version="xd-test")


def test_built_alert_and_decision_validate() -> None:
    a = make()
    validate_alert(a)
    assert a["action"] == "throttle" and a["severity"] == "high"
    assert a["window"] == {"start": rfc3339(1_764_000_000_000 - 3_600_000), "end": rfc3339(1_764_000_000_000)}
    d = build_decision(a, expires_ms=1_764_003_600_000, decided_ms=1_764_000_000_000, throttle_rpm=6)
    validate_decision(d)
    assert d["subject"] == "key:k1" and d["rate_limit_rpm"] == 6
    r = refresh_decision(d, expires_ms=1_764_007_200_000, decided_ms=1_764_003_000_000)
    validate_decision(r)
    assert r["alert_id"] == d["alert_id"] and r["expires_at"] > d["expires_at"]


def test_alert_ids_are_deterministic_and_distinguish_escalations() -> None:
    assert make()["alert_id"] == make()["alert_id"]
    assert make(level=3)["alert_id"] != make()["alert_id"]
    assert make(keys=["k1", "k2"])["alert_id"] != make()["alert_id"]
    assert alert_id("key", "k", 1, 1, 1, "v") != alert_id("cluster", "k", 1, 1, 1, "v")


def test_schema_rejects_unknown_fields_and_bad_values() -> None:
    a = make()
    with pytest.raises(jsonschema.ValidationError):
        validate_alert(dict(a, prompt="leak"))
    with pytest.raises(jsonschema.ValidationError):
        validate_alert(dict(a, action="ban"))
    with pytest.raises(jsonschema.ValidationError):
        validate_alert(dict(a, api_key_ids=[]))


@pytest.mark.parametrize("module", ["detector.alerts", "detector.levels"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module)).failed == 0


def test_contract_values_are_plain_strings() -> None:
    """Alerts carry the enums' string values, so they can key any dict a consumer serialises."""
    import orjson

    a = build_alert(kind="key", subject="k1", api_key_ids=["k1"], account_ids=[], level=2, score=0.9,
                    epoch_ms=600_000, horizon_ms=3_600_000, requests=10, evidence=[], ttl_s=60,
                    model_version="xd-test")
    assert type(a["action"]) is str and type(a["severity"]) is str
    assert orjson.dumps({a["action"]: 1, a["severity"]: 2}) == b'{"throttle":1,"high":2}'
