"""The scoring stage: window summaries in, alerts and decisions out, one epoch at a time.

For every closed epoch the :class:`Scorer` takes the summaries of the keys active in it (sorted by
key), computes rule evidence (:mod:`detector.evidence`) and the calibrated anomaly strength
(:mod:`detector.anomaly`), updates cross-key linkage (:mod:`detector.linkage`) and scores the
clusters it finds, then turns scores into actions with hysteresis:

* a subject (key or cluster) is alerted once per *escalation* (observe -> throttle -> block), not
  once per window; a throttled or blocked cluster is re-alerted when keys none of its alerts named
  join it, and the new alert names them with every key named before (the decision, which the rate
  limiter enforces, keeps holding a member that drifts out of the cluster until it expires);
* an active decision is refreshed (same alert id, later expiry) while the behaviour continues and
  lifted by a tombstone when it expires in event time;
* windows of flagged subjects are never learned by the anomaly model;
* keys of allow-listed accounts (contractual synthetic-data customers: ``Config.allowlist_accounts``
  or ``allowlisted`` in the account's profile, :mod:`detector.profiles`) are never actioned;
  profiles are queued by :meth:`Scorer.add_profile` and apply at their ``updated_at`` like labels;
* analyst labels (:mod:`detector.feedback`) apply at the first epoch at or after their
  ``effective_at``: a dismissal silences the subject for its TTL and teaches the supervised model
  that its windows are benign; a confirmation teaches it they are extraction.

Anomaly strength alone can produce at most an ``observe`` alert; throttling needs extraction
evidence. Everything is a pure function of the epoch sequence, so replay reproduces live.

>>> from detector.config import Config
>>> sc = Scorer(Config())
>>> sc.close_epoch(600_000, []).alerts
[]
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

from detector.alerts import LEVELS, build_alert, build_decision, decision_key, refresh_decision
from detector.anomaly import WindowAnomaly
from detector.config import Config
from detector.calibration import Calibration, CalibrationBuilder
from detector.evidence import (Evidence, calibrated, cluster_evidence, combine, families_strong,
                               raw_key_evidence)
from detector.feedback import Label, SupervisedModel
from detector.levels import Horizon
from detector.linkage import Linkage
from detector.profiles import ProfileBook, ProfileUpdate
from detector.summary import WindowSummary

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_WEAK_FAMILIES = ("", "wording", "account")
_NEW_MODEL_MS = 24 * _HOUR_MS
_MODEL_HISTORY_MS = 6 * _HOUR_MS


@dataclass(slots=True)
class SubjectState:
    """Hysteresis state of one key or cluster."""

    level: int = 0
    alert_id: str = ""
    expires_ms: int = 0
    named: tuple[str, ...] = ()   # keys the cluster's alerts named while its decision is in force, sorted
    decision: dict[str, Any] | None = None
    named_accounts: tuple[str, ...] = ()   # and their accounts, sorted


@dataclass(slots=True)
class ScorerOutput:
    """What one epoch produced; ``decisions`` are (message key, value or None for a tombstone)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    scores: list[tuple[str, str, float, list[Evidence]]] = field(default_factory=list)  # kind, id, score, why


