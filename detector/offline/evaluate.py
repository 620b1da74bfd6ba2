"""Evaluation against ground truth: campaign recall, precision, benign harm, time to detect.

Given a simulation directory (``events.jsonl.gz``, ``labels.jsonl``, optional ``allowlist.json``),
replays the events and scores the alerts against the labels. "Detected" means an alert with action
``throttle`` or ``block`` naming the key (a cluster alert names all its members). The same figures
are computed for a static per-key rate limit (the status quo the product replaces): a key is
throttled when it exceeds ``baseline_rpm`` requests in a one-hour fixed window.

>>> m = _metrics({"a": 100}, {"a": ("attack", "c")}, {"a": 100}, {"a": (5, 100)}, {"a": 0})
>>> m["campaigns"]["c"]["detected"]
True
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from detector.config import Config
from detector.levels import ACTIONED, Action
from detector.offline.replay import ReplayResult, open_lines, replay_files
from detector.profiles import AccountProfile, load_profiles

_HOUR_MS = 3_600_000
ACTION_RANK: dict[str, int] = {a.value: a.rank for a in Action}


@dataclass(slots=True)
class Labels:
    """Ground truth per key: (kind, campaign or persona)."""

    by_key: dict[str, tuple[str, str]]

    @classmethod
    def load(cls, path: Path) -> Labels:
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return cls({r["api_key_id"]: (r["kind"], r["campaign"] or r["persona"]) for r in rows})


def _parse_ts(alert: dict[str, Any]) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(alert["detected_at"].replace("Z", "+00:00")).timestamp() * 1000)


@dataclass(slots=True)
class KeyOutcomes:
    """What alerts did to each key: first throttle/block time (epoch ms), keys only observed or
    blocked, and the most severe action each key received."""

    detected_at: dict[str, int]
    observed: set[str]
    blocked: set[str]
    best: dict[str, str]


def key_outcomes(alerts: list[dict[str, Any]]) -> KeyOutcomes:
    """Fold alerts (each naming ``api_key_ids``) into per-key outcomes; alerts in time order."""
    out = KeyOutcomes({}, set(), set(), {})
    for a in alerts:
        t = _parse_ts(a)
        action = a["action"]
        for k in a["api_key_ids"]:
            if ACTION_RANK.get(action, 0) > ACTION_RANK[out.best.get(k, "none")]:
                out.best[k] = action
            if action in ACTIONED:
                out.detected_at.setdefault(k, t)
                if action == "block":
                    out.blocked.add(k)
            else:
                out.observed.add(k)
    return out


def replay_dir(sim_dir: Path, config: Config | None = None) -> ReplayResult:
    """Replay ``sim_dir/events.jsonl.gz`` with its allow-list and its account profiles
    (``accounts.jsonl``) when the simulation wrote them."""
    config = config or Config()
    allow = sim_dir / "allowlist.json"
    if allow.exists():
        config = config.with_allowlist(orjson.loads(allow.read_bytes()).get("accounts", []))
    profiles: list[AccountProfile] = []
    accounts = sim_dir / "accounts.jsonl"
    if accounts.exists():
        profiles, rejected = load_profiles(accounts)
        if rejected:
            raise ValueError(f"{accounts}: {len(rejected)} invalid profiles, first {rejected[0]}")
    return replay_files([sim_dir / "events.jsonl.gz"], config, profiles=profiles)


def key_timelines(events: Path) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Per key: request count and sorted request times (a light pass over the file)."""
    times: dict[str, list[int]] = defaultdict(list)
    import datetime as dt

    for line in open_lines(events):
        try:
            rec = orjson.loads(line)
            ts = rec["ts"]
            ms = ts if isinstance(ts, (int, float)) else int(
                dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
            times[rec["api_key_id"]].append(int(ms))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return {k: len(v) for k, v in times.items()}, times


def requests_before(times: dict[str, list[int]], at: dict[str, int]) -> dict[str, int]:
    """Per key in ``at``: how many of its requests (sorted ``times``) came at or before ``at[key]``."""
    import bisect

    return {k: bisect.bisect_right(times[k], t) for k, t in at.items() if k in times}


def baseline_detections(times: dict[str, list[int]], rpm_per_hour: int) -> dict[str, int]:
    """Static per-key limit: first time each key exceeds ``rpm_per_hour`` requests in a clock hour."""
    out: dict[str, int] = {}
    for key, ts in times.items():
        per_hour: Counter[int] = Counter()
        for t in ts:
            h = t // _HOUR_MS
            per_hour[h] += 1
            if per_hour[h] > rpm_per_hour:
                out[key] = t
                break
    return out


def _metrics(counts: dict[str, int], labels: dict[str, tuple[str, str]], detected_at: dict[str, int],
             first_last: dict[str, tuple[int, int]], requests_before: dict[str, int],
             observed: set[str] | None = None, blocked: set[str] | None = None) -> dict[str, Any]:
    campaigns: dict[str, list[str]] = defaultdict(list)
    benign = [k for k, (kind, _) in labels.items() if kind == "benign" and k in counts]
    for key, (kind, name) in labels.items():
        if kind == "attack" and key in counts:
            campaigns[name].append(key)
    camp: dict[str, Any] = {}
    for name, keys in sorted(campaigns.items()):
        hit = [k for k in keys if k in detected_at]
        first = min(first_last[k][0] for k in keys)
        when = min((detected_at[k] for k in hit), default=None)
        camp[name] = {
            "keys": len(keys),
            "keys_named": len(hit),
            "keys_named_share": round(len(hit) / len(keys), 4),
            "requests": sum(counts[k] for k in keys),
            "detected": bool(hit),
            "requests_to_detect": (sum(requests_before.get(k, 0) for k in keys) if hit else None),
            "hours_to_detect": (round((when - first) / _HOUR_MS, 2) if when is not None else None),
        }
    actioned = set(detected_at)
    tp = sum(1 for k in actioned if labels.get(k, ("benign", ""))[0] == "attack")
    benign_actioned = sorted(k for k in benign if k in actioned)
    out = {
        "campaigns": camp,
        "campaign_recall": round(sum(c["detected"] for c in camp.values()) / max(1, len(camp)), 4),
        "key_precision": round(tp / len(actioned), 4) if actioned else None,
        "benign_keys": len(benign),
        "benign_throttled_or_blocked": len(benign_actioned),
        "benign_throttled_or_blocked_share": round(len(benign_actioned) / max(1, len(benign)), 5),
        "benign_actioned_personas": dict(Counter(labels[k][1] for k in benign_actioned)),
    }
    if observed is not None and blocked is not None:
        flagged = [k for k in benign if k in observed or k in actioned]
        out["benign_flagged_any"] = len(flagged)
        out["benign_flagged_any_share"] = round(len(flagged) / max(1, len(benign)), 5)
        out["benign_flagged_personas"] = dict(Counter(labels[k][1] for k in flagged))
        out["benign_blocked"] = sum(1 for k in benign if k in blocked)
    return out


def evaluate(sim_dir: Path, config: Config | None = None, *, baseline_rph: int = 600,
             result: ReplayResult | None = None) -> dict[str, Any]:
    """Replay ``sim_dir``'s events (unless ``result`` is given; see :func:`replay_dir`) and score
    against its labels."""
    events = sim_dir / "events.jsonl.gz"
    labels = Labels.load(sim_dir / "labels.jsonl").by_key
    if result is None:
        result = replay_dir(sim_dir, config)
    counts, times = key_timelines(events)
    first_last = {k: (v[0], v[-1]) for k, v in times.items()}
    outcomes = key_outcomes(result.alerts)
    detected_at, observed, blocked = outcomes.detected_at, outcomes.observed, outcomes.blocked

    def before(det: dict[str, int]) -> dict[str, int]:
        return requests_before(times, det)

    base = baseline_detections(times, baseline_rph)
    return {
        "events": result.counts.get("events", 0),
        "rejected": sum(result.rejections.values()),
        "alerts": len(result.alerts),
        "replay_seconds": round(result.seconds, 2),
        "detector": _metrics(counts, labels, detected_at, first_last, before(detected_at), observed, blocked),
        "baseline_static_rate_limit": dict(
            _metrics(counts, labels, base, first_last, before(base)), limit_requests_per_hour=baseline_rph),
    }
