"""Cross-key linkage: find the hydra — many light keys that act as one harvester.

Each key's latest window summary yields *linkage tokens*: a characteristic prompt skeleton
(one that makes up a real share of the key's day) paired with the key's client IP prefix or SDK
family, and the hour its account was created paired with that infrastructure. Keys sharing a
token are joined (union-find); a connected group of at least ``min_keys`` keys is a
:class:`Cluster`, whose members' 24-hour windows are pooled and scored like one key.

Why pairs and not single attributes: an IP prefix alone links every customer of a proxy, a
skeleton alone links every user of a popular template; a campaign shares both its prompt factory
and its infrastructure. Benign fleets that link anyway (a CI fleet sending the same smoke tests,
an enterprise with many keys) are linked but score low, because the pooled window shows no
harvesting (few distinct prompts, short outputs).

Deterministic: keys and tokens are processed in sorted order and the cluster id is derived from
the cluster's most shared token. Cost: O(keys x tokens) per rebuild; the scorer rebuilds every
few epochs over the keys seen in the last 24 hours.

>>> lk = Linkage(min_keys=2)
>>> lk.tokens_of(skeletons=[(7, 5)], n=10, ip="10.0.0.0/24", ua="sdk/1", created_ms=None)
['s:7:ip:10.0.0.0/24', 's:7:ua:sdk/1']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import xxhash

from detector.summary import WindowSummary

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


@dataclass(slots=True)
class Profile:
    """What linkage remembers of one key: its latest 24-hour window and its tokens."""

    api_key_id: str
    account_id: str | None
    account_created_ms: int | None
    last_epoch_ms: int
    stats: dict[str, float]
    skeletons: list[tuple[int, int]]
    tokens: list[str]


@dataclass(slots=True)
class Cluster:
    """A group of linked keys and their pooled 24-hour window features."""

    cluster_id: str
    members: list[str]
    account_ids: list[str]
    stats: dict[str, float] = field(default_factory=dict)


class Linkage:
    """Incremental key profiles plus cluster rebuilds."""

    def __init__(self, min_keys: int = 5, skeleton_share: float = 0.15) -> None:
        self.min_keys = min_keys
        self.skeleton_share = skeleton_share
        self.profiles: dict[str, Profile] = {}

    def tokens_of(self, *, skeletons: list[tuple[int, int]], n: float, ip: str, ua: str,
                  created_ms: int | None) -> list[str]:
        """Linkage tokens of one key (sorted)."""
        tokens: list[str] = []
        for fp, count in skeletons:
            if count >= 2 and count >= self.skeleton_share * n:
                if ip:
                    tokens.append(f"s:{fp:x}:ip:{ip}")
                if ua:
                    tokens.append(f"s:{fp:x}:ua:{ua}")
        if created_ms is not None and (ip or ua):
            tokens.append(f"c:{created_ms // _HOUR_MS}:{ip}:{ua}")
        return sorted(tokens)

    def update(self, s: WindowSummary) -> None:
        """Remember the key's latest day window."""
        day = s.stats.get("24h") or next(iter(s.stats.values()))
        self.profiles[s.api_key_id] = Profile(
            s.api_key_id, s.account_id, s.account_created_ms, s.epoch_ms, day, s.skeletons,
            self.tokens_of(skeletons=s.skeletons, n=day.get("n", 0.0), ip=s.ip_prefix, ua=s.user_agent,
                           created_ms=s.account_created_ms))

    def clusters(self, epoch_ms: int) -> list[Cluster]:
        """Rebuild clusters from the keys active in the last 24 hours."""
        for key in [k for k, p in self.profiles.items() if p.last_epoch_ms <= epoch_ms - _DAY_MS]:
            del self.profiles[key]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        holders: dict[str, list[str]] = {}
        for key in sorted(self.profiles):
            parent[key] = key
            for t in self.profiles[key].tokens:
                holders.setdefault(t, []).append(key)
        for t in sorted(holders):
            keys = holders[t]
            root = find(keys[0])
            for k in keys[1:]:
                r = find(k)
                if r != root:
                    if r < root:
                        root, r = r, root
                    parent[r] = root
        groups: dict[str, list[str]] = {}
        for key in sorted(parent):
            groups.setdefault(find(key), []).append(key)
        out: list[Cluster] = []
        for members in groups.values():
            if len(members) < self.min_keys:
                continue
            member_set = set(members)
            shared = [(len([k for k in keys if k in member_set]), t) for t, keys in holders.items()
                      if len(keys) > 1 and keys[0] in member_set]
            anchor = max(shared)[1] if shared else members[0]
            cid = "xc_" + xxhash.xxh3_64_hexdigest(anchor.encode())
            out.append(self._pooled(cid, members, epoch_ms))
        return sorted(out, key=lambda c: c.cluster_id)

    def _pooled(self, cid: str, members: list[str], epoch_ms: int) -> Cluster:
        profiles = [self.profiles[k] for k in members]
        total = sum(p.stats.get("n", 0.0) for p in profiles) or 1.0
        pooled: dict[str, float] = {}
        for name in profiles[0].stats:
            if name.startswith("rate_") or name in ("distinct_prompt_ratio", "out_in_ratio", "out_tokens_mean",
                                                    "depth_mean", "end_user_share", "error_rate",
                                                    "distinct_skeleton_ratio"):
                pooled[name] = sum(p.stats.get(name, 0.0) * p.stats.get("n", 0.0) for p in profiles) / total
        skeleton_keys: dict[int, set[str]] = {}
        for p in profiles:
            for fp, _ in p.skeletons:
                skeleton_keys.setdefault(fp, set()).add(p.api_key_id)
        shared_fps = {fp for fp, ks in skeleton_keys.items() if len(ks) >= 2}
        covered = sum(c for p in profiles for fp, c in p.skeletons if fp in shared_fps)
        created = [p.account_created_ms for p in profiles if p.account_created_ms is not None]
        pooled.update({
            "n": total,
            "keys": float(len(members)),
            "n_per_key": total / len(members),
            "top_skeleton_share": min(1.0, covered / total),
            "end_users": 0.0,
            "creation_spread_h": (max(created) - min(created)) / _HOUR_MS if len(created) >= 2 else -1.0,
            "account_age_d": (epoch_ms - max(created)) / _DAY_MS if created else -1.0,
            "accounts": float(len({p.account_id for p in profiles if p.account_id})),
        })
        accounts = sorted({p.account_id for p in profiles if p.account_id})
        return Cluster(cid, members, accounts, pooled)
