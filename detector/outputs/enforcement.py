"""Pure enforcement state: extraction decisions in, the Redis records a gateway reads out.

What: :func:`parse_decision` turns one record of the compacted ``extraction-decisions`` topic into
a :class:`Decision`; :class:`EnforcementState` holds the live decisions and answers each change
with the :class:`Put` / :class:`Delete` writes that bring Redis to the new state. The I/O shell
(:mod:`detector.outputs.enforcer`) executes the writes and serves them over HTTP.

Redis layout (``prefix`` defaults to ``xd:enf:``), each value JSON, each with ``PXAT`` equal to the
``expires_at`` of the decision it comes from, so nothing outlives its decision even if the
enforcer dies:

* ``xd:enf:key:<api_key_id>`` -> ``{action, rate_limit_rpm, expires_at, subject, alert_id}``: the
  effective decision for one key — one GET per request for a gateway.
* ``xd:enf:cluster:<cluster_id>`` -> the same plus ``api_key_ids`` (the members).

Rules:
* A cluster decision applies to every member key. When several live decisions cover one key the
  strongest wins: ``block > throttle > observe``, then the lower ``rate_limit_rpm``, then the later
  ``expires_at``, then the subject name (so the outcome never depends on arrival order).
* A tombstone (``None``) lifts the subject; a decision already expired on arrival lifts it too.
* A new decision for a subject replaces its previous one (members may change).
* Redelivery of an identical decision (same ``alert_id`` and fields) produces no write; a write
  is emitted only when a key's effective record actually changes.
* :meth:`EnforcementState.expire` drops decisions whose time has come and re-derives the keys
  they covered (a key blocked by its own decision and throttled by a longer cluster decision
  falls back to the throttle). Between Redis expiring a record and the next ``expire`` call a key
  can read as ``allow`` for as long as the caller's sweep lag.

Cost: ``apply`` is O(members of old + new decision x decisions per key); memory O(live decisions
+ covered keys). Time is passed in (epoch milliseconds).

Failure modes: :func:`parse_decision` raises :class:`InvalidDecision` for anything off-contract
(bad JSON, schema, subject/key mismatch, naive timestamp); the caller counts and skips it.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from typing import Any

import jsonschema
import orjson

from detector.levels import ENFORCED

ACTION_RANK: dict[str, int] = {a.value: a.rank for a in ENFORCED}
DEFAULT_PREFIX = "xd:enf:"
_DECISION_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(files("detector").joinpath("schemas/decision.v1.json").read_text())
)
_NO_LIMIT = 2**62  # sorts an unlimited (observe) rpm after every real limit


class InvalidDecision(ValueError):
    """A decisions-topic record that does not follow ``extraction.decision/v1``."""


def _epoch_ms(ts: str) -> int:
    parsed = datetime.fromisoformat(ts)
    if parsed.tzinfo is None:
        raise InvalidDecision(f"timestamp without time zone: {ts!r}")
    return int(parsed.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Decision:
    """One live decision; ``expires_ms`` is ``expires_at`` in epoch milliseconds."""

    subject: str
    kind: str
    api_key_ids: tuple[str, ...]
    action: str
    severity: str
    rate_limit_rpm: int | None
    decided_at: str
    expires_at: str
    expires_ms: int
    alert_id: str

    def strength(self) -> tuple[int, int, int, str]:
        """Sort key: the maximum is the decision that applies to a key it covers."""
        rpm = _NO_LIMIT if self.rate_limit_rpm is None else self.rate_limit_rpm
        return (ACTION_RANK[self.action], -rpm, self.expires_ms, self.subject)


def parse_decision(subject: str, value: bytes) -> Decision:
    """Parse and check one non-null record of the decisions topic keyed ``subject``.

    Unknown extra fields are tolerated (additive changes within v1); everything else the schema
    requires is enforced, plus: the value's ``subject`` equals the record key, and a ``key:``
    subject covers exactly its own key.
    """
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidDecision(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidDecision("decision is not a JSON object")
    errors = [e.message for e in _DECISION_VALIDATOR.iter_errors(doc) if e.validator != "additionalProperties"]
    if errors:
        raise InvalidDecision("; ".join(errors[:3]))
    if doc["subject"] != subject:
        raise InvalidDecision(f"record key {subject!r} != value subject {doc['subject']!r}")
    prefix, _, ident = subject.partition(":")
    if prefix != doc["kind"]:
        raise InvalidDecision(f"subject {subject!r} does not match kind {doc['kind']!r}")
    if doc["kind"] == "key" and doc["api_key_ids"] != [ident]:
        raise InvalidDecision("a key decision must cover exactly its own key")
    return Decision(
        subject=subject,
        kind=doc["kind"],
        api_key_ids=tuple(doc["api_key_ids"]),
        action=doc["action"],
        severity=doc["severity"],
        rate_limit_rpm=doc["rate_limit_rpm"],
        decided_at=doc["decided_at"],
        expires_at=doc["expires_at"],
        expires_ms=_epoch_ms(doc["expires_at"]),
        alert_id=doc["alert_id"],
    )


@dataclass(frozen=True, slots=True)
class Put:
    """``SET key value PXAT expire_at_ms``."""

    key: str
    value: bytes
    expire_at_ms: int


@dataclass(frozen=True, slots=True)
class Delete:
    """``DEL key``."""

    key: str


Write = Put | Delete


def _dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class EnforcementState:
    """Live decisions by subject, the keys they cover, and the effective record per key."""

    prefix: str = DEFAULT_PREFIX
    _subjects: dict[str, Decision] = field(default_factory=dict, init=False, repr=False)
    _by_key: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _effective: dict[str, Decision] = field(default_factory=dict, init=False, repr=False)
    _expiries: list[tuple[int, str, str]] = field(default_factory=list, init=False, repr=False)

    @property
    def active_subjects(self) -> int:
        """Number of live decisions."""
        return len(self._subjects)

    @property
    def covered_keys(self) -> int:
        """Number of keys with an effective decision."""
        return len(self._effective)

    def key_name(self, api_key_id: str) -> str:
        """Redis key of the effective record of ``api_key_id``."""
        return f"{self.prefix}key:{api_key_id}"

    @staticmethod
    def _record(d: Decision) -> dict[str, object]:
        """What a gateway reads for a key: the action, its rate and expiry, and where it came from."""
        return {"action": d.action, "rate_limit_rpm": d.rate_limit_rpm, "expires_at": d.expires_at,
                "subject": d.subject, "alert_id": d.alert_id}

    def _key_put(self, api_key_id: str, d: Decision) -> Put:
        return Put(self.key_name(api_key_id), _dumps(self._record(d)), d.expires_ms)

    def _cluster_put(self, d: Decision) -> Put:
        record = dict(self._record(d), api_key_ids=list(d.api_key_ids))
        return Put(self.prefix + d.subject, _dumps(record), d.expires_ms)

    def _refresh_key(self, api_key_id: str) -> list[Write]:
        subjects = self._by_key.get(api_key_id)
        best = max((self._subjects[s] for s in subjects), key=Decision.strength) if subjects else None
        if best == self._effective.get(api_key_id):
            return []
        if best is None:
            del self._effective[api_key_id]
            return [Delete(self.key_name(api_key_id))]
        self._effective[api_key_id] = best
        return [self._key_put(api_key_id, best)]

    def apply(self, subject: str, decision: Decision | None, now_ms: int) -> list[Write]:
        """Make ``decision`` (``None`` = tombstone) the one for ``subject``; the writes it implies."""
        if decision is not None and decision.expires_ms <= now_ms:
            decision = None
        old = self._subjects.get(subject)
        if decision == old:
            return []
        touched = set(old.api_key_ids if old else ()) | set(decision.api_key_ids if decision else ())
        for key in old.api_key_ids if old else ():
            self._by_key[key].discard(subject)
            if not self._by_key[key]:
                del self._by_key[key]
        writes: list[Write] = []
        if decision is None:
            del self._subjects[subject]
            if subject.startswith("cluster:"):
                writes.append(Delete(self.prefix + subject))
        else:
            self._subjects[subject] = decision
            for key in decision.api_key_ids:
                self._by_key.setdefault(key, set()).add(subject)
            heapq.heappush(self._expiries, (decision.expires_ms, subject, decision.alert_id))
            if decision.kind == "cluster":
                writes.append(self._cluster_put(decision))
        for key in sorted(touched):
            writes.extend(self._refresh_key(key))
        return writes

    def _drop_stale_expiries(self) -> None:
        while self._expiries:
            ms, subject, alert_id = self._expiries[0]
            live = self._subjects.get(subject)
            if live is not None and live.alert_id == alert_id and live.expires_ms == ms:
                return
            heapq.heappop(self._expiries)

    def next_expiry_ms(self) -> int | None:
        """When the earliest live decision expires, or ``None`` when there is none."""
        self._drop_stale_expiries()
        return self._expiries[0][0] if self._expiries else None

    def expire(self, now_ms: int) -> list[Write]:
        """Lift every decision whose ``expires_at`` is at or before ``now_ms``."""
        writes: list[Write] = []
        while (due := self.next_expiry_ms()) is not None and due <= now_ms:
            _, subject, _ = heapq.heappop(self._expiries)
            writes.extend(self.apply(subject, None, now_ms))
        return writes

    def desired(self) -> dict[str, Put]:
        """Everything Redis should hold under ``prefix``, by Redis key (for a full reconcile)."""
        puts = [self._key_put(k, d) for k, d in self._effective.items()]
        puts += [self._cluster_put(d) for d in self._subjects.values() if d.kind == "cluster"]
        return {p.key: p for p in puts}

    def effective(self, api_key_id: str) -> Decision | None:
        """The decision that applies to ``api_key_id`` now, if any."""
        return self._effective.get(api_key_id)
