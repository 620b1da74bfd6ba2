"""Analyst feedback: labels on keys or clusters, and the supervised model they train.

A reviewer's verdict (``detector label``) is an ``extraction.label/v1`` message: ``confirmed``
(this was extraction) or ``dismissed`` (benign, stop alerting for ``ttl_s``). The scorer applies a
label at the first epoch at or after its ``effective_at`` time, so replay with the same labels
reproduces live decisions.

* **dismissed**: the subject is allow-listed until ``effective_at + ttl_s`` (no action, no alert)
  and its windows are learned as benign by the supervised model;
* **confirmed**: its windows are learned as extraction while the label is in force.

The supervised model is River's online logistic regression over the same squashed window
features the anomaly model uses. Its probability becomes evidence (``analyst_similarity``) once
it has learned from both classes — so behaviour similar to confirmed campaigns scores higher on
other keys, and behaviour like dismissed keys lower. It never acts alone: like the anomaly
strength, it only qualifies rule evidence or raises an ``observe``.

>>> m = SupervisedModel()
>>> m.ready
False
>>> m.learn({"rate_cot": 1.0}, True); m.learn({"rate_cot": 0.0}, False)
>>> m.ready, 0.0 <= m.proba({"rate_cot": 1.0}) <= 1.0
(True, True)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
from river import linear_model, optim

from detector.anomaly import squash

VERDICTS = ("confirmed", "dismissed")


@dataclass(frozen=True, slots=True)
class Label:
    """One analyst verdict on a key or a cluster."""

    kind: str            # "key" | "cluster"
    subject_id: str
    verdict: str         # "confirmed" | "dismissed"
    effective_ms: int
    ttl_s: int
    note: str = ""

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.subject_id}"

    def to_json(self) -> bytes:
        """The ``extraction.label/v1`` message."""
        return orjson.dumps({
            "schema": "extraction.label/v1", "kind": self.kind, "subject_id": self.subject_id,
            "verdict": self.verdict, "ttl_s": self.ttl_s, "note": self.note,
            "effective_at": dt.datetime.fromtimestamp(self.effective_ms / 1000, tz=dt.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        })

    @classmethod
    def from_json(cls, data: bytes) -> Label:
        """Parse and check a label message (raises ``ValueError`` with the reason)."""
        d: dict[str, Any] = orjson.loads(data)
        if d.get("schema") != "extraction.label/v1":
            raise ValueError("not an extraction.label/v1 message")
        if d.get("kind") not in ("key", "cluster") or d.get("verdict") not in VERDICTS:
            raise ValueError("kind must be key|cluster and verdict confirmed|dismissed")
        when = dt.datetime.fromisoformat(str(d["effective_at"]).replace("Z", "+00:00"))
        return cls(d["kind"], str(d["subject_id"]), d["verdict"], int(when.timestamp() * 1000),
                   int(d.get("ttl_s", 7 * 86400)), str(d.get("note", ""))[:500])


class SupervisedModel:
    """Online logistic regression on analyst-labelled windows."""

    def __init__(self) -> None:
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(0.5))
        self.seen = {True: 0, False: 0}

    @property
    def ready(self) -> bool:
        """True once both classes have been learned at least once."""
        return self.seen[True] > 0 and self.seen[False] > 0

    def learn(self, stats: dict[str, float], extraction: bool) -> None:
        """Learn one labelled window."""
        self.model.learn_one(squash(stats), extraction)
        self.seen[extraction] += 1

    def proba(self, stats: dict[str, float]) -> float:
        """Probability that a window is extraction, per the analysts' labels so far."""
        return float(self.model.predict_proba_one(squash(stats)).get(True, 0.0))