class Scorer:
    """Stage 3 of the pipeline (global, deterministic)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.anomaly = WindowAnomaly(seed=config.river_seed)
        self.linkage = Linkage(min_keys=config.min_cluster_keys)
        self.subjects: dict[str, SubjectState] = {}
        self.model_first_seen: dict[str, int] = {}
        self.first_epoch_ms = -1
        self.epochs = 0
        self.supervised = SupervisedModel()
        self.pending_labels: list[Label] = []
        self.labels: dict[str, Label] = {}          # subject -> label in force
        self.cluster_stats: dict[str, dict[str, float]] = {}
        self.profiles = ProfileBook()               # account profiles in force (org, payment, tier, ...)
        self.calibration = _calibration(config)
        self.collector: CalibrationBuilder | None = None   # set by `detector calibrate` only

    # ----------------------------------------------------------------- labels
    def add_label(self, label: Label) -> None:
        """Queue an analyst verdict; it applies at the first epoch at or after its effective time."""
        self.pending_labels.append(label)
        self.pending_labels.sort(key=lambda lb: (lb.effective_ms, lb.subject, lb.verdict))

    def _apply_labels(self, epoch_ms: int) -> None:
        while self.pending_labels and self.pending_labels[0].effective_ms <= epoch_ms:
            label = self.pending_labels.pop(0)
            self.labels[label.subject] = label
            stats = self._last_stats(label)
            if stats:
                self.supervised.learn(stats, label.verdict == "confirmed")
        for subject in [s for s, lb in self.labels.items() if lb.effective_ms + lb.ttl_s * 1000 <= epoch_ms]:
            del self.labels[subject]

    # --------------------------------------------------------------- profiles
    def add_profile(self, update: ProfileUpdate) -> None:
        """Queue an account profile (or its deletion); it applies like a label, at the first epoch
        at or after its ``updated_at`` (without one: the next epoch)."""
        self.profiles.queue(update)

    def _allowlisted(self, account_id: str | None) -> bool:
        """Contract allow-list: the configured accounts or a profile marked ``allowlisted``."""
        return account_id is not None and (account_id in self.config.allowlist_accounts
                                           or self.profiles.is_allowlisted(account_id))

    def _last_stats(self, label: Label) -> dict[str, float] | None:
        if label.kind == "cluster":
            return self.cluster_stats.get(label.subject_id)
        profile = self.linkage.profiles.get(label.subject_id)
        return profile.stats if profile else None

    def _feedback(self, subject: str, stats: dict[str, float], evidence: list[Evidence], score: float
                  ) -> tuple[list[Evidence], float, bool]:
        """Learn from labelled subjects; add supervised evidence; say whether the subject is dismissed."""
        label = self.labels.get(subject)
        if label is not None:
            self.supervised.learn(stats, label.verdict == "confirmed")
            if label.verdict == "dismissed":
                return evidence, score, True
        if self.supervised.ready:
            p = self.supervised.proba(stats)
            if p >= 0.6:
                cap = 1.0 if score >= self.config.observe_threshold else 0.6
                evidence = sorted(evidence + [Evidence("analyst_similarity", min(cap, p), p, 0.5, Horizon.DAY)],
                                  key=lambda e: (-e.strength, e.signal))
                score = combine(evidence)
        return evidence, score, False

    # ----------------------------------------------------------------- models
    def _new_models(self, epoch_ms: int) -> set[str]:
        """Models first seen in the last 24 h, after at least 6 h of history."""
        return {m for m, t in self.model_first_seen.items()
                if t - self.first_epoch_ms >= _MODEL_HISTORY_MS and epoch_ms - t <= _NEW_MODEL_MS}

    def _model_shares(self, s: WindowSummary, new: set[str]) -> tuple[float, float]:
        n1 = sum(s.models_1h.values()) or 1
        n24 = sum(s.models_24h.values()) or 1
        new_1h = sum(c for m, c in s.models_1h.items() if m in new) / n1
        old_24h = sum(c for m, c in s.models_24h.items() if m not in new) / n24
        return new_1h, old_24h

    # ----------------------------------------------------------------- epoch
    def close_epoch(self, epoch_ms: int, summaries: list[WindowSummary]) -> ScorerOutput:
        """Score one closed epoch. ``summaries`` may come in any order; they are sorted here."""
        out = ScorerOutput()
        if self.first_epoch_ms < 0:
            self.first_epoch_ms = epoch_ms
        self.epochs += 1
        summaries = sorted(summaries, key=lambda s: s.api_key_id)
        for s in summaries:
            for m in sorted(s.models_1h):
                self.model_first_seen.setdefault(m, epoch_ms)
        new = self._new_models(epoch_ms)
        self._apply_labels(epoch_ms)
        self.profiles.apply_due(epoch_ms)
        cfg = self.config
        for s in summaries:
            self.linkage.update(s, self.profiles, allowed=self._allowlisted(s.account_id))
            new_1h, old_24h = self._model_shares(s, new)
            created = self.profiles.created_ms(s.account_id, s.account_created_ms)
            context = dict(new_model_share=new_1h, old_model_share_24h=old_24h,
                           account_age_d=(epoch_ms - created) / _DAY_MS if created is not None else -1.0)
            raw = raw_key_evidence(s.stats, calibration=self.calibration, **context)
            if self.collector is not None:
                self.collector.observe(s.api_key_id, raw, s.stats)
            evidence = calibrated(raw, self.calibration)
            score = combine(evidence)
            strengths = {h: self.anomaly.strength(h, s.stats[h]) for h in self.anomaly.models if h in s.stats}
            a_h = max(strengths, key=lambda h: (strengths[h], h), default="")
            a = strengths.get(a_h, 0.0)
            if a > 0 and (score >= cfg.observe_threshold or a >= 0.5):
                boost = 0.25 * a if score >= cfg.observe_threshold else 0.6 * a
                evidence = sorted(evidence + [Evidence("anomalous_window", boost, a, 0.0, a_h)],
                                  key=lambda e: (-e.strength, e.signal))
                score = combine(evidence)
            subject = decision_key("key", s.api_key_id)
            day = s.stats.get(Horizon.DAY) or s.stats[max(s.stats, key=lambda h: cfg.horizons_ms.get(h, 0))]
            evidence, score, dismissed = self._feedback(subject, day, evidence, score)
            state = self.subjects.get(subject)
            if score < cfg.observe_threshold and (state is None or state.level == 0):
                for h in self.anomaly.models:
                    if h in s.stats:
                        self.anomaly.learn(h, s.stats[h])
            allowed = dismissed or self._allowlisted(s.account_id)
            self._decide(out, "key", s.api_key_id, [s.api_key_id], [s.account_id] if s.account_id else [],
                         score, evidence, s.stats, epoch_ms, allowed)
        if self.epochs % cfg.linkage_rebuild_epochs == 0:
            clusters = self.linkage.clusters(epoch_ms)
            self.cluster_stats = {c.cluster_id: c.stats for c in clusters}
            for c in clusters:
                evidence = cluster_evidence(c.stats, self.calibration)
                evidence, score, dismissed = self._feedback(decision_key("cluster", c.cluster_id), c.stats,
                                                            evidence, combine(evidence))
                allowed = dismissed or (bool(c.account_ids) and all(self._allowlisted(a) for a in c.account_ids))
                self._decide(out, "cluster", c.cluster_id, c.members, c.account_ids, score, evidence,
                             {Horizon.DAY.value: c.stats}, epoch_ms, allowed)
        self._expire(out, epoch_ms)
        return out

    # -------------------------------------------------------------- decisions
    def _level(self, score: float, evidence: list[Evidence]) -> int:
        """Block: two behaviour families strong at once, one of them specific; throttle: one
        behaviour rule of real strength (wording, account age and anomaly alone only observe)."""
        cfg = self.config
        behaviour = [e for e in evidence if e.family not in _WEAK_FAMILIES]
        if (score >= cfg.block_threshold and families_strong(behaviour) >= 2
                and any(e.blockable and e.strength >= 0.9 for e in behaviour)):
            return 3
        if score >= cfg.throttle_threshold and any(e.strength >= 0.5 for e in behaviour):
            return 2
        return 1 if score >= cfg.observe_threshold else 0

    @property
    def model_version(self) -> str:
        """The detector version and the calibration it runs on, as alerts carry it."""
        return f"{self.config.model_version}+{self.calibration.version}"

    def _decide(self, out: ScorerOutput, kind: str, subject_id: str, keys: list[str], accounts: list[str],
                score: float, evidence: list[Evidence], stats: dict[str, dict[str, float]], epoch_ms: int,
                allowed: bool) -> None:
        cfg = self.config
        if score > 0:
            out.scores.append((kind, subject_id, score, evidence))
        level = 0 if allowed else self._level(score, evidence)
        subject = decision_key(kind, subject_id)
        state = self.subjects.get(subject)
        if level == 0:
            return
        if state is None:
            state = self.subjects[subject] = SubjectState()
        grew = kind == "cluster" and not set(keys).issubset(state.named)
        if level > state.level or (grew and level >= 2 and state.level >= 2):
            if kind == "cluster" and state.level >= 2:   # keep enforcing the keys already named
                keys = sorted(set(keys).union(state.named))
                accounts = sorted(set(accounts).union(state.named_accounts))
            level = max(level, state.level)
            action = LEVELS[level]
            horizon = evidence[0].horizon if evidence else Horizon.HOUR
            ttl_s = cfg.ttl_s[action]
            alert = build_alert(kind=kind, subject=subject_id, api_key_ids=keys, account_ids=accounts, level=level,
                                score=score, epoch_ms=epoch_ms, horizon_ms=cfg.horizons_ms.get(horizon, _HOUR_MS),
                                requests=int(stats.get(horizon, stats.get(Horizon.DAY, {})).get("n", 0)),
                                evidence=evidence or [Evidence("score", score, score, 0.0, horizon)],
                                ttl_s=ttl_s, model_version=self.model_version)
            out.alerts.append(alert)
            state.level, state.alert_id = level, alert["alert_id"]
            state.named = tuple(sorted(keys)) if kind == "cluster" else ()
            state.named_accounts = tuple(sorted(accounts)) if kind == "cluster" else ()
            state.expires_ms = epoch_ms + ttl_s * 1000
            state.decision = build_decision(alert, expires_ms=state.expires_ms, decided_ms=epoch_ms,
                                            throttle_rpm=cfg.throttle_rpm)
            out.decisions.append((subject, state.decision))
        elif level >= state.level and state.decision is not None:
            ttl_ms = cfg.ttl_s[LEVELS[state.level]] * 1000
            if state.expires_ms - epoch_ms < ttl_ms // 2:
                state.expires_ms = epoch_ms + ttl_ms
                state.decision = refresh_decision(state.decision, expires_ms=state.expires_ms, decided_ms=epoch_ms)
                out.decisions.append((subject, state.decision))

    def _expire(self, out: ScorerOutput, epoch_ms: int) -> None:
        for subject in sorted(self.subjects):
            state = self.subjects[subject]
            if state.level and state.expires_ms <= epoch_ms:
                out.decisions.append((subject, None))
                del self.subjects[subject]

    # ---------------------------------------------------------- persistence
    def to_bytes(self) -> bytes:
        """Checkpoint of what the scorer learned (River models carry their version tag); never its
        configuration or calibration, which :meth:`from_bytes` takes from the running process."""
        state = {k: v for k, v in self.__dict__.items() if k not in _NOT_CHECKPOINTED}
        state["anomaly"] = self.anomaly.to_bytes()
        return pickle.dumps(state, protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes, config: Config) -> Scorer:
        """Restore :meth:`to_bytes` under ``config`` (and the calibration it names).

        >>> a = Scorer(Config())
        >>> b = Scorer.from_bytes(a.to_bytes(), Config(throttle_threshold=0.7))
        >>> b.config.throttle_threshold, b.calibration.version == a.calibration.version
        (0.7, True)
        """
        state = pickle.loads(data)  # noqa: S301 - our own checkpoint
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        obj.config = config
        obj.calibration = _calibration(config)
        obj.collector = None
        obj.anomaly = WindowAnomaly.from_bytes(state["anomaly"])
        for subject in obj.subjects.values():
            if not isinstance(subject.named, tuple):   # a checkpoint that kept a member count instead
                subject.named = ()
            if not isinstance(getattr(subject, "named_accounts", None), tuple):   # one from before accounts
                subject.named_accounts = ()
        return obj


_NOT_CHECKPOINTED = frozenset({"config", "calibration", "collector"})


def _calibration(config: Config) -> Calibration:
    return Calibration.load(config.calibration_file) if config.calibration_file else Calibration.default()

