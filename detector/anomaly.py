"""Unsupervised window anomaly scoring with River's HalfSpaceTrees, calibrated on benign windows.

One :class:`river.anomaly.HalfSpaceTrees` per horizon scores each key window's feature vector.
HST assumes features in [0, 1]; rather than a learned MinMaxScaler (whose range drifts with every
outlier and would make replay depend on warm-up order), features are squashed by fixed monotone
maps (rates as they are, counts and ratios by ``x / (x + k)``), which keeps the model stateless in
its input scaling and deterministic.

The raw HST score is turned into a strength by comparing it with a running high quantile of the
scores of windows the model *learned from*; only windows that were not flagged are learned, so an
attacker cannot teach the model that harvesting is normal (poisoning). Until ``warmup`` windows
have been learned the strength is 0: an untrained forest says nothing useful.

When it fails: HST is weak when anomalies arrive clustered (a campaign's windows look alike, so
they become "normal" if learned — hence never learning flagged windows), and anomalous is not the
same as malicious (a big new tenant is anomalous): the scorer therefore uses this strength only
to raise or qualify rule evidence and to emit ``observe`` alerts, never to throttle on its own.

Cost: measured ~25-35 µs per score+learn on this machine kind (10 trees, height 8); one forest
is ~1 MiB, one per horizon, shared by all keys. Learning the window just scored reuses its score
(the scorer scores a key's window, then learns it if benign): one forest walk per window fewer.

>>> m = WindowAnomaly(seed=1, warmup=2)
>>> s = {"n": 10.0, "distinct_prompt_ratio": 1.0}
>>> m.learn("1h", s); m.learn("1h", s)
>>> 0.0 <= m.strength("1h", s) <= 1.0
True
"""

from __future__ import annotations

import pickle

import river
from river import anomaly, stats

FEATURES: tuple[tuple[str, float], ...] = (
    # (feature, k): value v is squashed to v / (v + k); k == 0 means already in [0, 1]
    ("n", 50.0),
    ("distinct_prompt_ratio", 0.0),
    ("distinct_skeleton_ratio", 0.0),
    ("top_skeleton_share", 0.0),
    ("out_in_ratio", 2.0),
    ("out_tokens_mean", 400.0),
    ("depth_mean", 4.0),
    ("end_user_share", 0.0),
    ("gap_spread", 4.0),
    ("hours_active", 8.0),
    ("rate_cot", 0.0),
    ("rate_logprobs", 0.0),
    ("rate_tools", 0.0),
    ("rate_thinking", 0.0),
    ("error_rate", 0.0),
)


def squash(s: dict[str, float]) -> dict[str, float]:
    """Map window features to [0, 1] with fixed monotone functions."""
    get = s.get
    out: dict[str, float] = {}
    for name, k in FEATURES:
        v = get(name, 0.0)
        if not v > 0.0:   # what max(0.0, v) gives, without the call: 0.0 for NaN and -0.0 too
            v = 0.0
        out[name] = v / (v + k) if k else (v if v < 1.0 else 1.0)
    return out


class WindowAnomaly:
    """Per-horizon HalfSpaceTrees plus a benign-score quantile for calibration."""

    def __init__(self, seed: int = 42, horizons: tuple[str, ...] = ("1h", "24h"), warmup: int = 300,
                 quantile: float = 0.995) -> None:
        self.river_version = river.__version__
        self.warmup = warmup
        self.models = {h: anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=250, seed=seed)
                       for h in horizons}
        self.benign = {h: stats.Quantile(quantile) for h in horizons}
        self.learned = {h: 0 for h in horizons}
        self._last: dict[str, tuple[dict[str, float], int, dict[str, float], float]] = {}

    def _scored(self, horizon: str, s: dict[str, float]) -> tuple[dict[str, float], float]:
        """The squashed features of ``s`` and their raw score; the last window's per horizon is
        kept, and reused while it is the same object and the forest has learned nothing since."""
        last = self._last.get(horizon)
        if last is not None and last[0] is s and last[1] == self.learned[horizon]:
            return last[2], last[3]
        x = squash(s)
        r = float(self.models[horizon].score_one(x))
        self._last[horizon] = (s, self.learned[horizon], x, r)
        return x, r

    def raw(self, horizon: str, s: dict[str, float]) -> float:
        """HST anomaly score in [0, 1] (higher is more anomalous)."""
        return self._scored(horizon, s)[1]

    def strength(self, horizon: str, s: dict[str, float]) -> float:
        """How far above the benign high quantile this window scores, in [0, 1]; 0 while warming up."""
        if horizon not in self.models or self.learned[horizon] < self.warmup:
            return 0.0
        q = self.benign[horizon].get() or 0.0
        r = self.raw(horizon, s)
        if r <= q or q >= 1.0:
            return 0.0
        return min(1.0, (r - q) / (1.0 - q))

    def learn(self, horizon: str, s: dict[str, float]) -> None:
        """Learn a window believed benign (the caller never passes flagged windows)."""
        if horizon not in self.models:
            return
        x, r = self._scored(horizon, s)
        self.benign[horizon].update(r)
        self.models[horizon].learn_one(x)
        self.learned[horizon] += 1

    def to_bytes(self) -> bytes:
        """Checkpoint (pickle), tagged with the River version that wrote it (without the last
        window's score, which only saves work)."""
        state = {k: v for k, v in self.__dict__.items() if k != "_last"}
        return pickle.dumps((self.river_version, state), protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowAnomaly:
        """Restore a checkpoint; refuses one written by another River version."""
        version, state = pickle.loads(data)  # noqa: S301 - our own checkpoint, from our own Redis
        if version != river.__version__:
            raise ValueError(f"checkpoint written by river {version}, this is river {river.__version__}")
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        obj._last = {}
        return obj
