"""The output contracts: ``extraction.alert/v1`` and ``extraction.decision/v1`` messages.

Alerts and decisions are plain dicts shaped by the JSON Schemas shipped in
``detector/schemas/``; :func:`validate_alert` / :func:`validate_decision` check them. Alert ids are
deterministic (a hash of subject, window end, escalation level, member count and model version),
so a redelivered or replayed alert carries the same id. Times are RFC 3339 UTC with milliseconds.
No prompt text can reach these messages: they are built only from ids, numbers and signal names.

>>> rfc3339(0)
'1970-01-01T00:00:00.000Z'
>>> alert_id("key", "k1", 600000, 2, 1, "xd-1.0")[:3]
'xa_'
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources
from typing import Any

import orjson
import xxhash

from detector.evidence import Evidence
from detector.levels import Action, Severity

LEVELS: tuple[Action, ...] = tuple(Action)
"""Escalation levels by number: 0 none, 1 observe, 2 throttle, 3 block."""


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp with milliseconds."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def alert_id(kind: str, subject: str, epoch_ms: int, level: int, members: int, model_version: str) -> str:
    """Deterministic alert id: same subject, window, escalation and model give the same id."""
    return "xa_" + xxhash.xxh3_128_hexdigest(f"{kind}|{subject}|{epoch_ms}|{level}|{members}|{model_version}".encode())


def severity_of(level: int, score: float) -> Severity:
    """Severity of an escalation level (an observe-level alert by its score).

    >>> severity_of(3, 0.99), severity_of(1, 0.7)
    (<Severity.CRITICAL: 'critical'>, <Severity.MEDIUM: 'medium'>)
    """
    if level >= Action.BLOCK.rank:
        return Severity.CRITICAL
    if level == Action.THROTTLE.rank:
        return Severity.HIGH
    return Severity.MEDIUM if score >= 0.65 else Severity.LOW


def build_alert(*, kind: str, subject: str, api_key_ids: list[str], account_ids: list[str], level: int,
                score: float, epoch_ms: int, horizon_ms: int, requests: int, evidence: list[Evidence],
                ttl_s: int, model_version: str) -> dict[str, Any]:
    """An ``extraction.alert/v1`` message."""
    return {
        "schema": "extraction.alert/v1",
        "alert_id": alert_id(kind, subject, epoch_ms, level, len(api_key_ids), model_version),
        "kind": kind,
        "subject_id": subject,
        "api_key_ids": api_key_ids,
        "account_ids": account_ids,
        "severity": severity_of(level, score).value,
        "action": LEVELS[level].value,
        "ttl_s": ttl_s,
        "score": round(min(1.0, max(0.0, score)), 4),
        "detected_at": rfc3339(epoch_ms),
        "window": {"start": rfc3339(epoch_ms - horizon_ms), "end": rfc3339(epoch_ms)},
        "reasons": [
            {"signal": e.signal, "value": round(e.value, 4), "baseline": round(e.baseline, 4), "horizon": e.horizon}
            for e in evidence[:8]
        ],
        "requests": requests,
        "model_version": model_version,
    }


def decision_key(kind: str, subject: str) -> str:
    """Message key of a subject on the compacted decisions topic."""
    return f"{kind}:{subject}"


def build_decision(alert: dict[str, Any], *, expires_ms: int, decided_ms: int, throttle_rpm: int) -> dict[str, Any]:
    """The ``extraction.decision/v1`` value that enforces ``alert`` until ``expires_ms``."""
    action = alert["action"]
    return {
        "schema": "extraction.decision/v1",
        "subject": decision_key(alert["kind"], alert["subject_id"]),
        "kind": alert["kind"],
        "api_key_ids": alert["api_key_ids"],
        "action": action,
        "severity": alert["severity"],
        "rate_limit_rpm": {Action.BLOCK: 0, Action.THROTTLE: throttle_rpm}.get(action),
        "decided_at": rfc3339(decided_ms),
        "expires_at": rfc3339(expires_ms),
        "alert_id": alert["alert_id"],
    }


def refresh_decision(decision: dict[str, Any], *, expires_ms: int, decided_ms: int) -> dict[str, Any]:
    """The same decision (same alert id) with a later expiry: the behaviour continues."""
    return dict(decision, expires_at=rfc3339(expires_ms), decided_at=rfc3339(decided_ms))


@cache
def schema(name: str) -> dict[str, Any]:
    """A shipped JSON Schema by file name (``alert.v1.json`` or ``decision.v1.json``)."""
    return orjson.loads(resources.files("detector.schemas").joinpath(name).read_bytes())


def _validator(name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(name), format_checker=jsonschema.FormatChecker())


def validate_alert(alert: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``alert`` matches ``extraction.alert/v1``."""
    _validator("alert.v1.json").validate(alert)


def validate_decision(decision: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``decision`` matches ``extraction.decision/v1``."""
    _validator("decision.v1.json").validate(decision)
