"""What the key-window stage hands the scorer: one key's statistics at the close of a bucket.

A :class:`WindowSummary` is small, numeric and free of text: per horizon (``10m``, ``1h``,
``24h``) a dict of named window features computed from the merged :class:`~detector.windows.Bucket`,
plus the key's linkage attributes (characteristic skeleton fingerprints, IP prefix, SDK family,
account creation time) used to link keys into clusters. It travels as JSON on the internal
summaries topic, so ``to_json``/``from_json`` round-trip exactly.

>>> from detector.windows import Bucket
>>> s = bucket_stats(Bucket())
>>> s["n"], s["distinct_prompt_ratio"]
(0.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

from detector.chunks import SAMPLE_RATE, distinct_share
from detector.signals import Signal
from detector.windows import Bucket

SIGNAL_BITS: list[tuple[str, int]] = [
    (s.name.lower(), s.value.bit_length() - 1) for s in Signal  # type: ignore[union-attr]
]


def _popcount(x: int) -> float:
    return float(x.bit_count())


# Task areas for breadth: short chat and longer prose are one area (plain language requests).
AREAS: tuple[tuple[str, ...], ...] = (("domain_code",), ("domain_math",), ("domain_choice",), ("domain_tool",),
                                      ("domain_document",), ("domain_chat", "domain_prose"))
_AREA_MIN_SHARE = 0.08
_AREA_MIN_COUNT = 3
_AREA_SLACK = 1e-12


def breadth(stats: dict[str, float]) -> float:
    """How many task areas (code, maths, choice puzzles, tool use, documents, plain language) carry
    a real share (>= 8% and >= 3 requests) of a window's traffic: 1-2 for an application, 3 or more
    for a sweep across tasks.

    >>> breadth({"n": 100.0, "rate_domain_code": 0.5, "rate_domain_math": 0.45, "rate_domain_chat": 0.05})
    2.0
    """
    n = stats.get("n", 0.0)
    floor = max(_AREA_MIN_SHARE, _AREA_MIN_COUNT / n) if n else 1.0
    return float(sum(1 for area in AREAS if sum(stats.get("rate_" + d, 0.0) for d in area) >= floor - _AREA_SLACK))


def bucket_stats(b: Bucket) -> dict[str, float]:
    """Window features of a merged bucket; every value is a plain float (rates in [0, 1])."""
    n = b.n
    inv = 1.0 / n if n else 0.0
    top = b.top_skeletons.top(1)
    inputs = b.inputs
    new_share = distinct_share(b.in_chunks, len(inputs), not inputs.is_exact, inputs.estimate())
    stats: dict[str, float] = {
        "n": float(n),
        "distinct_prompt_ratio": min(1.0, b.prompts.estimate() * inv),
        "distinct_skeleton_ratio": min(1.0, b.skeletons.estimate() * inv),
        "top_skeleton_share": min(1.0, top[0][1] * inv) if top else 0.0,
        "out_in_ratio": b.out_tok / max(b.in_tok, 1),
        "out_tokens_mean": b.out_tok * inv,
        "in_tokens_mean": b.in_tok * inv,
        "depth_mean": b.depth_sum * inv,
        "error_rate": b.errors * inv,
        "end_user_share": b.end_user_n * inv,
        "end_users": b.end_users.estimate(),
        "gap_p50_s": b.gaps.quantile(0.5) / 1000.0 if b.gaps.count else 0.0,
        "gap_spread": (math.log2((b.gaps.quantile(0.9) + 1.0) / (b.gaps.quantile(0.1) + 1.0))
                       if b.gaps.count >= 5 else 0.0),
        "prompt_chars_p50": b.lengths.quantile(0.5) if b.lengths.count else 0.0,
        "hours_active": _popcount(b.hours),
        "scripts": _popcount(b.scripts),
        "out_tokens_sum": float(b.out_tok),
        "end_user_repeat": b.end_user_n / max(b.end_users.estimate(), 1.0) if b.end_user_n else 0.0,
        "end_user_session_len": b.end_user_n / max(b.user_sessions.estimate(), 1.0) if b.end_user_n else 0.0,
        "bias_sets": b.bias_sets.estimate(),
        "distinct_prompts": b.prompts.estimate(),
        "conversations": b.heads.estimate(),
        "active_slots": _popcount(b.slots),
        "new_input_share": new_share,
        "out_new_in_ratio": b.out_tok / max(b.in_tok * new_share, 1.0),
    }
    counts = b.flag_counts
    for name, bit in SIGNAL_BITS:
        stats["rate_" + name] = counts[bit] * inv
    stats["domains"] = breadth(stats)
    return stats


def compiled_tables() -> tuple[list[str], list[tuple[str, int]], tuple[tuple[str, ...], ...],
                               tuple[float, float, float, float]]:
    """What the compiled twin of :func:`bucket_stats` takes over from this module: the keys it
    computes in order (it checks them against its own), :data:`SIGNAL_BITS`, :data:`AREAS`,
    :func:`breadth`'s share, count and slack, and :data:`detector.chunks.SAMPLE_RATE`."""
    return (list(bucket_stats(Bucket())), SIGNAL_BITS, AREAS,
            (_AREA_MIN_SHARE, _AREA_MIN_COUNT, _AREA_SLACK, float(SAMPLE_RATE)))


@dataclass(slots=True)
class WindowSummary:
    """One key at the close of the fine bucket ending at ``epoch_ms``."""

    api_key_id: str
    epoch_ms: int
    account_id: str | None
    account_created_ms: int | None
    stats: dict[str, dict[str, float]]          # horizon -> feature -> value
    models_1h: dict[str, int] = field(default_factory=dict)
    models_24h: dict[str, int] = field(default_factory=dict)
    skeletons: list[tuple[int, int]] = field(default_factory=list)  # 24h top skeletons (fp, count)
    ip_prefix: str = ""
    user_agent: str = ""
    signatures: list[tuple[int, int]] = field(default_factory=list)  # SimHash of system + skeleton, count
    activity: str = "0"   # hex bitmask of the 5-minute slots with traffic over the last 24 h (oldest first)

    def to_json(self) -> bytes:
        """Serialise for the internal summaries topic."""
        return orjson.dumps(self)   # orjson serialises (slots) dataclasses natively, no asdict copy

    @classmethod
    def from_json(cls, data: bytes) -> WindowSummary:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(orjson.loads(data))

    @classmethod
    def from_dict(cls, d: dict) -> WindowSummary:
        """The summary of a decoded :meth:`to_json` object (``d`` is not modified)."""
        return cls(**{**d, "skeletons": [tuple(x) for x in d["skeletons"]],
                      "signatures": [tuple(x) for x in d.get("signatures", ())]})
