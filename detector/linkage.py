"""Cross-key linkage: find the hydra -- many light keys that harvest as one.

Each key's latest 24-hour window is its *profile*. Only keys whose own profile is harvest-shaped
(:func:`detector.shape.harvest_shape` >= 0.3: new single-shot prompts with long answers) are
*candidates*; a hydra member has to look like that, since that is what the campaign buys, while a
benign light user almost never does. Allow-listed accounts are never candidates. Two candidates
are linked (:func:`_linked`) when they

* share a **clock**: their 5-minute activity slots over the day overlap (Jaccard >= 0.5, at least
  6 slots each, filling at most 35% of the hours they are active in, so chance overlap stays low;
  MinHash banding finds the pairs) -- or a **payment instrument** (account profiles); or
* agree on **two kinds** among: a factory template (an identical characteristic skeleton that
  non-candidates do not use as much), a near-duplicate template (SimHash of system prompt +
  skeleton within 6 bits, LSH over 16-bit windows, of a signature each key sent at least twice:
  a one-off prompt near a campaign's template by chance is no template), organisation,
  account-creation hour, IP prefix; an identical factory template also counts beside a weak kind
  (same SDK family, or the same coarse behaviour bucket: answer length, daily volume, task
  breadth, single-shot and explanation-prompt shares).

Keys held to a group by a single link are pruned (the 2-core of the link graph), so one chance
agreement cannot pull a bystander in. A connected group of at least ``min_keys`` candidates is a
:class:`Cluster`; its members' windows are pooled and judged like one key
(:func:`detector.evidence.cluster_evidence`), with coordination features: account-creation spread,
co-activity with the group's majority clock, share of accounts paying with a shared instrument,
and whether the whole group belongs to one organisation (a SaaS fleet is one customer). Cluster ids
are stable: a group that overlaps an earlier cluster keeps its id, so a growing hydra is one
subject.

When it works: a campaign must change scheduling, payment, templates, infrastructure and sign-up
timing together to fall apart, and each member must still be harvest-shaped. When it fails: members
below the candidate bar (a hydra mixing in much chat) are not seen; keys with their own wording,
networks, cards and clocks, created months apart, are not linked.

Deterministic: keys and attribute groups are processed in sorted order. Cost: per rebuild, the
pairs within each attribute group of candidates (groups above 600 keys are generic and skipped);
non-candidates cost one shape test per update (``detector bench linkage``).

>>> lk = Linkage(min_keys=2)
>>> len(lk.profiles), lk.clusters(0)
(0, [])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from math import log2

import xxhash

from detector.levels import Horizon
from detector.shape import harvest_shape
from detector.profiles import ProfileBook
from detector.summary import WindowSummary, breadth

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
CANDIDATE_SHAPE = 0.3
COACTIVE_JACCARD = 0.5
COACTIVE_MIN_SLOTS = 6
COACTIVE_MAX_DENSITY = 0.35   # a key busy in most slots overlaps everyone busy: no evidence of a shared clock
SIMHASH_BITS = 6
_MINHASHES, _ROWS = 16, 2
_BUCKET_CAP = 600    # attribute groups larger than this are generic (a common SDK) and skipped
_STRONG = frozenset(("coactive", "payment"))   # enough on their own
_WEAK = frozenset(("ua", "behaviour"))         # count only beside two other kinds
_POOLED_MEANS = ("distinct_prompt_ratio", "distinct_skeleton_ratio", "out_in_ratio", "out_new_in_ratio",
                 "new_input_share", "out_tokens_mean", "depth_mean", "end_user_share", "error_rate")
_POOLED_SUMS = ("out_tokens_sum", "conversations", "distinct_prompts", "bias_sets")


@dataclass(slots=True)
class Profile:
    """What linkage remembers of one key: its latest 24-hour window and link attributes."""

    api_key_id: str
    account_id: str | None
    created_ms: int | None
    last_epoch_ms: int
    stats: dict[str, float]
    skeletons: list[tuple[int, int]]
    signatures: list[int]          # SimHash signatures the key sent at least twice, commonest first
    activity: int
    ip: str
    ua: str
    org: str | None = None
    payment: str | None = None
    candidate: bool = False


@dataclass(slots=True)
class Cluster:
    """A group of linked keys and their pooled 24-hour window features."""

    cluster_id: str
    members: list[str]
    account_ids: list[str]
    stats: dict[str, float] = field(default_factory=dict)


def _slots(activity: int) -> list[int]:
    out, i = [], 0
    while activity:
        if activity & 1:
            out.append(i)
        activity >>= 1
        i += 1
    return out


def _minhash_bands(activity: int) -> list[tuple[int, ...]]:
    """Band keys of the MinHash signature of a key's set of active slots."""
    slots = _slots(activity)
    mins = [min(xxhash.xxh3_64_intdigest(s.to_bytes(2, "little"), seed) for s in slots) for seed in range(_MINHASHES)]
    return [(b, *mins[b * _ROWS:(b + 1) * _ROWS]) for b in range(_MINHASHES // _ROWS)]


def sparse_activity(activity: int) -> bool:
    """At least :data:`COACTIVE_MIN_SLOTS` active slots filling at most 35% of the slots of the
    hours it was active in: bursts on a schedule, not a continuous stream.

    >>> sparse_activity(int("1" + "0" * 11, 2) * sum(1 << (12 * h) for h in range(10)))
    True
    >>> sparse_activity((1 << 120) - 1)
    False
    """
    slots = activity.bit_count()
    hours = sum(1 for h in range(0, activity.bit_length(), 12) if activity >> h & 0xFFF)
    return slots >= COACTIVE_MIN_SLOTS and slots <= COACTIVE_MAX_DENSITY * 12 * hours


def jaccard(a: int, b: int) -> float:
    """Jaccard similarity of two activity bitmasks.

    >>> jaccard(0b1110, 0b0111)
    0.5
    """
    union = (a | b).bit_count()
    return (a & b).bit_count() / union if union else 0.0


def behaviour_bucket(s: dict[str, float]) -> tuple[int, ...]:
    """A coarse behaviour profile: answer length and daily volume (octaves), task breadth, and
    single-shot and explanation-system-prompt shares (halves)."""
    return (round(log2(s.get("out_tokens_mean", 0.0) + 1.0)), round(log2(s.get("n", 0.0) + 1.0)),
            int(s.get("domains", 0.0)), round(2 * s.get("rate_single_shot", 0.0)),
            round(2 * s.get("rate_system_explain", 0.0)))


class _UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {x: x for x in items}

    def find(self, x: str) -> str:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


class Linkage:
    """Incremental key profiles plus cluster rebuilds with stable cluster ids."""

    def __init__(self, min_keys: int = 5, skeleton_share: float = 0.15) -> None:
        self.min_keys = min_keys
        self.skeleton_share = skeleton_share
        self.profiles: dict[str, Profile] = {}
        self.known: dict[str, tuple[str, ...]] = {}   # cluster id -> sorted members at its last rebuild

    def update(self, s: WindowSummary, book: ProfileBook | None = None, *, allowed: bool = False) -> None:
        """Remember the key's latest day window (and its account's profile attributes); an
        ``allowed`` key (allow-listed account) is never a candidate."""
        day = s.stats.get(Horizon.DAY) or next(iter(s.stats.values()))
        acct = s.account_id
        self.profiles[s.api_key_id] = Profile(
            s.api_key_id, acct,
            book.created_ms(acct, s.account_created_ms) if book is not None else s.account_created_ms,
            s.epoch_ms, day, s.skeletons, [sig for sig, c in s.signatures if c >= 2], int(s.activity, 16), s.ip_prefix,
            s.user_agent, book.org_of(acct) if book is not None else None,
            book.payment_of(acct) if book is not None else None,
            not allowed and harvest_shape(day) >= CANDIDATE_SHAPE)

    # ------------------------------------------------------------------ links
    def _attributes(self, p: Profile) -> list[tuple[str, str]]:
        """(kind, value) attributes two candidates can agree on."""
        n = p.stats.get("n", 0.0)
        out = [("template", f"s:{fp:x}") for fp, c in p.skeletons if c >= 2 and c >= self.skeleton_share * n]
        for sig in p.signatures[:2]:
            # 16-bit windows at 8 offsets: signatures a few bits apart share a window (checked exactly)
            out.extend(("near", f"{b}:{((sig | sig << 64) >> (8 * b)) & 0xFFFF:x}") for b in range(8))
        if sparse_activity(p.activity):
            out.extend(("coactive", ":".join(map(str, band))) for band in _minhash_bands(p.activity))
        if p.payment:
            out.append(("payment", p.payment))
        if p.org:
            out.append(("org", p.org))
        if p.created_ms is not None:
            out.append(("created", str(p.created_ms // _HOUR_MS)))
        if p.ip:
            out.append(("ip", p.ip))
        if p.ua:
            out.append(("ua", p.ua))
        out.append(("behaviour", ":".join(map(str, behaviour_bucket(p.stats)))))
        return out

    def _agrees(self, kind: str, a: str, b: str) -> bool:
        """Exact check behind an LSH collision."""
        pa, pb = self.profiles[a], self.profiles[b]
        if kind == "near":
            return _near_signature(pa, pb)
        if kind == "coactive":
            return jaccard(pa.activity, pb.activity) >= COACTIVE_JACCARD
        return True

    def _link(self, keys: list[str], uf: _UnionFind, generic: set[str]) -> None:
        """Join candidates that agree on a strong attribute (co-activity, payment) or on two kinds."""
        holders: dict[tuple[str, str], list[str]] = {}
        for k in keys:
            for attr in self._attributes(self.profiles[k]):
                holders.setdefault(attr, []).append(k)
        agreements: dict[tuple[str, str], set[str]] = {}
        for (kind, value), group in sorted(holders.items()):
            if len(group) < 2 or len(group) > _BUCKET_CAP or (kind == "template" and value in generic):
                continue
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    kinds = agreements.setdefault((a, b), set())
                    if kind not in kinds and self._agrees(kind, a, b):
                        kinds.add(kind)
        links = [pair for pair, kinds in sorted(agreements.items()) if _linked(kinds)]
        for a, b in _two_core(links):
            uf.union(a, b)

    def _generic_templates(self) -> set[str]:
        """Skeletons that non-candidate keys use as much as candidates: common frames, not a factory."""
        count: dict[str, list[int]] = {}
        for p in self.profiles.values():
            n = p.stats.get("n", 0.0)
            for fp, c in p.skeletons:
                if c >= 2 and c >= self.skeleton_share * n:
                    count.setdefault(f"s:{fp:x}", [0, 0])[p.candidate] += 1
        return {t for t, (others, cands) in count.items() if others >= max(3, cands)}

    # --------------------------------------------------------------- clusters
    def clusters(self, epoch_ms: int) -> list[Cluster]:
        """Rebuild clusters from the candidate keys active in the last 24 hours."""
        for key in [k for k, p in self.profiles.items() if p.last_epoch_ms <= epoch_ms - _DAY_MS]:
            del self.profiles[key]
        keys = sorted(k for k, p in self.profiles.items() if p.candidate)
        uf = _UnionFind(keys)
        self._link(keys, uf, self._generic_templates())
        groups: dict[str, list[str]] = {}
        for k in keys:
            groups.setdefault(uf.find(k), []).append(k)
        found = [m for m in groups.values() if len(m) >= self.min_keys]
        out = []
        known: dict[str, tuple[str, ...]] = {}   # a tuple pickles the same under any hash seed
        for members in sorted(found, key=lambda m: (-len(m), m[0])):
            cid = self._stable_id(members, known)
            known[cid] = tuple(members)
            out.append(self._pooled(cid, members, epoch_ms))
        self.known = known
        return sorted(out, key=lambda c: c.cluster_id)

    def _stable_id(self, members: list[str], taken: dict[str, tuple[str, ...]]) -> str:
        """The id of the earlier cluster this group overlaps most, else a new id from its first key."""
        member_set = set(members)
        overlaps = sorted(((len(member_set.intersection(old)), cid) for cid, old in self.known.items()
                           if cid not in taken and not member_set.isdisjoint(old)), key=lambda x: (-x[0], x[1]))
        if overlaps:
            return overlaps[0][1]
        return "xc_" + xxhash.xxh3_64_hexdigest(members[0].encode())

    def _pooled(self, cid: str, members: list[str], epoch_ms: int) -> Cluster:
        profiles = [self.profiles[k] for k in members]
        total = sum(p.stats.get("n", 0.0) for p in profiles) or 1.0
        pooled: dict[str, float] = {}
        for name in profiles[0].stats:
            if name.startswith("rate_") or name in _POOLED_MEANS:
                pooled[name] = sum(p.stats.get(name, 0.0) * p.stats.get("n", 0.0) for p in profiles) / total
            elif name in _POOLED_SUMS:
                pooled[name] = sum(p.stats.get(name, 0.0) for p in profiles)
        created = sorted(p.created_ms for p in profiles if p.created_ms is not None)
        accounts = sorted({p.account_id for p in profiles if p.account_id})
        payments: dict[str, set[str]] = {}
        for p in profiles:
            if p.payment and p.account_id:
                payments.setdefault(p.payment, set()).add(p.account_id)
        shared_pay = sum(len(a) for a in payments.values() if len(a) >= 2)
        orgs = {p.org for p in profiles}
        core = created[len(created) // 10:len(created) - len(created) // 10] or created
        hours = 0
        for p in profiles:
            for i in range(24):
                if p.activity >> (12 * i) & 0xFFF:
                    hours |= 1 << i
        pooled.update({
            "n": total,
            "keys": float(len(members)),
            "n_per_key": total / len(members),
            "hours_active": float(hours.bit_count()),
            "end_users": 0.0,
            "creation_spread_h": (core[-1] - core[0]) / _HOUR_MS if len(core) >= 2 else -1.0,
            "account_age_d": (epoch_ms - created[len(created) // 2]) / _DAY_MS if created else -1.0,
            "accounts": float(len(accounts)),
            "coactivity": _coactivity(profiles),
            "payment_share": shared_pay / len(accounts) if accounts else 0.0,
            "one_org": 1.0 if len(orgs) == 1 and None not in orgs else 0.0,
        })
        pooled["domains"] = breadth(pooled)
        return Cluster(cid, members, accounts, pooled)


def _linked(kinds: set[str]) -> bool:
    """Co-activity or a shared card; or two kinds of agreement (a near template counts once with
    an exact one); or an exact factory template beside a weak kind (behaviour bucket or SDK).

    >>> _linked({"ip", "ua"}), _linked({"ip", "created"}), _linked({"template", "behaviour"})
    (False, True, True)
    """
    strong = kinds - _WEAK
    if kinds & _STRONG or len(strong - {"near"} if "template" in strong else strong) >= 2:
        return True
    return "template" in kinds and bool(kinds & _WEAK)


def _two_core(links: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The links among keys that keep at least two links once weaker-linked keys are pruned: a key
    attached to a group by one chance agreement (a common frame, a shared proxy) falls away, a
    member of a campaign agrees with many.

    >>> _two_core([("a", "b"), ("b", "c"), ("c", "a"), ("c", "x")])
    [('a', 'b'), ('b', 'c'), ('c', 'a')]
    """
    degree: dict[str, int] = {}
    for a, b in links:
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    weak = [k for k, d in degree.items() if d < 2]
    while weak:
        gone = set(weak)
        kept = [(a, b) for a, b in links if a not in gone and b not in gone]
        for a, b in links:
            if (a in gone) != (b in gone):
                other = b if a in gone else a
                degree[other] -= 1
        for k in gone:
            degree.pop(k, None)
        links = kept
        weak = [k for k, d in degree.items() if d < 2]
    return links


def _near_signature(a: Profile, b: Profile) -> bool:
    return any((x ^ y).bit_count() <= SIMHASH_BITS for x in a.signatures[:2] for y in b.signatures[:2])


def _coactivity(profiles: list[Profile]) -> float:
    """Mean Jaccard of each member's activity with the cluster's majority activity."""
    if len(profiles) < 2:
        return 0.0
    counts: dict[int, int] = {}
    for p in profiles:
        for slot in _slots(p.activity):
            counts[slot] = counts.get(slot, 0) + 1
    majority = 0
    for slot, c in counts.items():
        if 2 * c >= len(profiles):
            majority |= 1 << slot
    return sum(jaccard(p.activity, majority) for p in profiles) / len(profiles)

