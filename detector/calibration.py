"""Calibration: the benign population's own extremes, which the evidence rules are measured against.

A :class:`Calibration` holds, for every evidence rule, its *floor* -- the 99.9th percentile over
benign keys of the rule's raw strength (each key's highest over the recording) -- and, per window
horizon, upper quantiles of a few window features (answer tokens per window). Evidence strength is
then "how far beyond what benign keys do" (:func:`detector.evidence.calibrated`), so a new benign
look-alike in the calibration recording raises the bar for everybody instead of needing a new
hand constant.

``detector calibrate RECORDING`` replays a recording (optionally with its labels, to keep attack
keys out) and writes a versioned JSON file; live workers and replay load the same file
(``DETECTOR_CALIBRATION_FILE``), and the file's version is part of every alert's
``model_version``. Without a file the packaged default (``detector/data/calibration.json``, made
from the project's tuning simulation) applies.

When it works: the recording holds the kinds of benign traffic the deployment sees, at realistic
volumes; quantiles are per key, so a few heavy keys cannot hide the population. When it fails: an
extraction campaign inside an unlabelled calibration recording raises its own rule's floor (use
labels or a recording known to be clean), and a floor of a rule no benign key touches stays 0.

Cost: per calibrated key one float per rule kept until the end (a bounded histogram per rule and
feature: :class:`QuantileSketch`, mergeable across keys, partitions and accounts).

>>> cal = Calibration(version="t", floors={"harvest": 0.4})
>>> cal.floor("harvest"), cal.floor("logit_probe")
(0.4, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from detector.shape import harvested_tokens

FORMAT = "extraction.calibration/v1"
FLOOR_QUANTILE = 0.999
FEATURES = ("harvested_tokens", "out_tokens_sum", "n")
_QUANTILES = (0.5, 0.9, 0.99, 0.999)
_BINS_PER_OCTAVE = 16
_FLOOR_CAP = 0.9   # a rule whose benign extreme is higher than this is left usable at its top


@dataclass(slots=True)
class QuantileSketch:
    """Mergeable histogram of non-negative values: 0 exactly, else log bins 2^(1/16) wide (~4%).

    >>> q = QuantileSketch()
    >>> for x in range(1, 1001): q.add(float(x))
    >>> 950 <= q.quantile(0.99) <= 1050
    True
    """

    zeros: int = 0
    bins: dict[int, int] = field(default_factory=dict)

    def add(self, x: float) -> None:
        """Count one value (negative values count as 0)."""
        if x <= 0.0:
            self.zeros += 1
            return
        i = math.floor(math.log2(x) * _BINS_PER_OCTAVE)
        self.bins[i] = self.bins.get(i, 0) + 1

    def merge(self, other: QuantileSketch) -> None:
        """Add ``other``'s counts (exact: same bins everywhere)."""
        self.zeros += other.zeros
        for i, c in other.bins.items():
            self.bins[i] = self.bins.get(i, 0) + c

    @property
    def count(self) -> int:
        """Values counted."""
        return self.zeros + sum(self.bins.values())

    def quantile(self, q: float) -> float:
        """The ``q`` quantile, read as the upper edge of its bin (0 for an empty sketch)."""
        total = self.count
        if total == 0:
            return 0.0
        rank = q * (total - 1)
        seen = self.zeros
        if rank < seen:
            return 0.0
        for i in sorted(self.bins):
            seen += self.bins[i]
            if rank < seen:
                return float(2.0 ** ((i + 1) / _BINS_PER_OCTAVE))
        return float(2.0 ** ((max(self.bins) + 1) / _BINS_PER_OCTAVE))


@dataclass(slots=True)
class Calibration:
    """Per-rule floors and per-horizon feature quantiles of a benign population."""

    version: str
    floors: dict[str, float] = field(default_factory=dict)
    features: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # horizon -> name -> q -> v
    source: dict[str, Any] = field(default_factory=dict)

    def floor(self, rule: str) -> float:
        """The benign extreme of ``rule``'s raw strength (0 when no benign key showed it)."""
        return self.floors.get(rule, 0.0)

    def feature_quantile(self, horizon: str, name: str, q: float, default: float) -> float:
        """Benign quantile ``q`` of a window feature, ``default`` when not calibrated."""
        return self.features.get(horizon, {}).get(name, {}).get(f"{q:g}", default)

    def to_json(self) -> bytes:
        """The versioned file format."""
        return orjson.dumps({"format": FORMAT, "version": self.version, "floors": self.floors,
                             "features": self.features, "source": self.source},
                            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: bytes) -> Calibration:
        """Read :meth:`to_json`; a wrong format is a ``ValueError`` naming what was found."""
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"not a calibration file (format {doc.get('format') if isinstance(doc, dict) else None!r},"
                             f" expected {FORMAT!r})")
        return cls(str(doc["version"]), {k: float(v) for k, v in doc.get("floors", {}).items()},
                   doc.get("features", {}), doc.get("source", {}))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """A calibration file."""
        return cls.from_json(Path(path).read_bytes())

    @staticmethod
    @cache
    def default() -> Calibration:
        """The packaged calibration (from the project's tuning simulation)."""
        data = resources.files("detector").joinpath("data/calibration.json").read_bytes()
        return Calibration.from_json(data)


@dataclass(slots=True)
class CalibrationBuilder:
    """Collects each calibrated key's highest raw rule strengths and window features."""

    keys: dict[str, dict[str, float]] = field(default_factory=dict)   # subject -> rule -> max raw strength
    maxima: dict[str, dict[str, float]] = field(default_factory=dict)  # subject -> "h/name" -> max feature

    def observe(self, subject: str, raw: list[Any], stats: dict[str, dict[str, float]]) -> None:
        """Remember one window of ``subject`` (its raw evidence and its per-horizon stats)."""
        best = self.keys.setdefault(subject, {})
        for e in raw:
            if e.strength > best.get(e.signal, 0.0):
                best[e.signal] = e.strength
        top = self.maxima.setdefault(subject, {})
        for horizon, s in stats.items():
            values = dict(s, harvested_tokens=harvested_tokens(s))
            for name in FEATURES:
                k = f"{horizon}/{name}"
                top[k] = max(top.get(k, 0.0), values.get(name, 0.0))

    def build(self, version: str, source: dict[str, Any], benign: set[str] | None = None) -> Calibration:
        """The calibration of the observed subjects (only those in ``benign`` when given)."""
        subjects = sorted(s for s in self.keys if benign is None or s in benign)
        rules: dict[str, QuantileSketch] = {}
        feats: dict[str, QuantileSketch] = {}
        names = sorted({r for best in self.keys.values() for r in best})
        for subject in subjects:
            for rule in names:
                rules.setdefault(rule, QuantileSketch()).add(self.keys[subject].get(rule, 0.0))
            for k, v in self.maxima.get(subject, {}).items():
                feats.setdefault(k, QuantileSketch()).add(v)
        floors = {r: min(_FLOOR_CAP, round(q.quantile(FLOOR_QUANTILE), 4)) for r, q in sorted(rules.items())}
        features: dict[str, dict[str, dict[str, float]]] = {}
        for k, q in sorted(feats.items()):
            horizon, name = k.split("/", 1)
            features.setdefault(horizon, {})[name] = {f"{p:g}": round(q.quantile(p), 2) for p in _QUANTILES}
        return Calibration(version, {r: f for r, f in floors.items() if f > 0}, features,
                           dict(source, subjects=len(subjects)))
